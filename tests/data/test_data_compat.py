"""The three torchvision/torchmeta repairs for torch 2.13 (CPU)."""

from __future__ import annotations

import subprocess
import sys

from wheretolearn.data import compat

compat.apply()  # the data layer itself never imports torchvision or torchmeta


def test_torchvision_and_torchmeta_import_in_a_fresh_process():
    code = (
        "import wheretolearn.data.compat as c; c.apply(); import torchvision, torchmeta;"
        "from torchmeta.datasets import MiniImagenet, Omniglot;"
        "from torchmeta.utils.data import BatchMetaDataLoader; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_removed_torchvision_helpers_are_restored():
    from torchmeta.datasets.utils import _get_confirm_token, _save_response_content  # noqa: F401

    class Response:
        cookies = {"other": "x", "download_warning_123": "token"}

    assert _get_confirm_token(Response()) == "token"


def test_subset_task_works_with_torch_subset():
    import torch
    from torchmeta.utils.data import Task
    from torchmeta.utils.data.task import SubsetTask

    class Numbers(Task):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return torch.tensor(i), 0

    subset = SubsetTask(Numbers(0, 1), [3, 5])
    assert [int(x) for x, _ in subset.__getitems__([0, 1])] == [3, 5]
    assert int(subset[1][0]) == 5


def test_apply_is_idempotent():
    compat.apply()
    compat.apply()
    assert compat.repair_subset_task() is False
