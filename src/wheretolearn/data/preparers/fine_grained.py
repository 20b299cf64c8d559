"""CUB, Stanford Cars, VGG Flowers, FGVC-Aircraft, FGVC-Fungi and CIFAR-10 from their archives.

Class splits come from the pinned files in ``splits/``: CUB by class name; the others by
position in the sorted class list (the CloserLook rule: train if i%2==0, val if i%4==1, test if
i%4==3), written out as index lists so that the split is visible and versioned.
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from tqdm.auto import tqdm

from wheretolearn.data import images, registry, store
from wheretolearn.data.preparation import preparer


def closerlook_rule(num_classes: int) -> dict[str, list[int]]:
    """Sorted class i goes to train if i%2==0, to val if i%4==1, to test if i%4==3."""
    return {
        "train": [i for i in range(num_classes) if i % 2 == 0],
        "val": [i for i in range(num_classes) if i % 4 == 1],
        "test": [i for i in range(num_classes) if i % 4 == 3],
    }


def write_indexed_splits(spec, names: list[str], members: dict[str, list], out: Path, load):
    """Write each split's classes (indices into ``names``) via ``load(member) -> array``."""
    split_def = registry.load_split_file(spec)
    if len(names) != split_def["num_classes"]:
        raise ValueError(
            f"{spec.name}: found {len(names)} classes, expected {split_def['num_classes']}"
        )
    expected = split_def.get("class_names")
    if expected is not None and list(names) != expected:
        raise ValueError(f"{spec.name}: the archive's class names differ from the split file's")
    for split in spec.splits:
        chosen = [names[i] for i in split_def[split]]
        bar = tqdm(chosen, desc=f"{spec.name} {split}", unit="class")
        classes = ((name, np.stack([load(m) for m in members[name]])) for name in bar)
        store.write_split(out, split, classes)


def _folders(root: Path, pattern: str) -> dict[str, list[Path]]:
    found = defaultdict(list)
    for path in sorted(root.glob(pattern)):
        found[path.parent.name].append(path)
    return dict(sorted(found.items()))


def _prepare_class_folders(spec, archive: Path, pattern: str, out: Path) -> None:
    """An archive of one folder per class (``pattern`` finds the images), resized whole."""
    with images.extracted(archive, out) as folder:
        members = _folders(folder, pattern)
        write_indexed_splits(
            spec, sorted(members), members, out, lambda p: images.load(p, spec.image_size)
        )


@preparer("cub")
def prepare_cub(spec, raw: dict[str, Path], out: Path) -> None:
    """``CUB_200_2011/images/<class>/*.jpg``, resized (not cropped), CloserLook split."""
    _prepare_class_folders(spec, raw["CUB_200_2011.tgz"], "CUB_200_2011/images/*/*.jpg", out)


@preparer("cars")
def prepare_cars(spec, raw: dict[str, Path], out: Path) -> None:
    """The 8,144 ``cars_train`` images cropped to their devkit bounding boxes."""
    with images.extracted(raw["car_devkit.tgz"], out / "devkit_tmp") as devkit:
        meta = loadmat(next(devkit.rglob("cars_meta.mat")), squeeze_me=True)
        annos = loadmat(next(devkit.rglob("cars_train_annos.mat")), squeeze_me=True)
    class_names = [str(n) for n in np.atleast_1d(meta["class_names"])]
    names = [f"{k + 1:03d}.{n}" for k, n in enumerate(class_names)]
    members = defaultdict(list)
    for a in np.atleast_1d(annos["annotations"]):
        box = tuple(int(a[f]) for f in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"))
        members[names[int(a["class"]) - 1]].append((str(a["fname"]), box))
    with images.extracted(raw["cars_train.tgz"], out) as folder:
        image_dir = next(folder.rglob("cars_train"))
        load = lambda m: images.load(image_dir / m[0], spec.image_size, box=m[1])  # noqa: E731
        write_indexed_splits(spec, names, members, out, load)
    (out / "devkit_tmp").rmdir()


@preparer("flowers")
def prepare_flowers(spec, raw: dict[str, Path], out: Path) -> None:
    """``jpg/image_%05d.jpg`` with labels 1..102 from ``imagelabels.mat``."""
    labels = np.atleast_1d(loadmat(raw["imagelabels.mat"], squeeze_me=True)["labels"])
    names = [f"{k:03d}" for k in range(1, 103)]
    members = defaultdict(list)
    for i, label in enumerate(labels, start=1):
        members[f"{int(label):03d}"].append(f"image_{i:05d}.jpg")
    with images.extracted(raw["102flowers.tgz"], out) as folder:
        image_dir = next(folder.rglob("jpg"))
        write_indexed_splits(
            spec, names, members, out, lambda m: images.load(image_dir / m, spec.image_size)
        )


def _aircraft_members(data_dir: Path) -> dict[str, list[str]]:
    members = defaultdict(list)
    for part in ("train", "val", "test"):
        for line in (data_dir / f"images_variant_{part}.txt").read_text().splitlines():
            if line.strip():
                image_id, variant = line.strip().split(" ", 1)
                members[variant].append(image_id)
    return {k: sorted(v) for k, v in sorted(members.items())}


@preparer("aircraft")
def prepare_aircraft(spec, raw: dict[str, Path], out: Path) -> None:
    """``data/images/<id>.jpg``; the bottom 20-pixel copyright banner is cropped off."""
    with images.extracted(raw["fgvc-aircraft-2013b.tar.gz"], out) as folder:
        data_dir = next(folder.rglob("images_variant_train.txt")).parent
        members = _aircraft_members(data_dir)

        def load(image_id: str) -> np.ndarray:
            path = data_dir / "images" / f"{image_id}.jpg"
            with images.Image.open(path) as image:
                box = (0, 0, image.width, image.height - 20)
                return images.to_array(image, spec.image_size, box)

        write_indexed_splits(spec, sorted(members), members, out, load)


@preparer("fungi")
def prepare_fungi(spec, raw: dict[str, Path], out: Path) -> None:
    """``images/<species>/*.JPG`` of the FGVCx 2018 train+val archive."""
    _prepare_class_folders(spec, raw["fungi_train_val.tgz"], "images/*/*.[jJ][pP][gG]", out)


@preparer("cifar10")
def prepare_cifar10(spec, raw: dict[str, Path], out: Path) -> None:
    """The python pickles: ``data_batch_1..5`` (train) and ``test_batch`` (test)."""
    with images.extracted(raw["cifar-10-python.tar.gz"], out) as folder:
        batch_dir = next(folder.rglob("batches.meta")).parent
        with open(batch_dir / "batches.meta", "rb") as f:
            label_names = [n.decode() for n in pickle.load(f, encoding="bytes")[b"label_names"]]
        parts = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        for split, files in parts.items():
            xs, ys = [], []
            for name in files:
                with open(batch_dir / name, "rb") as f:
                    batch = pickle.load(f, encoding="bytes")
                xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
            x, y = np.concatenate(xs).transpose(0, 2, 3, 1), np.concatenate(ys)
            classes = ((f"{k}.{n}", x[y == k]) for k, n in enumerate(label_names))
            store.write_split(out, split, classes)
