"""Security of the websocket server and the Gradio demo: the loopback rule, API keys (header, browser subprotocol,
Gradio login), origin checks, per-session rate limits, and keys and media kept out of debug logs. Real servers on
loopback with the real cascade backend (text only), real clients (websockets, gradio_client, httpx)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import websockets
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError

from app.gradio_demo import start
from app.limits import InputLimiter, RateLimits, TokenBucket
from app.live import SessionManager
from app.security import (
    InsecureBindError,
    api_key_from,
    is_loopback,
    keys_match,
    mqtt_password_from,
    origin_allowed,
    require_key_off_loopback,
)
from app.ws_server import RealtimeServer, ServerOptions
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig
from tests.servers import free_port

TEXT_ONLY = EngineConfig(
    backend="cascade", speech=False, options=SessionOptions(response=ResponseOptions(max_new_tokens=8))
)
KEY = "sk-test-5a1t-of-the-earth"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


# ---------------------------------------------------------------------------------------------- rate limit units
def test_token_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.t = 0.25  # 2.5 tokens back
    assert bucket.take(2) and not bucket.take(1)
    clock.t = 100.0  # refills to the capacity, not beyond
    assert bucket.take(5) and not bucket.take(0.5)
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(rate=0, capacity=1)


def test_default_limits_admit_real_clients_and_drop_floods_with_one_report_per_second() -> None:
    clock = FakeClock()
    limiter = InputLimiter(RateLimits(), largest_message=16 * 1024 * 1024, clock=clock)
    audio_20ms = len(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 1280}))  # 960 bytes of pcm16
    frame_720p = 130_000  # a base64 JPEG
    # ten seconds of a demanding client: 20 ms audio chunks and 30 fps frames, every one admitted
    for step in range(500):
        clock.t = step * 0.02
        assert limiter.admit(audio_20ms)
        if step % 5 < 3:  # 30 of every 50 steps: 30 fps
            assert limiter.admit(frame_720p) and limiter.admit_frame()
    assert limiter.total_dropped == 0 and limiter.report() is None
    # t=10 s: 60 frames at once: the frame bucket (30 frames) takes 30, the rest are dropped and counted
    clock.t = 11.0
    admitted = [limiter.admit_frame() for _ in range(60)]
    assert admitted.count(True) == 30 and limiter.dropped["frames"] == 30
    assert limiter.report() == "rate limit: dropped 30 video frames over 30 frames/s since the last report"
    # a message flood in the same second: dropped, counted, but not reported until a second has passed
    for _ in range(400):
        limiter.admit(100)
    assert limiter.dropped["messages"] == 200
    assert limiter.report() is None
    clock.t = 12.0
    assert limiter.report() == "rate limit: dropped 200 messages over 200 messages/s since the last report"
    assert limiter.report() is None  # nothing new
    # one 16 MiB message (the largest the server takes) fits the byte bucket; a second at once does not
    clock.t = 20.0
    assert limiter.admit(16 * 1024 * 1024) and not limiter.admit(16 * 1024 * 1024)
    assert limiter.dropped["bytes"] == 1


# ---------------------------------------------------------------------------------------------- access rules
def test_loopback_rule_names_the_flags() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "", "::", "192.168.1.20", "no-such-host.invalid"))
    require_key_off_loopback("127.0.0.1", None, allow_unauthenticated=False, what="serve")
    require_key_off_loopback("0.0.0.0", "k", allow_unauthenticated=False, what="serve")
    require_key_off_loopback("0.0.0.0", None, allow_unauthenticated=True, what="serve")
    with pytest.raises(InsecureBindError) as refused:
        require_key_off_loopback("0.0.0.0", None, allow_unauthenticated=False, what="serve")
    message = str(refused.value)
    assert "OMNISTREAM_API_KEY" in message and "--api-key" in message and "--allow-unauthenticated" in message
    assert keys_match(KEY, KEY) and not keys_match(KEY[:-1], KEY) and not keys_match(None, KEY)


def test_secrets_come_from_the_environment_or_from_flags_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OMNISTREAM_API_KEY", "from-env")
    monkeypatch.setenv("OMNISTREAM_MQTT_PASSWORD", "broker-env")
    assert api_key_from(None) == "from-env" and mqtt_password_from(None) == "broker-env"
    assert capsys.readouterr().err == ""
    assert api_key_from("from-argv") == "from-argv"
    assert "--api-key on the command line is visible to other users" in capsys.readouterr().err
    assert mqtt_password_from("pw") == "pw"
    assert "prefer the OMNISTREAM_MQTT_PASSWORD environment variable" in capsys.readouterr().err
    monkeypatch.setenv("OMNISTREAM_API_KEY", "")
    assert api_key_from(None) is None


def test_origin_rules() -> None:
    assert origin_allowed(None, ())  # not a browser
    assert all(origin_allowed(o, ()) for o in ("http://localhost:3000", "https://127.0.0.1", "http://[::1]:8080"))
    assert not any(origin_allowed(o, ()) for o in ("https://evil.example", "null", "http://localhost.evil.example"))
    allowed = ("https://app.example", "http://lab.local:8080/")
    assert origin_allowed("https://APP.example", allowed) and origin_allowed("http://lab.local:8080", allowed)
    assert not origin_allowed("http://localhost:3000", allowed) and not origin_allowed(
        "https://app.example:444", allowed
    )
    assert origin_allowed("https://anything.example", ("*",))


def test_serve_command_refuses_a_public_host_without_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from app.serve_cli import add_commands

    monkeypatch.delenv("OMNISTREAM_API_KEY", raising=False)
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "0"])
    with pytest.raises(SystemExit) as refused:
        args.func(args)
    assert "needs an access key" in str(refused.value) and "--allow-unauthenticated" in str(refused.value)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--max-input-fps", "0"])


# ---------------------------------------------------------------------------------------------- websocket server
@contextlib.asynccontextmanager
async def running_server(**options: Any) -> AsyncIterator[RealtimeServer]:
    server = RealtimeServer(SessionManager(TEXT_ONLY, max_sessions=4), ServerOptions(port=0, **options))
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def _url(server: RealtimeServer) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/realtime?model=omnistream"


async def _recv(ws: websockets.ClientConnection, kind: str, timeout: float = 60) -> dict[str, Any]:
    async def scan() -> dict[str, Any]:
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event

    return await asyncio.wait_for(scan(), timeout)


async def _refused_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url, **kwargs)
    return refused.value.response.status_code


def _jpeg_b64(seed: int | None = None) -> str:
    """A noise picture for ``seed`` (a distinctive payload), else a plain grey one (cheap for the perception model)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (96, 128, 3), np.uint8) if seed is not None else np.full((96, 128, 3), 128, np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(data.tobytes()).decode()


def _text_turn(text: str) -> list[str]:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return [json.dumps({"type": "conversation.item.create", "item": item}), json.dumps({"type": "response.create"})]


async def test_server_beyond_loopback_needs_a_key_from_header_or_browser_subprotocol() -> None:
    with pytest.raises(InsecureBindError, match="OMNISTREAM_API_KEY"):
        await RealtimeServer(SessionManager(TEXT_ONLY), ServerOptions(host="0.0.0.0", port=0)).start()
    async with (
        running_server(host="0.0.0.0", allow_unauthenticated=True) as server,  # the explicit opt-out
        websockets.connect(_url(server)) as ws,
    ):
        await _recv(ws, "session.created")
    async with running_server(host="0.0.0.0", api_key=KEY) as server:
        url = _url(server)
        assert await _refused_status(url) == 401
        assert await _refused_status(url, additional_headers={"Authorization": f"Bearer {KEY}x"}) == 401
        assert await _refused_status(url, subprotocols=["realtime", "openai-insecure-api-key.wrong"]) == 401
        assert not server.manager.sessions  # nothing was opened for the refused handshakes
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            await _recv(ws, "session.created")
        browser = ["realtime", f"openai-insecure-api-key.{KEY}", "openai-beta.realtime-v1"]
        async with websockets.connect(url, subprotocols=browser, origin="http://localhost:5173") as ws:
            assert ws.subprotocol == "realtime"  # the key protocol is never echoed back
            await _recv(ws, "session.created")
            for message in _text_turn("Hello?"):
                await ws.send(message)
            assert (await _recv(ws, "response.done"))["response"]["status"] == "completed"


async def test_origin_check_refuses_foreign_pages_with_403_before_any_session() -> None:
    async with running_server() as server:
        url = _url(server)
        assert await _refused_status(url, origin="https://evil.example") == 403
        assert not server.manager.sessions
        async with websockets.connect(url, origin="http://127.0.0.1:8000") as ws:  # a page on this machine
            await _recv(ws, "session.created")
    async with running_server(allowed_origins=("https://app.example",)) as server:
        url = _url(server)
        assert await _refused_status(url, origin="http://localhost:3000") == 403
        async with websockets.connect(url, origin="https://app.example") as ws:
            await _recv(ws, "session.created")
        async with websockets.connect(url) as ws:  # no Origin: not a browser
            await _recv(ws, "session.created")


async def test_rate_limits_drop_and_report_while_the_session_goes_on() -> None:
    limits = RateLimits(messages_per_s=40, max_fps=5)
    async with running_server(limits=limits) as server, websockets.connect(_url(server)) as ws:
        session_id = (await _recv(ws, "session.created"))["session"]["id"]
        live = server.manager.sessions[session_id]
        pushed: list[float | None] = []
        real_push = live.video.push_frame

        def counting_push(image: np.ndarray, t: float | None = None) -> None:
            pushed.append(t)
            real_push(image, t)

        live.video.push_frame = counting_push  # type: ignore[method-assign]
        # t=0: twelve frames at once against 5 fps: five are taken, the rest dropped with one rate_limited error
        for i in range(12):
            frame = {"type": "input_video_buffer.append", "image": _jpeg_b64(), "event_id": f"f{i}"}
            await ws.send(json.dumps(frame))
        err = await _recv(ws, "error")
        assert err["error"]["code"] == "rate_limited"
        assert err["error"]["event_id"] in {f"f{i}" for i in range(5, 8)}  # the first frame dropped
        assert "video frames over 5 frames/s" in err["error"]["message"]
        assert 5 <= len(pushed) <= 7  # what was admitted reached the engine
        # then a message flood: 100 appends of 20 ms of audio against 40 messages/s
        chunk = base64.b64encode(np.zeros(480, "<i2").tobytes()).decode()
        for _ in range(100):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        err = await _recv(ws, "error")
        assert err["error"]["code"] == "rate_limited" and "messages over 40 messages/s" in err["error"]["message"]
        await asyncio.sleep(0.2)  # the message bucket refills (40/s) for the question below
        for message in _text_turn("Still with me?"):
            await ws.send(message)
        assert (await _recv(ws, "response.done"))["response"]["status"] == "completed"


async def test_debug_logs_hold_neither_the_key_nor_media(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    audio = base64.b64encode(np.random.default_rng(1).integers(-3000, 3000, 4800).astype("<i2").tobytes()).decode()
    image = _jpeg_b64(7)
    client_log = logging.getLogger("tests.security.client")
    async with running_server(api_key=KEY) as server:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with websockets.connect(_url(server), additional_headers=headers, logger=client_log) as ws:
            await _recv(ws, "session.created")
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            await ws.send(json.dumps({"type": "input_video_buffer.append", "image": image}))
            for message in _text_turn("What is on the screen?"):
                await ws.send(message)
            await _recv(ws, "response.done")
        browser = ["realtime", f"openai-insecure-api-key.{KEY}"]
        async with websockets.connect(_url(server), subprotocols=browser, logger=client_log) as ws:
            await _recv(ws, "session.created")
    server_side = [r for r in caplog.records if not r.name.startswith(client_log.name)]
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in server_side)
    assert "Authorization: [redacted" in text and "TEXT [" in text  # the wire log was captured, redacted
    assert KEY not in text
    for payload in (audio, image):
        assert payload[100:140] not in text


# ---------------------------------------------------------------------------------------------- Gradio demo
def test_demo_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(InsecureBindError, match=r"demo: --host 0\.0\.0\.0"):
        start(SessionManager(TEXT_ONLY), host="0.0.0.0", port=free_port())


@pytest.fixture(scope="module")
def protected_demo() -> Iterator[str]:
    running = start(SessionManager(TEXT_ONLY, max_sessions=2), port=free_port(), api_key=KEY)
    yield running.url
    running.close()


def test_demo_login_protects_the_page_and_its_api(protected_demo: str) -> None:
    url = protected_demo.rstrip("/")
    for path in ("/config", "/gradio_api/info"):
        assert httpx.get(url + path).status_code == 401, path
    for path in ("/gradio_api/queue/join", "/gradio_api/call/send", "/gradio_api/upload"):
        assert httpx.post(url + path, json={}).status_code == 401, path
    assert httpx.post(url + "/login", data={"username": "me", "password": "guess"}).status_code == 400
    with pytest.raises(ValueError, match="Could not login"):
        Client(protected_demo, verbose=False, auth=("me", "guess"))
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(protected_demo, verbose=False)  # not even the API's description without a login
    client = Client(protected_demo, verbose=False, auth=("anyone", KEY))
    assert "status live" in client.predict(api_name="/start")[0]
    client.predict(api_name="/stop")
    client.close()
