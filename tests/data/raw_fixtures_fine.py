"""Raw-format fixtures of CUB, Stanford Cars, VGG Flowers, FGVC-Aircraft and FGVC-Fungi."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from raw_fixtures import PER_CLASS, image_bytes, mat_bytes, split_file, write_tar


def make_cub(folder: Path) -> list[Path]:
    """CUB_200_2011.tgz: CUB_200_2011/images/<class>/<image>.jpg for all 200 classes."""
    files, seed = {}, 0
    for name in split_file("cub.json")["class_names"]:
        for k in range(PER_CLASS):
            seed += 1
            files[f"CUB_200_2011/images/{name}/{name}_{k:04d}.jpg"] = image_bytes(seed)
    return [write_tar(Path(folder) / "CUB_200_2011.tgz", files)]


def _cars_annotations(num_images: int) -> np.ndarray:
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    annos = np.zeros((1, num_images), dtype=[(f, "O") for f in fields])
    for i in range(num_images):
        annos[0, i] = (2, 1, 14, 11, i // PER_CLASS + 1, f"{i + 1:05d}.jpg")
    return annos


def make_cars(folder: Path) -> list[Path]:
    """cars_train.tgz (cars_train/%05d.jpg) and car_devkit.tgz (devkit/*.mat)."""
    n = split_file("cars.json")["num_classes"]
    images = {
        f"cars_train/{i + 1:05d}.jpg": image_bytes(i, size=(16, 12)) for i in range(n * PER_CLASS)
    }
    class_names = np.array([f"Make Model {k} 2012" for k in range(n)], dtype=object)
    devkit = {
        "devkit/cars_meta.mat": mat_bytes(class_names=class_names[None, :]),
        "devkit/cars_train_annos.mat": mat_bytes(annotations=_cars_annotations(n * PER_CLASS)),
    }
    return [
        write_tar(Path(folder) / "cars_train.tgz", images),
        write_tar(Path(folder) / "car_devkit.tgz", devkit),
    ]


def make_flowers(folder: Path) -> list[Path]:
    """102flowers.tgz (jpg/image_%05d.jpg), imagelabels.mat and setid.mat."""
    labels = np.repeat(np.arange(1, 103), PER_CLASS)
    images = {f"jpg/image_{i:05d}.jpg": image_bytes(i) for i in range(1, len(labels) + 1)}
    ids = np.arange(1, len(labels) + 1)
    (Path(folder) / "imagelabels.mat").write_bytes(mat_bytes(labels=labels[None, :]))
    setid = mat_bytes(trnid=ids[0::3][None], valid=ids[1::3][None], tstid=ids[2::3][None])
    (Path(folder) / "setid.mat").write_bytes(setid)
    return [
        write_tar(Path(folder) / "102flowers.tgz", images),
        Path(folder) / "imagelabels.mat",
        Path(folder) / "setid.mat",
    ]


def make_aircraft(folder: Path) -> list[Path]:
    """fgvc-aircraft-2013b.tar.gz: data/images/<id>.jpg and images_variant_{part}.txt."""
    top, files, lines = "fgvc-aircraft-2013b/data", {}, {"train": [], "val": [], "test": []}
    variants = [
        f"Variant-{k:03d} X" for k in range(split_file("fgvc_aircraft.json")["num_classes"])
    ]
    for k, variant in enumerate(variants):
        for j, part in enumerate(["train", "val", "test"][:PER_CLASS]):
            image_id = f"{1000000 + k * 10 + j}"
            files[f"{top}/images/{image_id}.jpg"] = image_bytes(k * 10 + j, size=(16, 40))
            lines[part].append(f"{image_id} {variant}")
    for part, rows in lines.items():
        files[f"{top}/images_variant_{part}.txt"] = ("\n".join(rows) + "\n").encode()
    files[f"{top}/variants.txt"] = ("\n".join(variants) + "\n").encode()
    return [write_tar(Path(folder) / "fgvc-aircraft-2013b.tar.gz", files)]


def make_fungi(folder: Path) -> list[Path]:
    """fungi_train_val.tgz (images/<species>/*.JPG) and train_val_annotations.tgz."""
    files, seed = {}, 0
    for k in range(split_file("fgvc_fungi.json")["num_classes"]):
        for _ in range(PER_CLASS):
            seed += 1
            files[f"images/{k:05d}_Species {k}/IMG_{seed:06d}.JPG"] = image_bytes(seed, size=(6, 6))
    annotations = {
        "train.json": json.dumps({"images": []}).encode(),
        "val.json": json.dumps({"images": []}).encode(),
    }
    return [
        write_tar(Path(folder) / "fungi_train_val.tgz", files),
        write_tar(Path(folder) / "train_val_annotations.tgz", annotations),
    ]
