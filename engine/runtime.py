"""Building sessions: the one place that turns a configuration into a running ``Session`` with loaded models.

The CLI, the web/websocket/MQTT interfaces and the evaluator all call ``open_session``; models (backend, VAD, ASR)
are loaded once per process and shared by every session.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from engine.backends.registry import get_backend
from engine.gate import AnswerEverything, QueryPolicy
from engine.options import AsrOptions, SessionOptions
from engine.session import Session
from engine.speech import Transcriber, VoiceDetector
from streams.clock import Clock

_speech_lock = threading.Lock()


@dataclass(frozen=True)
class EngineConfig:
    backend: str = "cascade"
    model: str | None = None
    device: str = "auto"
    options: SessionOptions = field(default_factory=SessionOptions)
    speech: bool = True  # run VAD + ASR on the stream's audio
    policy: QueryPolicy = field(default_factory=AnswerEverything)


def load_vad() -> VoiceDetector:
    """A fresh per-stream Silero VAD detector over the process-wide ONNX session."""
    from engine.vad import SileroVadModel

    with _speech_lock:
        return SileroVadModel.load().detector()


def load_transcriber(options: AsrOptions) -> Transcriber:
    from engine.asr import WhisperTranscriber

    with _speech_lock:
        return WhisperTranscriber(options)


async def open_session(config: EngineConfig, clock: Clock, *, session_id: str | None = None, **kwargs: Any) -> Session:
    """Load (or reuse) the models for ``config`` in worker threads and return a new session."""
    backend = await asyncio.to_thread(get_backend, config.backend, model=config.model, device=config.device)
    context = await asyncio.to_thread(backend.open_context)
    vad = transcriber = None
    if config.speech:
        vad = await asyncio.to_thread(load_vad)
        transcriber = await asyncio.to_thread(load_transcriber, config.options.asr)
    return Session(
        context,
        clock=clock,
        backend_name=config.backend,
        options=config.options,
        vad=vad,
        transcriber=transcriber,
        policy=config.policy,
        session_id=session_id,
        **kwargs,
    )
