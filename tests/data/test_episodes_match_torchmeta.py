"""Our episodes are torchmeta's, bit for bit: the same classes, examples, order and pixels.

``wheretolearn.data.episodes`` reproduces torchmeta 1.8.0's ``ClassSplitter`` over a
``ConcatTask`` without importing torchmeta (whose torchvision import costs every job about
1.4 s). Here the same tasks are built with torchmeta's own classes, as the data layer did
before, and compared with ``torch.equal``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wheretolearn.data import compat, episode_loader
from wheretolearn.data.api import _split_arrays, _transform
from wheretolearn.data.episodes import EpisodeSampler
from wheretolearn.data.registry import get


def torchmeta_loader(name, split, root, *, ways, shots, queries, tasks, batches, seed, size=None):
    """The tasks as torchmeta's ClassDataset, ClassSplitter and BatchMetaDataLoader make them."""
    compat.apply()
    from torchmeta.transforms import ClassSplitter
    from torchmeta.utils.data import BatchMetaDataLoader, ClassDataset, CombinationMetaDataset
    from torchmeta.utils.data import Dataset as TaskDataset
    from torchmeta.utils.data.task import ConcatTask

    class Rotation:  # torchmeta's class-augmentation protocol: iterable, hashable by angle
        def __init__(self, angle):
            self.angles = list(angle) if isinstance(angle, list) else [angle]
            self.angle = None if isinstance(angle, list) else angle

        def __iter__(self):
            return iter(Rotation(a) for a in self.angles)

        def __call__(self, image):
            return np.rot90(image, k=(self.angle % 360) // 90, axes=(0, 1))

        def __hash__(self):
            return hash(repr(self.angles))

        def __eq__(self, other):
            return isinstance(other, Rotation) and self.angles == other.angles

    class ClassTask(TaskDataset):
        def __init__(self, index, data, transform):
            super().__init__(index, transform=transform)
            self.data = data

        def __len__(self):
            return len(self.data)

        def __getitem__(self, i):
            target = self.index
            if self.target_transform is not None:
                target = self.target_transform(target)
            return self.transform(self.data[i]), target

    class Classes(ClassDataset):
        def __init__(self, arrays, transform, augment):
            super().__init__(meta_split=split, class_augmentations=augment)
            self.arrays, self.transform = arrays, transform

        @property
        def num_classes(self):
            return len(self.arrays)

        def __getitem__(self, index):
            data = self.arrays[index % self.num_classes]
            return ClassTask(index, data, self.get_transform(index, self.transform))

    class Position:
        def __init__(self, classes):
            self.lookup = {c: k for k, c in enumerate(classes)}

        def __call__(self, target):
            return self.lookup[target]

    class Episodes(CombinationMetaDataset):
        def __getitem__(self, key):
            classes, task_seed = key
            task = ConcatTask(
                [self.dataset[c] for c in classes], ways, target_transform=Position(classes)
            )
            splitter = ClassSplitter(
                shuffle=True,
                num_support_per_class=shots,
                num_query_per_class=queries,
                random_state_seed=task_seed,
            )
            return splitter(task)

    spec = get(name)
    _, arrays = _split_arrays(name, split, root, False)
    augment = [Rotation(list(spec.rotations))] if split in spec.rotate_splits else None
    classes = Classes(arrays, _transform(spec, size, None), augment)
    sampler = EpisodeSampler(len(classes), ways, tasks, batches, seed)
    loader = BatchMetaDataLoader(
        Episodes(classes, num_classes_per_task=ways),
        batch_size=tasks,
        shuffle=False,
        sampler=sampler,
    )
    for batch in loader:
        (sx, sy), (qx, qy) = batch["support"], batch["query"]
        yield sx, sy, qx, qy


@pytest.mark.parametrize(
    "name, split, shots, size",
    [
        ("omniglot-small-rot", "train", 1, None),  # rotated classes as extra classes
        ("omniglot-small-rot", "train", 5, 20),  # resized
        ("omniglot-small", "test", 5, None),
        ("mnist-test", "test", 1, None),
    ],
)
def test_tasks_are_torchmeta_tasks_bit_for_bit(real_root, name, split, shots, size):
    kw = dict(ways=5, shots=shots, queries=15, seed=7)
    ours = list(
        episode_loader(
            name, split, root=real_root, meta_batch_size=3, num_batches=4, image_size=size, **kw
        )
    )
    theirs = list(torchmeta_loader(name, split, real_root, tasks=3, batches=4, size=size, **kw))
    assert len(ours) == len(theirs) == 4
    for batch, reference in zip(ours, theirs, strict=True):
        fields = (batch.support_x, batch.support_y, batch.query_x, batch.query_y)
        for mine, torchmeta in zip(fields, reference, strict=True):
            assert mine.dtype == torchmeta.dtype
            assert torch.equal(mine, torchmeta)
    # the comparison sees rotated classes: some task of the train split uses one
    if name.endswith("-rot"):
        n = len(_split_arrays(name, split, real_root, False)[1])
        sampler = EpisodeSampler(n * 4, 5, 3, 4, 7)
        assert any(
            c >= n for i in range(4) for classes, _ in sampler.batch_keys(i) for c in classes
        )
