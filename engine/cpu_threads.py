"""CPU thread policy of the scripts: idle OpenMP threads sleep instead of spinning.

Import this module before ``torch`` (``eval.py``, ``export.py`` and ``train.py`` do it on their
first import line). It sets ``OMP_WAIT_POLICY=PASSIVE`` in ``os.environ`` unless the user has set
the variable, because the OpenMP runtime reads it once, when ``torch`` loads it. With the default
(spinning) policy, two PyTorch processes that share the cores slow each other down more than
tenfold, as each process's waiting threads burn the time the other one needs; passive waiting
costs a single process a few percent at most. ``OMP_WAIT_POLICY=ACTIVE python eval.py ...``
brings the spinning back. ONNX Runtime's own thread pool follows the same policy
(``threads_may_spin``).
"""
import os

WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
SCRIPT_WAIT_POLICY = "PASSIVE"

os.environ.setdefault(WAIT_POLICY_VARIABLE, SCRIPT_WAIT_POLICY)


def threads_may_spin() -> bool:
    """True when the wait policy in force lets idle worker threads spin (``OMP_WAIT_POLICY=ACTIVE``)."""
    return os.environ.get(WAIT_POLICY_VARIABLE, "").strip().upper() == "ACTIVE"
