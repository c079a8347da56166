"""Input building for image-text-to-text families with 1-D rotary positions (SmolVLM2, Idefics3 / SmolVLM v1,
LLaVA-OneVision).

The family's own processor expands each frame's image token into the model's token sequence and prepares the
pixels; positions simply continue from where the stream stands. The composite processors insist on a video
processor, which needs torchvision (not installed), so they are built from the checkpoint's tokenizer, image
processor and ``processor_config.json`` with the video processor left out; frames enter as images.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoImageProcessor,
    AutoTokenizer,
    Idefics3Processor,
    LlavaOnevisionProcessor,
    SmolVLMProcessor,
)
from transformers.utils import cached_file

from engine.backends.omni.adapters import SegmentInputs
from engine.backends.omni.chat import CHATML, SMOLVLM, ChatFormat


def _without_video(cls: type) -> type:
    """``cls`` accepting ``video_processor=None`` (images only)."""

    def check_argument_for_proper_class(self: Any, argument_name: str, argument: Any) -> Any:
        if argument_name == "video_processor" and argument is None:
            return type(None)
        return super(subclass, self).check_argument_for_proper_class(argument_name, argument)

    subclass = type(cls.__name__, (cls,), {"check_argument_for_proper_class": check_argument_for_proper_class})
    return subclass


@dataclass(frozen=True)
class Family:
    processor: type
    chat: ChatFormat
    image_kwargs: dict[str, Any] = field(default_factory=dict)  # per-call image processor options for frames
    begin_with_bos: bool = (
        False  # the chat opens with the tokenizer's BOS (Idefics3-8B: Llama 3's; SmolVLM v1: ChatML's)
    )


# SmolVLM2 / Idefics3 frames are single tiles without splitting, as SmolVLM2's own video path does. Idefics3 has no
# video processor to leave out.
FAMILIES: dict[str, Family] = {
    "smolvlm": Family(_without_video(SmolVLMProcessor), SMOLVLM, {"do_image_splitting": False}),
    "idefics3": Family(Idefics3Processor, SMOLVLM, {"do_image_splitting": False}, begin_with_bos=True),
    "llava_onevision": Family(_without_video(LlavaOnevisionProcessor), CHATML),
}


def load_processor(model_id: str, model_type: str) -> Any:
    """The family's processor for the checkpoint at ``model_id`` (local files only)."""
    cls = FAMILIES[model_type].processor
    tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=True)
    images = AutoImageProcessor.from_pretrained(model_id, local_files_only=True)
    found = cached_file(
        model_id, "processor_config.json", local_files_only=True, _raise_exceptions_for_missing_entries=False
    )
    saved = json.loads(Path(found).read_text(encoding="utf-8")) if found else {}
    accepted = set(inspect.signature(cls.__init__).parameters) - {
        "self",
        "image_processor",
        "tokenizer",
        "video_processor",
        "chat_template",
        "kwargs",
    }
    options = {k: v for k, v in saved.items() if k in accepted}
    if "video_processor" in inspect.signature(cls.__init__).parameters:
        options["video_processor"] = None
    return cls(image_processor=images, tokenizer=tokenizer, **options)


class ProcessorAdapter:
    """Frames through the family's processor, audio as transcript text, 1-D positions."""

    position_rows = 1

    def __init__(self, model: Any, processor: Any, device: torch.device, model_type: str) -> None:
        family = FAMILIES[model_type]
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.chat = (
            dataclasses.replace(family.chat, begin=self.tokenizer.bos_token or "")
            if family.begin_with_bos
            else family.chat
        )
        self.image_kwargs = family.image_kwargs
        self.device = device
        self.image_token = str(processor.image_token)
        self.image_token_id = int(processor.image_token_id)
        self.dtype = next(model.parameters()).dtype

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def text(self, text: str) -> SegmentInputs:
        ids = torch.tensor([self.ids(text)], device=self.device)
        return SegmentInputs(ids, torch.arange(ids.shape[1], device=self.device)[None])

    def media(
        self, header: str, frames: list[np.ndarray], audio: np.ndarray | None, transcript: str, seconds: float
    ) -> SegmentInputs:
        """One chunk: each frame as an image in the family's own layout, then the ``transcript`` (no raw ``audio``;
        ``seconds`` is unused: these families' positions are 1-D and carry no time)."""
        text = header + self.image_token * len(frames) + transcript.replace(self.image_token, "")
        if not frames:
            return self.text(text)
        out = self.processor(
            text=[text], images=[frames], add_special_tokens=False, return_tensors="pt", **self.image_kwargs
        )
        input_ids = out.pop("input_ids").to(self.device)
        out.pop("attention_mask", None)
        inputs = {
            k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device) for k, v in out.items()
        }
        positions = torch.arange(input_ids.shape[1], device=self.device)[None]
        return SegmentInputs(input_ids, positions, inputs, input_ids[0].cpu() == self.image_token_id)
