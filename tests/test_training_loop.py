"""engine/training/training_loop.py with a toy task (a third model costs one task class): epochs, resume mid-epoch,
history and metrics files, best-score tracking, non-finite steps handed to the task."""
import math
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

import engine.training.training_loop as training_loop
from engine.training.distributed import DistributedContext
from engine.training.run_settings import RunSettings
from engine.training.training_loop import TrainingLoop
from engine.training.training_task import StepResult
from tests.mid_epoch_crash import crash_after_mid_epoch_save

CPU = DistributedContext.single_process("cpu")
QUIET = dict(log=lambda *_: None)


@dataclass
class ToyConfig(RunSettings):
    """A third model's config: the run settings alone, with a toy's defaults (``run_dir`` has none)."""
    _: KW_ONLY
    epochs: int = 3
    batch_size: int = 2
    save_every_iters: int = 0
    workers: int = 0
    seed: int = 0


class NumberPairs(torch.utils.data.Dataset):
    """Six samples ``x`` (1,) whose value depends on ``(epoch, index)``, as ``EpochBatches`` asks."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, key):
        epoch, index = key
        return torch.tensor([index + 0.1 * epoch])


class ToyTask:
    """Fit ``y = 2x`` with one weight by SGD; validated every epoch (score: minus the error of the weight)."""
    title, first_epoch, best_key, score_name = "Toy", 1, "best_toy", "toy score"

    def __init__(self, run_dir: Path, validate=True, non_finite_at=(), stop_after=2):
        torch.manual_seed(0)
        self.model = nn.Linear(1, 1, bias=False)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01)
        self.train_set, self.run_dir, self.validates = NumberPairs(), run_dir, validate
        self.non_finite_at, self.stop_after = non_finite_at, stop_after
        self.calls, self.in_a_row, self.best_saves = 0, 0, []

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])

    def begin_epoch(self, epoch: int) -> dict:
        return {"lr": self.optimizer.param_groups[0]["lr"]}

    def step(self, batch, epoch: int) -> StepResult:
        self.calls += 1
        if self.calls in self.non_finite_at:
            return StepResult(None, finite=False)
        self.in_a_row = 0
        loss = ((self.model(batch) - 2 * batch) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return StepResult(loss.item(), postfix={"loss": f"{loss.item():.3f}"})

    def on_non_finite(self, batch, epoch_number: int, last_good_state: str) -> None:
        self.in_a_row += 1
        if self.in_a_row >= self.stop_after:
            raise FloatingPointError(f"epoch {epoch_number}: last good state {last_good_state}")

    def end_epoch(self, epoch_number: int) -> dict:
        return {"weight": self.model.weight.item()}

    def save_epoch_weights(self, epoch_number: int) -> None:
        pass

    def validate(self, epoch_number: int) -> dict | None:
        return {"error": abs(self.model.weight.item() - 2)} if self.validates else None

    def score(self, metrics: dict) -> float:
        return -metrics["error"]

    def save_best(self) -> Path:
        self.best_saves.append(self.model.weight.item())
        return self.run_dir / "best"


def _run(tmp_path: Path, name: str, **task_kw):
    cfg = ToyConfig(run_dir=str(tmp_path / name))
    task = ToyTask(tmp_path / name, **task_kw)
    return TrainingLoop(cfg, "toy", CPU, **QUIET).run(task), task


def test_a_task_trains_and_keeps_its_best(tmp_path):
    run, task = _run(tmp_path, "run")
    assert [row["epoch"] for row in run.history] == [1, 2, 3]
    assert list(run.history[0]) == ["epoch", "lr", "loss", "weight", "error"]
    assert run.best_score == -run.history[-1]["error"] and task.best_saves[-1] == run.history[-1]["weight"]
    state = torch.load(run.state_path, weights_only=True)
    assert set(state) == {"model", "optimizer", "epoch", "progress", "history", "best_toy", "config"}
    assert state["epoch"] == 3 and state["progress"] is None and state["config"]["epochs"] == 3
    assert (Path(tmp_path / "run" / "metrics.csv")).read_text().splitlines()[0] == "epoch,lr,loss,weight,error"


def test_a_resumed_task_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    full, _ = _run(tmp_path, "full")
    cfg = ToyConfig(run_dir=str(tmp_path / "part"), save_every_iters=1)
    crash_after_mid_epoch_save(monkeypatch, epoch=2, iteration=2)
    with pytest.raises(KeyboardInterrupt):
        TrainingLoop(cfg, "toy", CPU, **QUIET).run(ToyTask(tmp_path / "part"))
    monkeypatch.undo()
    # engine.weights.checkpoint recognises the training states of ICLR and Zero-LEINR only: read the toy's as it is
    monkeypatch.setattr(training_loop, "load_training_state", lambda path, model, device: torch.load(path))
    cfg.resume = str(Path(cfg.run_dir) / "last.pth")
    resumed = TrainingLoop(cfg, "toy", CPU, **QUIET).run(ToyTask(tmp_path / "part"))
    assert resumed.history == full.history


def test_without_validation_the_last_weights_are_the_best(tmp_path):
    run, task = _run(tmp_path, "run", validate=False)
    assert run.best_score == -math.inf and task.best_saves == [run.history[-1]["weight"]]


def test_non_finite_steps_are_the_tasks_to_count(tmp_path):
    run, task = _run(tmp_path, "skips", non_finite_at=(2,))
    assert task.calls == 9  # 3 epochs of 3 batches; the skipped one counts as done
    with pytest.raises(FloatingPointError, match="epoch 1: last good state not yet written"):
        _run(tmp_path, "stop", non_finite_at=(2, 3))
