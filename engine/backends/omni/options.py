"""Options of the transformers backends, with their documented defaults."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant watching a live video stream and listening to its audio. "
    "Answer questions about what is happening briefly and accurately."
)


@dataclass(frozen=True, slots=True)
class OmniOptions:
    chunk_seconds: float = 1.0  # stream media is prefilled in chunks of this many seconds
    window_seconds: float = 10.0  # media chunks older than this (behind the newest) leave the KV cache
    max_kv_tokens: int = 24_576  # hard cap on KV entries; oldest media, then oldest dialogue, go first
    min_window_seconds: float = 4.0  # out-of-memory recovery never shrinks the window below this
    dedupe_threshold: float = 0.02  # mean absolute thumbnail difference (0-1) below which a frame is dropped; 0 = off
    frame_max_pixels: int = 448 * 448  # frames are resized to at most this many pixels before encoding
    compress_after_seconds: float | None = None  # None = off; else vision KV of chunks this old is compressed once
    compress_keep_ratio: float = 0.25  # share of a chunk's vision KV kept by compression (the rest merged in)
    temperature: float = 0.0  # 0 = greedy decoding
    top_p: float = 1.0  # nucleus sampling mass when temperature > 0
    seed: int = 0  # sampling seed (per context)
    system_prompt: str = DEFAULT_SYSTEM_PROMPT  # first in the KV cache, never evicted; client instructions follow

    def __post_init__(self) -> None:
        checks = {
            "chunk_seconds": self.chunk_seconds > 0,
            "window_seconds": self.window_seconds > 0,
            "max_kv_tokens": self.max_kv_tokens > 0,
            "min_window_seconds": self.min_window_seconds > 0,
            "dedupe_threshold": 0 <= self.dedupe_threshold < 1,
            "frame_max_pixels": self.frame_max_pixels >= 28 * 28,
            "compress_after_seconds": self.compress_after_seconds is None or self.compress_after_seconds >= 0,
            "compress_keep_ratio": 0 < self.compress_keep_ratio <= 1,
            "temperature": self.temperature >= 0,
            "top_p": 0 < self.top_p <= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid omni backend option(s): {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")
