"""``--max-sessions auto``: resolution from a measured per-session cost, the errors without one, and the refusal of
session N+1 by the websocket server with an error naming how the limit was derived."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from app.capacity import CapacityUnknown, SessionCost, load_cost, resolve_max_sessions, save_cost
from app.cli import build_parser
from app.live import SessionManager
from app.ws_server import RealtimeServer, ServerOptions
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig

TEXT_ONLY = EngineConfig(
    backend="cascade", speech=False, options=SessionOptions(response=ResponseOptions(max_new_tokens=8))
)


def _cost(cores_per_session: float) -> SessionCost:
    return SessionCost(cores_per_session, "cascade", measured_on_cores=2, measured_at="2026-12-02T20:00:00Z")


def test_auto_is_cores_over_measured_cost(tmp_path: Path) -> None:
    path = save_cost(_cost(0.6), tmp_path / "capacity.json")
    assert load_cost(path) == _cost(0.6)
    limit, source = resolve_max_sessions("auto", cores=2, path=path)
    assert limit == 3  # 2 / 0.6 = 3.33
    assert "0.60 cores per cascade session" in source and "on 2 cores" in source
    assert resolve_max_sessions("auto", cores=16, path=path)[0] == 26
    save_cost(_cost(2.5), path)
    assert resolve_max_sessions("auto", cores=2, path=path)[0] == 1  # never below one session
    assert resolve_max_sessions(5, path=path) == (5, "")  # a fixed number is taken as given
    # the ramp's own finding bounds it on as many cores as it ran on (0.33 cores each would allow 6; 5 kept up)
    ramp = SessionCost(0.333, "cascade", measured_on_cores=2, measured_at="2026-12-07T21:33:46Z", kept_real_time=5)
    save_cost(ramp, path)
    limit, source = resolve_max_sessions("auto", cores=2, path=path)
    assert limit == 5 and "at most the 5 sessions kept in real time" in source
    assert resolve_max_sessions("auto", cores=8, path=path)[0] == 24  # elsewhere the cost alone speaks


def test_auto_without_a_measurement_names_the_benchmark(tmp_path: Path) -> None:
    with pytest.raises(CapacityUnknown, match="bench_capacity"):
        resolve_max_sessions("auto", cores=2, path=tmp_path / "capacity.json")
    (tmp_path / "bad.json").write_text('{"cores_per_session": 0, "backend": "cascade"}')
    with pytest.raises(CapacityUnknown, match="not a cost measurement"):
        load_cost(tmp_path / "bad.json")


def test_flag_accepts_auto_and_numbers_only() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--max-sessions", "auto"]).max_sessions == "auto"
    assert parser.parse_args(["serve", "--max-sessions", "3"]).max_sessions == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--max-sessions", "many"])


async def _recv(ws: websockets.ClientConnection, kind: str) -> dict:
    async def scan() -> dict:
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event

    return await asyncio.wait_for(scan(), 60)


async def test_server_refuses_the_session_beyond_the_auto_limit(tmp_path: Path) -> None:
    path = save_cost(_cost(1.2), tmp_path / "capacity.json")
    limit, source = resolve_max_sessions("auto", cores=2, path=path)
    assert limit == 1
    server = RealtimeServer(SessionManager(TEXT_ONLY, max_sessions=limit, limit_source=source), ServerOptions(port=0))
    await server.start()
    url = f"ws://127.0.0.1:{server.port}/v1/realtime?model=omnistream"
    try:
        async with websockets.connect(url) as first:
            await _recv(first, "session.created")
            async with websockets.connect(url) as second:
                err = await _recv(second, "error")
                assert err["error"]["code"] == "session_limit_reached"
                assert "1 live sessions; --max-sessions auto: 1.20 cores per cascade session" in err["error"]["message"]
                with pytest.raises(ConnectionClosed) as closed:
                    await second.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello?"}]}
            await first.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await first.send(json.dumps({"type": "response.create"}))  # the admitted session goes on
            assert (await _recv(first, "response.done"))["response"]["status"] == "completed"
    finally:
        await server.close()
