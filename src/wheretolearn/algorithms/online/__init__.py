"""Online learning with task-switch detection: C-MAML and its sparse variants (Table 6, S8, S9).

The third outer loop. :mod:`.stream` builds the Omniglot-MNIST-FashionMNIST stream from image
pools given as tensors (a registry adapter builds the pools from the project's datasets, in a
layer above this one), :mod:`.learner` is C-MAML+UM+PAP with any update rule, :mod:`.metrics`
the cumulative online accuracy and the detector's precision and recall, :mod:`.run` the loop
over a stream with resumable checkpoints. The variants are update rules only:

========================  ====================  =======================================
method                    rule                  meta-learned
========================  ====================  =======================================
C-MAML                    ``tensor-lr``         theta, one step size per tensor
C-MAML-fixed              ``maml``              theta
sparse-C-MAML             ``sparse-maml``       theta, mask logits m (1[m >= 0])
sparse-ReLU-C-MAML        ``sparse-relu-maml``  theta, rates m (relu(m), U[0.005, 0.1])
========================  ====================  =======================================

``NOTES`` records, for a run's params notes, each choice where the paper (supplement
Algorithm 2, B.3) and the authors' code (ElementAI/osaka, ``camera_ready``) differ.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from wheretolearn.algorithms.online.stream import PIXELS

NOTES = {
    "order": (
        "the authors' order: predict, adapt (from theta after a detected switch, else from "
        "phi), detect on the same batch, then meta-update and empty the buffer; phi restarts "
        "from the new theta at the next batch, and the batch of an update step is not buffered. "
        "Algorithm 2 re-adapts from the new theta on that batch at once; the supplement says the "
        "extensions were built directly on the authors' code, so the code's order is kept"
    ),
    "mask_update": (
        "Algorithm 2 never updates m although it requires gamma_m: m is meta-learned with theta "
        "in every meta-update, by the straight-through backward of the rule (Eq. 5 / Eq. 10 form), "
        "with its own optimiser at learning rate gamma_m"
    ),
    "theta_gate": (
        "no mask on theta's update by default (gate_theta: false): in the authors' C-MAML code "
        "theta is updated by Adam on the meta-gradient, not through the inner-loop step; App. A's "
        "'we additionally apply the mask to the theta-update' describes La-MAML's Algorithm 1, "
        "whose theta step is the rule's step (the continual loop does that)"
    ),
    "update_modulation": (
        "um_lambda: the meta-gradient weighted by 1 - exp(-lambda L), L the detached mean "
        "meta-loss, as the authors' cl_strategy loss_smooth, which their best configurations "
        "set (Config/ours.yaml, loaded after them, holds only bdg_optimizer, method and "
        "model_name, so it stays); None: no weighting"
    ),
    "batchnorm": (
        "BatchNorm affines are meta-learned but not adapted in the inner loop, and every "
        "batch is normalised with its own statistics (the authors' plain nn.BatchNorm2d with "
        "track_running_stats false); online_rule(adapt_batchnorm=True) adapts them too"
    ),
    "first_step": (
        "step 0 is scored honestly with phi = theta (the authors score it 0); it is adapted "
        "from theta and buffered, and no switch is detected at it, as in their code"
    ),
    "buffer": (
        "a meta-update pairs the first ceil(n/2) buffered batches (supports) with the others "
        "(queries) in order, floor(n/2) tasks; one batch alone is its own query (their "
        "make_batch); the buffer is forced into an update above full_buffer = 100 batches"
    ),
    "inner_steps": (
        "Algorithm 2 writes one inner step; the code takes num_steps (16 in the best "
        "configurations), first order, in the prediction-time adaptation: inner_steps sets it"
    ),
    "replay_split": (
        "Algorithm 2 'samples' training and validation batches from R; the code splits the "
        "buffer in halves as described under buffer, which is kept"
    ),
    "detector": (
        "a switch when L_after + gamma <= L_before on the incoming batch, the code's test; a "
        "detection at step t counts as true when the stream switched at t. A redrawn mode is a "
        "true switch (new classes and labels), as in the code"
    ),
    "images": (
        "each step draws shots images per class with replacement from the class (the code's "
        "uniform_(0, n).long()); class-major order"
    ),
    "pixels": PIXELS,
    "seeding": (
        "the stream is a pure function of (seed, step), and the model, rule and optimisers are "
        "seeded; the authors' 20 runs were unseeded"
    ),
}


def inner_tensors(model: nn.Module, *, adapt_batchnorm: bool = False) -> list[str]:
    """The parameters adapted in the inner loop: all of them, or all but normalisation
    layers' affines (the authors' C-MAML: only the convolutions and the classifier)."""
    from wheretolearn.models.norm import TaskBatchNorm2d

    norms = (TaskBatchNorm2d, nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    skip = set()
    if not adapt_batchnorm:
        for prefix, module in model.named_modules():
            if isinstance(module, norms):
                skip |= {f"{prefix}.{n}" if prefix else n for n, _ in module.named_parameters()}
    return [n for n, _ in model.named_parameters() if n not in skip]


def online_rule(method: dict[str, Any], model: nn.Module, *, adapt_batchnorm: bool = False):
    """The update rule ``method`` names, built on the tensors :func:`inner_tensors` adapts."""
    from wheretolearn.algorithms.rules.base import RULES, method_options
    from wheretolearn.models import head_names

    cls, _ = RULES.select(method)
    params = dict(model.named_parameters())
    keep = {n: params[n] for n in inner_tensors(model, adapt_batchnorm=adapt_batchnorm)}
    return cls(keep, head_names(model), method_options(method))
