"""Memory policies: which stream segments leave the KV cache, how old vision KV is compressed, which frames are
skipped before encoding. Each is a small class configured from ``OmniOptions`` and can be swapped independently."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from engine.backends.omni.kv_stream import Segment


class SinkWindow:
    """Sink + sliding window: the system prompt (the attention sink) and the dialogue stay; media segments older
    than ``window_seconds`` behind the newest go. Past ``max_kv_tokens`` entries, the oldest media and then the
    oldest dialogue go too."""

    def __init__(self, window_seconds: float, max_kv_tokens: int) -> None:
        self.window_seconds = window_seconds
        self.max_kv_tokens = max_kv_tokens

    def select(self, segments: Sequence[Segment], now: float) -> list[int]:
        """Indices of the segments to evict at stream time ``now``."""
        horizon = now - self.window_seconds
        drop = {i for i, s in enumerate(segments) if s.kind == "media" and s.t1 <= horizon}
        total = sum(s.length for i, s in enumerate(segments) if i not in drop)
        for kind in ("media", "dialogue"):
            for i, s in enumerate(segments):
                if total <= self.max_kv_tokens:
                    break
                if s.kind == kind and i not in drop and i != len(segments) - 1:
                    drop.add(i)
                    total -= s.length
        return sorted(drop)


class TextPriorCompressor:
    """Text-prior vision KV compression in the spirit of LOOK-M.

    Vision entries of a media segment are scored by the attention the text prior (system prompt and dialogue keys,
    standing in for their queries) pays them, summed over layers and heads; the top ``keep_ratio`` stay and each
    evicted entry is averaged into the kept entry whose key it is most similar to, so its content is not simply
    lost. Non-vision entries (time stamps, delimiters, audio) are always kept.
    """

    def __init__(self, after_seconds: float, keep_ratio: float) -> None:
        self.after_seconds = after_seconds
        self.keep_ratio = keep_ratio

    def due(self, segments: Sequence[Segment], now: float) -> list[int]:
        return [
            i
            for i, s in enumerate(segments)
            if s.kind == "media" and not s.compressed and s.t1 <= now - self.after_seconds and bool(s.vision.any())
        ]

    def compress(
        self,
        entries: list[tuple[torch.Tensor, torch.Tensor]],
        text_keys: list[torch.Tensor],
        vision: torch.Tensor,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Given one segment's per-layer ``(keys, values)`` ``[1, heads, n, dim]``, the text prior keys and the
        vision mask ``[n]``, return the kept local indices and the merged per-layer entries."""
        device = entries[0][0].device
        vis = torch.nonzero(vision, as_tuple=False).flatten().to(device)
        n_keep = max(1, math.ceil(self.keep_ratio * vis.numel()))
        scores = torch.zeros(vis.numel(), device=device, dtype=torch.float32)
        for (keys, _), prior in zip(entries, text_keys, strict=True):
            if prior.shape[-2] == 0:
                continue
            k = keys[0].index_select(-2, vis).float()  # [h, v, d]
            q = prior[0].float()  # [h_kv, t, d]
            attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(k.shape[-1]), dim=-1)  # [h, t, v]
            scores += attn.sum(dim=(0, 1))
        order = torch.argsort(scores, descending=True)
        kept_vis = vis[order[:n_keep]].sort().values
        dropped_vis = vis[order[n_keep:]]
        keep_mask = torch.ones(vision.numel(), dtype=torch.bool, device=device)
        keep_mask[dropped_vis] = False
        keep = torch.nonzero(keep_mask, as_tuple=False).flatten()
        merged: list[tuple[torch.Tensor, torch.Tensor]] = []
        last_keys = entries[-1][0][0].float().mean(0)  # [n, d]: head-averaged keys of the last layer
        sim = (
            torch.nn.functional.normalize(last_keys[dropped_vis], dim=-1)
            @ torch.nn.functional.normalize(last_keys[kept_vis], dim=-1).T
        )
        target = kept_vis[sim.argmax(-1)] if dropped_vis.numel() else dropped_vis
        counts = torch.ones(vision.numel(), device=device)
        counts.index_add_(0, target, torch.ones_like(target, dtype=counts.dtype))
        for keys, values in entries:
            out = []
            for tensor in (keys, values):
                acc = tensor.float().clone()
                acc.index_add_(-2, target, tensor.float().index_select(-2, dropped_vis))
                acc = acc / counts.view(1, 1, -1, 1)
                out.append(acc.index_select(-2, keep).to(tensor.dtype))
            merged.append((out[0], out[1]))
        return keep, merged


class FrameDeduper:
    """Drops a frame whose 32×32 grey thumbnail differs from the last kept one by less than ``threshold``
    (mean absolute difference, 0-1). ``threshold`` 0 keeps every frame. A frame is kept anyway once the last kept
    one is ``refresh_seconds`` old, so a still scene stays visible inside the sliding window."""

    def __init__(self, threshold: float, refresh_seconds: float = math.inf) -> None:
        self.threshold = threshold
        self.refresh_seconds = refresh_seconds
        self._last: np.ndarray | None = None
        self._last_t = -math.inf
        self.dropped = 0

    @staticmethod
    def thumbnail(image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0

    def keep(self, image: np.ndarray, t: float = 0.0) -> bool:
        """Whether the frame at stream time ``t`` is kept."""
        thumb = self.thumbnail(image)
        fresh = t - self._last_t < self.refresh_seconds
        similar = self._last is not None and float(np.abs(thumb - self._last).mean()) < self.threshold
        if self.threshold > 0 and fresh and similar:
            self.dropped += 1
            return False
        self._last = thumb
        self._last_t = t
        return True
