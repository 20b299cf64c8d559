"""wheretolearn: gradient-sparsity meta-learning (sparse-MAML and relatives), reproduced."""

__version__ = "0.1.0"
