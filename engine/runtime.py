"""Building sessions: the one place that turns a configuration into a running ``Session`` with loaded models.

The CLI, the web/websocket/MQTT interfaces and the evaluator all call ``open_session``; models (backend, VAD, ASR)
are loaded once per process and shared by every session.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field, fields, replace
from typing import Any

from engine.backends.registry import capabilities, get_backend
from engine.gate import QueryPolicy
from engine.options import AsrOptions, GateOptions, SessionOptions
from engine.session import Session
from engine.speech import Transcriber, TurnEndDetector, VoiceDetector
from streams.clock import Clock

_speech_lock = threading.Lock()


@dataclass(frozen=True)
class EngineConfig:
    backend: str = "cascade"  # a name in engine/backends/registry.py
    model: str | None = None  # model id or local path; None = the backend's default
    device: str = "auto"  # auto | cpu | cuda
    options: SessionOptions = field(default_factory=SessionOptions)  # the engine options above
    speech: bool = True  # run VAD + ASR on the stream's audio
    policy: QueryPolicy | None = None  # None: built from options.gate_mode / options.gate
    backend_options: Any | None = None  # the backend's context options (its capabilities.options; None: defaults)

    def stream_options(self) -> Any | None:
        """The context options sessions open with. A backend that keeps a media window (``media_window``) has it
        always cover the stream context a question may use (``ResponseOptions.context_seconds``), so
        ``--context 60`` widens a shorter window."""
        caps = capabilities(self.backend)
        if not caps.media_window or caps.options is None:
            return self.backend_options
        options = self.backend_options or caps.options()
        context = self.options.response.context_seconds
        if context is not None and options.window_seconds < context:
            options = replace(options, window_seconds=context)
        return options


def load_vad() -> VoiceDetector:
    """A fresh per-stream Silero VAD detector over the process-wide ONNX session."""
    from engine.vad import SileroVadModel

    with _speech_lock:
        return SileroVadModel.load().detector()


def load_transcriber(options: AsrOptions) -> Transcriber:
    from engine.asr import WhisperTranscriber

    with _speech_lock:
        return WhisperTranscriber(options)


_policies: dict[tuple[str, GateOptions], QueryPolicy] = {}


_turn_end: TurnEndDetector | None = None


def load_turn_end() -> TurnEndDetector:
    """The semantic end-of-turn model, loaded once per process (SmolLM2-135M from the shipped GGUF)."""
    global _turn_end
    from engine.turn_end import TurnEndModel

    with _speech_lock:
        if _turn_end is None:
            model = TurnEndModel()
            model.load()
            _turn_end = model
        return _turn_end


def load_policy(mode: str, options: GateOptions) -> QueryPolicy:
    """The shared query policy for a gate mode (the learned gate's models load once per process)."""
    from engine.gate_policies import LearnedGate, make_policy

    key = (mode, options)
    with _speech_lock:
        policy = _policies.get(key)
        if policy is None:
            if mode == "wake":
                policy = make_policy("wake", name=options.assistant_name or "")
            elif mode == "gate":
                policy = make_policy("gate", **{f.name: getattr(options, f.name) for f in fields(options)})
            else:
                policy = make_policy(mode)
            if isinstance(policy, LearnedGate):
                policy.load()
            _policies[key] = policy
        return policy


async def open_session(config: EngineConfig, clock: Clock, *, session_id: str | None = None, **kwargs: Any) -> Session:
    """Load (or reuse) the models for ``config`` in worker threads and return a new session."""
    backend = await asyncio.to_thread(get_backend, config.backend, model=config.model, device=config.device)
    context = await asyncio.to_thread(backend.open_context, config.stream_options())
    vad = transcriber = turn_end = None
    policy = config.policy
    if config.speech:
        vad = await asyncio.to_thread(load_vad)
        transcriber = await asyncio.to_thread(load_transcriber, config.options.asr)
        if config.options.end_of_turn.mode == "semantic":
            turn_end = await asyncio.to_thread(load_turn_end)
        if policy is None and config.options.gate_mode == "model":
            from engine.gate_policies import ModelJudge

            try:
                policy = ModelJudge(context, config.options.gate)
            except ValueError:
                await asyncio.to_thread(context.close)
                raise
        elif policy is None:
            policy = await asyncio.to_thread(load_policy, config.options.gate_mode, config.options.gate)
    return Session(
        context,
        clock=clock,
        backend_name=config.backend,
        options=config.options,
        vad=vad,
        transcriber=transcriber,
        policy=policy,
        turn_end=turn_end,
        session_id=session_id,
        **kwargs,
    )
