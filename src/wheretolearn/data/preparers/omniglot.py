"""Omniglot preparers: characters from the official zips, 28x28, ink = 1 (bright) on 0."""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from wheretolearn.data import registry, store
from wheretolearn.data.preparation import preparer


def omniglot_image(png: bytes, size: int) -> np.ndarray:
    """A 105x105 Omniglot PNG (black ink on white) -> uint8 [size, size, 1], ink bright."""
    image = ImageOps.invert(Image.open(io.BytesIO(png)).convert("L"))
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)[:, :, None]


def index_zip(archive: zipfile.ZipFile) -> dict[tuple[str, str], list[str]]:
    """(alphabet, character) -> sorted PNG member names of a zip ``<top>/<alph>/<char>/x.png``."""
    members = defaultdict(list)
    for member in archive.namelist():
        parts = member.split("/")
        if len(parts) == 4 and parts[3].endswith(".png"):
            members[(parts[1], parts[2])].append(member)
    return {key: sorted(value) for key, value in sorted(members.items())}


def read_character(archive: zipfile.ZipFile, members: list[str], size: int) -> np.ndarray:
    return np.stack([omniglot_image(archive.read(m), size) for m in members])


def write_alphabet_splits(spec, archives: dict[str, zipfile.ZipFile], plan, out: Path) -> None:
    """``plan[split]`` lists (zip stem, alphabet, character or None for all) to write."""
    indexes = {stem: index_zip(z) for stem, z in archives.items()}
    for split in spec.splits:
        chosen = []
        for stem, alphabet, character in plan[split]:
            keys = [k for k in indexes[stem] if k[0] == alphabet and character in (None, k[1])]
            if not keys:
                raise ValueError(f"{stem}.zip has no {alphabet}/{character or '*'}")
            chosen += [(stem, key) for key in keys]
        bar = tqdm(chosen, desc=f"{spec.name} {split}", unit="class")
        classes = (
            (f"{a}/{c}", read_character(archives[stem], indexes[stem][(a, c)], spec.image_size))
            for stem, (a, c) in bar
        )
        count = store.write_split(out, split, classes)
        if count != spec.splits[split]:
            raise ValueError(f"{spec.name} {split}: {count} classes, expected {spec.splits[split]}")


def _write_from_zips(spec, raw: dict[str, Path], plan, out: Path) -> None:
    """Open every raw zip (keyed by its stem), write the planned splits, close them all."""
    with contextlib.ExitStack() as stack:
        archives = {
            Path(name).stem: stack.enter_context(zipfile.ZipFile(path))
            for name, path in raw.items()
        }
        write_alphabet_splits(spec, archives, plan, out)


@preparer("omniglot_small")
def prepare_omniglot_small(spec, raw: dict[str, Path], out: Path) -> None:
    """242 characters of images_background_small1/2, split by alphabet (splits JSON)."""
    split_def = registry.load_split_file(spec)
    home = {alph: stem for stem, alphs in split_def["zips"].items() for alph in alphs}
    plan = {s: [(home[a], a, None) for a in split_def[s]] for s in spec.splits}
    _write_from_zips(spec, raw, plan, out)


@preparer("omniglot")
def prepare_omniglot(spec, raw: dict[str, Path], out: Path) -> None:
    """Full Omniglot with the Vinyals et al. character split (torchmeta's split files)."""
    split_def = registry.load_split_file(spec)
    plan = {
        split: [
            (f"images_{part}", alphabet, char)
            for part, alphabets in split_def[split].items()
            for alphabet, chars in alphabets.items()
            for char in chars
        ]
        for split in spec.splits
    }
    _write_from_zips(spec, raw, plan, out)
