import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
pytest_plugins = ["ci_skips"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# The cluster tests start a SLURM on the machine (root, apt): only the `cluster` nox session,
# which sets WHERETOLEARN_CLUSTER_TESTS, collects them.
collect_ignore = [] if os.environ.get("WHERETOLEARN_CLUSTER_TESTS") else ["cluster"]


def pytest_configure(config):
    """In-process training in tests gets the allocator settings the commands apply."""
    from wheretolearn.allocator import tune_allocator

    tune_allocator()


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Same thread count in every test: CPU reductions are deterministic given it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory):
    """``prepared_data(*datasets)``: a fresh data root with ``datasets`` prepared from the
    offline mirror (``WHERETOLEARN_MIRROR``, else ../shared/data; skipped without either)."""
    from wheretolearn.data import prepare

    def prepare_into(*datasets: str) -> Path:
        if not os.environ.get("WHERETOLEARN_MIRROR"):
            if not SHARED_DATA.is_dir():
                pytest.skip("no data mirror: set WHERETOLEARN_MIRROR to the offline data folder")
            os.environ["WHERETOLEARN_MIRROR"] = str(SHARED_DATA)
        root = tmp_path_factory.mktemp("data")
        for name in datasets:
            prepare(name, root)
        return root

    return prepare_into
