"""Device selection and seeding: one place that decides where tensors live and how randomness starts."""
from __future__ import annotations

import pyro
import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto``/None → CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N``, ``mps`` as given.

    Asking for a device this machine does not have (CUDA or MPS without them, ``cuda:N`` past the
    last GPU, ``cpu:N`` other than 0) or one that holds no data (``meta``) is an error, not a silent
    fall-back.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {device!r}; {expected}") from error
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {str(device)!r} cannot train a model here; {expected}")
    if device.type == "cpu" and device.index not in (None, 0):
        raise ValueError(f"device {str(device)!r} does not exist: the CPU is 'cpu' (or 'cpu:0')")
    if device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device {str(device)!r} was asked for but MPS (Apple GPUs) is not available here; "
                             "use --device cpu")
        if device.index not in (None, 0):
            raise ValueError(f"device {str(device)!r} does not exist: MPS has one device, 'mps'")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was asked for but CUDA is not available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA device(s) found")
    return device


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) through Pyro's single entry point."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    pyro.set_rng_seed(seed)
