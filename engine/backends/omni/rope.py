"""Moving cached keys to other rotary positions, so the KV cache can be compacted after eviction.

Cached keys carry the rotation of the position they were computed at. A rotation by ``p`` followed by one by ``-d``
equals a rotation by ``p - d``, so shifting a key back by ``d`` positions needs only ``d``, not ``p``. With M-RoPE
(temporal, height and width sections) a uniform shift of all three components rotates every frequency by
``d * inv_freq``, which is exactly what this does.
"""

from __future__ import annotations

import torch


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def shift_keys(keys: torch.Tensor, shift: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Keys ``[batch, heads, seq, head_dim]`` moved ``shift[seq]`` positions back (towards 0)."""
    angles = shift.to(device=keys.device, dtype=torch.float32)[:, None] * inv_freq.to(keys.device, torch.float32)
    angles = torch.cat((angles, angles), dim=-1)
    cos, sin = angles.cos(), angles.sin()
    rotated = keys.float() * cos - rotate_half(keys.float()) * sin
    return rotated.to(keys.dtype)
