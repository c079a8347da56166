"""The ``remote`` backend against a real OpenAI-compatible server: llama.cpp's (``llama-cpp-python[server]``)
serving the shipped SmolLM2-135M GGUF on loopback. SmolLM2 reads no images, so frames are off (``max_images=0``)
except where a test checks the request's media parts themselves."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from PIL import Image

from app.sample import QUESTION, sample_clip
from benchmarks.llama_server import LlamaServer
from engine.backends.base import AnswerRequest, Turn
from engine.backends.remote.backend import RemoteBackend, RemoteContext
from engine.backends.remote.client import RemoteError
from engine.backends.remote.options import RemoteOptions
from engine.cancel import CancelToken
from engine.events import Error, Event, QueryAccepted, ResponseDelta, ResponseDone, ResponsePaused
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig, open_session
from engine.session import Session
from streams.audio import AudioFileSource
from streams.clock import LiveClock, ReplayClock
from streams.items import SAMPLE_RATE, VideoFrame
from streams.push import PushSource
from streams.synth import speak
from streams.text import ScheduledTextSource
from streams.video import VideoFileSource
from tests.servers import BodyLimitProxy, free_port
from tests.timeline import ScriptedSource, run_collect

LONG = "Write a long story about a dragon who learns to bake bread, with many chapters."


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = LlamaServer(tmp_path_factory.mktemp("llama"))
    server.start()
    yield server
    server.stop()


def context(base_url: str, model: str = LlamaServer.ALIAS, **options: object) -> RemoteContext:
    backend = RemoteBackend(model=model)
    backend.load()
    settings: dict[str, Any] = {"max_images": 0, "retries": 1, "backoff_s": 0.1, **options}
    return backend.open_context(RemoteOptions(base_url=base_url, **settings))


def generated_tokens(log: Path) -> list[int]:
    """Tokens each finished request generated, from llama.cpp's own timing lines ("eval time = ... / N runs"), which
    it prints when a generation ends (end of text or max_tokens), never for one it abandoned."""
    return [int(n) for n in re.findall(r"(?<!prompt )eval time =.*?/\s*(\d+) runs", log.read_text(errors="replace"))]


def disconnects(log: Path) -> int:
    """Streams llama.cpp's server saw the client close before it had sent them in full."""
    return log.read_text(errors="replace").count("Disconnected from client")


def remote_config(
    base_url: str, *, speech: bool, max_new_tokens: int, context_seconds: float | None = None, **options: Any
) -> EngineConfig:
    settings: dict[str, Any] = {"max_images": 0, "retries": 1, "backoff_s": 0.1, **options}
    response = ResponseOptions(max_new_tokens=max_new_tokens, context_seconds=context_seconds)
    return EngineConfig(
        backend="remote",
        model=LlamaServer.ALIAS,
        speech=speech,
        options=SessionOptions(response=response),
        backend_options=RemoteOptions(base_url=base_url, **settings),
    )


async def next_event(events: AsyncIterator[Event], kind: type, timeout: float = 60) -> Any:
    """The next event of ``kind`` from a session's event stream (the others are passed over)."""

    async def scan() -> Event:
        async for event in events:
            if isinstance(event, kind):
                return event
        raise AssertionError(f"the session ended before a {kind.__name__}")

    return await asyncio.wait_for(scan(), timeout)


@pytest.mark.e2e
async def test_spoken_question_over_the_video_is_answered_by_the_server(llama: LlamaServer) -> None:
    config = EngineConfig(
        backend="remote",
        model=LlamaServer.ALIAS,
        options=EngineConfig().options,
        backend_options=RemoteOptions(base_url=llama.base_url, max_images=0),
    )
    session = await open_session(config, ReplayClock("fast"))
    clip = str(sample_clip())
    events = await run_collect(session, [VideoFileSource(clip), AudioFileSource(clip)])

    queries = [e for e in events if isinstance(e, QueryAccepted)]
    assert len(queries) == 1 and "written on the screen" in queries[0].text.lower(), QUESTION
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert [d.status for d in done] == ["completed"]
    assert done[0].text.strip() and done[0].ttft_ms is not None
    assert not [e for e in events if isinstance(e, Error)]


@pytest.mark.e2e
async def test_speaking_over_the_answer_aborts_the_servers_generation(llama: LlamaServer) -> None:
    """A long answer streams from the server; once its first words arrive the user talks over it (espeak-ng speech
    into a live microphone source, through Silero VAD): the response is interrupted, its HTTP stream closed, and
    llama.cpp abandons the generation."""
    before, dropped = len(generated_tokens(llama.log)), disconnects(llama.log)
    clock = LiveClock()
    session = await open_session(remote_config(llama.base_url, speech=True, max_new_tokens=400), clock)
    mic = PushSource("audio", "mic", now=clock.now)
    events = session.subscribe()
    running = asyncio.create_task(session.run([mic]))
    talk = asyncio.Event()

    async def microphone(words: np.ndarray, block: int = SAMPLE_RATE // 10) -> None:
        """Silence in real time, and the words once ``talk`` is set."""
        pending, said = np.zeros(0, np.float32), False
        while True:
            if talk.is_set() and not said:
                pending, said = np.concatenate([pending, words]), True
            out, pending = pending[:block], pending[block:]
            mic.push_audio(np.pad(out, (0, block - len(out))))
            await asyncio.sleep(block / SAMPLE_RATE)

    talking = asyncio.create_task(microphone(speak("Stop, stop, that is enough, thank you.")))
    try:
        session.submit_text(LONG)
        await next_event(events, ResponseDelta)
        talk.set()
        paused: ResponsePaused = await next_event(events, ResponsePaused)
        done: ResponseDone = await next_event(events, ResponseDone)
        assert done.status == "interrupted" and done.reason.startswith("barge-in"), done
        assert done.text.strip() and paused.t < done.t  # it was streaming when the user spoke, and was cut
        deadline = time.monotonic() + 10
        while disconnects(llama.log) == dropped and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert disconnects(llama.log) == dropped + 1  # the server saw the interrupted stream go
    finally:
        await session.stop()
        talking.cancel()
        mic.end()
        await running
    # the server takes one request at a time: when this one is through, an interrupted generation still running
    # would have finished (and reported its timings) before it; only this one's are there
    after = context(llama.base_url)
    assert "".join(after.answer(AnswerRequest(query="Say hi.", t=1.0, max_new_tokens=8), CancelToken())).strip()
    after.close()
    assert len(generated_tokens(llama.log)[before:]) == 1


async def test_a_server_killed_mid_answer_is_an_error_event_and_the_restarted_server_answers_the_session(
    tmp_path: Path,
) -> None:
    server = LlamaServer(tmp_path)
    server.start()
    try:
        clock = LiveClock()
        session = await open_session(remote_config(server.base_url, speech=False, max_new_tokens=400), clock)
        camera = PushSource("video", "camera", now=clock.now)
        events = session.subscribe()
        running = asyncio.create_task(session.run([camera]))
        session.submit_text(LONG)
        await next_event(events, ResponseDelta)
        await asyncio.to_thread(server.kill)  # SIGKILL mid-answer
        error: Error = await next_event(events, Error)
        assert error.source == "backend" and server.base_url in error.message
        assert re.search(r"the stream broke off|cannot connect", error.message), error.message
        failed: ResponseDone = await next_event(events, ResponseDone)
        assert failed.status == "failed" and failed.text.strip()  # what arrived before the crash was delivered
        await asyncio.to_thread(server.start)
        session.submit_text("Say hello.")
        answered: ResponseDone = await next_event(events, ResponseDone)
        assert answered.status == "completed" and answered.text.strip()
        camera.end()
        assert await running
    finally:
        server.stop()


async def test_frames_too_large_for_the_server_are_named_and_the_next_answer_tries_again(llama: LlamaServer) -> None:
    """llama.cpp's server reads no images and takes bodies of any size, so the refusal comes from a body-limiting
    proxy in front of it, as nginx's 413 would: the error names the server, the status, the proxy's page and the
    options that shrink the frames; the next question, with no frame in its context, is answered through it."""
    noise = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)  # JPEG barely compresses it
    with BodyLimitProxy(llama.base_url.removesuffix("/v1"), limit=256 * 1024) as proxy:
        config = remote_config(
            proxy.base_url, speech=False, max_new_tokens=8, context_seconds=3, max_images=1, image_size=1920
        )
        session = await open_session(config, ReplayClock("fast"))
        camera = ScriptedSource("camera", "video", [VideoFrame(t=0.5, image=noise)])
        questions = ScheduledTextSource([(1.0, "What is in the picture?"), (10.0, "Say hello.")])
        events = await run_collect(session, [camera, questions])
    (error,) = [e for e in events if isinstance(e, Error)]
    assert proxy.base_url in error.message and "HTTP 413: 413 Request Entity Too Large" in error.message
    assert re.search(
        r"the request was \d+ KiB with 1 frame\(s\) of up to 1920 px: send fewer or smaller", error.message
    )
    assert "--max-images, --image-size" in error.message
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert [d.status for d in done] == ["failed", "completed"] and done[1].text.strip() and proxy.refused == 1


def test_cancel_closes_the_stream_and_the_server_stops_generating(llama: LlamaServer) -> None:
    ctx = context(llama.base_url)
    before = len(generated_tokens(llama.log))
    dropped = llama.log.read_text(errors="replace").count("Disconnected from client")
    token = CancelToken()
    answer = ctx.answer(AnswerRequest(query=LONG, t=1.0, max_new_tokens=400), token)
    pieces = [next(answer) for _ in range(3)]
    token.cancel("barge-in")
    assert list(answer) == []  # the next pull sees the cancel and closes the stream
    assert all(pieces)
    ctx.close()

    uncut = context(llama.base_url)  # the server takes one request at a time: this one runs after the aborted one
    text = "".join(uncut.answer(AnswerRequest(query=LONG, t=1.0, max_new_tokens=120), CancelToken()))
    uncut.close()
    log = llama.log.read_text(errors="replace")
    assert log.count("Disconnected from client") == dropped + 1  # the server saw the cancelled stream go
    assert generated_tokens(llama.log)[before:] == [120] and text  # and never finished generating its 400 tokens


def test_server_killed_mid_answer_is_an_error_and_the_restarted_server_answers(tmp_path: Path) -> None:
    server = LlamaServer(tmp_path)
    server.start()
    try:
        ctx = context(server.base_url)
        answer = ctx.answer(AnswerRequest(query=LONG, t=1.0, max_new_tokens=400), CancelToken())
        assert next(answer)
        server.kill()
        with pytest.raises(RemoteError, match=rf"{re.escape(server.base_url)}.*(broke off|cannot connect)"):
            list(answer)
        with pytest.raises(RemoteError, match="cannot connect"):
            list(ctx.answer(AnswerRequest(query="Say hello.", t=2.0), CancelToken()))
        server.start()
        again = "".join(ctx.answer(AnswerRequest(query="Say hello.", t=3.0, max_new_tokens=16), CancelToken()))
        assert again.strip()
        ctx.close()
    finally:
        server.stop()


async def test_a_server_that_does_not_answer_gives_error_events_and_the_session_goes_on() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    ctx = context(base_url)
    session = Session(ctx, clock=ReplayClock("fast"), backend_name="remote")
    events = await run_collect(session, [ScheduledTextSource([(0.5, "What is on the screen?"), (1.5, "And now?")])])
    errors = [e for e in events if isinstance(e, Error)]
    assert len(errors) == 2 and all(base_url in e.message and "cannot connect" in e.message for e in errors)
    assert [d.status for d in events if isinstance(d, ResponseDone)] == ["failed", "failed"]
    assert events[-1].type == "session.ended"


def test_a_model_the_server_does_not_serve_is_named(llama: LlamaServer) -> None:
    ctx = context(llama.base_url, model="gpt-17")
    with pytest.raises(RemoteError, match=r"'gpt-17'.*does not serve this model; it serves: smollm2"):
        list(ctx.answer(AnswerRequest(query="Hi", t=0.0), CancelToken()))


def test_an_http_error_and_a_failed_stream_are_named_and_the_next_answer_works(llama: LlamaServer) -> None:
    wrong_root = context(llama.base_url.removesuffix("/v1"))  # no /v1: the server has no such path
    with pytest.raises(RemoteError, match=r"HTTP 404: Not Found"):
        list(wrong_root.answer(AnswerRequest(query="Hi", t=0.0), CancelToken()))
    ctx = context(llama.base_url)
    too_long = "word " * 5000  # beyond the server's 2048-token context: llama.cpp fails inside the stream and ends
    # it with no event, cleanly or mid-chunk depending on timing
    with pytest.raises(RemoteError, match=r"closed the stream without sending any chat-completions event|broke off"):
        list(ctx.answer(AnswerRequest(query=too_long, t=0.0), CancelToken()))
    assert "".join(ctx.answer(AnswerRequest(query="Say hi.", t=1.0, max_new_tokens=8), CancelToken())).strip()


def test_a_server_that_answers_garbage_is_named(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "models").write_text("<html>not an API</html>")
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ctx = context(f"http://127.0.0.1:{port}/v1", retries=20)
        with pytest.raises(RemoteError, match=r"not JSON: '<html>not an API"):
            list(ctx.answer(AnswerRequest(query="Hi", t=0.0), CancelToken()))
    finally:
        web.terminate()
        web.wait(timeout=10)


def test_the_model_gate_reads_yes_no_logprobs_from_the_server(llama: LlamaServer) -> None:
    ctx = context(llama.base_url)
    p = ctx.judge_addressed("Hey assistant, what colour is the car?", 1.0, 2.5)
    assert 0.0 < p < 1.0  # both "yes" and "no" were among the server's top first tokens


def test_each_request_repeats_the_last_one_before_its_media_and_carries_jpeg_frames() -> None:
    text_only = RemoteContext("m", RemoteOptions(max_images=0))
    text_only.ingest_transcript(1.0, 2.0, "look at the rocket")
    first = text_only.messages(AnswerRequest(query="Who is this?", t=3.0))
    text_only.ingest_transcript(4.0, 5.0, "it is taking off")
    asked = (Turn("user", "Who is this?", 3.0), Turn("assistant", "An astronaut.", 3.5))
    second = text_only.messages(AnswerRequest(query="What is behind them?", t=6.0, history=asked))
    assert second[: len(first)] == first  # the whole first request, unchanged: a prefix cache covers it
    assert second[len(first)] == {"role": "assistant", "content": "An astronaut."}
    assert "taking off" in second[-1]["content"] and "rocket" not in second[-1]["content"]

    ctx = RemoteContext("m", RemoteOptions(max_images=2, image_size=64))
    photo = skimage.data.astronaut()
    for t in (0.0, 1.0, 2.0, 3.0):
        ctx.ingest_frame(VideoFrame(t=t, image=photo))
    ctx.ingest_transcript(1.0, 2.0, "look at the rocket")
    with_frames = ctx.messages(AnswerRequest(query="Who is this?", t=3.0))
    parts = with_frames[-1]["content"]
    assert [p["type"] for p in parts] == ["text", "text", "image_url", "text", "image_url", "text"]
    texts = [p["text"] for p in parts if p["type"] == "text" and not p["text"].startswith("Frame at")]
    assert "\n\n".join(texts) == first[-1]["content"]  # as the next request repeats it: the same, less the frames
    images = [p for p in parts if p["type"] == "image_url"]
    data = images[0]["image_url"]["url"].removeprefix("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(data)))
    assert decoded.format == "JPEG" and max(decoded.size) == 64


def test_the_remote_ttft_benchmark_runs_and_the_stable_prefix_is_computed_once(tmp_path: Path) -> None:
    from benchmarks.bench_remote import main

    out = tmp_path / "remote.json"
    tiny = ["--ages", "10", "20", "--repeats", "1", "--max-new-tokens", "2", "--machine", "shared"]
    report = main([*tiny, "--json", str(out)])
    assert json.loads(out.read_text()) == report and set(report["ratio"]) == {"stable", "moving"}
    stable, moving = report["results"]["stable"]["20"], report["results"]["moving"]["20"]
    # the follow-up question: with the stable prefix the server computes only what is new since the cold question
    assert stable["tokens"] < moving["tokens"] and moving["tokens"] >= moving["cold_tokens"]


def test_old_speech_and_old_dialogue_leave_the_front_in_blocks_so_most_requests_share_a_prefix() -> None:
    """Timeline: a remark every 6 s, a 60 s window left in 30 s steps; questions at 200 s and 206 s share the whole
    first request; at 212 s the window's start moves a whole step and the oldest remarks go at once. The dialogue:
    the session passes its newest 4 turns; once the oldest one carried is no longer passed, the newer half stays."""
    ctx = RemoteContext("m", RemoteOptions(max_images=0, window_seconds=60.0, prefix_step_s=30.0))
    for t in range(0, 200, 6):
        ctx.ingest_transcript(t, t + 1.0, f"remark at {t}")
    first = ctx.messages(AnswerRequest(query="What was said?", t=200.0))
    assert "remark at 120" in first[-1]["content"] and "remark at 114" not in first[-1]["content"]
    ctx.ingest_transcript(203.0, 204.0, "remark at 203")
    asked = (Turn("user", "What was said?", 200.0), Turn("assistant", "Remarks.", 200.5))
    second = ctx.messages(AnswerRequest(query="And then?", t=206.0, history=asked))
    assert second[: len(first)] == first  # 146 s and 140 s ago fall in the same 30 s step: nothing left the front
    ctx.ingest_transcript(209.0, 210.0, "remark at 209")
    third = ctx.messages(AnswerRequest(query="Anything else?", t=212.0, history=asked))
    assert third[1]["content"] != first[-1]["content"] and "remark at 144" not in third[1]["content"]
    assert "remark at 150" in third[1]["content"]  # the start moved from 120 s to 150 s in one step

    dialogue = RemoteContext("m", RemoteOptions(max_images=0))
    turns = [Turn("user" if i % 2 == 0 else "assistant", f"turn {i}", float(i)) for i in range(12)]

    def carried(upto: int) -> list[str]:
        request = AnswerRequest(query="next?", t=float(upto), history=tuple(turns[max(0, upto - 4) : upto]))
        return [m["content"].split("\n\n")[-1] for m in dialogue.messages(request)[1:-1]]

    assert carried(2) == ["Question at 0.0 s: turn 0", "turn 1"]
    assert carried(4) == ["Question at 0.0 s: turn 0", "turn 1", "Question at 2.0 s: turn 2", "turn 3"]
    # turn 0 is no longer passed: the newer half (from its first question) stays, and grows again from there
    assert carried(6) == ["Question at 4.0 s: turn 4", "turn 5"]
    assert carried(8) == ["Question at 4.0 s: turn 4", "turn 5", "Question at 6.0 s: turn 6", "turn 7"]
    assert carried(10) == ["Question at 8.0 s: turn 8", "turn 9"]
