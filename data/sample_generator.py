"""The random generator of one training sample, keyed by ``(seed, epoch, index)``: a sample's crop,
flips or brightness gain then depend neither on the loader's order and worker count nor on where
a run was resumed."""
import numpy as np
import torch


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A fresh CPU ``torch.Generator`` seeded from ``numpy.random.SeedSequence([seed, epoch, index])``."""
    state = int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(state)
