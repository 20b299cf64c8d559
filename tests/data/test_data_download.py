"""Mirror lookup, checksums, atomic downloads and the clear errors of the data layer."""

from __future__ import annotations

import gzip
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from wheretolearn.cli import main
from wheretolearn.data import download, network, prepare, registry
from wheretolearn.data.download import fetch
from wheretolearn.data.registry import Source
from wheretolearn.data.verify import md5_of
from wheretolearn.errors import DatasetError

DATA = b"real bytes of a dataset file\n" * 100


def source(md5=None, **kw):
    args = dict(file="f.bin", subdir="thing", md5=md5, urls=("https://example.invalid/f.bin",))
    return Source(**{**args, **kw})


def good_md5(tmp_path):
    (tmp_path / "ref").write_bytes(DATA)
    return md5_of(tmp_path / "ref")


def test_absent_offline_error_names_dataset_file_url_and_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(DatasetError) as err:
        prepare("cub", tmp_path / "root")
    message = str(err.value)
    for part in ("'cub'", "CUB_200_2011.tgz", "data.caltech.edu", str(tmp_path / "mirror")):
        assert part in message


@pytest.mark.parametrize(
    "package, command",
    [
        ({"debian_package": "dataset-not-installed"}, "sudo apt-get install dataset-not-installed"),
        ({"python_package": {"module": "notinstalled.data"}}, "pip install --no-deps notinstalled"),
        ({}, "set WHERETOLEARN_MIRROR"),
    ],
)
def test_absent_file_error_says_which_command_brings_it(tmp_path, no_mirror, package, command):
    with pytest.raises(DatasetError) as err:
        fetch(source(md5="0" * 32, **package), tmp_path, dataset="thing")
    assert command in str(err.value)


def test_absent_without_mirror_says_it_is_unset(tmp_path, no_mirror):
    with pytest.raises(DatasetError, match="WHERETOLEARN_MIRROR is unset"):
        prepare("miniimagenet", tmp_path)


@pytest.mark.parametrize("layout", ["flat", "subdir"])
def test_mirror_found_flat_or_in_subfolder(layout, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    place = mirror if layout == "flat" else mirror / "thing"
    place.mkdir(parents=True)
    (place / "f.bin").write_bytes(DATA)
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(mirror))
    out = fetch(source(good_md5(tmp_path)), tmp_path / "raw", dataset="x")
    assert out.read_bytes() == DATA


def test_corrupt_mirror_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "f.bin").write_bytes(DATA[:-1])
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(DatasetError, match="checksum does not match"):
        fetch(source(good_md5(tmp_path)), tmp_path / "raw", dataset="x")
    assert not (tmp_path / "raw" / "f.bin").exists()


def test_unverified_file_needs_explicit_trust(tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "f.bin").write_bytes(DATA)
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(DatasetError, match="trust-unverified"):
        fetch(source(None), tmp_path / "raw", dataset="x")
    assert fetch(source(None), tmp_path / "raw", dataset="x", trust_unverified=True).is_file()


def test_recompressed_gz_accepted_by_unpacked_md5(tmp_path, monkeypatch):
    original, recompressed = gzip.compress(DATA, 9), gzip.compress(DATA, 1)
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "f.gz").write_bytes(recompressed)
    (tmp_path / "o.gz").write_bytes(original)
    (tmp_path / "u").write_bytes(DATA)
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(tmp_path / "mirror"))
    src = source(md5_of(tmp_path / "o.gz"), file="f.gz", unpacked_md5=md5_of(tmp_path / "u"))
    assert gzip.decompress(fetch(src, tmp_path / "raw", dataset="x").read_bytes()) == DATA


@pytest.fixture
def online(monkeypatch, no_mirror):
    monkeypatch.delenv("WHERETOLEARN_OFFLINE")


def test_interrupted_download_never_looks_complete(tmp_path, online, monkeypatch):
    def broken(url, part, desc):
        part.write_bytes(DATA[:50])
        raise ConnectionError("connection reset")

    monkeypatch.setattr(network, "_get", broken)
    with pytest.raises(DatasetError, match="connection reset"):
        fetch(source(good_md5(tmp_path)), tmp_path / "raw", dataset="x")
    assert not (tmp_path / "raw" / "f.bin").exists()


def test_download_with_wrong_content_is_discarded(tmp_path, online, monkeypatch):
    monkeypatch.setattr(network, "_get", lambda url, part, desc: part.write_bytes(b"<html>"))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        fetch(source(good_md5(tmp_path)), tmp_path / "raw", dataset="x")
    assert list((tmp_path / "raw").iterdir()) == []


def test_good_download_is_renamed_into_place(tmp_path, online, monkeypatch):
    monkeypatch.setattr(network, "_get", lambda url, part, desc: part.write_bytes(DATA))
    out = fetch(source(good_md5(tmp_path)), tmp_path / "raw", dataset="x")
    assert out.read_bytes() == DATA and [p.name for p in out.parent.iterdir()] == ["f.bin"]


def test_interrupted_preparation_is_not_prepared(real_root, tmp_path):
    from wheretolearn.data import problems

    shutil.copytree(real_root / "mnist-test", tmp_path / "mnist-test")
    (tmp_path / "mnist-test" / "MANIFEST.json").unlink()
    assert "missing" in problems("mnist-test", tmp_path)[0]


def test_a_killed_preparation_leaves_nothing_behind_for_good(tmp_path, shared_mirror, monkeypatch):
    """A preparation killed mid-way leaves its temporary folder; the next one removes it."""
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(shared_mirror))
    left = tmp_path / ".mnist-test.preparing-424242"
    (left / "junk").mkdir(parents=True)
    prepare("mnist-test", tmp_path)
    assert not left.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".mnist")) == [
        ".mnist-test.lock"
    ]


def test_cli_list_and_prepare(real_root, tmp_path, capsys, shared_mirror, monkeypatch):
    assert main(["data", "list", "--root", str(real_root)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in registry.names())
    assert "omniglot-small       prepared, verified" in out
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(shared_mirror))
    assert main(["data", "prepare", "mnist-test", "--root", str(tmp_path)]) == 0
    assert main(["data", "prepare", "cub", "--root", str(tmp_path)]) == 2
    assert "CUB_200_2011.tgz" in capsys.readouterr().err


def test_corrupt_copy_in_the_data_root_is_replaced_from_the_mirror(tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "f.bin").write_bytes(DATA)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "f.bin").write_bytes(DATA[:10])
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(tmp_path / "mirror"))
    assert fetch(source(good_md5(tmp_path)), tmp_path / "raw", dataset="x").read_bytes() == DATA


def test_two_jobs_copying_one_file_from_the_mirror_both_get_it(tmp_path, monkeypatch):
    """Two preparations that share a raw file (mnist-digits and mnist-items) fetch it at once:
    each copies to a file of its own, so neither renames the other's away (both copies are
    held until both are written, the interleaving that failed with one shared ``.part``)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "f.bin").write_bytes(DATA)
    monkeypatch.setenv("WHERETOLEARN_MIRROR", str(mirror))
    both_written = threading.Barrier(2, timeout=10)
    copy = shutil.copyfile

    def copy_then_wait(src, dst):
        copy(src, dst)
        both_written.wait()

    monkeypatch.setattr(download.shutil, "copyfile", copy_then_wait)
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(fetch, source(good_md5(tmp_path)), tmp_path / "raw", dataset="x")
                for _ in range(2)]  # fmt: skip
        paths = [job.result() for job in jobs]
    assert paths[0] == paths[1] and paths[0].read_bytes() == DATA
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["f.bin"]


def test_two_jobs_downloading_one_file_both_get_it(tmp_path, online, monkeypatch):
    both_written = threading.Barrier(2, timeout=10)

    def get_then_wait(url, part, desc):
        part.write_bytes(DATA)
        both_written.wait()

    monkeypatch.setattr(network, "_get", get_then_wait)
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(fetch, source(good_md5(tmp_path)), tmp_path / "raw", dataset="x")
                for _ in range(2)]  # fmt: skip
        paths = [job.result() for job in jobs]
    assert paths[0].read_bytes() == DATA
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["f.bin"]
