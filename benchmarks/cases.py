"""The benchmark's cases, their workloads on both sides, and the float64 agreement check."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from reference import conv4_forward, reference_step, resnet12_forward

from wheretolearn.algorithms.episodic import evaluate_tasks, meta_train_step
from wheretolearn.algorithms.rules._parts import param_key
from wheretolearn.algorithms.rules.base import build_rule
from wheretolearn.models import ResNet12, build_model, head_names
from wheretolearn.models.config import ModelConfig

ALPHA = 0.1  # the inner rate does not change the arithmetic; 0.1 keeps random tasks finite
STE = 1.0


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    model: str  # conv4 | resnet12
    channels: int
    image_size: int
    shots: int
    steps: int
    tasks: int  # meta-batch (train) or number of tasks timed (eval)
    kind: str = "train"  # train | eval
    ways: int = 5
    queries: int = 15
    repeat_factor: int = 1  # cheap cases are repeated more: medians on a shared machine


def cases(eval_tasks: int, resnet_steps: int) -> dict[str, Case]:
    """(a) paper setting, (b) smoke setting, (c) evaluation, (d) ResNet-12."""
    mini = {"model": "conv4", "channels": 3, "image_size": 84, "shots": 5}
    omni = {"model": "conv4", "channels": 1, "image_size": 28, "shots": 1}
    return {
        c.name: c
        for c in (
            Case("a-K25", "meta-train iteration, 84x84 5w5s, T=2", **mini, steps=25, tasks=2),
            Case("a-K35", "meta-train iteration, 84x84 5w5s, T=2", **mini, steps=35, tasks=2),
            Case(
                "b-K25",
                "meta-train iteration, Omniglot 5w1s, T=2",
                **omni,
                steps=25,
                tasks=2,
                repeat_factor=3,
            ),
            Case(
                "b-K35",
                "meta-train iteration, Omniglot 5w1s, T=2",
                **omni,
                steps=35,
                tasks=2,
                repeat_factor=3,
            ),
            Case(
                "c-eval",
                "evaluation, 84x84 5w5s, K_test=100",
                **mini,
                steps=100,
                tasks=eval_tasks,
                kind="eval",
            ),
            Case(
                "d-resnet12",
                "meta-train iteration, ResNet-12 small, 1 task",
                **{**mini, "model": "resnet12"},
                steps=resnet_steps,
                tasks=1,
            ),
        )
    }


def random_tasks(case: Case, dtype, device, seed: int = 0) -> SimpleNamespace:
    g = torch.Generator().manual_seed(seed)
    shape = (case.channels, case.image_size, case.image_size)

    def images(n):
        return torch.randn(case.tasks, n, *shape, generator=g, dtype=dtype).to(device)

    def labels(n):
        return torch.arange(case.ways).repeat_interleave(n).expand(case.tasks, -1).to(device)

    return SimpleNamespace(
        support_x=images(case.ways * case.shots),
        support_y=labels(case.shots),
        query_x=images(case.ways * case.queries),
        query_y=labels(case.queries),
    )


def build(case: Case, dtype=torch.float32, device="cpu", model=None):
    """Model, sparse-MAML rule and tasks; the reference shares their tensors (same masks)."""
    torch.manual_seed(0)
    if model is None:
        cfg = ModelConfig(name=case.model, hidden=64, bias=True, batchnorm="transductive")
        model = build_model(cfg, channels=case.channels, image_size=case.image_size, ways=case.ways)
    model.to(device=device, dtype=dtype)
    method = {"name": "sparse-maml", "alpha": ALPHA, "init_shift": 0.0, "ste_scale": STE}
    rule = build_rule(method, model, head_names(model)).to(device=device, dtype=dtype)
    logits = {n: rule.mask_logits[param_key(n)] for n in rule.adapted}
    forward = conv4_forward if case.model == "conv4" else resnet12_forward
    return SimpleNamespace(
        case=case, model=model, rule=rule, logits=logits, forward=forward,
        batch=random_tasks(case, dtype, device),
    )  # fmt: skip


def _zero(ctx) -> None:
    for p in [*ctx.model.parameters(), *ctx.rule.parameters()]:
        p.grad = None


def _single_tasks(batch) -> list[SimpleNamespace]:
    n = batch.support_x.shape[0]
    return [SimpleNamespace(**{k: v[i : i + 1] for k, v in vars(batch).items()}) for i in range(n)]


def ours(ctx):
    """Our engine through its public functions (the device's plan chooses the path)."""
    _zero(ctx)
    if ctx.case.kind == "eval":
        return evaluate_tasks(ctx.model, ctx.rule, _single_tasks(ctx.batch), ctx.case.steps)
    return meta_train_step(
        ctx.model, ctx.rule, ctx.batch, inner_steps=ctx.case.steps, first_order=True
    )


def reference(ctx):
    """The authors' algorithm on the same tensors."""
    _zero(ctx)
    params = OrderedDict(ctx.model.named_parameters())
    run = (ctx.forward, params, ctx.logits)
    if ctx.case.kind == "eval":
        return [
            reference_step(*run, task, ctx.case.steps, ALPHA, STE, evaluation=True)
            for task in _single_tasks(ctx.batch)
        ]
    return reference_step(*run, ctx.batch, ctx.case.steps, ALPHA, STE)


def _gradients(ctx) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in ctx.model.named_parameters()}
    out.update({f"mask.{n}": m.grad.clone() for n, m in ctx.rule.named_parameters()})
    return out


def float64_check() -> dict[str, float]:
    """Largest absolute gradient difference, ours vs reference, on tiny conv4 and ResNet-12
    (float64, 3 tasks, 4 steps), and whether the evaluation accuracies are identical."""
    tiny = Case("tiny", "", "conv4", 1, 16, 2, steps=4, tasks=3, ways=3, queries=3)
    report = {}
    for case, model in (
        (tiny, None),
        (Case(**{**vars(tiny), "model": "resnet12"}), ResNet12(1, 3, (4, 4, 8, 8))),
    ):
        ctx = build(case, torch.float64, model=model)
        ours(ctx)
        mine = _gradients(ctx)
        reference(ctx)
        theirs = _gradients(ctx)
        report[f"{case.model}_max_abs_grad_diff"] = max(
            float((mine[n] - theirs[n]).abs().max()) for n in mine
        )
        ectx = build(Case(**{**vars(case), "kind": "eval"}), torch.float64, model=ctx.model)
        report[f"{case.model}_eval_accuracies_equal"] = ours(ectx) == reference(ectx)
    return report
