"""Data-layer test fixtures: no test reaches the network; real small data from shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("WHERETOLEARN_MIRROR") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Every data test runs with the network step disabled."""
    monkeypatch.setenv("WHERETOLEARN_OFFLINE", "1")


@pytest.fixture
def no_mirror(monkeypatch):
    monkeypatch.delenv("WHERETOLEARN_MIRROR", raising=False)


@pytest.fixture(scope="session")
def shared_mirror() -> Path:
    if not (SHARED / "omniglot" / "images_background_small1.zip").is_file():
        pytest.skip(f"the real small data is not at {SHARED} (set WHERETOLEARN_MIRROR)")
    return SHARED


@pytest.fixture(scope="session")
def real_root(tmp_path_factory, shared_mirror) -> Path:
    """A data root with omniglot-small and mnist-test prepared from the shared mirror."""
    from wheretolearn.data import prepare

    root = tmp_path_factory.mktemp("real")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WHERETOLEARN_MIRROR", str(shared_mirror))
        mp.setenv("WHERETOLEARN_OFFLINE", "1")
        prepare("omniglot-small", root)
        prepare("mnist-test", root)
    return root
