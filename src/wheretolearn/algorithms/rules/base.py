"""The update-rule protocol (second version), the rules' registry, building a rule from params.

A rule is an ``nn.Module`` whose parameters are its meta-parameters (mask logits, learning
rates, a generator's weights). Per task, :meth:`UpdateRule.begin` computes the modulation of
every adapted tensor, differentiably in the meta-parameters; it may depend on the task (a
:class:`Task`: its support set, the weights it starts from, their gradients). Per inner step,
:meth:`UpdateRule.update` maps the whole parameter dict and its gradients to the next one
(default: :meth:`UpdateRule.step` per tensor, ``phi - modulation * g``); a rule whose step needs
every layer at once (a per-layer top-k, a mask generated from all gradients) overrides it.

A rule that shares information across the tasks of a meta-batch sets ``cross_task = True``:
the engine then runs the tasks in lockstep, step k of every task, then
:meth:`UpdateRule.batch_update` over all of them, keeps the graph across tasks for one outer
backward, and calls :meth:`UpdateRule.end_batch` with the state :meth:`begin_batch` made;
it refuses the paths that assume independent tasks (vmap groups, grouped evaluation, a
backward per task). Adding a rule is one file in this folder: an ``Options`` dataclass (a
value the paper sets has no default), a class registered with :func:`register`, and an
``EXAMPLE`` of options that the contract test (tests/test_rule_contract.py) runs it with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from wheretolearn.registry import Registry

Modulation = dict[str, torch.Tensor | float]
Params = dict[str, torch.Tensor]

RULES: Registry[type[UpdateRule]] = Registry(
    "method", "wheretolearn.algorithms.rules", "method.name"
)


@dataclasses.dataclass(frozen=True)
class NoOptions:
    pass


@dataclasses.dataclass
class Task:
    """What a task-conditioned rule may look at when it begins a task (:meth:`begin`)."""

    model: nn.Module
    theta: Params  # the weights adaptation starts from
    support_x: torch.Tensor
    support_y: torch.Tensor
    _grads: Params | None = None

    def gradients(self) -> Params:
        """The inner loss's gradients at theta for every tensor (computed once, no graph)."""
        if self._grads is None:
            from torch.func import functional_call

            names = list(self.theta)
            with torch.enable_grad():
                phi = {n: t.detach().requires_grad_(True) for n, t in self.theta.items()}
                logits = functional_call(self.model, phi, (self.support_x,))
                loss = nn.functional.cross_entropy(logits, self.support_y)
                grads = torch.autograd.grad(loss, [phi[n] for n in names], allow_unused=True)
            self._grads = {n: g if g is not None else torch.zeros_like(phi[n])
                           for n, g in zip(names, grads, strict=True)}  # fmt: skip
        return self._grads


class UpdateRule(nn.Module):
    """Base class: plain SGD with step ``alpha`` on every adapted tensor (MAML).

    Parameters
    ----------
    params:
        The model's named parameters (shapes and names of theta).
    head:
        Names of the output layer's parameters (for ANIL and BOIL).
    options:
        An instance of the rule's ``Options`` dataclass.
    """

    Options: ClassVar[type] = NoOptions
    #: valid options for the contract test (a tiny model, a few steps)
    EXAMPLE: ClassVar[dict[str, Any]] = {}
    #: shares state across the tasks of a meta-batch: the engine runs them in lockstep
    cross_task: ClassVar[bool] = False
    #: the modulation of a tensor is one value per inner step (``[steps]``, step ``k`` takes
    #: entry ``k``: MAML++'s per-step rates), not a scalar or a tensor of the tensor's shape
    per_step: ClassVar[bool] = False
    #: the modulation is a task summary, not a value per tensor: :meth:`update` computes the
    #: step's gates from it (GEMS' BMP), and the rule reports its own sparsity
    gated: ClassVar[bool] = False
    rule_name: ClassVar[str] = ""

    def __init__(self, params: dict[str, torch.Tensor], head: set[str], options: Any) -> None:
        super().__init__()
        self.options = options
        self.adapted: list[str] = self.select(list(params), head)
        self.shapes = {name: tuple(p.shape) for name, p in params.items()}

    def select(self, names: list[str], head: set[str]) -> list[str]:
        """The names of the tensors adapted in the inner loop (default: all)."""
        return names

    def begin(self, task: Task | None = None) -> Modulation:
        """Per-task modulation of each adapted tensor: a scalar or a tensor of its shape.
        ``task`` is None where no task is at hand (the sparsity report, a continual stream)."""
        return {name: self.options.alpha for name in self.adapted}

    def step(
        self, k: int, name: str, phi: torch.Tensor, grad: torch.Tensor, modulation: Modulation
    ) -> torch.Tensor:
        """One inner step on one tensor: ``phi - modulation[name] * grad``."""
        return phi - modulation[name] * grad

    def update(self, k: int, phi: Params, grads: Params, modulation: Modulation) -> Params:
        """Inner step ``k`` on the whole parameter dict: every adapted tensor steps (by
        :meth:`step`), the others pass through unchanged."""
        nxt = dict(phi)
        for name in self.adapted:
            nxt[name] = self.step(k, name, phi[name], grads[name], modulation)
        return nxt

    # ---- meta-batch state (cross_task rules) -------------------------------------------
    def begin_batch(self, tasks: int) -> Any:
        """The state shared by the ``tasks`` tasks of a meta-batch (or of one evaluation
        task); None for rules that share none."""
        return None

    def batch_update(
        self, k: int, phis: list[Params], grads: list[Params], modulations: list[Modulation],
        state: Any,
    ) -> list[Params]:  # fmt: skip
        """Inner step ``k`` of every task of a meta-batch at once (lockstep)."""
        return [self.update(k, p, g, m) for p, g, m in zip(phis, grads, modulations, strict=True)]

    def end_batch(self, state: Any, *, training: bool) -> None:  # noqa: B027 - optional hook
        """After a meta-batch's tasks are adapted (``training``: its outer step follows)."""

    @torch.no_grad()
    def sparsity(self) -> dict[str, float]:
        """Per tensor, the fraction of coordinates whose inner-loop update is exactly zero."""
        modulation = self.begin()
        out = {}
        for name, shape in self.shapes.items():
            if name not in modulation:
                out[name] = 1.0
                continue
            value = torch.as_tensor(modulation[name]).detach()
            out[name] = float((value.expand(shape) == 0).float().mean())
        return out


def register(name: str) -> Callable[[type[UpdateRule]], type[UpdateRule]]:
    """Class decorator: the rule ``name`` of params files' ``method.name``."""
    return RULES.decorator(name, "rule_name")


def method_options(method: dict[str, Any]) -> Any:
    """Validate the ``method`` section against the named rule's options; return them."""
    return RULES.options(method)


def build_rule(method: dict[str, Any], model: nn.Module, head: set[str]) -> UpdateRule:
    """The rule ``method`` names, for the tensors of ``model`` (``head``: its output layer)."""
    cls, _ = RULES.select(method)
    return cls(dict(model.named_parameters()), head, method_options(method))


def linear_steps(rule: UpdateRule) -> bool:
    """Whether ``rule`` keeps the base step ``phi - modulation * g`` (so first-order steps can
    run without a graph and ``phi_K`` is rebuilt from the sum of the gradients)."""
    cls = type(rule)
    return cls.step is UpdateRule.step and cls.update is UpdateRule.update and not cls.cross_task


def refuse_cross_task(rule: UpdateRule, path: str) -> None:
    """A clear error where a path that assumes independent tasks is asked to run a rule that
    shares state across them."""
    if rule.cross_task:
        raise ValueError(
            f"{rule.rule_name} shares state across the tasks of a meta-batch (cross_task): "
            f"{path} assumes independent tasks; the engine runs such a rule in lockstep"
        )


def sparsity_record(rule: UpdateRule) -> dict[str, Any]:
    """Per-tensor gradient sparsity and the parameter-weighted overall level."""
    per = rule.sparsity()
    sizes = {n: float(torch.Size(s).numel()) for n, s in rule.shapes.items()}
    total = sum(sizes.values())
    overall = sum(per[n] * sizes[n] for n in per) / total
    return {"sparsity": overall, "sparsity_per_tensor": per}
