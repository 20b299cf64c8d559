"""Online continual learning: learners that take a stream of incoming batches.

A learner is the outer loop of a continual method; the update rule it carries (the same
plug-ins as the few-shot core, :mod:`wheretolearn.algorithms.rules`) says how a gradient becomes
a step. ``lookahead`` is La-MAML's online meta-learning loop: with the ``la-maml`` rule
(rectified learned rates) it is La-MAML, with ``sparse-maml`` (binary mask, fixed alpha_0) it is
sparse-La-MAML. The baselines (``sgd``, ``er``, ``gem``, ``mer``) take their step size from the
rule's modulation, so ``method: {name: maml, alpha: lr}`` is plain SGD at rate ``lr``.

Adding a learner is one class with an ``Options`` dataclass, registered with :func:`register`.
"""
