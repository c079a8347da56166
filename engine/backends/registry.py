"""Backend names → implementations, loaded lazily and shared: one loaded model serves every session."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from engine.backends.base import AssetStatus, Backend, Capabilities


@dataclass(frozen=True, slots=True)
class BackendSpec:
    name: str
    target: str  # "module:Class"; the class takes (model: str | None, device: str)
    summary: str


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            "cascade",
            "engine.backends.cascade.backend:CascadeBackend",
            "CPU default: OCR + colour/motion perception + transcripts, answered by SmolLM2-135M",
        ),
        BackendSpec(
            "omni",
            "engine.backends.omni.backend:OmniBackend",
            "Qwen2.5-Omni thinker on transformers: frames and raw audio into the model (GPU)",
        ),
        BackendSpec(
            "vlm",
            "engine.backends.omni.backend:VlmBackend",
            "image-text-to-text VLMs on transformers (Qwen2.5-VL, SmolVLM2, Idefics3, LLaVA-OneVision); "
            "audio as transcripts",
        ),
        BackendSpec(
            "remote",
            "engine.backends.remote.backend:RemoteBackend",
            "any OpenAI-compatible /v1/chat/completions server (vLLM, llama.cpp, SGLang, a cloud API): "
            "frames as image parts, transcripts as text",
        ),
    )
}

_loaded: dict[tuple[str, str | None, str], Backend] = {}
_lock = threading.Lock()


def backend_class(name: str) -> Callable[..., Backend]:
    spec = BACKENDS.get(name)
    if spec is None:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    module, _, attr = spec.target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def capabilities(name: str) -> Capabilities:
    """What the backend ``name`` can do (imports its module; loads nothing)."""
    return backend_class(name).capabilities  # type: ignore[attr-defined,no-any-return]


def get_backend(name: str, *, model: str | None = None, device: str = "auto") -> Backend:
    """The shared, loaded backend for (name, model, device); loads it on first use (blocking)."""
    key = (name, model, device)
    with _lock:
        backend = _loaded.get(key)
        if backend is None:
            backend = backend_class(name)(model=model, device=device)
            backend.load()
            _loaded[key] = backend
        return backend


def check_all() -> list[AssetStatus]:
    out = []
    for name in BACKENDS:
        try:
            out.append(backend_class(name)(model=None, device="auto").check_assets())
        except Exception as exc:
            out.append(AssetStatus(name, False, f"{type(exc).__name__}: {exc}"))
    return out
