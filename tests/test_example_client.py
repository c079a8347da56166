"""examples/realtime_client.py, run as users run it, against a real server that requires a key."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from app.live import SessionManager
from app.ws_server import RealtimeServer, ServerOptions
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig
from streams.synth import write_media

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-example-client-key"
pytestmark = pytest.mark.e2e


async def _client(port: int, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "realtime_client.py"),
        "--url", f"ws://127.0.0.1:{port}/v1/realtime", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_example_client_streams_video_asks_and_prints_the_answer(tmp_path: Path) -> None:
    frames = (np.full((96, 128, 3), (40 * k) % 255, np.uint8) for k in range(8))
    video = write_media(tmp_path / "clip.mp4", frames, fps=4.0)
    config = EngineConfig(
        backend="cascade", speech=False, options=SessionOptions(response=ResponseOptions(max_new_tokens=12))
    )
    server = RealtimeServer(SessionManager(config), ServerOptions(port=0, api_key=KEY))
    await server.start()
    try:
        env = {**os.environ, "OMNISTREAM_API_KEY": KEY}
        code, out, err = await _client(
            server.port, env, "--video", str(video), "--text", "What colour is the screen?@1", "--linger", "6"
        )
        assert code == 0, err[-2000:]
        answer = out.split("assistant: ", 1)[1].strip()
        assert answer and "[" not in answer.splitlines()[0], out

        env.pop("OMNISTREAM_API_KEY")
        code, out, err = await _client(server.port, env, "--text", "hello@0", "--linger", "0")
        assert code != 0 and "401" in err
    finally:
        await server.close()
