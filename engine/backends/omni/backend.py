"""The ``omni`` and ``vlm`` backends: weights loaded once and shared by every session's ``StreamContext``."""

from __future__ import annotations

import functools
import os
import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

from engine.backends.base import AssetStatus, Capabilities
from engine.backends.omni.adapters import OmniAdapter, QwenVlAdapter
from engine.backends.omni.context import StreamContext
from engine.backends.omni.device import dtype_for, resolve_device
from engine.backends.omni.errors import ModelLoadError
from engine.backends.omni.options import OmniOptions
from engine.backends.omni.processor_adapter import FAMILIES, ProcessorAdapter, load_processor

OMNI_MODEL_TYPES = ("qwen2_5_omni_thinker", "qwen2_5_omni")
QWEN_VL_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")
VLM_MODEL_TYPES = (*QWEN_VL_MODEL_TYPES, *FAMILIES)


def _local_files(model: str) -> bool:
    """True when ``model`` is a local directory or is already in the Hugging Face cache (nothing is downloaded)."""
    if os.path.isdir(model):
        return True
    try:
        AutoConfig.from_pretrained(model, local_files_only=True)
    except (OSError, ValueError):
        return False
    return True


class TransformersBackend(ABC):
    """Shared loading for both backends. Construct with ``(model, device)``, then ``load()``."""

    name = "transformers"
    capabilities: ClassVar[Capabilities]
    default_model = ""
    model_types: tuple[str, ...] = ()

    def __init__(self, model: str | None = None, device: str = "auto", options: OmniOptions | None = None) -> None:
        self.model_id = model or self.default_model
        self.device_spec = device
        self.options = options or OmniOptions()
        self.model: Any = None
        self.adapter: Any = None
        self.inv_freq: torch.Tensor = torch.zeros(0)
        self.eos_ids: set[int] = set()
        self._lock = threading.Lock()

    def _config(self) -> Any:
        if not _local_files(self.model_id):
            raise ModelLoadError(
                f"{self.name}: model {self.model_id!r} is neither a local directory nor in the local Hugging Face "
                "cache; models are never downloaded at run time (fetch it beforehand or pass a local path)"
            )
        try:
            config = AutoConfig.from_pretrained(self.model_id, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{self.name}: cannot read the config of {self.model_id!r}: {exc}") from exc
        if config.model_type not in self.model_types:
            raise ModelLoadError(
                f"{self.name}: {self.model_id!r} is a {config.model_type!r} model; this backend supports "
                f"{', '.join(self.model_types)}"
            )
        return config

    def load(self) -> None:
        with self._lock:
            if self.model is not None:
                return
            device = resolve_device(self.device_spec)
            config = self._config()
            try:
                model, tokenizer, images, extra = self._load_parts(config, dtype_for(device))
            except ModelLoadError:
                raise
            except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
                raise ModelLoadError(
                    f"{self.name}: loading {self.model_id!r} failed ({type(exc).__name__}: {exc})"
                ) from exc
            model = model.to(device).eval()
            self.inv_freq = _text_inv_freq(model)
            self.adapter = self._adapter(model, tokenizer, images, extra, device)
            self.eos_ids = _eos_ids(model, self.adapter)
            self.model = model

    @classmethod
    def from_loaded(
        cls, model: Any, tokenizer: Any, image_processor: Any, extra: Any, options: OmniOptions | None = None
    ) -> TransformersBackend:
        """Wrap weights that are already loaded (e.g. a random-weight model built from a config for benchmarks)."""
        backend = cls(getattr(model, "name_or_path", "") or None, str(model.device), options)
        model = model.eval()
        backend.inv_freq = _text_inv_freq(model)
        backend.adapter = backend._adapter(model, tokenizer, image_processor, extra, model.device)
        backend.eos_ids = _eos_ids(model, backend.adapter)
        backend.model = model
        return backend

    @abstractmethod
    def _load_parts(self, config: Any, dtype: torch.dtype) -> tuple[Any, Any, Any, Any]:
        """(model, tokenizer, image processor, extra part: audio feature extractor, family processor or None)
        for ``self.model_id``."""

    @abstractmethod
    def _adapter(self, model: Any, tokenizer: Any, images: Any, extra: Any, device: torch.device) -> Any:
        """The input builder for this model family."""

    @functools.cached_property
    def yes_no_ids(self) -> tuple[torch.Tensor, torch.Tensor]:
        """First-token ids of "yes"/"Yes" and of "no"/"No" (the answers the ``model`` gate compares)."""
        self.load()
        tokenizer = self.adapter.tokenizer
        yes, no = ({tokenizer(word, add_special_tokens=False).input_ids[0] for word in pair} for pair in YES_NO)
        if yes & no:
            raise ModelLoadError(f"{self.name}: the tokenizer starts 'yes' and 'no' with the same token")
        return torch.tensor(sorted(yes)), torch.tensor(sorted(no))

    def open_context(self, options: OmniOptions | None = None) -> StreamContext:
        """A new session's stream state on the shared weights; ``options`` overrides the backend's for it."""
        if options is not None and not isinstance(options, OmniOptions):
            raise ValueError(f"{self.name}: context options must be OmniOptions, got {type(options).__name__}")
        self.load()
        return StreamContext(self, options or self.options)

    def check_assets(self) -> AssetStatus:
        if _local_files(self.model_id):
            return AssetStatus(self.name, True, f"{self.model_id} (local)")
        return AssetStatus(self.name, False, f"{self.model_id} not found locally (never downloaded at run time)")


YES_NO = (("yes", "Yes"), ("no", "No"))


def _common(model_id: str) -> tuple[Any, Any]:
    tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=True)
    images = AutoImageProcessor.from_pretrained(model_id, local_files_only=True)
    return tokenizer, images


def _text_inv_freq(model: Any) -> torch.Tensor:
    for name, module in model.named_modules():
        if name.endswith("rotary_emb") and "visual" not in name and "audio" not in name:
            return module.inv_freq.detach().float()
    raise ModelLoadError(f"{type(model).__name__}: no rotary embedding found in the language model")


def _eos_ids(model: Any, adapter: Any) -> set[int]:
    """Token ids that end an answer: the model's and tokenizer's EOS and the chat format's end-of-turn tokens."""
    tokenizer = adapter.tokenizer
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    for token in adapter.chat.stop_tokens:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return ids


class OmniBackend(TransformersBackend):
    """Qwen2.5-Omni thinker: video frames and raw audio go into the model."""

    name = "omni"
    capabilities = Capabilities(judges_addressing=True, hears_audio=True, media_window=True, options=OmniOptions)
    default_model = "Qwen/Qwen2.5-Omni-3B"
    model_types = OMNI_MODEL_TYPES

    def _load_parts(self, config: Any, dtype: torch.dtype) -> tuple[Any, Any, Any, Any]:
        from transformers import (
            Qwen2_5OmniForConditionalGeneration,
            Qwen2_5OmniThinkerForConditionalGeneration,
            WhisperFeatureExtractor,
        )

        kwargs = {"dtype": dtype, "attn_implementation": "sdpa", "local_files_only": True}
        if config.model_type == "qwen2_5_omni":
            full = Qwen2_5OmniForConditionalGeneration.from_pretrained(self.model_id, **kwargs)
            full.disable_talker()
            model = full.thinker
        else:
            model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(self.model_id, **kwargs)
        tokenizer, images = _common(self.model_id)
        features = WhisperFeatureExtractor.from_pretrained(self.model_id, local_files_only=True)
        return model, tokenizer, images, features

    def _adapter(self, model: Any, tokenizer: Any, images: Any, extra: Any, device: torch.device) -> OmniAdapter:
        return OmniAdapter(model, tokenizer, images, extra, device, self.options.frame_max_pixels)


class VlmBackend(TransformersBackend):
    """Image-text-to-text models (Qwen2-VL / Qwen2.5-VL, SmolVLM2, Idefics3, LLaVA-OneVision): frames into the
    model, audio as transcripts."""

    name = "vlm"
    capabilities = Capabilities(judges_addressing=True, media_window=True, options=OmniOptions)
    default_model = "Qwen/Qwen2.5-VL-3B-Instruct"
    model_types = VLM_MODEL_TYPES

    def _load_parts(self, config: Any, dtype: torch.dtype) -> tuple[Any, Any, Any, Any]:
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(
            self.model_id, dtype=dtype, attn_implementation="sdpa", local_files_only=True
        )
        if config.model_type in FAMILIES:
            processor = load_processor(self.model_id, config.model_type)
            return model, processor.tokenizer, processor.image_processor, processor
        tokenizer, images = _common(self.model_id)
        return model, tokenizer, images, None

    def _adapter(
        self, model: Any, tokenizer: Any, images: Any, extra: Any, device: torch.device
    ) -> QwenVlAdapter | ProcessorAdapter:
        if model.config.model_type in FAMILIES:
            return ProcessorAdapter(model, extra, device, model.config.model_type)
        return QwenVlAdapter(model, tokenizer, images, device, self.options.frame_max_pixels)
