"""Bad input on every interface, beyond what each interface's own tests cover: the websocket API, MQTT payloads, the
Gradio demo's endpoints, the command line's files and StreamingBench files. Each bad input gets a message naming the
problem, and what was accepted before it (a question already asked) is still answered."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import websockets
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from app.gradio_demo import RunningDemo, start
from app.live import SessionManager
from app.mqtt_bridge import BridgeOptions
from app.ws_server import RealtimeServer, ServerOptions
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig
from eval.loader import load_annotations
from streams.images import ImageError, decode_image, image_size
from streams.synth import write_media
from tests.servers import MOSQUITTO, Listener, Mosquitto, free_port, running_bridge
from tests.test_gradio_demo import ApiPage, answered

needs_mosquitto = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed (apt)")

TEXT_ONLY = EngineConfig(
    backend="cascade", speech=False, options=SessionOptions(response=ResponseOptions(max_new_tokens=12))
)


def _png_header(width: int, height: int) -> bytes:
    """The first bytes of a PNG claiming ``width`` x ``height`` pixels (what a decompression bomb looks like)."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + len(ihdr).to_bytes(4, "big") + b"IHDR" + ihdr + b"\x00" * 4 + b"IDAT" + b"\x00" * 64


def _jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((size[1], size[0], 3), (0, 0, 255), np.uint8))
    assert ok
    return data.tobytes()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A good clip, the same clip truncated mid-stream (index at the front, tail cut off), a text file, and WAVs with
    unusual formats."""
    folder = tmp_path_factory.mktemp("media")
    frames = [np.full((96, 128, 3), (i * 9) % 255, np.uint8) for i in range(40)]
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(64_000) / 16_000)).astype(np.float32)
    clip = write_media(folder / "clip.mp4", frames, 10, audio=tone)
    whole = folder / "faststart.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-c", "copy", "-movflags", "+faststart", str(whole)],
        check=True,
    )
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    notes = folder / "notes.txt"
    notes.write_text("shopping list: milk, eggs, bread\n" * 20)
    odd = folder / "odd.wav"  # 11025 Hz, 3 channels, 24-bit: unusual but valid
    samples = (0.3 * np.sin(2 * np.pi * 300 * np.arange(11_025) / 11_025) * (1 << 23)).astype("<i4")
    with wave.open(str(odd), "wb") as out:
        out.setnchannels(3)
        out.setsampwidth(3)
        out.setframerate(11_025)
        out.writeframes(b"".join(int(s).to_bytes(3, "little", signed=True) * 3 for s in samples))
    many = folder / "many.wav"  # 12 channels: more than the demo's microphone input takes
    with wave.open(str(many), "wb") as out:
        out.setnchannels(12)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(np.zeros((8000, 12), np.int16).tobytes())
    return {"clip": clip, "truncated": truncated, "notes": notes, "odd": odd, "many": many}


# ------------------------------------------------------------------------------------------ images pushed by clients
def test_oversize_images_are_refused_from_their_header_before_decoding() -> None:
    assert image_size(_png_header(100_000, 100_000)) == (100_000, 100_000)
    with pytest.raises(ImageError, match="image is 100000x100000: over the limit of 16777216 pixels"):
        decode_image(_png_header(100_000, 100_000))  # would be 30 GB decoded
    assert image_size(_jpeg((64, 48))) == (64, 48)
    assert decode_image(_jpeg((64, 48))).shape == (48, 64, 3)
    for data, message in [
        (b"GIF89a", "not a JPEG or PNG image"),
        (_jpeg()[:40], "JPEG frame header missing"),
        (_png_header(16, 16), "could not be decoded"),
        (_png_header(0, 16), "empty"),
    ]:
        with pytest.raises(ImageError, match=message):
            decode_image(data)


# ------------------------------------------------------------------------------------------ websocket
async def _next(ws: websockets.ClientConnection, kind: str, timeout: float = 60) -> dict[str, Any]:
    async def scan() -> dict[str, Any]:
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event

    return await asyncio.wait_for(scan(), timeout)


def _item(text: object) -> str:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return json.dumps({"type": "conversation.item.create", "item": item})


async def test_websocket_bad_events_between_a_question_and_its_answer() -> None:
    server = RealtimeServer(SessionManager(TEXT_ONLY), ServerOptions(port=0, speak=False))
    await server.start()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/realtime") as ws:
            await _next(ws, "session.created")
            await ws.send(_item("What do you see right now?"))  # accepted, waiting for response.create
            await _next(ws, "conversation.item.done")
            pcm24k = {"type": "audio/pcm", "rate": 16_000}
            cases: list[tuple[str, str, str | None, str]] = [
                (json.dumps({"type": "input_audio_buffer.append", "audio": 123}), "invalid_type", "audio", "str"),
                (_item(5), "invalid_type", "item.content[0].text", "must be a string"),
                (json.dumps({"type": "response.cancel", "response_id": ["r"]}), "invalid_type", "response_id", "str"),
                (json.dumps({"type": 42}), "missing_required_parameter", "type", "'type'"),
                (json.dumps([1, 2]), "invalid_json", None, "must be a JSON object, got list"),
                (
                    json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"abc").decode()}),
                    "invalid_value",
                    "audio",
                    "even number of bytes",
                ),
                (
                    json.dumps(
                        {
                            "type": "conversation.item.create",
                            "item": {
                                "type": "message",
                                "role": "user",
                                "content": [{"type": "input_image", "image_url": "data:image/png;base64,@@@"}],
                            },
                        }
                    ),
                    "invalid_value",
                    "item.content[0].image_url",
                    "not valid base64",
                ),
                (
                    json.dumps({"type": "session.update", "session": {"audio": {"input": {"format": pcm24k}}}}),
                    "unsupported",
                    "session.audio.input.format",
                    "'rate': 24000",
                ),
                (
                    json.dumps({"type": "input_video_buffer.append", "image": base64.b64encode(b"GIF89a").decode()}),
                    "invalid_value",
                    "image",
                    "JPEG or PNG",
                ),
                ("[" * 100_000, "invalid_json", None, "nested too deeply"),
                (
                    json.dumps(
                        {
                            "type": "input_video_buffer.append",
                            "image": base64.b64encode(_png_header(90_000, 90_000)).decode(),
                        }
                    ),
                    "invalid_value",
                    "image",
                    "image is 90000x90000: over the limit of 16777216 pixels",
                ),
            ]
            for raw, code, param, words in cases:
                await ws.send(raw)
                error = (await _next(ws, "error"))["error"]
                assert (error["code"], error["param"]) == (code, param), raw[:80]
                assert words in error["message"], error
            await ws.send(json.dumps({"type": "response.create"}))
            accepted = await _next(ws, "query.accepted")
            assert accepted["text"] == "What do you see right now?"  # the question from before the bad events
            done = await _next(ws, "response.done")
            assert done["response"]["status"] == "completed" and done["response"]["output"][0]["content"][0]["text"]
    finally:
        await server.close()


async def test_websocket_flood_of_small_messages_keeps_the_question_and_the_server() -> None:
    server = RealtimeServer(SessionManager(TEXT_ONLY), ServerOptions(port=0, speak=False))
    await server.start()
    url = f"ws://127.0.0.1:{server.port}/v1/realtime"
    try:
        async with websockets.connect(url) as ws:
            await _next(ws, "session.created")
            await ws.send(_item("Is anything moving?"))
            await ws.send(json.dumps({"type": "response.create"}))
            for _ in range(3000):
                await ws.send("{}")
            done = await _next(ws, "response.done")
            assert done["response"]["status"] == "completed"
        async with websockets.connect(url) as ws:  # the server still serves new clients
            await _next(ws, "session.created")
            await ws.send(_item("Still there?"))
            await ws.send(json.dumps({"type": "response.create"}))
            assert (await _next(ws, "response.done"))["response"]["status"] == "completed"
    finally:
        await server.close()


# ------------------------------------------------------------------------------------------ MQTT
@needs_mosquitto
async def test_mqtt_bad_payloads_after_a_question_leave_it_answered(tmp_path: Path) -> None:
    broker = Mosquitto.anonymous(tmp_path)
    broker.start()
    listener = Listener(broker.port)
    options = BridgeOptions(port=broker.port, max_frame_bytes=64 * 1024)
    try:
        async with running_bridge(SessionManager(TEXT_ONLY), options) as bridge:
            await listener.start()
            await asyncio.wait_for(bridge.connected.wait(), 10)
            await listener.publish("omnistream/desk/in/text", "What is on the desk?")
            await listener.wait_for(lambda t, p: t == "omnistream/desk/out/gate", timeout=30)
            cases = [
                ("text", b"\xff\xfe\xfd", "in/text: payload is not UTF-8 text"),
                ("command", b"[1, 2]", "in/command: unknown command None"),
                ("command", b'{"command": 5}', "in/command: unknown command 5"),
                ("command", b"\xff", "in/command: payload must be JSON"),
                ("frame", b"", "in/frame: not a JPEG or PNG image"),
                ("frame", _png_header(100_000, 100_000), "in/frame: image is 100000x100000: over the limit"),
                ("frame", _jpeg() + b"\x00" * (64 * 1024), "bytes is over the limit of 65536"),
                ("frame", _jpeg()[:200], "in/frame: the image could not be decoded"),
            ]
            for kind, payload, message in cases:
                await listener.publish(f"omnistream/desk/in/{kind}", payload)
                _, error = await listener.wait_for(
                    lambda t, p, m=message: t == "omnistream/desk/out/error" and m in p.get("error", ""), timeout=10
                )
                assert error["topic"] == f"in/{kind}"
            _, answer = await listener.wait_for(lambda t, p: t == "omnistream/desk/out/answer", timeout=60)
            assert answer["status"] == "completed" and answer["text"]
            await listener.publish("omnistream/desk/in/frame", _jpeg())  # a good frame after the bad ones is taken
            context = bridge.sessions["desk"].session.context
            await asyncio.wait_for(_observed(context), 20)
            assert context.last_observation.colours[0].name == "red"  # type: ignore[attr-defined]
    finally:
        await listener.stop()
        broker.stop()


async def _observed(context: Any) -> None:
    while context.last_observation is None:
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------------------------------ Gradio demo
@pytest.fixture(scope="module")
def demo() -> Iterator[RunningDemo]:
    running = start(SessionManager(TEXT_ONLY, max_sessions=1), port=free_port(), spoken=False)
    yield running
    running.close()


@pytest.mark.e2e
def test_gradio_bad_uploads_get_messages_and_the_question_asked_before_is_answered(
    demo: RunningDemo, media: dict[str, Path]
) -> None:
    page = ApiPage(demo.url)
    try:
        page.predict("What is on the screen?", api_name="/send")
        page.predict(handle_file(str(media["notes"])), "", api_name="/replay")  # not a video
        page.wait(lambda p: "not a video" in p.get("notices", ""), timeout=20)
        page.predict(handle_file(str(media["truncated"])), "", api_name="/replay")
        notices = page.wait(lambda p: "stopped" in p.get("notices", ""), timeout=30)["notices"]
        assert "replay:notes.txt: not a video (it is a text file)" in notices
        assert "replay of truncated.mp4 stopped" in notices and "the file is truncated or corrupt" in notices
        for path, endpoint, component in ((media["notes"], "/audio", "audio"), (media["notes"], "/frame", "image")):
            with pytest.raises(AppError, match=f"a `{component}` component"):  # refused by Gradio's own decoding
                page.predict(handle_file(str(path)), api_name=endpoint)
        with pytest.raises(KeyError):  # gradio_client cannot parse stream replies; the server has taken the chunk
            page.predict(handle_file(str(media["many"])), api_name="/audio")
        latest = page.wait(lambda p: "channels" in p.get("notices", "") and answered(p), timeout=60)
        assert "audio must have 1–8 channels, got 12" in latest["notices"]
        assert "typed:</span> What is on the screen?" in latest["conversation"]
        assert "status live" in latest["status"]
    finally:
        page.predict(api_name="/stop")
        page.client.close()


# ------------------------------------------------------------------------------------------ command line
def _omnistream(*args: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).parents[1]
    command = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=root)


@pytest.mark.e2e
def test_cli_bad_files_are_named_and_the_good_input_still_runs(media: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    result = _omnistream(
        "run",
        *("--video", str(missing), "--video", str(media["truncated"]), "--video", str(media["notes"])),
        *("--audio", str(media["notes"]), "--audio", str(media["odd"])),
        *("--text", "what is this?@3", "--no-speech", "--pace", "fast", "--events", "jsonl"),
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    errors = {e["source"]: e["message"] for e in events if e["type"] == "error"}
    assert errors["video:missing.mp4"] == f"video:missing.mp4: file not found: {missing}"
    assert errors["video:notes.txt"] == f"video:notes.txt: not a video (it is a text file): {media['notes']}"
    assert errors["audio:notes.txt"] == f"audio:notes.txt: no audio track in {media['notes']}"
    assert "frames could not be decoded" in errors["video:truncated.mp4"]
    assert "the file is truncated or corrupt" in errors["video:truncated.mp4"]
    assert "audio decoded up to 2." in errors["audio:truncated.mp4"]
    assert "audio:odd.wav" not in errors  # 11025 Hz, 3 channels, 24-bit is simply converted
    metrics = [e for e in events if e["type"] == "metrics"][-1]["values"]
    assert metrics["video_frames"] >= 5 and metrics["audio_chunks"] >= 31 + 60  # odd.wav 1 s + the truncated clip
    assert [e["status"] for e in events if e["type"] == "response.done"] == ["completed"]


def test_corrupt_streamingbench_file_is_named_with_the_place_of_the_damage(tmp_path: Path) -> None:
    cut = tmp_path / "questions_real.json"
    cut.write_text('[{"video_path": "a.mp4", "questions": [{"task_type": "Object Recognition", "question": "q"')
    loaded = load_annotations(cut)
    assert loaded.items == []
    (problem,) = loaded.problems
    assert str(problem).startswith("questions_real.json (file): cannot read annotations:")
    assert "line 1 column" in problem.message
    binary = tmp_path / "questions_omni.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (problem,) = load_annotations(binary).problems
    assert "questions_omni.json" in str(problem) and "cannot read annotations" in problem.message
    nested = tmp_path / "questions_sqa.json"
    nested.write_text("[" * 100_000)
    (problem,) = load_annotations(nested).problems
    assert "questions_sqa.json" in str(problem) and "maximum recursion depth" in problem.message


def test_streamingbench_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    question = {"task_type": "Object Recognition", "question": "What is it?", "time_stamp": "00:00:05"}
    entry = {"video_path": "a.mp4", "questions": [{**question, "options": ["A. cup", "B. pen"], "answer": "A"}]}
    path = tmp_path / "questions_real.json"
    path.write_text(json.dumps([entry]), encoding="utf-8-sig")
    loaded = load_annotations(path)
    assert loaded.problems == [] and [i.question for i in loaded.items] == ["What is it?"]
