"""User turns known by id, end to end: every event of a turn carries its ``turn_id``, and a turn whose transcription
fails ends as ``transcript.failed``; the session, the websocket server, the MQTT bridge (real mosquitto broker), the
demo's view and the evaluator each attach the next turn's transcript and answer to that next turn, not to the failed
one. The models are scripted (the ASR raises on the first utterance); the real Whisper failing is covered in
``test_faults.py``."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from app.demo_view import LiveView
from app.live import SessionManager
from app.mqtt_bridge import BridgeOptions
from app.realtime_protocol import WIRE_RATE
from app.ws_server import RealtimeServer, ServerOptions
from engine.events import (
    Error,
    QueryAccepted,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TranscriptFailed,
)
from engine.gate import AnswerEverything
from engine.options import SessionOptions, VadOptions
from engine.runtime import EngineConfig
from engine.session import Session
from eval.loader import parse_annotations
from eval.replay import engine_config, replay_group
from streams.clock import Clock, ReplayClock
from streams.items import SAMPLE_RATE
from streams.synth import write_media, write_wav
from tests.fakes import ScriptedBackendContext, ScriptedTranscriber, ScriptedVad
from tests.servers import MOSQUITTO, Listener, Mosquitto, running_bridge
from tests.timeline import audio_timeline, run_collect

needs_mosquitto = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed (apt)")

QUESTION = "what colour is the door"
FAULT = "whisper decoder produced NaN logits"
NO_EARLY_ASR = SessionOptions(vad=VadOptions(early_asr_ms=0))  # one transcription per utterance


def _transcriber() -> ScriptedTranscriber:
    return ScriptedTranscriber([RuntimeError(FAULT), QUESTION])


def _session(clock: Clock, session_id: str | None = None) -> Session:
    return Session(
        ScriptedBackendContext(),
        clock=clock,
        options=NO_EARLY_ASR,
        vad=ScriptedVad(),
        transcriber=_transcriber(),
        policy=AnswerEverything(),
        session_id=session_id,
    )


def _two_utterances() -> np.ndarray:
    """16 kHz: silence, 1 s of loud sound (the utterance ASR fails on), silence, 1 s more (the question), silence."""
    loud = np.full(SAMPLE_RATE, 0.3, np.float32)
    quiet = np.zeros(SAMPLE_RATE, np.float32)
    return np.concatenate([quiet[: SAMPLE_RATE // 2], loud, quiet, loud, quiet, quiet])


@pytest.fixture
def scripted_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Interfaces open scripted sessions whose ASR fails on the first utterance."""

    async def open_(config: EngineConfig, clock: Clock, *, session_id: str | None = None) -> Session:
        return _session(clock, session_id)

    monkeypatch.setattr("app.live.open_session", open_)


# ------------------------------------------------------------------------------------------ the session
async def test_every_event_of_a_turn_carries_its_id_and_a_failed_transcription_ends_the_turn() -> None:
    session = _session(ReplayClock("fast"))
    events = await run_collect(session, [audio_timeline(6.0, [(1.0, 2.0), (3.0, 4.0)])])
    turned = [
        (e.type, e.turn_id)
        for e in events
        if isinstance(e, SpeechStarted | SpeechStopped | Transcript | TranscriptFailed)
    ]
    first, second = turned[0][1], turned[3][1]
    assert first != second
    assert turned == [
        ("speech.started", first),
        ("speech.stopped", first),
        ("transcript.failed", first),
        ("speech.started", second),
        ("speech.stopped", second),
        ("transcript", second),
    ]
    (failed,) = [e for e in events if isinstance(e, TranscriptFailed)]
    assert (failed.start, failed.reason) == (pytest.approx(1.0, abs=0.04), f"RuntimeError: {FAULT}")
    (error,) = [e for e in events if isinstance(e, Error)]
    assert error.source == "asr" and FAULT in error.message  # still reported as an error too
    (accepted,) = [e for e in events if isinstance(e, QueryAccepted)]
    assert (accepted.turn_id, accepted.text) == (second, QUESTION)


async def test_typed_turns_keep_the_id_they_were_given_or_get_a_new_one() -> None:
    session = _session(ReplayClock("fast"))
    events = session.subscribe()
    assert session.submit_text("hello", turn_id="mine") == "mine"
    other = session.submit_text("   ")
    assert other not in ("mine", "")
    await session.stop()
    await session.run([])
    seen = [e async for e in events]
    assert [(e.type, e.turn_id) for e in seen if e.type.startswith("query.")] == [
        ("query.accepted", "mine"),
        ("query.ignored", other),
    ]


# ------------------------------------------------------------------------------------------ the websocket server
def _pcm24k(samples: np.ndarray) -> bytes:
    """16 kHz float → 24 kHz pcm16 by repeating samples (a constant level survives any resampling)."""
    up = np.repeat(samples, 3)[::2]
    return (up * 32767).astype("<i2").tobytes()


async def test_websocket_items_get_their_own_transcripts_when_asr_fails_on_one(scripted_sessions: None) -> None:
    server = RealtimeServer(SessionManager(EngineConfig()), ServerOptions(port=0, speak=False))
    await server.start()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/realtime") as ws:
            audio = _pcm24k(_two_utterances())
            block = WIRE_RATE * 2 // 10  # 100 ms appends
            for i in range(0, len(audio), block):
                chunk = base64.b64encode(audio[i : i + block]).decode()
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
            events: list[dict[str, Any]] = []

            async def until_answered() -> None:
                while not events or events[-1]["type"] != "response.done":
                    events.append(json.loads(await ws.recv()))

            await asyncio.wait_for(until_answered(), 30)
    finally:
        await server.close()
    started = [e["item_id"] for e in events if e["type"] == "input_audio_buffer.speech_started"]
    assert len(started) == 2
    failed_item, question_item = started
    (failed,) = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.failed"]
    assert failed["item_id"] == failed_item and FAULT in failed["error"]["message"]
    (completed,) = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert (completed["item_id"], completed["transcript"]) == (question_item, QUESTION)
    added = [e["item"]["id"] for e in events if e["type"] == "conversation.item.added" and e["item"]["role"] == "user"]
    done = {e["item"]["id"]: e["item"]["status"] for e in events if e["type"] == "conversation.item.done"}
    assert added == [failed_item, question_item]
    assert {i: done.get(i) for i in added} == {failed_item: "incomplete", question_item: "completed"}  # none left open
    assert events[-1]["response"]["status"] == "completed"


# ------------------------------------------------------------------------------------------ the MQTT bridge
@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto.anonymous(tmp_path)
    server.start()
    yield server
    server.stop()


@needs_mosquitto
async def test_mqtt_transcripts_and_gate_decisions_name_their_turn_when_asr_fails_on_one(
    broker: Mosquitto, scripted_sessions: None
) -> None:
    listener = Listener(broker.port)
    await listener.start()
    options = BridgeOptions(port=broker.port, reconnect_min_s=0.1, reconnect_max_s=0.5, keepalive_s=5)
    async with running_bridge(SessionManager(EngineConfig()), options) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        pcm = (_two_utterances() * 32767).astype("<i2").tobytes()
        await listener.publish("omnistream/hall/in/audio", pcm)
        _, answer = await listener.wait_for(lambda t, p: t == "omnistream/hall/out/answer")
        speech = listener.payloads("omnistream/hall/out/speech")
        transcripts = listener.payloads("omnistream/hall/out/transcript")
        (accepted,) = listener.payloads("omnistream/hall/out/gate")
    await listener.stop()
    turns = [p["turn_id"] for p in speech if p["type"] == "speech.started"]
    assert len(turns) == 2 and [p["turn_id"] for p in speech] == [turns[0], turns[0], turns[1], turns[1]]
    assert [(p["type"], p["turn_id"]) for p in transcripts] == [
        ("transcript.failed", turns[0]),
        ("transcript", turns[1]),
    ]
    assert transcripts[1]["text"] == QUESTION
    assert (accepted["type"], accepted["turn_id"], accepted["text"]) == ("query.accepted", turns[1], QUESTION)
    assert answer["status"] == "completed" and answer["text"] == f"answer to {QUESTION}"


# ------------------------------------------------------------------------------------------ the demo's view
async def test_demo_view_shows_the_failed_turn_as_not_understood_and_the_next_with_its_own_words() -> None:
    session = _session(ReplayClock("fast"))
    view = LiveView()
    for event in await run_collect(session, [audio_timeline(6.0, [(1.0, 2.0), (3.0, 4.0)])]):
        view.apply(event)
    lines = view.render()["transcript"].split("</div>")
    assert "1.0–2.0s" in lines[0] and "not understood" in lines[0] and FAULT in lines[0]
    assert "3.0–4.0s" in lines[1] and QUESTION in lines[1]
    assert "voice:</span> what colour is the door" in view.render()["conversation"]


# ------------------------------------------------------------------------------------------ the evaluator
def _events_of(records: list[dict[str, Any]]) -> dict[float, dict[str, Any]]:
    return {r["time_s"]: r for r in records}


async def test_evaluator_records_the_unheard_spoken_question_and_answers_the_next_one(tmp_path: Path) -> None:
    video = write_media(tmp_path / "clip.mp4", (np.full((64, 64, 3), 10 * k, np.uint8) for k in range(16)), fps=2.0)
    for name in ("q1.wav", "q2.wav"):
        write_wav(tmp_path / name, np.full(SAMPLE_RATE, 0.3, np.float32))
    questions = [
        {
            "task_type": "Counting",
            "question": q,
            "time_stamp": t,
            "answer": "A",
            "options": ["A. one", "B. two"],
            "audio_path": wav,
        }
        for q, t, wav in (("How many at 1?", "00:00:01", "q1.wav"), ("How many at 4?", "00:00:04", "q2.wav"))
    ]
    ann = parse_annotations("q.json", [{"video_path": "clip.mp4", "questions": questions}])
    config = engine_config("cascade", model=None, device="cpu", context=60.0, fps=2.0, speech=True)
    config = dataclasses.replace(config, options=dataclasses.replace(config.options, vad=NO_EARLY_ASR.vad))

    async def opener(config: EngineConfig, clock: ReplayClock) -> Session:
        return Session(
            ScriptedBackendContext(),
            clock=clock,
            options=config.options,
            vad=ScriptedVad(),
            transcriber=_transcriber(),
            policy=config.policy,
        )

    records: list[dict[str, Any]] = []
    await replay_group(ann.items, video=video, config=config, pace="fast", proactive="poll", write=records.append,
                       opener=opener, spoken_root=tmp_path)  # fmt: skip
    by_time = _events_of(records)
    assert by_time[1.0]["status"] == f"unheard: transcription failed: RuntimeError: {FAULT}"
    assert by_time[1.0]["response"] == ""
    assert by_time[4.0]["status"] == "completed" and by_time[4.0]["heard"] == QUESTION
    assert by_time[4.0]["response"] == f"answer to {QUESTION}"
