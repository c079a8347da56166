"""The Realtime websocket server with the real cascade backend, driven by the official ``openai`` SDK's realtime client
and by a plain ``websockets`` client: text turns, spoken replies, video frames, cancel, bad input, limits, speech."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import av
import cv2
import numpy as np
import pytest
import websockets
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosed

from app.live import SessionManager
from app.ws_server import RealtimeServer, ServerOptions
from engine.gate import AnswerEverything
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig
from streams.synth import speak

TEXT_ONLY = EngineConfig(
    backend="cascade", speech=False, options=SessionOptions(response=ResponseOptions(max_new_tokens=16))
)


@contextlib.asynccontextmanager
async def running_server(
    config: EngineConfig = TEXT_ONLY,
    *,
    max_sessions: int = 4,
    max_message_bytes: int = 1 << 20,
    api_key: str | None = None,
) -> AsyncIterator[RealtimeServer]:
    server = RealtimeServer(
        SessionManager(config, max_sessions=max_sessions),
        ServerOptions(port=0, max_message_bytes=max_message_bytes, api_key=api_key),
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def _url(server: RealtimeServer) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/realtime?model=omnistream"


def _sdk(server: RealtimeServer, api_key: str = "unused-locally") -> AsyncOpenAI:
    return AsyncOpenAI(api_key=api_key, websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")


def _text_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _jpeg_b64(rgb: tuple[int, int, int]) -> str:
    image = np.zeros((120, 160, 3), np.uint8)
    image[:] = rgb[::-1]
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(data.tobytes()).decode()


async def _recv(ws: websockets.ClientConnection, kind: str, timeout: float = 60) -> dict[str, Any]:
    """Next event of type ``kind`` (earlier ones are skipped)."""

    async def scan() -> dict[str, Any]:
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event

    return await asyncio.wait_for(scan(), timeout)


async def _collect_until(ws: websockets.ClientConnection, kind: str, timeout: float = 60) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    async def scan() -> list[dict[str, Any]]:
        while True:
            events.append(json.loads(await ws.recv()))
            if events[-1]["type"] == kind:
                return events

    return await asyncio.wait_for(scan(), timeout)


async def test_openai_sdk_text_turn_streams_and_completes() -> None:
    async with (
        running_server(api_key="sk-local") as server,
        _sdk(server, api_key="sk-local").realtime.connect(model="omnistream") as conn,
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(_url(server))  # no Authorization header
        assert refused.value.response.status_code == 401
        created = await conn.recv()
        assert created.type == "session.created"
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "instructions": "x"})
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}})
        await conn.conversation.item.create(item=_text_item("What do you see right now?"))  # type: ignore[arg-type]
        await conn.response.create()
        seen: list[str] = []
        deltas: list[str] = []
        async for event in conn:
            seen.append(event.type)
            if event.type == "error":
                assert event.error.param == "session.audio.input.format"
                assert event.error.code == "unsupported"
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.done":
                break
        response = event.response  # type: ignore[union-attr]
        assert response.status == "completed"
        text = response.output[0].content[0].text  # type: ignore[index,union-attr]
        assert text and text == "".join(deltas)
        order = [
            "session.updated",
            "error",
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.done",
        ]
        positions = [seen.index(kind) for kind in order]
        assert positions == sorted(positions), seen
        assert "query.accepted" in seen  # extension event from the engine's gate


async def test_cancel_mid_answer_reports_client_cancelled() -> None:
    async with running_server() as server, websockets.connect(_url(server)) as ws:
        session_id = (await _recv(ws, "session.created"))["session"]["id"]
        await ws.send(json.dumps({"type": "input_video_buffer.append", "image": _jpeg_b64((255, 0, 0))}))
        await asyncio.wait_for(_until_observed(server.manager.sessions[session_id].session.context), 30)
        await ws.send(
            # a long answer (the evidence, then the model going on): still streaming when the cancel arrives
            json.dumps({"type": "conversation.item.create", "item": _text_item("Describe the colours in detail.")})
        )
        await ws.send(json.dumps({"type": "response.create"}))
        created = await _recv(ws, "response.created")
        await ws.send(json.dumps({"type": "response.cancel", "event_id": "cancel-1"}))
        done = await _recv(ws, "response.done")
        assert done["response"]["id"] == created["response"]["id"]
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        await ws.send(json.dumps({"type": "response.cancel", "event_id": "cancel-2"}))
        err = await _recv(ws, "error")
        assert err["error"]["code"] == "response_cancel_not_active" and err["error"]["event_id"] == "cancel-2"


async def test_spoken_reply_streams_pcm16_audio_before_response_done() -> None:
    async with running_server() as server, websockets.connect(_url(server)) as ws:
        session_id = (await _recv(ws, "session.created"))["session"]["id"]
        await ws.send(json.dumps({"type": "session.update", "session": {"output_modalities": ["audio"]}}))
        updated = await _recv(ws, "session.updated")
        assert updated["session"]["output_modalities"] == ["audio"]
        await ws.send(json.dumps({"type": "conversation.item.create", "item": _text_item("What do you see?")}))
        await ws.send(json.dumps({"type": "response.create"}))
        events = await _collect_until(ws, "response.done")
        audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
        transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")["transcript"]
        pcm = np.frombuffer(audio, "<i2")
        seconds = len(pcm) / 24_000
        words = len(transcript.split())
        assert words >= 3
        assert 0.15 * words < seconds < 1.0 * words  # about 175 words per minute of real speech
        assert np.abs(pcm).max() > 1000
        kinds = [e["type"] for e in events]
        assert kinds.index("response.output_audio.done") < kinds.index("response.done")
        assert events[-1]["response"]["status"] == "completed"
        assert events[-1]["response"]["output"][0]["content"][0] == {"type": "output_audio", "transcript": transcript}
        item_id = events[-1]["response"]["output"][0]["id"]
        await ws.send(
            json.dumps(
                {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 500}
            )
        )
        truncated = await _recv(ws, "conversation.item.truncated")
        assert truncated["audio_end_ms"] == 500
        heard = server.manager.sessions[session_id].session.history[-1]
        assert heard.role == "assistant" and heard.interrupted
        assert transcript.startswith(heard.text) and len(heard.text) < len(transcript) / 2
        too_far = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 99_000}
        await ws.send(json.dumps(too_far))
        assert (await _recv(ws, "error"))["error"]["param"] == "audio_end_ms"


async def test_bad_input_gets_errors_and_the_server_keeps_serving() -> None:
    async with running_server(max_message_bytes=256 * 1024) as server:
        async with websockets.connect(_url(server)) as ws:
            await _recv(ws, "session.created")
            cases = [
                ("{broken", "invalid_json", None),
                (json.dumps({"type": "response.explode", "event_id": "e1"}), "invalid_event_type", "type"),
                (json.dumps({"type": "input_audio_buffer.append", "audio": "***"}), "invalid_value", "audio"),
                (json.dumps({"type": "input_video_buffer.append", "image": "aGVsbG8="}), "invalid_value", "image"),
                (json.dumps({"type": "response.create"}), "no_pending_input", None),
                (
                    json.dumps({"type": "input_video_buffer.append", "image": _jpeg_b64((1, 2, 3)), "timestamp": 9e6}),
                    "invalid_value",
                    "timestamp",
                ),
                (json.dumps({"type": "input_audio_buffer.commit"}), "unsupported", None),
                (
                    json.dumps(
                        {"type": "conversation.item.truncate", "item_id": "x", "content_index": 0, "audio_end_ms": 1}
                    ),
                    "item_not_found",
                    "item_id",
                ),
            ]
            for raw, code, param in cases:
                await ws.send(raw)
                err = await _recv(ws, "error")
                assert (err["error"]["code"], err["error"]["param"]) == (code, param), raw
            await ws.send(b"\x00binary")
            assert (await _recv(ws, "error"))["error"]["code"] == "invalid_message"
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (300 * 1024)}))
            with pytest.raises(ConnectionClosed) as closed:
                await _recv(ws, "never")
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
        async with websockets.connect(_url(server)) as ws:
            await _recv(ws, "session.created")
            await ws.send(json.dumps({"type": "conversation.item.create", "item": _text_item("Still there?")}))
            await ws.send(json.dumps({"type": "response.create"}))
            done = await _recv(ws, "response.done")
            assert done["response"]["status"] == "completed"
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://127.0.0.1:{server.port}/elsewhere")
        assert refused.value.response.status_code == 404


async def test_session_limit_and_disconnect_mid_answer() -> None:
    async with running_server(max_sessions=1) as server:
        first = await websockets.connect(_url(server))
        await _recv(first, "session.created")
        async with websockets.connect(_url(server)) as second:
            err = await _recv(second, "error")
            assert err["error"]["code"] == "session_limit_reached"
            with pytest.raises(ConnectionClosed) as closed:
                await second.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        (live,) = server.manager.sessions.values()
        await first.send(json.dumps({"type": "input_video_buffer.append", "image": _jpeg_b64((0, 255, 0))}))
        await asyncio.wait_for(_until_observed(live.session.context), 30)
        await first.send(
            json.dumps({"type": "conversation.item.create", "item": _text_item("Describe the colours in detail.")})
        )
        await first.send(json.dumps({"type": "response.create"}))
        await _recv(first, "response.created")
        await first.close()  # gone mid-answer: its session is closed and the slot freed
        await asyncio.wait_for(live.task, 20)
        assert live.session.history[-1].interrupted  # the answer in flight was cancelled, not finished
        await asyncio.wait_for(_until_empty(server), 20)
        async with websockets.connect(_url(server)) as third:
            await _recv(third, "session.created")
            await third.send(json.dumps({"type": "conversation.item.create", "item": _text_item("Hello?")}))
            await third.send(json.dumps({"type": "response.create"}))
            assert (await _recv(third, "response.done"))["response"]["status"] == "completed"


async def _until_empty(server: RealtimeServer) -> None:
    while server.manager.sessions:
        await asyncio.sleep(0.05)


async def test_two_sessions_share_one_model_and_keep_their_own_video() -> None:
    async with (
        running_server() as server,
        websockets.connect(_url(server)) as a,
        websockets.connect(_url(server)) as b,
    ):
        id_a = (await _recv(a, "session.created"))["session"]["id"]
        id_b = (await _recv(b, "session.created"))["session"]["id"]
        await a.send(json.dumps({"type": "input_video_buffer.append", "image": _jpeg_b64((255, 0, 0))}))
        await b.send(
            json.dumps({"type": "input_video_buffer.append", "image": _jpeg_b64((0, 0, 255)), "timestamp": 0.2})
        )
        ctx_a = server.manager.sessions[id_a].session.context
        ctx_b = server.manager.sessions[id_b].session.context
        await asyncio.wait_for(_until_observed(ctx_a, ctx_b), 30)
        assert ctx_a.backend is ctx_b.backend  # type: ignore[attr-defined]  # one loaded model
        assert ctx_a.last_observation.colours[0].name == "red"  # type: ignore[attr-defined]
        assert ctx_b.last_observation.colours[0].name == "blue"  # type: ignore[attr-defined]
        assert ctx_b.last_observation.t == 0.2  # type: ignore[attr-defined]  # the client's timestamp


async def _until_observed(*contexts: Any) -> None:
    while any(c.last_observation is None for c in contexts):
        await asyncio.sleep(0.05)


def _pcm24k(samples_16k: np.ndarray) -> bytes:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=24_000)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples_16k.reshape(1, -1), np.float32), format="flt", layout="mono"
    )
    frame.sample_rate = 16_000
    parts = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(parts).astype("<i2").tobytes()


@pytest.mark.e2e
async def test_spoken_question_through_server_vad_and_whisper() -> None:
    config = EngineConfig(
        backend="cascade", speech=True, options=SessionOptions(response=ResponseOptions(max_new_tokens=16))
    )
    question = speak("What colour is the screen?")
    audio = _pcm24k(np.concatenate([np.zeros(8000, np.float32), question, np.zeros(24_000, np.float32)]))
    async with running_server(config) as server, _sdk(server).realtime.connect(model="omnistream") as conn:
        created = await conn.recv()
        assert created.session.audio.input.turn_detection.type == "server_vad"  # type: ignore[union-attr]
        await conn.input_audio_buffer.commit(event_id="too-early")
        err = await conn.recv()
        assert err.type == "error" and err.error.code == "input_audio_buffer_commit_empty"  # type: ignore[union-attr]
        assert err.error.event_id == "too-early"  # type: ignore[union-attr]
        await conn.input_audio_buffer.clear()
        assert (await conn.recv()).type == "input_audio_buffer.cleared"
        await conn.send({"type": "input_video_buffer.append", "image": _jpeg_b64((0, 0, 255))})  # type: ignore[arg-type]
        step = 24_000 * 2 // 10  # 100 ms appends
        for i in range(0, len(audio), step):
            await conn.input_audio_buffer.append(audio=base64.b64encode(audio[i : i + step]).decode())
        seen: dict[str, Any] = {}
        async for event in conn:
            seen.setdefault(event.type, event)
            if event.type == "response.done":
                break
        started, stopped = seen["input_audio_buffer.speech_started"], seen["input_audio_buffer.speech_stopped"]
        assert started.item_id == stopped.item_id == seen["input_audio_buffer.committed"].item_id
        assert 300 <= started.audio_start_ms < stopped.audio_end_ms
        transcript = seen["conversation.item.input_audio_transcription.completed"]
        assert transcript.item_id == started.item_id
        assert "colo" in transcript.transcript.lower() and "screen" in transcript.transcript.lower()
        assert seen["response.done"].response.status == "completed"
        assert "response.output_text.delta" in seen


@pytest.mark.e2e
async def test_speaking_over_an_answer_interrupts_it_turn_detected() -> None:
    config = EngineConfig(
        backend="cascade",
        speech=True,
        policy=AnswerEverything(),  # every utterance is a turn: the gate is not under test here
        options=SessionOptions(response=ResponseOptions(max_new_tokens=32)),
    )
    interruption = _pcm24k(np.concatenate([speak("Stop, tell me something else."), np.zeros(24_000, np.float32)]))
    async with running_server(config) as server, websockets.connect(_url(server)) as ws:
        session_id = (await _recv(ws, "session.created"))["session"]["id"]
        await ws.send(json.dumps({"type": "input_video_buffer.append", "image": _jpeg_b64((255, 0, 0))}))
        await asyncio.wait_for(_until_observed(server.manager.sessions[session_id].session.context), 30)
        item = _text_item("Describe the colours on the screen in detail.")
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        first = await _recv(ws, "response.output_text.delta")
        block = 24_000 * 2 // 10
        for i in range(0, len(interruption), block):
            chunk = base64.b64encode(interruption[i : i + block]).decode()
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        events = await _collect_until(ws, "response.done")
        kinds = [e["type"] for e in events]
        assert "input_audio_buffer.speech_started" in kinds and "response.paused" in kinds
        assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
        done = events[-1]["response"]
        assert done["id"] == first["response_id"]
        assert done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "turn_detected"
        transcript = await _recv(ws, "conversation.item.input_audio_transcription.completed")
        assert "something else" in transcript["transcript"].lower()
        follow_up = await _recv(ws, "response.done")  # the interruption is answered in turn
        assert follow_up["response"]["id"] != done["id"]


@pytest.mark.e2e
async def test_spoken_reply_pauses_for_the_user_and_feeds_the_echo_guard() -> None:
    """The websocket speaks through the speech-out controller: 24 kHz audio paced to playback, none sent while the
    user talks over it, the answer cut when the user takes the turn, every chunk sent reported to the echo guard."""
    config = EngineConfig(
        backend="cascade",
        speech=True,
        policy=AnswerEverything(),
        options=SessionOptions(response=ResponseOptions(max_new_tokens=32)),
    )
    interruption = _pcm24k(np.concatenate([speak("Stop, tell me something else."), np.zeros(24_000, np.float32)]))
    async with running_server(config) as server, websockets.connect(_url(server)) as ws:
        session_id = (await _recv(ws, "session.created"))["session"]["id"]
        await ws.send(json.dumps({"type": "session.update", "session": {"output_modalities": ["audio"]}}))
        await _recv(ws, "session.updated")
        item = _text_item("Describe the colours on the screen in detail.")
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        first = await _recv(ws, "response.output_audio.delta")
        block = 24_000 * 2 // 10
        for i in range(0, len(interruption), block):
            chunk = base64.b64encode(interruption[i : i + block]).decode()
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        events = [first, *await _collect_until(ws, "response.done")]
        kinds = [e["type"] for e in events]
        onset = kinds.index("input_audio_buffer.speech_started")
        # at most the chunk in flight when the user spoke goes out after the onset
        assert kinds[onset:].count("response.output_audio.delta") <= 1, kinds[onset:]
        done = events[-1]["response"]
        assert done["id"] == first["response_id"] and done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "turn_detected"
        sent = sum(len(base64.b64decode(e["delta"])) // 2 for e in events if e["type"] == "response.output_audio.delta")
        live = server.manager.sessions[session_id]
        played = live.session.echo.playback_intervals()
        assert abs(sum(b - a for a, b in played) - sent / 24_000) < 0.01  # every sample sent, at 16 kHz
        assert sent / 24_000 < 20.0


def _last_prompt(server: RealtimeServer, session_id: str) -> str:
    """The prompt the language model last ran on, as text."""
    lm = server.manager.sessions[session_id].session.context.backend.lm  # type: ignore[attr-defined]
    return str(lm.tokenizer.decode(lm._prompt_ids))


async def test_session_and_response_instructions_reach_the_language_models_prompt() -> None:
    async with running_server() as server, websockets.connect(_url(server)) as ws:
        session_id = (await _recv(ws, "session.created"))["session"]["id"]
        await ws.send(json.dumps({"type": "input_video_buffer.append", "image": _jpeg_b64((255, 0, 0))}))
        await asyncio.wait_for(_until_observed(server.manager.sessions[session_id].session.context), 30)
        await ws.send(json.dumps({"type": "session.update", "session": {"instructions": "Speak like a pirate."}}))
        assert (await _recv(ws, "session.updated"))["session"]["instructions"] == "Speak like a pirate."
        for instructions in (None, "Answer in French."):
            item = _text_item("What colour is the screen?")
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            response = {} if instructions is None else {"instructions": instructions}
            await ws.send(json.dumps({"type": "response.create", "response": response}))
            assert (await _recv(ws, "response.done"))["response"]["status"] == "completed"
            prompt = _last_prompt(server, session_id)
            # the system prompt ends with the instructions in force: the response's own replace the session's
            system = prompt.split("<|im_end|>")[0]
            assert system.endswith(instructions or "Speak like a pirate."), system[-200:]
            assert prompt.count("pirate") == (1 if instructions is None else 0)


@pytest.mark.e2e
async def test_manual_turns_commit_exactly_the_buffer_and_answer_on_request() -> None:
    config = EngineConfig(
        backend="cascade", speech=True, options=SessionOptions(response=ResponseOptions(max_new_tokens=16))
    )
    cleared = _pcm24k(speak("Forget about the weather."))
    question = _pcm24k(np.concatenate([speak("What colour is the screen?"), np.zeros(4000, np.float32)]))
    block = 24_000 * 2 // 10  # 100 ms appends
    async with running_server(config) as server, _sdk(server).realtime.connect(model="omnistream") as conn:
        session_id = (await conn.recv()).session.id  # type: ignore[union-attr]
        await conn.session.update(
            session={"type": "realtime", "instructions": "Keep it short.", "audio": {"input": {"turn_detection": None}}}
        )
        updated = await conn.recv()
        assert updated.type == "session.updated"
        assert updated.session.audio.input.turn_detection is None  # type: ignore[union-attr]
        await conn.send({"type": "input_video_buffer.append", "image": _jpeg_b64((0, 0, 255))})  # type: ignore[arg-type]
        for i in range(0, len(cleared), block):
            await conn.input_audio_buffer.append(audio=base64.b64encode(cleared[i : i + block]).decode())
        await conn.input_audio_buffer.clear()
        await conn.input_audio_buffer.commit(event_id="nothing-left")
        for i in range(0, len(question), block):
            await conn.input_audio_buffer.append(audio=base64.b64encode(question[i : i + block]).decode())
        await conn.input_audio_buffer.commit(event_id="the-question")
        await conn.response.create()  # before the transcript exists: the response waits for it
        events: list[Any] = []
        async for event in conn:
            if event.type != "metrics":
                events.append(event)
            if event.type == "response.done":
                break
        kinds = [e.type for e in events]
        assert "input_audio_buffer.speech_started" not in kinds and "input_audio_buffer.speech_stopped" not in kinds
        assert kinds[:2] == ["input_audio_buffer.cleared", "error"]
        assert events[1].error.code == "input_audio_buffer_commit_empty"
        assert events[1].error.event_id == "nothing-left"
        committed = next(e for e in events if e.type == "input_audio_buffer.committed")
        transcript = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
        assert transcript.item_id == committed.item_id
        heard = transcript.transcript.lower()
        assert "colo" in heard and "screen" in heard and "weather" not in heard  # exactly the committed buffer
        assert kinds.index(transcript.type) < kinds.index("response.created")
        assert events[-1].response.status == "completed"
        assert "Keep it short." in _last_prompt(server, session_id)
        await conn.response.create(event_id="again")
        err = await conn.recv()
        assert err.type == "error" and err.error.code == "no_pending_input"  # type: ignore[union-attr]


@pytest.mark.e2e
async def test_without_create_response_or_interrupt_response_speech_waits_for_the_client() -> None:
    config = EngineConfig(
        backend="cascade",
        speech=True,
        policy=AnswerEverything(),  # every utterance is a turn: the gate is not under test here
        options=SessionOptions(response=ResponseOptions(max_new_tokens=32)),
    )
    speech = _pcm24k(np.concatenate([speak("Stop, tell me something else."), np.zeros(24_000, np.float32)]))
    async with running_server(config) as server, websockets.connect(_url(server)) as ws:
        session_id = (await _recv(ws, "session.created"))["session"]["id"]
        vad = {"type": "server_vad", "create_response": False, "interrupt_response": False}
        await ws.send(json.dumps({"type": "session.update", "session": {"audio": {"input": {"turn_detection": vad}}}}))
        updated = await _recv(ws, "session.updated")
        turn_detection = updated["session"]["audio"]["input"]["turn_detection"]
        assert (turn_detection["create_response"], turn_detection["interrupt_response"]) == (False, False)
        await ws.send(json.dumps({"type": "input_video_buffer.append", "image": _jpeg_b64((255, 0, 0))}))
        await asyncio.wait_for(_until_observed(server.manager.sessions[session_id].session.context), 30)
        item = _text_item("Describe the colours on the screen in detail.")
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        await _recv(ws, "response.output_text.delta")
        block = 24_000 * 2 // 10
        for i in range(0, len(speech), block):
            chunk = base64.b64encode(speech[i : i + block]).decode()
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        events = await _collect_until(ws, "query.accepted")  # the spoken turn, transcribed and gated
        accepted = events[-1]
        if "response.done" not in [e["type"] for e in events]:  # the answer may still be streaming
            events += await _collect_until(ws, "response.done")
        kinds = [e["type"] for e in events]
        assert "response.paused" not in kinds
        done = next(e for e in events if e["type"] == "response.done")
        assert done["response"]["status"] == "completed"  # speech over the answer did not cut it
        assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
        assert "response.created" not in kinds[kinds.index("response.done") :]  # and the turn was not answered
        assert "something else" in accepted["text"].lower()
        await ws.send(json.dumps({"type": "response.create"}))
        answer = await _collect_until(ws, "response.done")
        assert [e["type"] for e in answer].count("response.created") == 1
        assert "error" not in [e["type"] for e in answer]
        assert answer[-1]["response"]["status"] == "completed"
