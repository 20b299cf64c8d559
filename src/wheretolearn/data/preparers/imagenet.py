"""miniImageNet and tieredImageNet from the archives torchmeta downloads (its raw formats)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from wheretolearn.data import images, store
from wheretolearn.data.preparation import preparer


def _check_count(spec, split: str, count: int) -> None:
    if count != spec.splits[split]:
        raise ValueError(f"{spec.name} {split}: {count} classes, expected {spec.splits[split]}")


def _find(folder: Path, name: str) -> Path:
    found = sorted(folder.rglob(name))
    if not found:
        raise ValueError(f"the archive has no {name}")
    return found[0]


@preparer("miniimagenet")
def prepare_miniimagenet(spec, raw: dict[str, Path], out: Path) -> None:
    """``mini-imagenet-cache-{split}.pkl``: {'image_data': uint8 [N,84,84,3], 'class_dict'}."""
    with images.extracted(raw["mini-imagenet.tar.gz"], out) as folder:
        for split in spec.splits:
            with open(_find(folder, f"mini-imagenet-cache-{split}.pkl"), "rb") as f:
                data = pickle.load(f)
            image_data, class_dict = np.asarray(data["image_data"]), data["class_dict"]
            names = sorted(class_dict)
            _check_count(spec, split, len(names))
            classes = (
                (name, image_data[np.asarray(class_dict[name])])
                for name in tqdm(names, desc=f"{spec.name} {split}", unit="class")
            )
            store.write_split(out, split, classes)


def _tiered_classes(spec, pngs, labels: dict, split: str):
    specific = np.asarray(labels["label_specific"])
    names = list(labels["label_specific_str"])
    _check_count(spec, split, len(names))
    for k, name in enumerate(tqdm(names, desc=f"{spec.name} {split}", unit="class")):
        (indices,) = np.nonzero(specific == k)
        yield name, np.stack([images.load(pngs[i], spec.image_size) for i in indices])


@preparer("tieredimagenet")
def prepare_tieredimagenet(spec, raw: dict[str, Path], out: Path) -> None:
    """``{split}_images_png.pkl`` (PNG bytes) and ``{split}_labels.pkl`` (label dicts)."""
    with images.extracted(raw["tiered-imagenet.tar"], out) as folder:
        for split in spec.splits:
            with open(_find(folder, f"{split}_images_png.pkl"), "rb") as f:
                pngs = pickle.load(f, encoding="bytes")
            with open(_find(folder, f"{split}_labels.pkl"), "rb") as f:
                labels = pickle.load(f, encoding="latin1")
            store.write_split(out, split, _tiered_classes(spec, pngs, labels, split))
