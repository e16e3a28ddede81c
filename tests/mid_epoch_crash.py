"""Test helper: simulate a crash right after a trainer writes a mid-epoch checkpoint."""


def crash_after_mid_epoch_save(monkeypatch, trainer, epoch: int, iteration: int) -> None:
    """Make ``trainer.atomic_save`` raise ``KeyboardInterrupt`` right after writing the mid-epoch
    state of ``(epoch, iteration)``, as a crash at that moment would; ``monkeypatch.undo()`` restores it."""
    real_save = trainer.atomic_save

    def save_then_crash(obj, path):
        real_save(obj, path)
        progress = obj.get("progress") if isinstance(obj, dict) else None
        if progress and (progress["epoch"], progress["iteration"]) == (epoch, iteration):
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "atomic_save", save_then_crash)
