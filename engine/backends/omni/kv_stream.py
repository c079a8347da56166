"""One session's KV cache over the stream, as a list of segments that can be appended, rolled back and evicted.

Segments are contiguous runs of cache entries in stream order: the system prompt, media chunks, dialogue turns.
Each knows the rotary positions it spans. Appending prefills only the new tokens at positions continuing from the
last segment (the official M-RoPE rule: each part starts at the previous maximum + 1). Evicting segments removes
their entries from every layer and shifts later keys back by the removed span, so positions stay contiguous and
bounded however long the stream runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from engine.backends.omni.buffer import BufferedLayer, buffered_cache
from engine.backends.omni.rope import shift_keys

SegmentKind = Literal["prompt", "media", "dialogue", "query"]


@dataclass
class Segment:
    kind: SegmentKind
    t0: float
    t1: float
    length: int  # cache entries held now
    pos_start: int  # first rotary position
    pos_end: int  # one past the largest rotary position
    vision: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))  # entries that are vision
    compressed: bool = False

    @property
    def span(self) -> int:
        return self.pos_end - self.pos_start


@dataclass(frozen=True, slots=True)
class Mark:
    """Where the stream stood before a fork; ``rollback`` returns to it."""

    segments: int
    length: int
    next_pos: int


class KvStream:
    def __init__(self, model: Any, inv_freq: torch.Tensor, config: Any, *, position_rows: int = 3) -> None:
        self.model = model  # a *ForConditionalGeneration with ``.model`` (the base model) and ``.lm_head``
        self.inv_freq = inv_freq
        self.position_rows = position_rows  # 3 for M-RoPE (positions [3, 1, n]), 1 for 1-D positions ([1, n])
        self.cache = buffered_cache(config)
        self.segments: list[Segment] = []
        self.next_pos = 0

    @property
    def length(self) -> int:
        return self.cache.get_seq_length()

    @property
    def reserved_bytes(self) -> int:
        """Memory the cache holds now (buffer capacity of every layer)."""
        return sum(layer.reserved_bytes for layer in self.layers())

    def layers(self) -> list[BufferedLayer]:
        return list(self.cache.layers)

    @torch.inference_mode()
    def append(
        self,
        kind: SegmentKind,
        t0: float,
        t1: float,
        input_ids: torch.Tensor,
        local_positions: torch.Tensor,
        inputs: dict[str, Any],
        *,
        vision: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Prefill one segment (``input_ids [1, n]`` at chunk-local positions ``[3, 1, n]`` or ``[1, n]``);
        returns the last position's logits."""
        positions = local_positions.to(input_ids.device) + self.next_pos
        out = self.model.model(
            input_ids=input_ids,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
            attention_mask=attention_mask,
            **inputs,
        )
        n = input_ids.shape[1]
        span = int(local_positions.max().item()) + 1
        self.segments.append(
            Segment(
                kind=kind,
                t0=t0,
                t1=t1,
                length=n,
                pos_start=self.next_pos,
                pos_end=self.next_pos + span,
                vision=(vision if vision is not None else torch.zeros(n, dtype=torch.bool)).cpu(),
            )
        )
        self.next_pos += span
        return self.model.lm_head(out.last_hidden_state[:, -1])[0].float()

    @torch.inference_mode()
    def step(self, token: int, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Decode one token at the next position into the open ``query`` segment; returns its logits."""
        device = self.inv_freq.device
        ids = torch.tensor([[token]], device=device)
        shape = (3, 1, 1) if self.position_rows == 3 else (1, 1)
        positions = torch.full(shape, self.next_pos, device=device)
        out = self.model.model(
            input_ids=ids, position_ids=positions, cache=self.cache, use_cache=True, attention_mask=attention_mask
        )
        last = self.segments[-1]
        last.length += 1
        last.pos_end += 1
        last.vision = torch.cat([last.vision, torch.zeros(1, dtype=torch.bool)])
        self.next_pos += 1
        return self.model.lm_head(out.last_hidden_state[:, -1])[0].float()

    def mark(self) -> Mark:
        return Mark(len(self.segments), self.length, self.next_pos)

    def rollback(self, mark: Mark) -> None:
        """Drop everything appended after ``mark`` (the answer fork)."""
        for layer in self.layers():
            layer.crop_to(mark.length)
        del self.segments[mark.segments :]
        self.next_pos = mark.next_pos

    def key_mask(self, drop: Sequence[int]) -> torch.Tensor:
        """A ``[length]`` attention mask over the cache with the segments at indices ``drop`` masked out."""
        parts = [torch.full((s.length,), 0 if i in drop else 1, dtype=torch.long) for i, s in enumerate(self.segments)]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)

    def evict(self, indices: Sequence[int]) -> int:
        """Remove the segments at ``indices``; later keys are shifted back to keep positions contiguous.

        Returns the number of cache entries freed."""
        drop = set(indices)
        if not drop:
            return 0
        keep: list[torch.Tensor] = []
        shifts: list[torch.Tensor] = []
        offset = start = removed = 0
        for i, seg in enumerate(self.segments):
            if i in drop:
                offset += seg.span
                removed += seg.length
            else:
                keep.append(torch.arange(start, start + seg.length))
                shifts.append(torch.full((seg.length,), offset))
            start += seg.length
        index = torch.cat(keep) if keep else torch.zeros(0, dtype=torch.long)
        shift = torch.cat(shifts) if shifts else torch.zeros(0, dtype=torch.long)
        moved = shift > 0
        for layer in self.layers():
            if not layer.is_initialized or not layer.keys.numel():
                continue
            idx = index.to(layer.keys.device)
            keys = layer.keys.index_select(-2, idx)
            if bool(moved.any()):
                keys = shift_keys(keys, shift, self.inv_freq)
            layer.store(keys, layer.values.index_select(-2, idx))
        offset = 0
        kept: list[Segment] = []
        for i, seg in enumerate(self.segments):
            if i in drop:
                offset += seg.span
                continue
            seg.pos_start -= offset
            seg.pos_end -= offset
            kept.append(seg)
        self.segments = kept
        self.next_pos -= offset
        return removed

    def replace_entries(self, index: int, keep: torch.Tensor, merged: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Replace segment ``index``'s entries by ``merged[layer] = (keys, values)`` of the kept entries ``keep``
        (local indices into the segment); used by KV compression. Positions are unchanged."""
        seg = self.segments[index]
        start = sum(s.length for s in self.segments[:index])
        for layer, (keys, values) in zip(self.layers(), merged, strict=True):
            end = start + seg.length
            layer.store(
                torch.cat([layer.keys[..., :start, :], keys, layer.keys[..., end:, :]], dim=-2),
                torch.cat([layer.values[..., :start, :], values, layer.values[..., end:, :]], dim=-2),
            )
        seg.vision = seg.vision[keep.cpu()]
        seg.length = int(keep.numel())
        seg.compressed = True

    def segment_entries(self, index: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, the (keys, values) of segment ``index``."""
        start = sum(s.length for s in self.segments[:index])
        end = start + self.segments[index].length
        return [(layer.keys[..., start:end, :], layer.values[..., start:end, :]) for layer in self.layers()]

    def text_keys(self) -> list[torch.Tensor]:
        """Per layer, the keys of the prompt and dialogue segments (the text prior for compression)."""
        parts: list[torch.Tensor] = []
        start = 0
        for seg in self.segments:
            if seg.kind in ("prompt", "dialogue"):
                parts.append(torch.arange(start, start + seg.length))
            start += seg.length
        index = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
        return [layer.keys.index_select(-2, index.to(layer.keys.device)) for layer in self.layers()]
