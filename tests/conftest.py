import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
