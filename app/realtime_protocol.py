"""The OpenAI Realtime (GA) wire protocol as omnistream speaks it: client events parsed into typed objects, the
session configuration, server events built as dicts, and the conversion of wire audio to the engine's format.

Every parse failure raises ``ProtocolError`` carrying what the Realtime ``error`` event needs: a message naming what was
wrong, a ``code``, the ``param`` path and the client's ``event_id``. See ``docs/realtime_api.md``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import av
import numpy as np

from streams import images

WIRE_RATE = 24_000  # pcm16 mono at 24 kHz: the Realtime API's default audio format
MAX_IMAGE_PIXELS = 4096 * 4096
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
Modality = Literal["text", "audio"]

# Session fields the GA schema has that this server accepts and echoes without acting on them.
_ECHOED_SESSION_FIELDS = ("instructions", "model", "tool_choice", "tracing", "truncation", "prompt", "include")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class ProtocolError(Exception):
    """A client event that cannot be accepted; becomes a Realtime ``error`` event."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid_value",
        param: str | None = None,
        event_id: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.event_id = event_id
        self.error_type = error_type


# ---------------------------------------------------------------------------------------------------- session config
@dataclass(frozen=True, slots=True)
class TurnDetection:
    """``server_vad``: the engine's Silero VAD ends turns and its barge-in interrupts responses. The VAD values are
    set by the server (``omnistream serve``), so a ``session.update`` may only restate them; ``create_response`` and
    ``interrupt_response`` are the client's to choose."""

    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    interrupt_response: bool
    create_response: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
            "idle_timeout_ms": None,
        }


@dataclass(frozen=True, slots=True)
class SessionConfig:
    turn_detection: TurnDetection | None  # None: manual turns (commit), or no speech input at all (no server_vad)
    server_vad: TurnDetection | None = None  # the server's VAD settings (None: taken from turn_detection)
    output_modalities: tuple[Modality, ...] = ("text",)
    instructions: str = ""
    voice: str = "alloy"
    speed: float = 1.0
    transcription: dict[str, Any] | None = field(default_factory=lambda: {"model": "whisper-base", "language": "en"})
    echoed: dict[str, Any] = field(default_factory=dict)
    audio_available: bool = False  # the server can speak replies (espeak-ng present)

    def to_wire(self, session_id: str) -> dict[str, Any]:
        pcm = {"type": "audio/pcm", "rate": WIRE_RATE}
        out: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": "omnistream",
            "output_modalities": list(self.output_modalities),
            "instructions": self.instructions,
            "audio": {
                "input": {
                    "format": pcm,
                    "transcription": self.transcription,
                    "noise_reduction": None,
                    "turn_detection": self.turn_detection.to_wire() if self.turn_detection else None,
                },
                "output": {"format": pcm, "voice": self.voice, "speed": self.speed},
            },
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
        }
        out.update(self.echoed)
        return out

    def updated(self, patch: Any, event_id: str | None = None) -> SessionConfig:
        """The configuration after a ``session.update``; raises ``ProtocolError`` naming the offending field."""

        def fail(param: str, message: str, code: str = "invalid_value") -> ProtocolError:
            return ProtocolError(message, code=code, param=param, event_id=event_id)

        obj = _require_object(patch, "session", event_id)
        kind = obj.get("type", "realtime")
        if kind != "realtime":
            raise fail(
                "session.type",
                f"session.type must be 'realtime' (got {kind!r}); transcription sessions are not offered",
                "unsupported",
            )
        known = {"type", "output_modalities", "audio", "tools", "max_output_tokens", *_ECHOED_SESSION_FIELDS}
        for key in obj:
            if key not in known:
                raise fail(
                    f"session.{key}", f"unknown or unsupported session parameter 'session.{key}'", "unknown_parameter"
                )
        config = self
        echoed = dict(self.echoed)
        for key in _ECHOED_SESSION_FIELDS:
            if key in obj:
                if key == "instructions":
                    if not isinstance(obj[key], str):
                        raise fail("session.instructions", "session.instructions must be a string", "invalid_type")
                    config = replace(config, instructions=obj[key])
                else:
                    echoed[key] = obj[key]
        config = replace(config, echoed=echoed)
        if "tools" in obj and obj["tools"] not in (None, []):
            raise fail("session.tools", "function tools are not supported by this server", "unsupported")
        if "max_output_tokens" in obj and obj["max_output_tokens"] != "inf":
            value = obj["max_output_tokens"]
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
                raise fail("session.max_output_tokens", "session.max_output_tokens must be 'inf' or 1..4096")
            raise fail(
                "session.max_output_tokens",
                "per-session max_output_tokens is not supported; the server's --max-new-tokens applies",
                "unsupported",
            )
        if "output_modalities" in obj:
            config = replace(
                config,
                output_modalities=self._modalities(obj["output_modalities"], "session.output_modalities", event_id),
            )
        if "audio" in obj:
            config = config._audio(_require_object(obj["audio"], "session.audio", event_id), event_id)
        return config

    def _modalities(self, value: Any, param: str, event_id: str | None) -> tuple[Modality, ...]:
        if value not in (["text"], ["audio"]):
            raise ProtocolError(f"{param} must be ['text'] or ['audio'], got {value!r}", param=param, event_id=event_id)
        if value == ["audio"] and not self.audio_available:
            raise ProtocolError(
                "spoken replies are not available on this server (espeak-ng missing or --no-speak)",
                code="unsupported",
                param=param,
                event_id=event_id,
            )
        return tuple(value)

    def _audio(self, audio: dict[str, Any], event_id: str | None) -> SessionConfig:
        config = self
        for key in audio:
            if key not in ("input", "output"):
                raise ProtocolError(
                    f"unknown parameter 'session.audio.{key}'",
                    code="unknown_parameter",
                    param=f"session.audio.{key}",
                    event_id=event_id,
                )
        if "input" in audio:
            config = config._audio_input(_require_object(audio["input"], "session.audio.input", event_id), event_id)
        if "output" in audio:
            config = config._audio_output(_require_object(audio["output"], "session.audio.output", event_id), event_id)
        return config

    def _audio_input(self, spec: dict[str, Any], event_id: str | None) -> SessionConfig:
        config = self
        for key, value in spec.items():
            param = f"session.audio.input.{key}"
            if key == "format":
                _check_format(value, param, event_id)
            elif key == "noise_reduction":
                if value is not None:
                    raise ProtocolError(
                        "input noise reduction is not supported; send null",
                        code="unsupported",
                        param=param,
                        event_id=event_id,
                    )
            elif key == "transcription":
                if value is not None:
                    _require_object(value, param, event_id)
                config = replace(config, transcription=value)
            elif key == "turn_detection":
                server = config.server_vad or config.turn_detection
                config = replace(
                    config, turn_detection=config._turn_detection(value, param, event_id), server_vad=server
                )
            else:
                raise ProtocolError(
                    f"unknown parameter '{param}'", code="unknown_parameter", param=param, event_id=event_id
                )
        return config

    def _turn_detection(self, value: Any, param: str, event_id: str | None) -> TurnDetection | None:
        """``null``: manual turns (the client commits them); a ``server_vad`` object: the server's VAD with the
        client's ``create_response`` / ``interrupt_response`` (omitted: the server's)."""
        server = self.server_vad or self.turn_detection
        if server is None:
            if value is None:
                return None
            raise ProtocolError(
                "this server runs without speech input (no VAD/ASR), so turn_detection can only be null",
                code="unsupported",
                param=param,
                event_id=event_id,
            )
        if value is None:
            return None
        spec = _require_object(value, param, event_id)
        if spec.get("type", "server_vad") != "server_vad":
            raise ProtocolError(
                f"{param}.type must be 'server_vad', got {spec.get('type')!r}",
                code="unsupported",
                param=f"{param}.type",
                event_id=event_id,
            )
        fixed = server.to_wire()
        chosen: dict[str, bool] = {}
        for key, v in spec.items():
            if key == "type":
                continue
            if key in ("create_response", "interrupt_response"):
                if not isinstance(v, bool):
                    raise ProtocolError(
                        f"{param}.{key} must be a boolean",
                        code="invalid_type",
                        param=f"{param}.{key}",
                        event_id=event_id,
                    )
                chosen[key] = v
                continue
            if key not in fixed:
                raise ProtocolError(
                    f"unknown parameter '{param}.{key}'",
                    code="unknown_parameter",
                    param=f"{param}.{key}",
                    event_id=event_id,
                )
            if v != fixed[key]:
                raise ProtocolError(
                    f"{param}.{key} is fixed by the server's engine options at {fixed[key]!r} (got {v!r})",
                    code="unsupported",
                    param=f"{param}.{key}",
                    event_id=event_id,
                )
        return replace(server, **chosen)

    def _audio_output(self, spec: dict[str, Any], event_id: str | None) -> SessionConfig:
        config = self
        for key, value in spec.items():
            param = f"session.audio.output.{key}"
            if key == "format":
                _check_format(value, param, event_id)
            elif key == "voice":
                if not isinstance(value, str) or not value:
                    raise ProtocolError(
                        f"{param} must be a voice name", code="invalid_type", param=param, event_id=event_id
                    )
                config = replace(config, voice=value)
            elif key == "speed":
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.25 <= value <= 1.5:
                    raise ProtocolError(f"{param} must be a number within 0.25..1.5", param=param, event_id=event_id)
                config = replace(config, speed=float(value))
            else:
                raise ProtocolError(
                    f"unknown parameter '{param}'", code="unknown_parameter", param=param, event_id=event_id
                )
        return config


def _check_format(value: Any, param: str, event_id: str | None) -> None:
    spec = _require_object(value, param, event_id)
    if spec.get("type", "audio/pcm") != "audio/pcm" or spec.get("rate", WIRE_RATE) != WIRE_RATE:
        raise ProtocolError(
            f"{param}: only {{'type': 'audio/pcm', 'rate': 24000}} (pcm16 mono, little-endian) is supported, "
            f"got {value!r}",
            code="unsupported",
            param=param,
            event_id=event_id,
        )


def _require_object(value: Any, param: str, event_id: str | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(
            f"{param} must be an object, got {type(value).__name__}",
            code="invalid_type",
            param=param,
            event_id=event_id,
        )
    return value


# ---------------------------------------------------------------------------------------------------- client events
@dataclass(frozen=True, slots=True)
class SessionUpdate:
    event_id: str | None
    session: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AudioAppend:
    event_id: str | None
    pcm: np.ndarray  # int16 mono at 24 kHz


@dataclass(frozen=True, slots=True)
class AudioCommit:
    event_id: str | None


@dataclass(frozen=True, slots=True)
class AudioClear:
    event_id: str | None


@dataclass(frozen=True, slots=True)
class VideoAppend:
    """Extension: one video frame (RGB uint8) at ``timestamp`` seconds of session time (None: on arrival)."""

    event_id: str | None
    image: np.ndarray
    timestamp: float | None


@dataclass(frozen=True, slots=True)
class ItemCreate:
    event_id: str | None
    item_id: str
    texts: tuple[str, ...]
    images: tuple[np.ndarray, ...]
    previous_item_id: str | None


@dataclass(frozen=True, slots=True)
class ResponseCreate:
    event_id: str | None
    output_modalities: tuple[Modality, ...] | None
    metadata: dict[str, str] | None
    instructions: str | None = None  # replace the session's instructions for this response


@dataclass(frozen=True, slots=True)
class ResponseCancel:
    event_id: str | None
    response_id: str | None


@dataclass(frozen=True, slots=True)
class ItemTruncate:
    event_id: str | None
    item_id: str
    content_index: int
    audio_end_ms: int


ClientEvent = (
    SessionUpdate
    | AudioAppend
    | AudioCommit
    | AudioClear
    | VideoAppend
    | ItemCreate
    | ResponseCreate
    | ResponseCancel
    | ItemTruncate
)


class _Fields:
    """Typed access to one client event's fields, raising ``ProtocolError`` with the right ``param``."""

    def __init__(self, data: dict[str, Any], kind: str, event_id: str | None) -> None:
        self.data = data
        self.kind = kind
        self.event_id = event_id

    def error(self, param: str, message: str, code: str = "invalid_value") -> ProtocolError:
        return ProtocolError(f"{self.kind}: {message}", code=code, param=param, event_id=self.event_id)

    def get(self, name: str, kind: type | tuple[type, ...], *, required: bool = False, param: str | None = None) -> Any:
        param = param or name
        if name not in self.data or self.data[name] is None:
            if required:
                raise self.error(param, f"missing required parameter '{param}'", "missing_required_parameter")
            return None
        value = self.data[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(param, f"'{param}' must be {names}, got {type(value).__name__}", "invalid_type")
        return value

    def only(self, *names: str) -> None:
        for key in self.data:
            if key not in (*names, "type", "event_id"):
                raise self.error(key, f"unknown parameter '{key}'", "unknown_parameter")


def decode_base64(value: str, param: str, fields: _Fields) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise fields.error(param, f"'{param}' is not valid base64") from None


def decode_image(data: bytes, param: str, fields: _Fields) -> np.ndarray:
    """JPEG or PNG bytes → RGB uint8; the size is checked from the header before anything is decoded."""
    try:
        return images.decode_image(data, max_pixels=MAX_IMAGE_PIXELS)
    except images.ImageError as exc:
        raise fields.error(param, f"'{param}': {exc}") from None


def parse_client_event(raw: str | bytes) -> ClientEvent:
    """One websocket text message → a typed client event; raises ``ProtocolError`` naming what is wrong."""
    if isinstance(raw, bytes):
        raise ProtocolError(
            "binary messages are not part of the protocol; send JSON text messages", code="invalid_message"
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            f"message is not valid JSON ({exc.msg} at position {exc.pos})", code="invalid_json"
        ) from None
    except RecursionError:
        raise ProtocolError("message is nested too deeply to parse", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"an event must be a JSON object, got {type(data).__name__}", code="invalid_json")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(
            "missing required parameter 'type'", code="missing_required_parameter", param="type", event_id=event_id
        )
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError(
            f"unknown or unsupported event type {kind!r}", code="invalid_event_type", param="type", event_id=event_id
        )
    return parser(_Fields(data, kind, event_id))


def _session_update(f: _Fields) -> SessionUpdate:
    f.only("session")
    return SessionUpdate(f.event_id, f.get("session", dict, required=True))


def _audio_append(f: _Fields) -> AudioAppend:
    f.only("audio")
    raw = decode_base64(f.get("audio", str, required=True), "audio", f)
    if len(raw) % 2:
        raise f.error("audio", f"'audio' has {len(raw)} bytes: pcm16 needs an even number of bytes")
    return AudioAppend(f.event_id, np.frombuffer(raw, dtype="<i2").astype(np.int16))


def _video_append(f: _Fields) -> VideoAppend:
    f.only("image", "timestamp")
    image = decode_image(decode_base64(f.get("image", str, required=True), "image", f), "image", f)
    timestamp = f.get("timestamp", (int, float))
    if timestamp is not None and (not math.isfinite(timestamp) or timestamp < 0):
        raise f.error("timestamp", f"'timestamp' must be a non-negative number of seconds, got {timestamp!r}")
    return VideoAppend(f.event_id, image, None if timestamp is None else float(timestamp))


def _item_create(f: _Fields) -> ItemCreate:
    f.only("item", "previous_item_id")
    item = f.get("item", dict, required=True)
    previous = f.get("previous_item_id", str)
    if item.get("type", "message") != "message":
        raise f.error("item.type", f"only 'message' items are supported, got {item.get('type')!r}", "unsupported")
    if item.get("role") != "user":
        raise f.error("item.role", f"only 'user' messages are supported, got {item.get('role')!r}", "unsupported")
    item_id = item.get("id")
    if item_id is not None and (not isinstance(item_id, str) or not item_id or len(item_id) > 64):
        raise f.error("item.id", "'item.id' must be a non-empty string of at most 64 characters")
    content = item.get("content")
    if not isinstance(content, list) or not content:
        raise f.error("item.content", "'item.content' must be a non-empty array", "invalid_type")
    texts: list[str] = []
    images: list[np.ndarray] = []
    for i, part in enumerate(content):
        param = f"item.content[{i}]"
        if not isinstance(part, dict):
            raise f.error(param, f"'{param}' must be an object", "invalid_type")
        kind = part.get("type")
        if kind == "input_text":
            text = part.get("text")
            if not isinstance(text, str):
                raise f.error(f"{param}.text", f"'{param}.text' must be a string", "invalid_type")
            texts.append(text)
        elif kind == "input_image":
            url = part.get("image_url")
            prefix, sep, payload = url.partition(",") if isinstance(url, str) else ("", "", "")
            if not sep or not prefix.startswith("data:image/") or not prefix.endswith(";base64"):
                raise f.error(
                    f"{param}.image_url",
                    f"'{param}.image_url' must be a data URL (data:image/jpeg;base64,...); remote URLs are not fetched",
                )
            images.append(decode_image(decode_base64(payload, f"{param}.image_url", f), f"{param}.image_url", f))
        elif kind == "input_audio":
            raise f.error(
                f"{param}.type",
                "input_audio items are not supported; stream audio with input_audio_buffer.append",
                "unsupported",
            )
        else:
            raise f.error(f"{param}.type", f"unknown content type {kind!r} (input_text, input_image)")
    return ItemCreate(f.event_id, item_id or new_id("item"), tuple(texts), tuple(images), previous)


def _response_create(f: _Fields) -> ResponseCreate:
    f.only("response")
    spec = f.get("response", dict) or {}
    for key in spec:
        if key not in ("output_modalities", "metadata", "conversation", "instructions"):
            raise f.error(f"response.{key}", f"'response.{key}' is not supported by this server", "unsupported")
    if spec.get("conversation", "auto") != "auto":
        raise f.error("response.conversation", "only the default conversation ('auto') is supported", "unsupported")
    modalities = spec.get("output_modalities")
    if modalities is not None and modalities not in (["text"], ["audio"]):
        raise f.error("response.output_modalities", f"must be ['text'] or ['audio'], got {modalities!r}")
    metadata = spec.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise f.error("response.metadata", "'response.metadata' must map strings to strings", "invalid_type")
    instructions = spec.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise f.error("response.instructions", "'response.instructions' must be a string", "invalid_type")
    return ResponseCreate(f.event_id, tuple(modalities) if modalities else None, metadata, instructions)


def _response_cancel(f: _Fields) -> ResponseCancel:
    f.only("response_id")
    return ResponseCancel(f.event_id, f.get("response_id", str))


def _item_truncate(f: _Fields) -> ItemTruncate:
    f.only("item_id", "content_index", "audio_end_ms")
    audio_end_ms = f.get("audio_end_ms", int, required=True)
    content_index = f.get("content_index", int, required=True)
    if audio_end_ms < 0:
        raise f.error("audio_end_ms", "'audio_end_ms' must not be negative")
    return ItemTruncate(f.event_id, f.get("item_id", str, required=True), content_index, audio_end_ms)


def _no_fields(cls: type[AudioCommit] | type[AudioClear]) -> Any:
    def parse(f: _Fields) -> AudioCommit | AudioClear:
        f.only()
        return cls(f.event_id)

    return parse


_PARSERS: dict[str, Any] = {
    "session.update": _session_update,
    "input_audio_buffer.append": _audio_append,
    "input_audio_buffer.commit": _no_fields(AudioCommit),
    "input_audio_buffer.clear": _no_fields(AudioClear),
    "input_video_buffer.append": _video_append,
    "conversation.item.create": _item_create,
    "response.create": _response_create,
    "response.cancel": _response_cancel,
    "conversation.item.truncate": _item_truncate,
}


# ---------------------------------------------------------------------------------------------------- server events
def server_event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": new_id("event"), **fields}


def error_event(err: ProtocolError) -> dict[str, Any]:
    return server_event(
        "error",
        error={
            "type": err.error_type,
            "code": err.code,
            "message": err.message,
            "param": err.param,
            "event_id": err.event_id,
        },
    )


def user_item(item_id: str, content: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": status,
        "content": content,
    }


def assistant_item(item_id: str, modality: Modality, text: str | None, status: str) -> dict[str, Any]:
    if modality == "audio":
        part: dict[str, Any] = {"type": "output_audio", "transcript": text}
    else:
        part = {"type": "output_text", "text": text}
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [part] if text is not None else [],
    }


def response_object(
    response_id: str,
    status: str,
    modality: Modality,
    *,
    output: list[dict[str, Any]] | None = None,
    status_details: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": status_details,
        "output": output or [],
        "output_modalities": [modality],
        "conversation_id": conversation_id,
        "metadata": metadata,
        "usage": None,
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": WIRE_RATE}}} if modality == "audio" else None,
    }


def pcm16_base64(pcm: np.ndarray) -> str:
    return base64.b64encode(pcm.astype("<i2", copy=False).tobytes()).decode("ascii")


# ---------------------------------------------------------------------------------------------------- audio
class InputAudioConverter:
    """Stateful pcm16 24 kHz → float32 16 kHz (the engine's format) with a proper low-pass resampler."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)

    def convert(self, pcm: np.ndarray) -> np.ndarray:
        if not len(pcm):
            return np.zeros(0, np.float32)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1).astype(np.int16, copy=False), format="s16", layout="mono")
        frame.sample_rate = WIRE_RATE
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)

    def reset(self) -> None:
        """Forget buffered samples (``input_audio_buffer.clear``)."""
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)
