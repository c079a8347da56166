"""Model-specific input building: token ids, chunk-local M-RoPE positions and encoder inputs for one segment.

Positions come from the model's own ``get_rope_index`` applied to the segment alone; ``KvStream`` offsets them by
where the stream stands, which reproduces what ``get_rope_index`` gives for the whole concatenated sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from engine.backends.omni.chat import CHATML, ChatFormat
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


class MediaAdapter(Protocol):
    """What every model family's input builder offers the stream context."""

    tokenizer: Any
    chat: ChatFormat
    position_rows: int  # rows of position ids: 3 for M-RoPE, 1 for plain 1-D positions

    def ids(self, text: str) -> list[int]: ...

    def text(self, text: str) -> SegmentInputs: ...

    def media(
        self, header: str, frames: list[np.ndarray], audio: np.ndarray | None, transcript: str, seconds: float
    ) -> SegmentInputs:
        """One chunk of ``seconds`` of stream after ``header``: its frames and what was heard in it, as raw 16 kHz
        ``audio`` (a backend that ``hears_audio``; None: too little of it) or as ``transcript`` text (one that does
        not: its context then gives no audio)."""
        ...


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
        self.temporal_patch = int(image_processor.temporal_patch_size)
        self.patch = int(image_processor.patch_size)

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def text(self, text: str) -> SegmentInputs:
        ids = torch.tensor([self.ids(text)], device=self.device)
        return SegmentInputs(ids, _text_positions(ids.shape[1], self.device))

    def _images(self, frames: list[np.ndarray]) -> tuple[dict[str, Any], list[int]]:
        out = self.image_processor(images=frames, size=self.size, return_tensors="pt")
        grid = out["image_grid_thw"]
        counts = [int(c) for c in (grid.prod(-1) // self.merge**2).tolist()]
        pixels = torch.as_tensor(out["pixel_values"]).to(self.device, next(self.model.parameters()).dtype)
        return {"pixel_values": pixels, "image_grid_thw": grid.to(self.device)}, counts

    def _clip(self, images: dict[str, Any], count: int, seconds: float) -> Clip | None:
        """``count`` frames' image inputs as one clip spanning ``seconds``, or ``None`` when the frames differ in
        size (they then go in as images).

        Consecutive frames share a temporal patch as in the model's video input: the image processor gives each
        frame's patches with the frame repeated over the temporal patch; one copy of each is kept and neighbours are
        paired. The last frame is repeated to fill the final patch, as the video processor does."""
        grids = images["image_grid_thw"]
        if not bool((grids == grids[0]).all()):
            return None
        per = self.temporal_patch
        _, height, width = (int(x) for x in grids[0])
        pixels = images["pixel_values"]
        channels = pixels.shape[1] // (per * self.patch**2)
        single = pixels.view(count, height * width, channels, per, self.patch**2)[:, :, :, 0]
        filled = count + (-count) % per
        if filled > count:
            single = torch.cat([single, single[-1:].expand(filled - count, -1, -1, -1)])
        steps = filled // per
        paired = single.view(steps, per, height * width, channels, self.patch**2).permute(0, 2, 3, 1, 4)
        return Clip(
            pixels=paired.reshape(steps * height * width, channels * per * self.patch**2),
            grid=torch.tensor([[steps, height, width]], device=self.device),
            second_per_grid=torch.tensor([per * seconds / count], dtype=torch.float32),
            tokens=steps * height * width // self.merge**2,
        )


@dataclass
class Clip:
    """One chunk's frames as a video input."""

    pixels: torch.Tensor  # [steps × height × width patches, channels × temporal patch × patch²]
    grid: torch.Tensor  # [1, 3]: temporal steps, height and width in patches
    second_per_grid: torch.Tensor  # [1]: stream seconds one temporal step covers
    tokens: int  # tokens the clip takes after spatial merging

    @property
    def steps(self) -> int:
        return int(self.grid[0, 0])


def run_sizes(values: torch.Tensor, per_run: int) -> list[int]:
    """Sizes of the runs that Qwen2.5-Omni's position rule cuts ``values`` (non-decreasing temporal positions,
    relative to their block's start) into when it interleaves video and audio: a run ends where a value reaches the
    next multiple of ``per_run``, and that multiple then moves up by one ``per_run`` (not to the value's own)."""
    sizes: list[int] = []
    start, bound = 0, per_run
    for i, value in enumerate(values.tolist()):
        if value >= bound:
            sizes.append(i - start)
            start, bound = i, bound + per_run
    sizes.append(len(values) - start)
    return sizes


class OmniAdapter(_Adapter):
    """Qwen2.5-Omni thinker: a chunk's frames as one video clip and its raw 16 kHz audio (Whisper features, audio
    tower) interleaved with it in the model's own time-aligned layout (``use_audio_in_video``): video and audio
    tokens share temporal positions at ``position_id_per_seconds`` (25) per second of stream."""

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
        self.video_token_id = int(cfg.video_token_id)
        self.audio_token_id = int(cfg.audio_token_id)
        self.vision_bos = int(cfg.vision_start_token_id)
        self.vision_eos = int(cfg.vision_end_token_id)
        self.audio_bos = int(cfg.audio_start_token_id)
        self.audio_eos = int(cfg.audio_end_token_id)
        self.positions_per_second = float(cfg.position_id_per_seconds)
        self.positions_per_run = int(cfg.position_id_per_seconds * cfg.seconds_per_chunk)

    def _runs(self, clip: Clip) -> list[int]:
        """Sizes of the clip's video token runs when interleaved with audio."""
        temporal = (torch.arange(clip.steps) * clip.second_per_grid * self.positions_per_second).long()
        return run_sizes(temporal.repeat_interleave(clip.tokens // clip.steps), self.positions_per_run)

    def _audio(self, audio: np.ndarray) -> tuple[dict[str, Any], torch.Tensor, int]:
        feats = self.feature_extractor(
            audio, sampling_rate=SAMPLE_RATE, return_attention_mask=True, padding="longest", return_tensors="pt"
        )
        feature_lens = feats["attention_mask"].sum(-1)
        count = int(((feature_lens - 1) // 2 + 1 - 2) // 2 + 1)
        dtype = next(self.model.parameters()).dtype
        inputs = {
            "input_features": feats["input_features"].to(self.device, dtype),
            "feature_attention_mask": feats["attention_mask"].to(self.device),
        }
        return inputs, feature_lens, count

    def media(
        self, header: str, frames: list[np.ndarray], audio: np.ndarray | None, transcript: str, seconds: float
    ) -> SegmentInputs:
        """One chunk of ``seconds`` of stream: its frames as a clip, interleaved with its audio when it has both
        (the thinker hears the audio itself: its context keeps no ``transcript``)."""
        ids = self.ids(header)
        inputs: dict[str, Any] = {}
        heard = audio is not None and len(audio) >= MIN_AUDIO_SAMPLES
        audio_count = 0
        feature_lens = None
        if heard:
            audio_inputs, feature_lens, audio_count = self._audio(audio)  # type: ignore[arg-type]
            inputs |= audio_inputs
        images, counts = self._images(frames) if frames else ({}, [])
        clip = self._clip(images, len(frames), seconds) if frames else None
        rope: dict[str, Any] = {}
        if clip is not None:
            rope = {"video_grid_thw": clip.grid, "second_per_grids": clip.second_per_grid, "use_audio_in_video": heard}
            inputs |= {"pixel_values_videos": clip.pixels, "video_grid_thw": clip.grid}
            if heard:
                video_runs = self._runs(clip)
                audio_runs = run_sizes(torch.arange(audio_count), self.positions_per_run)
                ids += [self.vision_bos, self.audio_bos]
                for run in range(max(len(video_runs), len(audio_runs))):
                    ids += [self.video_token_id] * (video_runs[run] if run < len(video_runs) else 0)
                    ids += [self.audio_token_id] * (audio_runs[run] if run < len(audio_runs) else 0)
                ids += [self.audio_eos, self.vision_eos]
            else:
                ids += [self.vision_bos, *[self.video_token_id] * clip.tokens, self.vision_eos]
        elif frames:
            inputs |= images
            rope = {"image_grid_thw": images["image_grid_thw"]}
            for count in counts:
                ids += [self.vision_bos, *[self.image_token_id] * count, self.vision_eos]
        if heard and clip is None:  # audio interleaved with a clip is already in
            ids += [self.audio_bos, *[self.audio_token_id] * audio_count, self.audio_eos]
        input_ids = torch.tensor([ids], device=self.device)
        positions, _ = self.model.get_rope_index(
            input_ids, attention_mask=torch.ones_like(input_ids), audio_seqlens=feature_lens, **rope
        )
        vision = input_ids[0].cpu()
        return SegmentInputs(
            input_ids, positions, inputs, (vision == self.image_token_id) | (vision == self.video_token_id)
        )


class QwenVlAdapter(_Adapter):
    """Qwen2-VL / Qwen2.5-VL style image-text-to-text models: a chunk's frames as one video clip (Qwen2.5-VL places
    its temporal patches at their seconds), audio only as transcript text."""

    def __init__(
        self, model: Any, tokenizer: Any, image_processor: Any, device: torch.device, frame_max_pixels: int
    ) -> None:
        super().__init__(model, tokenizer, image_processor, device, frame_max_pixels)
        cfg = model.config
        self.image_token_id = int(cfg.image_token_id)
        self.video_token_id = int(cfg.video_token_id)
        self.vision_start = int(cfg.vision_start_token_id)
        self.vision_end = int(cfg.vision_end_token_id)

    def media(
        self, header: str, frames: list[np.ndarray], audio: np.ndarray | None, transcript: str, seconds: float
    ) -> SegmentInputs:
        """One chunk of ``seconds`` of stream: its frames as a clip, then what was heard in it (the ``transcript``:
        these models take no raw ``audio``)."""
        ids = self.ids(header)
        inputs: dict[str, Any] = {}
        rope: dict[str, Any] = {}
        if frames:
            images, counts = self._images(frames)
            clip = self._clip(images, len(frames), seconds)
            if clip is not None:
                inputs = {"pixel_values_videos": clip.pixels, "video_grid_thw": clip.grid}
                rope = {"video_grid_thw": clip.grid, "second_per_grid_ts": clip.second_per_grid}
                ids += [self.vision_start, *[self.video_token_id] * clip.tokens, self.vision_end]
            else:
                inputs = images
                rope = {"image_grid_thw": images["image_grid_thw"]}
                for count in counts:
                    ids += [self.vision_start, *[self.image_token_id] * count, self.vision_end]
        if transcript:
            ids += self.ids(transcript)
        input_ids = torch.tensor([ids], device=self.device)
        if not frames:
            return SegmentInputs(input_ids, _text_positions(len(ids), self.device))
        types = (input_ids == self.image_token_id).int() + 2 * (input_ids == self.video_token_id).int()
        inputs["mm_token_type_ids"] = types
        positions, _ = self.model.model.get_rope_index(
            input_ids, types, attention_mask=torch.ones_like(input_ids), **rope
        )
        return SegmentInputs(input_ids, positions, inputs, types[0].cpu() > 0)
