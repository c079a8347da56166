"""The MQTT bridge against a real mosquitto broker on loopback, with the real cascade backend (text-only engine)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from app.live import SessionManager
from app.mqtt_bridge import BridgeOptions, parse_broker
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig
from tests.servers import MOSQUITTO, Listener, Mosquitto, running_bridge

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed (apt)")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto.anonymous(tmp_path)
    b.start()
    yield b
    b.stop()


async def _until(predicate: Callable[[], bool], timeout: float = 20) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


def cascade_bridge(port: int, *, max_sessions: int = 4, prefix: str = "omnistream") -> Any:
    """The bridge on a text-only cascade engine with short answers and quick reconnects."""
    config = EngineConfig(
        backend="cascade", speech=False, options=SessionOptions(response=ResponseOptions(max_new_tokens=16))
    )
    options = BridgeOptions(port=port, prefix=prefix, reconnect_min_s=0.1, reconnect_max_s=0.5, keepalive_s=5)
    return running_bridge(SessionManager(config, max_sessions=max_sessions), options)


async def _ask(listener: Listener, session: str, question: str, prefix: str = "omnistream") -> dict[str, Any]:
    await listener.publish(f"{prefix}/{session}/in/text", question)
    _, answer = await listener.wait_for(
        lambda t, p: t == f"{prefix}/{session}/out/answer" and isinstance(p, dict) and p.get("text")
    )
    return answer


def test_mqtt_command_refuses_a_bad_broker_before_loading_anything(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from app.serve_cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mqtt", "--broker", "broker.local:http"])
    assert args.func(args) == 2
    assert "port must be a number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--max-sessions", "0"])


def test_broker_spec_parsing() -> None:
    assert parse_broker("example.org:1884") == ("example.org", 1884)
    assert parse_broker("localhost") == ("localhost", 1883)
    for bad in (":1883", "host:port", "host:70000"):
        with pytest.raises(ValueError, match="--broker"):
            parse_broker(bad)


async def test_text_query_streams_deltas_and_the_answer(broker: Mosquitto) -> None:
    listener = Listener(broker.port)
    await listener.start()
    async with cascade_bridge(broker.port) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        answer = await _ask(listener, "kitchen", "What do you see right now?")
        deltas = listener.payloads("omnistream/kitchen/out/delta")
        assert deltas and "".join(d["text"] for d in deltas) == answer["text"]
        assert answer["status"] == "completed" and answer["type"] == "response.done"
        gate = listener.payloads("omnistream/kitchen/out/gate")
        assert gate[0]["type"] == "query.accepted" and gate[0]["text"] == "What do you see right now?"
        status = [(p, r) for t, p, r in listener.messages if t == "omnistream/kitchen/out/status"]
        assert status[0][0]["state"] == "open"
        bridge_status = [p for t, p, _ in listener.messages if t == "omnistream/bridge/status"]
        assert "online" in bridge_status
        await listener.publish("omnistream/kitchen/in/command", json.dumps({"command": "end"}))
        await listener.wait_for(lambda t, p: t.endswith("kitchen/out/status") and p.get("state") == "closed")
    await listener.wait_for(lambda t, p: t == "omnistream/bridge/status" and p == "offline")  # clean shutdown
    await listener.stop()


async def test_a_typed_question_names_its_turn_and_its_answer_is_found_by_that_id(broker: Mosquitto) -> None:
    listener = Listener(broker.port)
    await listener.start()
    async with cascade_bridge(broker.port) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        await listener.publish("omnistream/hall/in/text", json.dumps({"text": "Is anything moving?", "turn_id": "t-7"}))
        _, accepted = await listener.wait_for(lambda t, p: t == "omnistream/hall/out/gate")
        assert accepted["type"] == "query.accepted" and accepted["turn_id"] == "t-7"
        _, started = await listener.wait_for(
            lambda t, p: t == "omnistream/hall/out/event" and p.get("type") == "response.started"
        )
        assert started["query_id"] == accepted["query_id"]
        _, done = await listener.wait_for(lambda t, p: t == "omnistream/hall/out/answer")
        assert done["response_id"] == started["response_id"] and done["text"]
        await listener.publish("omnistream/hall/in/text", json.dumps({"text": "Hello", "turn_id": "no spaces"}))
        _, err = await listener.wait_for(lambda t, p: t == "omnistream/hall/out/error")
        assert "turn_id must be 1-64 characters" in err["error"] and err["topic"] == "in/text"
    await listener.stop()


async def test_bad_input_is_reported_and_the_session_goes_on(broker: Mosquitto) -> None:
    listener = Listener(broker.port)
    await listener.start()
    async with cascade_bridge(broker.port) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        errors = "omnistream/cam/out/error"
        await listener.publish("omnistream/cam/in/frame", b"this is not a jpeg")
        _, err = await listener.wait_for(lambda t, p: t == errors)
        assert "JPEG or PNG" in err["error"] and err["topic"] == "in/frame"
        await listener.publish("omnistream/cam/in/frame", b"\xff\xd8\xff\xe0 truncated")
        _, err = await listener.wait_for(lambda t, p: t == errors and "decoded" in p["error"])
        await listener.publish("omnistream/cam/in/command", b"{oops")
        _, err = await listener.wait_for(lambda t, p: t == errors and "JSON" in p["error"])
        await listener.publish("omnistream/cam/in/command", json.dumps({"command": "explode"}))
        _, err = await listener.wait_for(lambda t, p: t == errors and "explode" in p["error"])
        await listener.publish("omnistream/cam/in/command", json.dumps({"command": "cancel"}))
        _, err = await listener.wait_for(lambda t, p: t == errors and "no response in progress" in p["error"])
        await listener.publish("omnistream/cam/in/audio", b"\x00\x01\x02")
        _, err = await listener.wait_for(lambda t, p: t == errors and "even number" in p["error"])
        await listener.publish("omnistream/cam/in/volume", b"11")
        _, err = await listener.wait_for(lambda t, p: t == errors and "unknown input topic" in p["error"])
        await listener.publish("omnistream/not.a.session/in/text", b"hello")  # ignored with a log line
        ok, jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), (0, 0, 255), np.uint8))
        assert ok
        await listener.publish("omnistream/cam/in/frame", jpeg.tobytes())
        context = bridge.sessions["cam"].session.context
        await _until(lambda: context.last_observation is not None)  # type: ignore[attr-defined]
        assert context.last_observation.colours[0].name == "red"  # type: ignore[attr-defined]
        answer = await _ask(listener, "cam", "What colour fills the picture?")
        assert answer["status"] == "completed"
        assert not [t for t, _, _ in listener.messages if "not.a.session" in t and "/out/" in t]
    await listener.stop()


async def test_session_limit_refuses_clearly_under_a_nested_prefix(broker: Mosquitto) -> None:
    listener = Listener(broker.port)
    await listener.start()
    async with cascade_bridge(broker.port, max_sessions=1, prefix="home/omni") as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        await listener.publish("home/omni/first/in/command", json.dumps({"command": "start"}))
        await listener.wait_for(lambda t, p: t == "home/omni/first/out/status" and p["state"] == "open")
        await listener.publish("home/omni/second/in/text", "hello?")
        _, status = await listener.wait_for(lambda t, p: t == "home/omni/second/out/status")
        assert status["state"] == "refused" and "session limit" in status["reason"]
        answer = await _ask(listener, "first", "Are you still there?", prefix="home/omni")
        assert answer["status"] == "completed"
    await listener.stop()


async def test_bridge_reconnects_after_the_broker_restarts(broker: Mosquitto) -> None:
    async with cascade_bridge(broker.port) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        listener = Listener(broker.port)
        await listener.start()
        await _ask(listener, "porch", "Anything happening?")
        await listener.stop()

        broker.stop()
        await _until(lambda: not bridge.connected.is_set())
        assert "porch" in bridge.sessions  # the engine session outlives the broker
        broker.start()
        await _until(lambda: bridge.connections == 2)

        listener = Listener(broker.port)
        await listener.start()
        answer = await _ask(listener, "porch", "And now?")
        assert answer["status"] == "completed"
        await listener.stop()


async def test_broker_down_at_start_is_logged_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="app.mqtt_bridge")
    broker = Mosquitto.anonymous(tmp_path)
    async with cascade_bridge(broker.port) as bridge:
        await _until(lambda: any("unreachable" in r.getMessage() for r in caplog.records))
        line = next(r.getMessage() for r in caplog.records if "unreachable" in r.getMessage())
        assert f"127.0.0.1:{broker.port}" in line and "retrying" in line
        assert not bridge.connected.is_set()
        broker.start()
        try:
            await asyncio.wait_for(bridge.connected.wait(), 20)
        finally:
            broker.stop()
