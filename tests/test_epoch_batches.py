"""engine/training/epoch_progress.py: each epoch's remaining batches, from one loader whose workers persist."""
import os

import torch
from torch.utils.data import Dataset, DistributedSampler

from engine.training.epoch_progress import EpochBatches, EpochProgress


class KeyDataset(Dataset):
    """Returns the key it was asked for and the process that read it."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, key):
        epoch, index = key
        return torch.tensor([epoch, index, os.getpid()])


def _sampler(dataset):
    return DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=4)


def _keys(batches):
    return [tuple(row[:2].tolist()) for batch in batches for row in batch]


def test_epochs_follow_the_sampler_and_skip_finished_batches():
    dataset = KeyDataset()
    loader = EpochBatches(dataset, _sampler(dataset), batch_size=3)
    reference = _sampler(dataset)
    for epoch in (1, 2):
        reference.set_epoch(epoch)
        assert _keys(loader.epoch(epoch, EpochProgress(epoch), "", show=False)) == [(epoch, i) for i in reference]
    resumed = _keys(loader.epoch(2, EpochProgress(2, iteration=2), "", show=False))
    assert resumed == [(2, i) for i in list(reference)[6:]]
    capped = EpochBatches(dataset, _sampler(dataset), batch_size=3, max_iters=2)
    assert len(_keys(capped.epoch(1, EpochProgress(1), "", show=False))) == 6


def test_workers_persist_across_epochs_and_read_the_same_samples():
    dataset = KeyDataset()
    in_process = EpochBatches(dataset, _sampler(dataset), batch_size=4)
    with_workers = EpochBatches(dataset, _sampler(dataset), batch_size=4, workers=2)
    pids = set()
    for epoch in (1, 2, 3):
        batches = list(with_workers.epoch(epoch, EpochProgress(epoch), "", show=False))
        assert _keys(batches) == _keys(in_process.epoch(epoch, EpochProgress(epoch), "", show=False))
        pids |= {int(row[2]) for batch in batches for row in batch}
    assert os.getpid() not in pids and len(pids) == 2  # the same two workers served all three epochs
