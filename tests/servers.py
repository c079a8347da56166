"""Loopback servers the tests start for real (a free port, a mosquitto broker from its config lines, llama.cpp's
OpenAI-compatible server and a body-limiting proxy in front of it), the MQTT bridge run against one, and a test-side
MQTT client that records everything published."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt

from app.live import SessionManager
from app.mqtt_bridge import BridgeOptions, MqttBridge

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """A mosquitto process listening on 127.0.0.1 at a free port, configured by ``settings`` (mosquitto.conf lines
    after the listener); it can be stopped and started again on the same port."""

    def __init__(self, folder: Path, settings: list[str]) -> None:
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join([f"listener {self.port} 127.0.0.1", "persistence false", *settings]) + "\n")
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def anonymous(cls, folder: Path) -> Mosquitto:
        """A plain broker that any client may use."""
        return cls(folder, ["allow_anonymous true"])

    def start(self) -> None:
        with self.log.open("ab") as log:  # a file, not a pipe: a pipe nobody reads would fill and stall the broker
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        for _ in range(200):  # ready once it accepts connections
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited at start: {self.log.read_text(errors='replace')}")
            time.sleep(0.05)
        raise AssertionError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@contextlib.asynccontextmanager
async def running_bridge(manager: SessionManager, options: BridgeOptions) -> AsyncIterator[MqttBridge]:
    """An ``MqttBridge`` running as a task; afterwards the bridge, its task and the manager's sessions are closed.
    A body that completes checks that ``run()`` is still going: it retries its broker, never gives up or crashes."""
    bridge = MqttBridge(manager, options)
    task = asyncio.create_task(bridge.run())
    try:
        yield bridge
        assert not task.done(), "the bridge's run() ended"
    finally:
        await bridge.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await manager.close_all()


class Listener:
    """A test-side MQTT client collecting everything the bridge publishes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[tuple[str, Any, bool]] = []
        self.arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None

    async def start(self) -> None:
        ready = asyncio.Event()

        async def run() -> None:
            async with aiomqtt.Client("127.0.0.1", self.port) as client:
                self._client = client
                await client.subscribe("#", qos=1)
                ready.set()
                async for message in client.messages:
                    raw = message.payload if isinstance(message.payload, bytes) else b""
                    try:
                        payload: Any = json.loads(raw)
                    except ValueError:
                        payload = raw.decode(errors="replace")
                    self.messages.append((message.topic.value, payload, bool(message.retain)))
                    self.arrived.set()

        self._task = asyncio.create_task(run())
        await asyncio.wait_for(ready.wait(), 10)

    async def publish(self, topic: str, payload: bytes | str) -> None:
        assert self._client is not None
        await self._client.publish(topic, payload, qos=1)

    async def wait_for(self, match: Callable[[str, Any], bool], timeout: float = 90) -> tuple[str, Any]:
        async def scan() -> tuple[str, Any]:
            seen = 0
            while True:
                for topic, payload, _ in self.messages[seen:]:
                    if match(topic, payload):
                        return topic, payload
                seen = len(self.messages)
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(scan(), timeout)

    def payloads(self, topic: str) -> list[Any]:
        return [p for t, p, _ in self.messages if t == topic]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task


class BodyLimitProxy:
    """A reverse proxy in front of ``upstream`` (an HTTP root such as a ``LlamaServer``'s) that refuses request bodies
    over ``limit`` bytes with 413 and nginx's error page, as nginx does past its ``client_max_body_size``; what it
    lets through is forwarded and the whole reply relayed. Runs in a thread on 127.0.0.1 at a free port."""

    PAGE = b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n</body>\r\n</html>\r\n"

    def __init__(self, upstream: str, limit: int) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._relay(None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # read, as nginx discards it
                if len(body) > limit:
                    proxy.refused += 1
                    self._reply(413, "text/html", BodyLimitProxy.PAGE)
                else:
                    self._relay(body)

            def _relay(self, body: bytes | None) -> None:
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                request = urllib.request.Request(upstream + self.path, data=body, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=60) as reply:
                        self._reply(reply.status, reply.headers.get("Content-Type", ""), reply.read())
                except urllib.error.HTTPError as error:
                    self._reply(error.code, error.headers.get("Content-Type", ""), error.read())

            def _reply(self, status: int, content_type: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.refused = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BodyLimitProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
