"""Fault injection: a backend, ASR, VAD, camera, video file, websocket client or MQTT client failing while a session
runs. Each fault is an ``error`` event naming its cause; the session goes on (or ends cleanly) and keeps what it had."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from app.live import SessionManager
from app.mqtt_bridge import BridgeOptions
from app.ws_server import RealtimeServer, ServerOptions
from engine.backends.base import AnswerRequest
from engine.cancel import CancelToken
from engine.events import Error, Event, QueryAccepted, QueryIgnored, ResponseDone, Transcript
from engine.gate import AnswerEverything, GateDecision
from engine.options import ResponseOptions, SessionOptions, VadOptions
from engine.runtime import EngineConfig, open_session
from engine.session import Session
from engine.speech import Transcriber
from streams.audio import AudioFileSource
from streams.clock import Clock, LiveClock, ReplayClock
from streams.items import SAMPLE_RATE, AudioChunk, StreamItem, VideoFrame
from streams.synth import place, speak, write_media
from streams.text import ScheduledTextSource
from streams.video import VideoFileSource, WebcamSource
from tests.browser_media import screen_frames
from tests.fakes import ScriptedBackendContext, ScriptedTranscriber, ScriptedVad
from tests.servers import MOSQUITTO, Listener, Mosquitto, running_bridge
from tests.timeline import ScriptedSource, audio_timeline, run_collect

needs_mosquitto = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed (apt)")


class Faults:
    """Which calls fail, and how often: ``arm("answer", 1)`` makes the next answer raise once."""

    def __init__(self) -> None:
        self.armed: dict[str, int] = {}

    def arm(self, name: str, times: int = 1) -> None:
        self.armed[name] = times

    def check(self, name: str, message: str) -> None:
        left = self.armed.get(name, 0)
        if left:
            self.armed[name] = left - 1
            raise RuntimeError(message)


class FaultyContext(ScriptedBackendContext):
    """The scripted backend with faults on demand in ingest, mid-answer and at close."""

    def __init__(self, faults: Faults, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.faults = faults

    def ingest_frame(self, frame: VideoFrame) -> None:
        self.faults.check("frame", "frame buffer corrupted")
        super().ingest_frame(frame)

    def ingest_audio(self, chunk: AudioChunk) -> None:
        self.faults.check("audio", "audio encoder crashed")
        super().ingest_audio(chunk)

    def ingest_transcript(self, start: float, end: float, text: str) -> None:
        self.faults.check("transcript", "transcript store full")
        super().ingest_transcript(start, end, text)

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]:
        for i, piece in enumerate(super().answer(request, cancel)):
            if i == 2:
                self.faults.check("answer", "CUDA error: device-side assert triggered")
            yield piece

    def close(self) -> None:
        super().close()
        self.faults.check("close", "device lost while freeing the cache")


class FaultyTranscriber(ScriptedTranscriber):
    def __init__(self, faults: Faults, texts: list[str]) -> None:
        super().__init__(texts)
        self.faults = faults

    def transcribe(self, samples: np.ndarray) -> str:
        self.faults.check("asr", "whisper decoder produced NaN logits")
        return super().transcribe(samples)


class FaultyVad(ScriptedVad):
    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    def probability(self, window: np.ndarray) -> float:
        self.faults.check("vad", "onnxruntime: invalid state tensor")
        return super().probability(window)


def _session(faults: Faults, texts: list[str] | None = None) -> tuple[Session, FaultyContext]:
    context = FaultyContext(faults)
    session = Session(
        context,
        clock=ReplayClock("fast"),
        vad=FaultyVad(faults),
        transcriber=FaultyTranscriber(faults, texts or []),
    )
    return session, context


def _errors(events: list[Event]) -> list[Error]:
    return [e for e in events if isinstance(e, Error)]


def _done(events: list[Event]) -> list[ResponseDone]:
    return [e for e in events if isinstance(e, ResponseDone)]


# ------------------------------------------------------------------------------------------ backend, ASR, VAD (fakes)
async def test_backend_raising_mid_answer_fails_that_response_and_the_next_question_is_answered() -> None:
    faults = Faults()
    faults.arm("answer")
    session, _ = _session(faults)
    events = await run_collect(session, [ScheduledTextSource([(0.0, "what is on the shelf"), (1.0, "and now")])])
    first, second = _done(events)
    assert (first.status, first.text) == ("failed", "answer to")  # what was delivered before the fault is kept
    assert "CUDA error: device-side assert triggered" in first.reason
    (error,) = _errors(events)
    assert error.source == "backend" and "answering failed" in error.message and "CUDA error" in error.message
    assert not error.fatal
    assert (second.status, second.text) == ("completed", "answer to and now")
    assert events[-1].type == "session.ended" and events[-1].reason == "sources exhausted"


async def test_backend_raising_during_ingest_is_reported_and_later_input_still_arrives() -> None:
    faults = Faults()
    faults.arm("frame")
    faults.arm("audio")
    session, context = _session(faults)
    frames = [VideoFrame(t=i * 0.5, image=np.zeros((4, 4, 3), np.uint8)) for i in range(4)]
    events = await run_collect(
        session,
        [ScriptedSource("cam", "video", frames), audio_timeline(1.0, []), ScheduledTextSource([(1.5, "still ok?")])],
    )
    messages = sorted(e.message for e in _errors(events))
    assert messages == [
        "ingesting audio failed: RuntimeError: audio encoder crashed",
        "ingesting the frame at 0.00 s failed: RuntimeError: frame buffer corrupted",
    ]
    assert {e.source for e in _errors(events)} == {"backend"}
    assert context.frames == [0.5, 1.0, 1.5]  # only the faulty frame is missing
    assert context.audio_chunks > 0
    assert [d.status for d in _done(events)] == ["completed"]


async def test_asr_failing_on_one_utterance_reports_it_and_the_next_utterance_is_transcribed() -> None:
    faults = Faults()
    faults.arm("asr", 2)  # the speculative transcription at the pause and the final one both fail
    session, context = _session(faults, ["what colour is the door"])
    events = await run_collect(session, [audio_timeline(6.0, [(1.0, 2.0), (3.5, 4.5)])])
    (error,) = _errors(events)
    assert error.source == "asr"
    assert error.message.startswith("transcribing the utterance at 1.0")
    assert "whisper decoder produced NaN logits" in error.message
    transcripts = [e for e in events if isinstance(e, Transcript)]
    assert [(round(e.start), e.text) for e in transcripts] == [(4, "what colour is the door")]
    assert [d.status for d in _done(events)] == ["completed"]
    assert context.transcripts[0][2] == "what colour is the door"


async def test_backend_failing_to_store_a_transcript_still_answers_the_spoken_question() -> None:
    faults = Faults()
    faults.arm("transcript")
    session, context = _session(faults, ["where are my keys"])
    events = await run_collect(session, [audio_timeline(4.0, [(1.0, 2.0)])])
    (error,) = _errors(events)
    assert error.source == "backend" and "transcript store full" in error.message
    assert "1.0" in error.message  # names the utterance
    assert [e.text for e in events if isinstance(e, QueryAccepted)] == ["where are my keys"]
    assert [d.status for d in _done(events)] == ["completed"]
    assert context.transcripts == []


async def test_vad_failing_is_reported_once_and_speech_after_it_recovers_is_heard() -> None:
    faults = Faults()
    faults.arm("vad", 3)
    session, context = _session(faults, ["is anyone there"])
    events = await run_collect(session, [audio_timeline(4.0, [(1.0, 2.0)])])
    (error,) = _errors(events)
    assert error.source == "vad" and "onnxruntime: invalid state tensor" in error.message
    assert "voice detection failed" in error.message
    assert [e.text for e in events if isinstance(e, Transcript)] == ["is anyone there"]
    assert context.audio_chunks == 125  # every chunk reached the backend, the failed ones included


async def test_gate_failing_on_an_utterance_is_reported_and_the_next_one_is_decided() -> None:
    class FlakyGate(AnswerEverything):
        calls = 0

        def decide(self, text: str, **kwargs: object) -> GateDecision:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("gate model weights missing")
            return super().decide(text, **kwargs)  # type: ignore[arg-type]

    context = ScriptedBackendContext()
    transcriber = ScriptedTranscriber(["pass the salt", "what time is it"])
    session = Session(
        context, clock=ReplayClock("fast"), vad=ScriptedVad(), transcriber=transcriber, policy=FlakyGate()
    )
    events = await run_collect(session, [audio_timeline(6.0, [(1.0, 2.0), (3.5, 4.5)])])
    (error,) = _errors(events)
    assert (
        error.source == "gate" and "'pass the salt'" in error.message and "gate model weights missing" in error.message
    )
    ignored = [e for e in events if isinstance(e, QueryIgnored)]
    assert [(e.text, e.reason) for e in ignored] == [("pass the salt", "gate failed")]
    assert [e.text for e in events if isinstance(e, QueryAccepted)] == ["what time is it"]
    assert context.transcripts[0][2] == "pass the salt"  # the transcript was kept all the same


async def test_backend_failing_to_close_still_ends_the_session_cleanly() -> None:
    faults = Faults()
    faults.arm("close")
    session, context = _session(faults)
    events = await run_collect(session, [ScheduledTextSource([(0.0, "bye")])])
    (error,) = _errors(events)
    assert error.source == "backend" and "device lost while freeing the cache" in error.message
    assert events[-1].type == "session.ended"
    assert context.closed and [d.status for d in _done(events)] == ["completed"]


@pytest.mark.parametrize("live", [False, True])
async def test_a_source_raising_an_unexpected_exception_names_itself(live: bool) -> None:
    class Unplugged(ScriptedSource):
        async def items(self, now: Callable[[], float]) -> AsyncIterator[StreamItem]:
            async for item in super().items(now):
                yield item
            raise OSError("[Errno 19] No such device")

    frames = [VideoFrame(t=i * 0.5, image=np.zeros((4, 4, 3), np.uint8)) for i in range(2)]
    session, context = _session(Faults())
    events = await run_collect(
        session, [Unplugged("webcam:1", "video", frames, live=live), ScheduledTextSource([(2.0, "hello")])]
    )
    (error,) = _errors(events)
    assert error.source == "webcam:1" and "OSError: [Errno 19] No such device" in error.message
    assert len(context.frames) == 2 and [d.status for d in _done(events)] == ["completed"]


# ------------------------------------------------------------------------------------------ camera and video files
def _clip(path: Path, seconds: float = 4.0, *, audio: bool = True) -> Path:
    """A 10 fps clip (moving grey level) with a tone on its audio track."""
    frames = [np.full((96, 128, 3), (i * 9) % 255, np.uint8) for i in range(round(seconds * 10))]
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    track = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32) if audio else None
    return write_media(path, frames, 10, audio=track)


def _faststart_truncated(clip: Path, out: Path, keep: float) -> Path:
    """``clip`` with its index moved to the front, cut after ``keep`` of its bytes (a download that broke off)."""
    whole = out.with_suffix(".whole.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-c", "copy", "-movflags", "+faststart", str(whole)],
        check=True,
    )
    data = whole.read_bytes()
    out.write_bytes(data[: int(len(data) * keep)])
    return out


async def test_camera_disappearing_mid_stream_is_reported_and_audio_and_text_go_on(tmp_path: Path) -> None:
    # the "camera" is a device path that delivers a few frames and then nothing, as an unplugged USB camera does
    camera = WebcamSource(str(_clip(tmp_path / "cam.mp4", 1.0, audio=False)), fps=50)
    context = ScriptedBackendContext()
    session = Session(context, clock=LiveClock(), vad=ScriptedVad(), transcriber=ScriptedTranscriber([]))
    events = await run_collect(session, [camera, audio_timeline(1.0, []), ScheduledTextSource([(0.3, "still there?")])])
    (error,) = _errors(events)
    assert error.source == camera.name and not error.fatal
    assert error.message == f"{camera.name}: camera stopped delivering frames; continuing with the other streams"
    assert context.frames  # what the camera gave before it went is kept
    assert context.audio_chunks == 31
    assert [(d.status, d.text) for d in _done(events)] == [("completed", "answer to still there?")]


async def test_truncated_and_corrupted_video_files_keep_their_good_frames_and_name_the_damage(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    broken = _faststart_truncated(clip, tmp_path / "broken.mp4", keep=0.6)
    data = bytearray(clip.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    for path in (broken, damaged):
        context = ScriptedBackendContext()
        session = Session(context, clock=ReplayClock("fast"))
        sources = [VideoFileSource(str(path)), AudioFileSource(str(path)), ScheduledTextSource([(3.6, "what now?")])]
        events = await run_collect(session, sources)
        by_source = {e.source: e.message for e in _errors(events)}
        video = by_source[f"video:{path.name}"]
        assert "frames could not be decoded" in video and "the file is truncated or corrupt" in video
        assert str(path) in video
        assert "damaged audio packet(s) skipped" in by_source[f"audio:{path.name}"]
        assert context.frames[:4] == [0.0, 0.5, 1.0, 1.5]  # everything before the damage arrived
        assert [d.status for d in _done(events)] == ["completed"]
        assert events[-1].type == "session.ended"
    # after damage mid-file the decoders pick up again: the rest of the picture and the sound is not lost
    assert context.frames[-1] == 3.5 and context.audio_chunks == 126


# ------------------------------------------------------------------------------------------ the real models
class FailsOnce:
    """A real transcriber whose first call raises (a transient inference fault)."""

    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber = transcriber
        self.calls = 0

    def transcribe(self, samples: np.ndarray) -> str:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CTranslate2: out of memory")
        return self.transcriber.transcribe(samples)


@pytest.mark.e2e
async def test_real_cascade_session_survives_whisper_failing_on_one_utterance(tmp_path: Path) -> None:
    audio = place(
        8.0, [(0.5, speak("What colour is the screen?")), (4.5, speak("Please read the text on the screen."))]
    )
    clip = write_media(tmp_path / "screen.mp4", screen_frames(8), 1, audio=audio)
    options = SessionOptions(vad=VadOptions(early_asr_ms=0), response=ResponseOptions(max_new_tokens=12))
    config = EngineConfig(backend="cascade", speech=True, policy=AnswerEverything(), options=options)
    session = await open_session(config, ReplayClock("fast"))
    assert session.transcriber is not None
    session.transcriber = FailsOnce(session.transcriber)  # one call per utterance: early transcription is off
    events = await run_collect(session, [VideoFileSource(str(clip), fps=0.5), AudioFileSource(str(clip))])
    (error,) = _errors(events)
    assert error.source == "asr" and error.message.startswith("transcribing the utterance at 0.")
    assert "RuntimeError: CTranslate2: out of memory" in error.message
    (transcript,) = [e for e in events if isinstance(e, Transcript)]
    assert transcript.start > 4.0 and "read the text" in transcript.text.lower()
    (done,) = _done(events)
    assert done.status == "completed" and done.text.strip()
    assert events[-1].type == "session.ended"


# ------------------------------------------------------------------------------------------ clients going away
WORDS = 300  # a scripted answer of 300 words at 10 ms each: 3 s of decoding, long enough to cut it off


class ScriptedSessions:
    """What interfaces open instead of the real engine: sessions over slow scripted backends with faults on demand."""

    def __init__(self) -> None:
        self.contexts: list[FaultyContext] = []
        self.faults = Faults()

    async def open(self, config: EngineConfig, clock: Clock, *, session_id: str | None = None) -> Session:
        context = FaultyContext(self.faults, words_per_answer=WORDS, seconds_per_word=0.01)
        self.contexts.append(context)
        return Session(context, clock=clock, backend_name="scripted", options=config.options, session_id=session_id)


@pytest.fixture
def slow_sessions(monkeypatch: pytest.MonkeyPatch) -> ScriptedSessions:
    sessions = ScriptedSessions()
    monkeypatch.setattr("app.live.open_session", sessions.open)
    return sessions


def _ws_text(text: str) -> list[str]:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return [json.dumps({"type": "conversation.item.create", "item": item}), json.dumps({"type": "response.create"})]


async def _ws_next(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    async def scan() -> dict[str, Any]:
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event

    return await asyncio.wait_for(scan(), 30)


async def test_websocket_client_vanishing_mid_answer_stops_its_decode_and_spares_the_other_session(
    slow_sessions: ScriptedSessions,
) -> None:
    server = RealtimeServer(SessionManager(EngineConfig(speech=False)), ServerOptions(port=0, speak=False))
    await server.start()
    url = f"ws://127.0.0.1:{server.port}/v1/realtime"
    try:
        async with websockets.connect(url) as other, websockets.connect(url) as gone:
            gone_id = (await _ws_next(gone, "session.created"))["session"]["id"]
            other_id = (await _ws_next(other, "session.created"))["session"]["id"]
            live = server.manager.sessions[gone_id]
            events = live.session.subscribe()
            for message in _ws_text("And what do you hear?"):
                await other.send(message)
            await _ws_next(other, "response.output_text.delta")
            for message in _ws_text("Describe everything you see."):
                await gone.send(message)
            await _ws_next(gone, "response.output_text.delta")
            gone.transport.abort()  # the client's network drops: no close frame
            await asyncio.wait_for(live.task, 10)
            seen = [event async for event in events]
            (done,) = [e for e in seen if isinstance(e, ResponseDone)]
            assert done.status == "cancelled" and 0 < len(done.text.split()) < WORDS
            assert seen[-1].type == "session.ended"
            context = live.session.context
            assert context in slow_sessions.contexts
            assert context.closed and context.steps_after_cancel <= 1  # decoding really stopped
            assert gone_id not in server.manager.sessions
            finished = await _ws_next(other, "response.done")
            assert finished["response"]["status"] == "completed"
            text = finished["response"]["output"][0]["content"][0]["text"]
            assert len(text.split()) == WORDS
            assert other_id in server.manager.sessions
    finally:
        await server.close()


async def test_websocket_client_sees_a_backend_fault_as_a_failed_response_and_can_ask_again(
    slow_sessions: ScriptedSessions,
) -> None:
    server = RealtimeServer(SessionManager(EngineConfig(speech=False)), ServerOptions(port=0, speak=False))
    await server.start()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/realtime") as ws:
            await _ws_next(ws, "session.created")
            slow_sessions.faults.arm("answer")
            for message in _ws_text("What is in the fridge?"):
                await ws.send(message)
            error = (await _ws_next(ws, "error"))["error"]
            assert (error["type"], error["code"]) == ("server_error", "engine_backend")
            assert "CUDA error: device-side assert triggered" in error["message"]
            failed = (await _ws_next(ws, "response.done"))["response"]
            assert failed["status"] == "failed" and "CUDA error" in failed["status_details"]["error"]["message"]
            for message in _ws_text("Try again?"):
                await ws.send(message)
            assert (await _ws_next(ws, "response.done"))["response"]["status"] == "completed"
    finally:
        await server.close()


DEVICE = """
import sys
import paho.mqtt.client as mqtt
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="door-device")
client.will_set(sys.argv[2], b'{"command": "end"}', qos=1)
client.on_connect = lambda *args: print("connected", flush=True)
client.connect("127.0.0.1", int(sys.argv[1]), keepalive=60)
client.loop_forever()
"""


@needs_mosquitto
async def test_mqtt_device_dying_mid_answer_ends_its_session_and_a_cancel_leaves_the_session_usable(
    slow_sessions: ScriptedSessions, tmp_path: Path
) -> None:
    broker = Mosquitto.anonymous(tmp_path)
    broker.start()
    listener = Listener(broker.port)
    device = subprocess.Popen(
        [sys.executable, "-c", DEVICE, str(broker.port), "omnistream/door/in/command"],
        stdout=subprocess.PIPE,
        text=True,
    )
    options = BridgeOptions(port=broker.port, reconnect_min_s=0.1, keepalive_s=5)
    try:
        async with running_bridge(SessionManager(EngineConfig(speech=False)), options) as bridge:
            assert device.stdout is not None and device.stdout.readline().strip() == "connected"
            await listener.start()
            await asyncio.wait_for(bridge.connected.wait(), 10)
            await listener.publish("omnistream/door/in/text", "Who is at the door?")
            await listener.publish("omnistream/hall/in/text", "Is the hall light on?")
            for session in ("door", "hall"):
                await listener.wait_for(lambda t, p, s=session: t == f"omnistream/{s}/out/delta", timeout=30)
            door, hall = bridge.sessions["door"], bridge.sessions["hall"]
            device.kill()  # the device dies: the broker publishes its will, an end command for its session
            await asyncio.wait_for(door.task, 10)
            _, cut = await listener.wait_for(lambda t, p: t == "omnistream/door/out/interrupted", timeout=10)
            assert cut["status"] == "cancelled" and 0 < len(cut["text"].split()) < WORDS
            _, status = await listener.wait_for(
                lambda t, p: t == "omnistream/door/out/status" and p["state"] == "closed", timeout=10
            )
            assert status["reason"] == "stopped"
            assert door.session.context.closed and door.session.context.steps_after_cancel <= 1
            # the hall's answer is cancelled by a stop command, and the hall session answers the next question in full
            await listener.publish("omnistream/hall/in/command", json.dumps({"command": "cancel"}))
            _, cut = await listener.wait_for(lambda t, p: t == "omnistream/hall/out/interrupted", timeout=10)
            assert cut["status"] == "cancelled" and cut["reason"] == "cancelled over MQTT"
            assert hall.session.context.steps_after_cancel <= 1
            await listener.publish("omnistream/hall/in/text", "And now?")
            _, answer = await listener.wait_for(lambda t, p: t == "omnistream/hall/out/answer", timeout=30)
            assert answer["status"] == "completed" and len(answer["text"].split()) == WORDS
    finally:
        device.kill()
        device.wait()
        await listener.stop()
        broker.stop()
