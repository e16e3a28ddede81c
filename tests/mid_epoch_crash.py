"""Test helper: simulate a crash right after the training loop writes a mid-epoch checkpoint."""
import engine.training.training_loop as training_loop


def crash_after_mid_epoch_save(monkeypatch, epoch: int, iteration: int) -> None:
    """Make the training loop's ``save_training_state`` raise ``KeyboardInterrupt`` right after writing the
    mid-epoch state of ``(epoch, iteration)``, as a crash at that moment would; ``monkeypatch.undo()`` restores it."""
    real_save = training_loop.save_training_state

    def save_then_crash(state, path):
        real_save(state, path)
        progress = state["progress"]
        if progress and (progress["epoch"], progress["iteration"]) == (epoch, iteration):
            raise KeyboardInterrupt

    monkeypatch.setattr(training_loop, "save_training_state", save_then_crash)
