"""The MQTT bridge against a real mosquitto with TLS (a CA and server certificate made by the openssl CLI for the test)
and a password file (mosquitto_passwd): credentials, certificate checks, per-session rate limits, the CLI's checks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import cv2
import numpy as np
import pytest

from app.limits import RateLimits
from app.live import SessionManager
from app.mqtt_bridge import BridgeOptions, TlsOptions
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig
from tests.servers import MOSQUITTO, Mosquitto, running_bridge

TOOLS = (MOSQUITTO, shutil.which("mosquitto_passwd"), shutil.which("openssl"))
pytestmark = pytest.mark.skipif(
    not all(tool and Path(tool).exists() for tool in TOOLS), reason="needs mosquitto, mosquitto_passwd and openssl"
)
USER, PASSWORD = "camera", "s3cret-for-the-test"


def _run(*args: str | Path, cwd: Path) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, capture_output=True)


def _make_certificates(folder: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 / localhost signed by it (EC keys: quick to make)."""
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _run(
        "openssl",
        "req",
        "-x509",
        *curve,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        cwd=folder,
    )
    _run("openssl", "req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(
        "openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=folder,
    )  # fmt: skip


class TlsBroker(Mosquitto):
    """mosquitto with TLS only and a password file; no anonymous clients."""

    def __init__(self, folder: Path) -> None:
        _make_certificates(folder)
        _run("mosquitto_passwd", "-b", "-c", folder / "passwd", USER, PASSWORD, cwd=folder)
        (folder / "passwd").chmod(0o600)
        self.ca = str(folder / "ca.crt")
        super().__init__(
            folder,
            [
                f"cafile {folder / 'ca.crt'}",
                f"certfile {folder / 'server.crt'}",
                f"keyfile {folder / 'server.key'}",
                "allow_anonymous false",
                f"password_file {folder / 'passwd'}",
                f"user {getpass.getuser()}",  # as root, stay this user: the files are private to it
            ],
        )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    b = TlsBroker(tmp_path_factory.mktemp("mqtt-tls"))
    b.start()
    yield b
    b.stop()


def cascade_bridge(broker: TlsBroker, **options: Any) -> Any:
    """The bridge on a text-only cascade engine, connecting to ``broker`` with ``options`` (credentials, TLS)."""
    config = EngineConfig(
        backend="cascade", speech=False, options=SessionOptions(response=ResponseOptions(max_new_tokens=8))
    )
    bridge_options = BridgeOptions(port=broker.port, reconnect_min_s=0.1, reconnect_max_s=0.3, keepalive_s=5, **options)
    return running_bridge(SessionManager(config, max_sessions=2), bridge_options)


@contextlib.asynccontextmanager
async def device(broker: TlsBroker) -> AsyncIterator[tuple[aiomqtt.Client, list[tuple[str, Any]]]]:
    """A client of the broker (TLS, credentials) that collects every message under omnistream/."""
    tls = aiomqtt.TLSParameters(ca_certs=broker.ca)
    async with aiomqtt.Client("127.0.0.1", broker.port, username=USER, password=PASSWORD, tls_params=tls) as client:
        await client.subscribe("omnistream/#", qos=1)
        received: list[tuple[str, Any]] = []

        async def collect() -> None:
            async for message in client.messages:
                raw = message.payload if isinstance(message.payload, bytes) else b""
                with contextlib.suppress(ValueError):
                    received.append((message.topic.value, json.loads(raw)))

        collector = asyncio.create_task(collect())
        try:
            yield client, received
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector


async def _until(predicate: Callable[[], Any], timeout: float = 60) -> Any:
    async def poll() -> Any:
        while not (value := predicate()):
            await asyncio.sleep(0.05)
        return value

    return await asyncio.wait_for(poll(), timeout)


def _first(received: list[tuple[str, Any]], topic: str, match: Callable[[Any], bool] = bool) -> Any:
    return next((p for t, p in received if t == topic and isinstance(p, dict) and match(p)), None)


async def test_tls_with_credentials_end_to_end_with_rate_limited_frames(broker: TlsBroker) -> None:
    limits = RateLimits(max_fps=2)
    tls = TlsOptions(ca_file=broker.ca)
    async with (
        cascade_bridge(broker, username=USER, password=PASSWORD, tls=tls, limits=limits) as bridge,
        device(broker) as (client, received),
    ):
        await asyncio.wait_for(bridge.connected.wait(), 20)
        await client.publish("omnistream/door/in/command", json.dumps({"command": "start"}), qos=1)
        await _until(lambda: _first(received, "omnistream/door/out/status", lambda p: p["state"] == "open"))
        ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), (0, 0, 255), np.uint8))
        assert ok
        for _ in range(8):  # t=0: eight frames at once against 2 frames/s: two are taken
            await client.publish("omnistream/door/in/frame", jpeg.tobytes(), qos=1)
        err = await _until(lambda: _first(received, "omnistream/door/out/error"))
        assert err["code"] == "rate_limited" and err["topic"] == "in/frame"
        assert "video frames over 2 frames/s" in err["error"]
        await _until(lambda: bridge.rate_guards["door"].limiter.dropped["frames"] >= 5)  # 6 unless a token came back
        await client.publish("omnistream/door/in/text", "What colour is the picture?", qos=1)
        answer = await _until(lambda: _first(received, "omnistream/door/out/answer"))
        assert answer["status"] == "completed" and answer["text"]


async def test_wrong_password_is_reported_and_retried(broker: TlsBroker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="app.mqtt_bridge")
    tls = TlsOptions(ca_file=broker.ca)
    async with cascade_bridge(broker, username=USER, password="wrong", tls=tls) as bridge:
        refusals = lambda: [r for r in caplog.records if "refused the credentials" in r.getMessage()]  # noqa: E731
        await _until(lambda: len(refusals()) >= 2, timeout=20)  # reported, then tried again
        line = refusals()[0].getMessage()
        assert f"127.0.0.1:{broker.port}" in line and "OMNISTREAM_MQTT_PASSWORD" in line and "retrying" in line
        assert bridge.last_error is not None and "refused the credentials" in bridge.last_error
        assert bridge.connections == 0 and not bridge.connected.is_set()


async def test_untrusted_certificate_fails_clearly_and_insecure_mode_connects(broker: TlsBroker) -> None:
    async with cascade_bridge(broker, username=USER, password=PASSWORD, tls=TlsOptions()) as bridge:  # system CAs
        message = await _until(lambda: bridge.last_error, timeout=20)
        assert "TLS handshake failed" in message and "CERTIFICATE_VERIFY_FAILED" in message
        assert not bridge.connected.is_set()
    async with cascade_bridge(broker, username=USER, password=PASSWORD, tls=TlsOptions(insecure=True)) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 20)
        assert bridge.last_error is None


def test_mqtt_command_checks_tls_files_before_loading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.serve_cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    for argv, message in (
        (["--ca-file", str(tmp_path / "missing.crt")], "--ca-file"),
        (["--key-file", str(tmp_path / "missing.key")], "--key-file"),
    ):
        args = parser.parse_args(["mqtt", *argv])
        assert args.func(args) == 2
        assert message in capsys.readouterr().err
    cert = tmp_path / "client.crt"
    cert.write_text("not checked until connecting")
    key = tmp_path / "client.key"
    key.write_text("")
    assert TlsOptions(cert_file=str(cert), key_file=str(key)).parameters().certfile == str(cert)
    with pytest.raises(ValueError, match="--key-file needs --cert-file"):
        TlsOptions(key_file=str(key))
