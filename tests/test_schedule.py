"""The learning rates of the warm-up + cosine schedule equal the table of ICLR spec §5."""
import pytest
import torch

from engine.training.schedule import warmup_cosine_scheduler


def _lrs(n_epochs, skip_zero_lr_epoch=False):
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    sched = warmup_cosine_scheduler(opt, n_epochs, skip_zero_lr_epoch=skip_zero_lr_epoch)
    lrs = []
    for _ in range(n_epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_1000_epoch_values():
    lrs = _lrs(1000)
    table = {1: 0.0, 2: 3.333333e-05, 3: 6.666667e-05, 4: 1e-4, 5: 1e-4, 6: 9.999975e-05,
             100: 9.777865e-05, 500: 5.060087e-05, 1000: 1.009919e-07}
    for epoch, lr in table.items():
        assert lrs[epoch - 1] == pytest.approx(lr, rel=1e-6, abs=1e-12), epoch


def test_10_epoch_values():
    expected = [0, 3.333e-05, 6.667e-05, 1e-4, 1e-4, 9.505e-05, 8.119e-05, 6.116e-05, 3.894e-05, 1.891e-05]
    assert _lrs(10) == pytest.approx(expected, rel=2e-4, abs=1e-12)


def test_skipping_the_zero_lr_epoch_shifts_the_schedule_by_one():
    shifted = _lrs(30, skip_zero_lr_epoch=True)
    assert shifted[0] == pytest.approx(3.333333e-05, rel=1e-6)
    assert shifted[:-1] == pytest.approx(_lrs(30)[1:], rel=1e-12)


def test_resume_with_more_epochs_follows_the_new_schedule():
    """Loading a 10-epoch scheduler's state into a 1000-epoch scheduler keeps the 1000-epoch curve."""
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    short = warmup_cosine_scheduler(opt, 10)
    for _ in range(5):
        opt.step()
        short.step()
    saved = short.state_dict()
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    longer = warmup_cosine_scheduler(opt, 1000)
    longer.load_state_dict(saved)
    opt.step()
    longer.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(_lrs(1000)[6], rel=1e-9)
