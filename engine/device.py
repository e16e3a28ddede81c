"""Choosing the torch device from a command-line value."""
import torch

SUPPORTED_TYPES = ("cpu", "cuda")


class DeviceError(ValueError):
    """A ``--device`` value that names no device of this machine; one-line message."""


def resolve_device(name: str | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU; otherwise the named device, checked: raises
    ``DeviceError`` for a name torch does not know, a device type other than ``SUPPORTED_TYPES`` and a CUDA
    device this machine does not have."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"--device {name}: not a device name (use cpu, cuda or cuda:N)") from None
    if device.type not in SUPPORTED_TYPES:  # mps, xpu, meta ...: names torch knows, paths this project never ran
        raise DeviceError(f"--device {name}: only {' and '.join(SUPPORTED_TYPES)} devices are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                          f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device
