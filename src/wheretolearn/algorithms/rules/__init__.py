"""Update rules: ``phi_{k+1} = phi_k - U(g_k)``, each rule owning its meta-parameters.

A rule is an ``nn.Module`` whose parameters are its meta-parameters (mask logits, learning
rates, a generator's weights). :meth:`UpdateRule.begin` computes, once per task, the
modulation of every adapted tensor (differentiably in the meta-parameters);
:meth:`UpdateRule.step` applies one inner step to one tensor. Adding a method is one class
with an ``Options`` dataclass, registered under its name with :func:`register`.
"""
