"""A KV cache whose layers keep their entries in a preallocated buffer.

transformers' ``DynamicLayer`` concatenates on every update, so each appended chunk, question and decoded token
copies the whole cache. ``BufferedLayer`` writes only the new entries into spare capacity (grown by a quarter) and
exposes ``keys`` / ``values`` as views of the filled prefix, so answering on the live cache and cropping back after
costs only the answer's own tokens, however large the window is.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache, DynamicLayer


class BufferedLayer(DynamicLayer):
    def __init__(self) -> None:
        super().__init__()
        self._keys: torch.Tensor | None = None
        self._values: torch.Tensor | None = None

    @property
    def filled(self) -> int:
        return int(self.keys.shape[-2]) if self.is_initialized and self.keys.dim() == 4 else 0

    @torch.inference_mode()
    def _write(self, start: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(keys, values)
        end = start + keys.shape[-2]
        if self._keys is None or self._keys.shape[-2] < end:
            held = self._keys.shape[-2] if self._keys is not None else 0
            capacity = max(end, held + held // 4, 256)  # geometric growth: amortised O(1) copies per entry
            shape = (*keys.shape[:-2], capacity, keys.shape[-1])
            grown_keys = torch.empty(shape, dtype=keys.dtype, device=keys.device)
            grown_values = torch.empty(shape, dtype=values.dtype, device=values.device)
            if start:
                grown_keys[..., :start, :] = self.keys[..., :start, :]
                grown_values[..., :start, :] = self.values[..., :start, :]
            self._keys, self._values = grown_keys, grown_values
        assert self._values is not None
        self._keys[..., start:end, :] = keys
        self._values[..., start:end, :] = values
        self.keys = self._keys[..., :end, :]
        self.values = self._values[..., :end, :]
        return self.keys, self.values

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        return self._write(self.filled, key_states, value_states)

    @property
    def reserved_bytes(self) -> int:
        """Bytes held by the key and value buffers (capacity, not just the filled entries)."""
        if self._keys is None or self._values is None:
            return 0
        return self._keys.nbytes + self._values.nbytes

    def crop_to(self, length: int) -> None:
        """Keep the first ``length`` entries (a view; the next update writes over the rest)."""
        if self.filled:
            self.keys = self.keys[..., :length, :]
            self.values = self.values[..., :length, :]

    def store(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Replace all entries by ``keys`` / ``values`` (fresh tensors, e.g. after eviction), reusing the buffer."""
        self._write(0, keys, values)

    def reset(self) -> None:
        self._keys = self._values = None
        super().reset()


def buffered_cache(config: Any) -> DynamicCache:
    """A ``DynamicCache`` for ``config``'s decoder whose layers are ``BufferedLayer``s."""
    cache = DynamicCache(config=config)
    cache.layers = [BufferedLayer() for _ in cache.layers]
    return cache
