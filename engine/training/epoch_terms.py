"""Per-epoch means of the logged loss terms and counts of skipped iterations, saved with a mid-epoch
checkpoint so that a resumed epoch reports the same numbers as an uninterrupted one."""
import math
from dataclasses import asdict, dataclass, field


@dataclass
class EpochTerms:
    """Sums and counts of the finite values of each term (``b1``, ``n2n``, ...) in epoch ``epoch`` (0-based),
    ``skipped`` iterations with non-finite values, ``skipped_in_a_row`` of them ending the epoch so far."""
    epoch: int
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skipped_in_a_row: int = 0

    def add(self, terms: dict[str, float]) -> None:
        """Add each finite value; a non-finite one (e.g. ``n2n`` of a skipped denoiser update) only makes its
        term known, so an epoch without a finite value reports NaN for it."""
        for key, value in terms.items():
            finite = math.isfinite(value)
            self.sums[key] = self.sums.get(key, 0.0) + (value if finite else 0.0)
            self.counts[key] = self.counts.get(key, 0) + finite

    def skip(self) -> None:
        """Count one iteration with a non-finite value."""
        self.skipped += 1
        self.skipped_in_a_row += 1

    def means(self) -> dict[str, float]:
        """``{term: mean of its finite values}``, NaN for a term without any."""
        return {key: self.sums[key] / self.counts[key] if self.counts[key] else math.nan for key in self.sums}

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict | None, epoch: int) -> "EpochTerms":
        """The saved terms when they belong to ``epoch``, else an empty start of ``epoch`` (also for
        checkpoints written before the terms were saved)."""
        if state and state["epoch"] == epoch:
            return cls(**state)
        return cls(epoch)
