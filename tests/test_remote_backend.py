"""The ``remote`` backend against a real OpenAI-compatible server: llama.cpp's (``llama-cpp-python[server]``)
serving the shipped SmolLM2-135M GGUF on loopback. SmolLM2 reads no images, so frames are off (``max_images=0``)
except where a test checks the request's media parts themselves."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import skimage.data
from PIL import Image

from app.sample import QUESTION, sample_clip
from engine.backends.base import AnswerRequest
from engine.backends.remote.backend import RemoteBackend, RemoteContext
from engine.backends.remote.client import RemoteError
from engine.backends.remote.options import RemoteOptions
from engine.cancel import CancelToken
from engine.events import Error, QueryAccepted, ResponseDone
from engine.runtime import EngineConfig, open_session
from engine.session import Session
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.items import VideoFrame
from streams.text import ScheduledTextSource
from streams.video import VideoFileSource
from tests.servers import LlamaServer, free_port
from tests.timeline import run_collect

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
    """Tokens each finished request generated, from llama.cpp's own timing lines ("eval time = ... / N runs")."""
    return [int(n) for n in re.findall(r"(?<!prompt )eval time =.*?/\s*(\d+) runs", log.read_text(errors="replace"))]


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


def test_requests_keep_a_stable_prefix_and_carry_jpeg_frames() -> None:
    ctx = RemoteContext("m", RemoteOptions(max_images=2, image_size=64))
    photo = skimage.data.astronaut()
    for t in (0.0, 1.0, 2.0, 3.0):
        ctx.ingest_frame(VideoFrame(t=t, image=photo))
    ctx.ingest_transcript(1.0, 2.0, "look at the rocket")
    first = ctx.messages(AnswerRequest(query="Who is this?", t=3.0))
    second = ctx.messages(AnswerRequest(query="What is behind them?", t=3.0))
    assert first[:-1] == second[:-1] and first[-1]["content"][:-1] == second[-1]["content"][:-1]
    images = [p for p in first[-1]["content"] if p["type"] == "image_url"]
    assert len(images) == 2
    data = images[0]["image_url"]["url"].removeprefix("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(data)))
    assert decoded.format == "JPEG" and max(decoded.size) == 64
