"""Device and dtype selection: CUDA when available (bf16), otherwise CPU (fp32)."""

from __future__ import annotations

import torch

from engine.backends.omni.errors import DeviceUnavailable


def resolve_device(device: str) -> torch.device:
    """``auto`` → cuda if available else cpu; an explicit CUDA device that is absent raises ``DeviceUnavailable``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise DeviceUnavailable(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"device {device!r} requested but CUDA is not available (torch {torch.__version__}); "
                "use --device cpu or auto"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceUnavailable(f"device {device!r} requested but only {torch.cuda.device_count()} GPU(s) exist")
    elif resolved.type != "cpu":
        raise DeviceUnavailable(f"device {device!r} is not supported: use auto, cpu, cuda or cuda:N")
    return resolved


def dtype_for(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" else torch.float32
