"""The online family: C-MAML and its sparse variants on the Omniglot-MNIST-FashionMNIST stream
(Table 6, S8, S9, Figure S5); the loop itself is :mod:`wheretolearn.algorithms.online`."""
