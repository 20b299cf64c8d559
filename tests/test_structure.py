"""The limits the package holds itself to: files of at most 300 lines, functions of at most 40
(decorators, signature and docstring included), measured with ``ast`` over ``src/``."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "wheretolearn"
FILES = sorted(SRC.rglob("*.py"))


def test_no_file_is_over_300_lines():
    long = {
        str(f.relative_to(SRC)): n for f in FILES if (n := len(f.read_text().splitlines())) > 300
    }
    assert FILES and not long, long


def test_no_function_is_over_40_lines():
    long = {}
    for path in FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - start + 1 > 40:
                    long[f"{path.relative_to(SRC)}:{node.name}"] = node.end_lineno - start + 1
    assert not long, long


def test_no_test_module_sets_torch_threads_at_import():
    """Collection imports every test module into one process: a module-level
    ``torch.set_num_threads`` would change the thread count, hence the float reductions and
    the numbers, of every test after it (it once moved a learning test from above 80% to 78.5%).
    Set threads inside a test or fixture; conftest restores them after each test."""
    tests = Path(__file__).parent
    offenders = [
        f"{path.relative_to(tests)}:{i}"
        for path in sorted(tests.rglob("*.py"))
        if path.name != "run_synthetic.py"  # a script run in a process of its own
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if line.startswith("torch.set_num_threads(")
    ]
    assert not offenders, offenders
