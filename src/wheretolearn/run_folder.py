"""A run folder's life: its identity, its lock and its resume state, for every loop.

* ``params.yaml`` holds the run's resolved parameters and seed (every value the run uses). It is
  written once the run has been built from them, so bad input leaves nothing behind; while the
  folder holds no checkpoint, other parameters simply replace it (nothing is lost).
* A folder that holds a checkpoint of other parameters is refused, naming the keys that differ,
  or with ``replace_stale`` moved aside to ``<folder>.stale-<n>``.
* One process at a time: a kernel lock (``flock``) on ``.<folder>.lock`` beside the folder,
  released when the process ends, however it ends (a killed job leaves no stale lock).
* Checkpoints carry the run's identity; loading one of another run (another width, another
  method) or after an edit of ``params.yaml`` is refused, naming the keys that differ.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from wheretolearn.errors import UserError
from wheretolearn.files import hold_lock, write_text_atomic

log = logging.getLogger(__name__)
CHECKPOINTS = ("last.pt", "best.pt")


def identity(params: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: every parameter and the seed; not the notes, nor how
    many processes load the batches (batch i is a pure function of the seed)."""
    out = {k: v for k, v in params.items() if k != "notes"}
    if isinstance(out.get("data"), dict):
        out["data"] = {k: v for k, v in out["data"].items() if k != "num_workers"}
    return out


def differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """``key: a != b`` for every dotted key whose value differs (at most the first 8)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return out[:8]
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} != {b!r}"]


class RunFolder:
    """``with RunFolder(out, params) as folder:`` lock ``out``, check it holds this run."""

    def __init__(self, path: Path, params: dict[str, Any], *, replace_stale: bool = False):
        self.path, self.params, self.replace_stale = Path(path), params, replace_stale
        self.identity = identity(params)
        self._lock: int | None = None

    def __enter__(self) -> RunFolder:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._acquire()
        try:
            self._check()
        except BaseException:
            self._release()
            raise
        self.path.mkdir(exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    # ---- lock ---------------------------------------------------------------------------
    def _acquire(self) -> None:
        lock = self.path.parent / f".{self.path.name}.lock"
        try:
            self._lock = hold_lock(lock, str(self.path))
        except UserError as err:
            raise UserError(
                f"{err}; wait for it to finish or stop it: two trainings in one run folder "
                "would overwrite each other"
            ) from None

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing releases the flock
            self._lock = None

    # ---- identity -----------------------------------------------------------------------
    @property
    def params_file(self) -> Path:
        return self.path / "params.yaml"

    def holds_state(self) -> bool:
        return any((self.path / name).exists() for name in CHECKPOINTS)

    def _check(self) -> None:
        if not self.params_file.exists():
            return
        recorded = identity(yaml.safe_load(self.params_file.read_text()) or {})
        if recorded == self.identity:
            return
        diff = "; ".join(differences(recorded, self.identity))
        if not self.holds_state():
            log.info("%s: no checkpoint yet, replacing its parameters (%s)", self.path, diff)
            self.params_file.unlink()
            return
        if not self.replace_stale:
            raise UserError(
                f"{self.path} holds a run with other parameters ({diff}; see "
                f"{self.params_file}); choose another --out, delete that folder or pass "
                "--replace-stale"
            )
        n = 1
        while self.path.with_name(f"{self.path.name}.stale-{n}").exists():
            n += 1
        self.path.rename(self.path.with_name(f"{self.path.name}.stale-{n}"))
        log.warning(
            "parameters changed (%s): moved the previous run to %s.stale-%d", diff, self.path, n
        )

    def write_params(self) -> None:
        """Record the parameters (once the run has been built from them)."""
        if not self.params_file.exists():
            write_text_atomic(self.params_file, yaml.safe_dump(self.params, sort_keys=False))

    # ---- checkpoints --------------------------------------------------------------------
    def save(self, name: str, state: dict[str, Any]) -> None:
        from wheretolearn.checkpoint import save_atomic

        save_atomic({**state, "identity": self.identity}, self.path / name)

    def load(self, name: str) -> dict[str, Any] | None:
        """The checkpoint ``name`` of this run, or None if there is none."""
        path = self.path / name
        if not path.exists():
            return None
        return load_bound(path, self.identity)


def load_bound(path: Path, expected: dict[str, Any]) -> dict[str, Any]:
    """Load a checkpoint and check it belongs to the run of identity ``expected``."""
    from wheretolearn.checkpoint import load

    state = load(path)
    recorded = state.get("identity")
    if recorded is None:
        log.warning("%s records no parameters (written before they were bound); trusting it", path)
    elif recorded != expected:
        diff = "; ".join(differences(recorded, expected))
        raise UserError(
            f"{path} was written by a run of other parameters ({diff}: checkpoint != "
            f"{path.parent / 'params.yaml'}); restore that run's params.yaml, or train this "
            "run in a folder of its own"
        )
    return state


def load_into(module: Any, state: dict[str, Any], path: Path, what: str) -> None:
    """``module.load_state_dict(state)``, or a UserError naming the first tensor that does
    not fit (a checkpoint of another model) instead of PyTorch's traceback."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        detail = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), err)
        raise UserError(
            f"{path}: its {what} does not fit the {what} that {path.parent / 'params.yaml'} "
            f"builds ({detail}); the checkpoint belongs to another run"
        ) from None
