"""Tiny random-weight Qwen2.5-Omni thinker, Qwen2.5-VL, SmolVLM2, Idefics3 and LLaVA-OneVision checkpoints, built
offline for tests and benchmarks.

Everything is constructed in code: a byte-level BPE tokenizer trained on a few sentences (with the chat and
multimodal special tokens the models need), the image processor (and the processor's own settings), the Whisper
feature extractor and the model config. The result is written with ``save_pretrained`` so it loads through the ordinary
``from_pretrained`` path.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessorPil,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessorPil,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5OmniThinkerConfig,
    Qwen2_5OmniThinkerForConditionalGeneration,
    Qwen2Tokenizer,
    Qwen2VLImageProcessorPil,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMImageProcessorPil,
    WhisperFeatureExtractor,
)

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "What colour is the ball on the table? It is red.",
    "A person walks into the room and sits down at the desk.",
    "Please describe what you see and hear in the video stream.",
    "The answer is yes. The answer is no. There are three cars.",
    "user assistant system: you are a helpful streaming assistant.",
    "0 1 2 3 4 5 6 7 8 9 10 seconds minutes hello world",
]

_CHAT = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_OMNI_TOKENS = {
    "image_token": "<|IMAGE|>",
    "audio_token": "<|AUDIO|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
}
_VL_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

TINY_FRAME_PIXELS = 56 * 56  # small frames are resized up to this many pixels: 4 merged tokens per frame


def _tokenizer(named: dict[str, str], extra: list[str]) -> Qwen2Tokenizer:
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(_CORPUS, vocab_size=320, min_frequency=1, show_progress=False)
    state = json.loads(trainer._tokenizer.model.__getstate__())
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=trainer.get_vocab(),
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=named or None,
    )
    tokenizer.add_special_tokens(
        {"extra_special_tokens": [*_CHAT, *named.values(), *extra]}, replace_extra_special_tokens=False
    )
    return tokenizer


_QWEN_VISION = {  # the tiny Qwen vision tower shared by the Omni thinker and Qwen2.5-VL
    "depth": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_heads": 2,
    "out_hidden_size": 64,
    "fullatt_block_indexes": [1],
}


def _image_processor() -> Qwen2VLImageProcessorPil:
    return Qwen2VLImageProcessorPil(size={"shortest_edge": TINY_FRAME_PIXELS, "longest_edge": TINY_FRAME_PIXELS})


def _text_config(vocab: int, eos: int) -> dict[str, object]:
    return {
        "vocab_size": vocab,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
        "eos_token_id": eos,
        "bos_token_id": None,
    }


def build_tiny_omni(out: str | Path, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-Omni thinker (model, tokenizer, processor) to ``out``; returns the path."""
    out = Path(out)
    tokenizer = _tokenizer(_OMNI_TOKENS, [])
    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=16_000)
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2_5OmniThinkerConfig(
        text_config=_text_config(len(tokenizer), ids("<|im_end|>")),
        vision_config=_QWEN_VISION,
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": 2,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "d_model": 32,
            "output_dim": 64,
        },
        audio_token_index=ids(_OMNI_TOKENS["audio_token"]),
        image_token_index=ids(_OMNI_TOKENS["image_token"]),
        video_token_index=ids(_OMNI_TOKENS["video_token"]),
        audio_start_token_id=ids(_OMNI_TOKENS["audio_bos_token"]),
        audio_end_token_id=ids(_OMNI_TOKENS["audio_eos_token"]),
        vision_start_token_id=ids(_OMNI_TOKENS["vision_bos_token"]),
        vision_end_token_id=ids(_OMNI_TOKENS["vision_eos_token"]),
    )
    torch.manual_seed(seed)
    model = Qwen2_5OmniThinkerForConditionalGeneration(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _save_preprocessor(out, _image_processor(), features)
    return out


def build_tiny_vl(out: str | Path, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-VL (model, tokenizer, processor) to ``out``; returns the path."""
    out = Path(out)
    tokenizer = _tokenizer({}, _VL_TOKENS)
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config=_text_config(len(tokenizer), ids("<|im_end|>")),
        vision_config=_QWEN_VISION,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _save_preprocessor(out, _image_processor(), None)
    return out


def _save_preprocessor(out: Path, images: Qwen2VLImageProcessorPil, audio: WhisperFeatureExtractor | None) -> None:
    """One ``preprocessor_config.json`` holding the image processor's and the feature extractor's fields, as the
    official Omni checkpoints do (the composite processor class needs torchvision, so its parts are stored instead)."""
    fields = images.to_dict()
    if audio is not None:
        fields |= {k: v for k, v in audio.to_dict().items() if k not in ("mel_filters",)}
    (out / "preprocessor_config.json").write_text(json.dumps(fields, indent=2, default=list))


def _small_text(vocab: int, eos: int, model_type: str) -> dict[str, object]:
    """The tiny text config with plain 1-D rotary positions."""
    return _text_config(vocab, eos) | {
        "model_type": model_type,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
    }


def _vision(image_size: int, patch_size: int, **extra: object) -> dict[str, object]:
    return {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": patch_size,
        **extra,
    }


def _build_idefics_style(
    out: Path, seed: int, config_cls: Any, model_cls: Any, images_cls: Any, processor: str
) -> Path:
    """A tiny random model of the Idefics3 architecture (Llama text model, pixel-shuffled SigLIP-style tiles):
    64×64 frames, 4 image tokens each."""
    tokenizer = _tokenizer({}, ["<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>"])
    ids = tokenizer.convert_tokens_to_ids
    config = config_cls(
        text_config=_small_text(len(tokenizer), ids("<end_of_utterance>"), "llama"),
        vision_config=_vision(64, 16),
        image_token_id=ids("<image>"),
        scale_factor=2,
    )
    torch.manual_seed(seed)
    model_cls(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    images_cls(size={"longest_edge": 128}, max_image_size={"longest_edge": 64}).save_pretrained(out)
    _save_processor_config(out, processor, image_seq_len=4)
    return out


def build_tiny_smolvlm(out: str | Path, seed: int = 0) -> Path:
    """Write a tiny random SmolVLM2 to ``out``."""
    return _build_idefics_style(
        Path(out), seed, SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMImageProcessorPil, "SmolVLMProcessor"
    )


def build_tiny_idefics3(out: str | Path, seed: int = 0) -> Path:
    """Write a tiny random Idefics3 (the architecture of SmolVLM v1 and Idefics3-8B) to ``out``."""
    return _build_idefics_style(
        Path(out),
        seed,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        "Idefics3Processor",
    )


def build_tiny_llava_onevision(out: str | Path, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-OneVision (SigLIP vision tower, Qwen2 text model) to ``out``: 32×32 tiles of 16
    patches, any-resolution grids up to 64×32."""
    out = Path(out)
    tokenizer = _tokenizer({}, ["<image>", "<video>"])
    ids = tokenizer.convert_tokens_to_ids
    grids = [[32, 32], [32, 64], [64, 32]]
    config = LlavaOnevisionConfig(
        text_config=_small_text(len(tokenizer), ids("<|im_end|>"), "qwen2"),
        vision_config=_vision(32, 8, model_type="siglip_vision_model", vision_use_head=False),
        image_token_index=ids("<image>"),
        video_token_index=ids("<video>"),
        image_grid_pinpoints=grids,
        vision_feature_select_strategy="full",
    )
    torch.manual_seed(seed)
    LlavaOnevisionForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    LlavaOnevisionImageProcessorPil(size={"height": 32, "width": 32}, image_grid_pinpoints=grids).save_pretrained(out)
    _save_processor_config(
        out,
        "LlavaOnevisionProcessor",
        num_image_tokens=16,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
    )
    return out


def _save_processor_config(out: Path, processor_class: str, **fields: object) -> None:
    """``processor_config.json`` as the official checkpoints ship it (the processor's own settings)."""
    text = json.dumps({"processor_class": processor_class, **fields}, indent=2)
    (out / "processor_config.json").write_text(text)


TinyKind = Literal["omni", "vl", "smolvlm", "idefics3", "llava_onevision"]
_BUILDERS = {
    "omni": build_tiny_omni,
    "vl": build_tiny_vl,
    "smolvlm": build_tiny_smolvlm,
    "idefics3": build_tiny_idefics3,
    "llava_onevision": build_tiny_llava_onevision,
}


@functools.cache
def cached_tiny(kind: TinyKind) -> Path:
    """Build the tiny checkpoint of ``kind`` once per process in a temporary directory (removed at exit)."""
    out = Path(tempfile.mkdtemp(prefix=f"omnistream-tiny-{kind}-"))
    atexit.register(shutil.rmtree, out, True)
    return _BUILDERS[kind](out)
