"""Model-specific input building: token ids, chunk-local M-RoPE positions and encoder inputs for one segment.

Positions come from the model's own ``get_rope_index`` applied to the segment alone; ``KvStream`` offsets them by
where the stream stands, which reproduces what ``get_rope_index`` gives for the whole concatenated sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine.backends.omni.chat import CHATML
from streams.items import SAMPLE_RATE

MIN_AUDIO_SAMPLES = SAMPLE_RATE // 10  # shorter audio yields no encoder output; it waits for the next chunk


@dataclass
class SegmentInputs:
    input_ids: torch.Tensor  # [1, n]
    positions: torch.Tensor  # [3, 1, n], chunk-local
    inputs: dict[str, Any] = field(default_factory=dict)  # encoder inputs for the model's forward
    vision: torch.Tensor | None = None  # [n] bool: which entries are vision tokens

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])


def _text_positions(n: int, device: torch.device) -> torch.Tensor:
    return torch.arange(n, device=device).view(1, 1, -1).expand(3, 1, -1)


class _Adapter:
    """Shared text and image input building."""

    image_token_id: int
    position_rows = 3  # M-RoPE: temporal, height and width positions
    chat = CHATML

    def __init__(
        self, model: Any, tokenizer: Any, image_processor: Any, device: torch.device, frame_max_pixels: int
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.device = device
        shortest = int(getattr(image_processor.size, "shortest_edge", None) or 56 * 56)
        self.size = {"shortest_edge": min(shortest, frame_max_pixels), "longest_edge": frame_max_pixels}
        self.merge = int(model.config.vision_config.spatial_merge_size)

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def text(self, text: str) -> SegmentInputs:
        ids = torch.tensor([self.ids(text)], device=self.device)
        return SegmentInputs(ids, _text_positions(ids.shape[1], self.device))

    def _images(self, frames: list[np.ndarray]) -> tuple[dict[str, Any], list[int]]:
        out = self.image_processor(images=frames, size=self.size, return_tensors="pt")
        grid = out["image_grid_thw"]
        counts = [int(c) for c in (grid.prod(-1) // self.merge**2).tolist()]
        pixels = out["pixel_values"].to(self.device, next(self.model.parameters()).dtype)
        return {"pixel_values": pixels, "image_grid_thw": grid.to(self.device)}, counts


class OmniAdapter(_Adapter):
    """Qwen2.5-Omni thinker: frames as images, raw 16 kHz audio through the Whisper features and the audio tower."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        image_processor: Any,
        feature_extractor: Any,
        device: torch.device,
        frame_max_pixels: int,
    ) -> None:
        super().__init__(model, tokenizer, image_processor, device, frame_max_pixels)
        self.feature_extractor = feature_extractor
        cfg = model.config
        self.image_token_id = int(cfg.image_token_id)
        self.audio_token_id = int(cfg.audio_token_id)
        self.vision_bos = int(cfg.vision_start_token_id)
        self.vision_eos = int(cfg.vision_end_token_id)
        self.audio_bos = int(cfg.audio_start_token_id)
        self.audio_eos = int(cfg.audio_end_token_id)

    def media(self, header: str, frames: list[np.ndarray], audio: np.ndarray | None) -> SegmentInputs:
        ids = self.ids(header)
        inputs: dict[str, Any] = {}
        grid = None
        if frames:
            image_inputs, counts = self._images(frames)
            inputs |= image_inputs
            grid = image_inputs["image_grid_thw"]
            for count in counts:
                ids += [self.vision_bos, *[self.image_token_id] * count, self.vision_eos]
        feature_lens = None
        if audio is not None and len(audio) >= MIN_AUDIO_SAMPLES:
            feats = self.feature_extractor(
                audio, sampling_rate=SAMPLE_RATE, return_attention_mask=True, padding="longest", return_tensors="pt"
            )
            feature_lens = feats["attention_mask"].sum(-1)
            count = int(((feature_lens - 1) // 2 + 1 - 2) // 2 + 1)
            ids += [self.audio_bos, *[self.audio_token_id] * count, self.audio_eos]
            dtype = next(self.model.parameters()).dtype
            inputs["input_features"] = feats["input_features"].to(self.device, dtype)
            inputs["feature_attention_mask"] = feats["attention_mask"].to(self.device)
        input_ids = torch.tensor([ids], device=self.device)
        positions, _ = self.model.get_rope_index(
            input_ids,
            image_grid_thw=grid,
            attention_mask=torch.ones_like(input_ids),
            audio_seqlens=feature_lens,
        )
        return SegmentInputs(input_ids, positions, inputs, input_ids[0].cpu() == self.image_token_id)


class QwenVlAdapter(_Adapter):
    """Qwen2-VL / Qwen2.5-VL style image-text-to-text models: frames as images, audio only as transcript text."""

    def __init__(
        self, model: Any, tokenizer: Any, image_processor: Any, device: torch.device, frame_max_pixels: int
    ) -> None:
        super().__init__(model, tokenizer, image_processor, device, frame_max_pixels)
        cfg = model.config
        self.image_token_id = int(cfg.image_token_id)
        self.vision_start = int(cfg.vision_start_token_id)
        self.vision_end = int(cfg.vision_end_token_id)

    def media(self, header: str, frames: list[np.ndarray], transcript: str) -> SegmentInputs:
        ids = self.ids(header)
        inputs: dict[str, Any] = {}
        if frames:
            inputs, counts = self._images(frames)
            for count in counts:
                ids += [self.vision_start, *[self.image_token_id] * count, self.vision_end]
        if transcript:
            ids += self.ids(transcript)
        input_ids = torch.tensor([ids], device=self.device)
        if not frames:
            return SegmentInputs(input_ids, _text_positions(len(ids), self.device))
        types = (input_ids == self.image_token_id).int()
        inputs["mm_token_type_ids"] = types
        positions, _ = self.model.model.get_rope_index(
            input_ids, types, image_grid_thw=inputs["image_grid_thw"], attention_mask=torch.ones_like(input_ids)
        )
        return SegmentInputs(input_ids, positions, inputs, input_ids[0].cpu() == self.image_token_id)
