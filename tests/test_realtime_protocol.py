"""The Realtime wire protocol: client events parse into typed objects or fail with a precise error; server events and
the session object validate against the official ``openai`` SDK's GA models."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
from openai.types.realtime import (
    RealtimeErrorEvent,
    ResponseDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)

from app.realtime_protocol import (
    AudioAppend,
    AudioClear,
    AudioCommit,
    InputAudioConverter,
    ItemCreate,
    ItemTruncate,
    ProtocolError,
    ResponseCancel,
    ResponseCreate,
    SessionConfig,
    SessionUpdate,
    TurnDetection,
    VideoAppend,
    assistant_item,
    error_event,
    parse_client_event,
    response_object,
    server_event,
)


def _jpeg(rgb: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (48, 64)) -> bytes:
    image = np.zeros((*size, 3), np.uint8)
    image[:] = rgb[::-1]  # BGR for OpenCV
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _error(raw: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_client_event(raw)
    return info.value


def _config(*, audio: bool = True) -> SessionConfig:
    return SessionConfig(turn_detection=TurnDetection(0.5, 300, 500, True), audio_available=audio)


# ---------------------------------------------------------------------------------------------------- client events
def test_audio_append_decodes_little_endian_pcm16() -> None:
    samples = np.array([0, 1000, -1000, 32767, -32768], np.int16)
    event = parse_client_event(
        json.dumps(
            {"type": "input_audio_buffer.append", "event_id": "e1", "audio": _b64(samples.astype("<i2").tobytes())}
        )
    )
    assert isinstance(event, AudioAppend)
    assert event.event_id == "e1"
    np.testing.assert_array_equal(event.pcm, samples)


def test_commit_clear_cancel_and_truncate_parse() -> None:
    assert isinstance(parse_client_event('{"type": "input_audio_buffer.commit"}'), AudioCommit)
    assert isinstance(parse_client_event('{"type": "input_audio_buffer.clear"}'), AudioClear)
    cancel = parse_client_event('{"type": "response.cancel", "response_id": "resp_1"}')
    assert cancel == ResponseCancel(None, "resp_1")
    truncate = parse_client_event(
        '{"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 1500}'
    )
    assert truncate == ItemTruncate(None, "item_1", 0, 1500)


def test_item_create_collects_text_and_decodes_images() -> None:
    event = parse_client_event(
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "id": "item_mine",
                    "content": [
                        {"type": "input_text", "text": "What colour is this?"},
                        {"type": "input_image", "image_url": "data:image/jpeg;base64," + _b64(_jpeg((255, 0, 0)))},
                    ],
                },
            }
        )
    )
    assert isinstance(event, ItemCreate)
    assert event.item_id == "item_mine"
    assert event.texts == ("What colour is this?",)
    (image,) = event.images
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert image[..., 0].mean() > 200 and image[..., 2].mean() < 50  # RGB order: red stays red


def test_video_extension_event_carries_frame_and_timestamp() -> None:
    event = parse_client_event(
        json.dumps({"type": "input_video_buffer.append", "image": _b64(_jpeg((0, 0, 255))), "timestamp": 2.5})
    )
    assert isinstance(event, VideoAppend)
    assert event.timestamp == 2.5
    assert event.image[..., 2].mean() > 200


def test_response_create_options_and_session_update_parse() -> None:
    event = parse_client_event(
        '{"type": "response.create", "response": {"output_modalities": ["audio"], "metadata": {"k": "v"}}}'
    )
    assert event == ResponseCreate(None, ("audio",), {"k": "v"})
    update = parse_client_event('{"type": "session.update", "session": {"type": "realtime"}}')
    assert update == SessionUpdate(None, {"type": "realtime"})


@pytest.mark.parametrize(
    ("raw", "code", "param"),
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid_json", None),
        ('{"event_id": "e"}', "missing_required_parameter", "type"),
        ('{"type": "response.explode"}', "invalid_event_type", "type"),
        ('{"type": "input_audio_buffer.append"}', "missing_required_parameter", "audio"),
        ('{"type": "input_audio_buffer.append", "audio": 42}', "invalid_type", "audio"),
        ('{"type": "input_audio_buffer.append", "audio": "@@not base64@@"}', "invalid_value", "audio"),
        ('{"type": "input_audio_buffer.append", "audio": "AAEC"}', "invalid_value", "audio"),  # 3 bytes: odd
        ('{"type": "input_audio_buffer.append", "audio": "", "volume": 3}', "unknown_parameter", "volume"),
        ('{"type": "input_video_buffer.append", "image": "aGVsbG8="}', "invalid_value", "image"),
        ('{"type": "input_video_buffer.append", "image": "/9j/", "timestamp": -1}', "invalid_value", "image"),
        (
            '{"type": "conversation.item.truncate", "item_id": "i", "content_index": 0}',
            "missing_required_parameter",
            "audio_end_ms",
        ),
        (
            '{"type": "conversation.item.truncate", "item_id": "i", "content_index": true, "audio_end_ms": 1}',
            "invalid_type",
            "content_index",
        ),
        ('{"type": "response.create", "response": {"tools": []}}', "unsupported", "response.tools"),
        ('{"type": "response.create", "response": {"conversation": "none"}}', "unsupported", "response.conversation"),
    ],
)
def test_bad_client_events_name_what_is_wrong(raw: str, code: str, param: str | None) -> None:
    err = _error(raw)
    assert err.code == code
    assert err.param == param
    assert err.message


def test_error_keeps_the_client_event_id() -> None:
    err = _error('{"type": "no.such.event", "event_id": "client_7"}')
    assert err.event_id == "client_7"
    assert "no.such.event" in err.message


def test_binary_message_is_rejected() -> None:
    assert _error(b"\x00\x01").code == "invalid_message"


def test_bad_timestamp_of_a_valid_frame() -> None:
    raw = json.dumps({"type": "input_video_buffer.append", "image": _b64(_jpeg()), "timestamp": -3})
    err = _error(raw)
    assert err.param == "timestamp" and "non-negative" in err.message


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "function_call", "role": "user", "content": []}, "item.type"),
        ({"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "x"}]}, "item.role"),
        ({"type": "message", "role": "user", "content": []}, "item.content"),
        ({"type": "message", "role": "user", "content": [{"type": "input_text", "text": 5}]}, "item.content[0].text"),
        (
            {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": ""}]},
            "item.content[0].type",
        ),
        (
            {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.jpg"}]},
            "item.content[0].image_url",
        ),
    ],
)
def test_bad_items_name_the_content_part(item: dict[str, object], param: str) -> None:
    err = _error(json.dumps({"type": "conversation.item.create", "item": item}))
    assert err.param == param


# ---------------------------------------------------------------------------------------------------- session config
def test_session_object_validates_against_the_sdk() -> None:
    config = _config()
    created = SessionCreatedEvent.model_validate(server_event("session.created", session=config.to_wire("s1")))
    assert created.session.type == "realtime"
    assert created.session.output_modalities == ["text"]
    assert created.session.audio.input.turn_detection.type == "server_vad"  # type: ignore[union-attr]
    assert created.session.audio.input.format.rate == 24000  # type: ignore[union-attr]


def test_session_update_applies_modalities_and_keeps_echoed_fields() -> None:
    config = _config().updated(
        {
            "type": "realtime",
            "instructions": "be brief",
            "output_modalities": ["audio"],
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": {"type": "server_vad"}},
                "output": {"voice": "marin", "speed": 1.2},
            },
            "tracing": None,
        }
    )
    assert config.output_modalities == ("audio",) and config.voice == "marin" and config.speed == 1.2
    wire = SessionUpdatedEvent.model_validate(server_event("session.updated", session=config.to_wire("s1")))
    assert wire.session.instructions == "be brief"
    assert wire.session.output_modalities == ["audio"]


@pytest.mark.parametrize(
    ("patch", "code", "param"),
    [
        ({"output_modalities": ["text", "audio"]}, "invalid_value", "session.output_modalities"),
        ({"type": "transcription"}, "unsupported", "session.type"),
        ({"voice_activity": True}, "unknown_parameter", "session.voice_activity"),
        ({"tools": [{"type": "function", "name": "f"}]}, "unsupported", "session.tools"),
        ({"audio": {"input": {"format": {"type": "audio/pcmu"}}}}, "unsupported", "session.audio.input.format"),
        (
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": "no"}}}},
            "invalid_type",
            "session.audio.input.turn_detection.create_response",
        ),
        (
            {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}},
            "unsupported",
            "session.audio.input.turn_detection.type",
        ),
        (
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.9}}}},
            "unsupported",
            "session.audio.input.turn_detection.threshold",
        ),
        (
            {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}},
            "unsupported",
            "session.audio.input.noise_reduction",
        ),
        ({"audio": {"output": {"speed": 3}}}, "invalid_value", "session.audio.output.speed"),
        ({"audio": "loud"}, "invalid_type", "session.audio"),
    ],
)
def test_session_update_errors_name_the_field(patch: dict[str, object], code: str, param: str) -> None:
    with pytest.raises(ProtocolError) as info:
        _config().updated(patch, event_id="ev9")
    assert (info.value.code, info.value.param, info.value.event_id) == (code, param, "ev9")


def test_manual_turns_and_the_clients_vad_choices_keep_the_servers_vad_values() -> None:
    manual = _config().updated({"audio": {"input": {"turn_detection": None}}})
    assert manual.turn_detection is None
    assert manual.to_wire("s")["audio"]["input"]["turn_detection"] is None
    chosen = manual.updated(
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": False}}}}
    ).updated({"audio": {"input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}}})
    wire = SessionUpdatedEvent.model_validate(server_event("session.updated", session=chosen.to_wire("s")))
    vad = wire.session.audio.input.turn_detection  # type: ignore[union-attr]
    assert (vad.type, vad.threshold, vad.silence_duration_ms) == ("server_vad", 0.5, 500)  # type: ignore[union-attr]
    # each session.update states the whole turn_detection object: omitted choices are the server's again
    assert (vad.create_response, vad.interrupt_response) == (True, False)  # type: ignore[union-attr]


def test_response_instructions_parse() -> None:
    event = parse_client_event(json.dumps({"type": "response.create", "response": {"instructions": "Be brief."}}))
    assert isinstance(event, ResponseCreate) and event.instructions == "Be brief."
    err = _error(json.dumps({"type": "response.create", "response": {"instructions": 3}}))
    assert (err.code, err.param) == ("invalid_type", "response.instructions")


def test_audio_output_refused_when_the_server_cannot_speak() -> None:
    with pytest.raises(ProtocolError) as info:
        _config(audio=False).updated({"output_modalities": ["audio"]})
    assert info.value.code == "unsupported" and "spoken replies" in info.value.message


def test_without_speech_turn_detection_is_null_and_stays_null() -> None:
    config = SessionConfig(turn_detection=None, transcription=None)
    assert config.to_wire("s")["audio"]["input"]["turn_detection"] is None
    assert config.updated({"audio": {"input": {"turn_detection": None}}}).turn_detection is None
    with pytest.raises(ProtocolError):
        config.updated({"audio": {"input": {"turn_detection": {"type": "server_vad"}}}})


# ---------------------------------------------------------------------------------------------------- server events
def test_error_event_validates_against_the_sdk() -> None:
    err = ProtocolError("bad", code="invalid_type", param="audio", event_id="c1")
    event = RealtimeErrorEvent.model_validate(error_event(err))
    assert (event.error.code, event.error.param, event.error.event_id) == ("invalid_type", "audio", "c1")
    assert event.error.type == "invalid_request_error"


def test_response_done_validates_against_the_sdk() -> None:
    item = assistant_item("item_1", "text", "hello", "incomplete")
    response = response_object(
        "resp_1", "cancelled", "text", output=[item], status_details={"type": "cancelled", "reason": "turn_detected"}
    )
    event = ResponseDoneEvent.model_validate(server_event("response.done", response=response))
    assert event.response.status == "cancelled"
    assert event.response.status_details.reason == "turn_detected"  # type: ignore[union-attr]
    assert event.response.output[0].content[0].text == "hello"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------- audio
def test_input_audio_is_resampled_to_16k_without_shifting_pitch() -> None:
    converter = InputAudioConverter()
    t = np.arange(24_000) / 24_000
    pcm = (np.sin(2 * np.pi * 440 * t) * 16_000).astype(np.int16)
    out = np.concatenate([converter.convert(pcm[i : i + 480]) for i in range(0, len(pcm), 480)])  # 20 ms appends
    assert out.dtype == np.float32
    assert abs(len(out) - 16_000) < 200
    spectrum = np.abs(np.fft.rfft(out[:8000]))
    peak_hz = np.argmax(spectrum) * 16_000 / 8000
    assert abs(peak_hz - 440) < 4
    assert 0.4 < np.abs(out).max() < 0.55  # 16000 / 32768 ≈ 0.49
