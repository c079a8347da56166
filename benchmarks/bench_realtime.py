"""Latency of the interfaces' own parts, printed as JSON (medians over repeats).

* ``ws_turn_overhead_ms``: ``conversation.item.create`` + ``response.create`` → first ``response.output_text.delta``
  over a local websocket, for an answer the cascade backend gives without decoding (protocol + engine overhead).
  (Spoken replies: ``benchmarks/bench_tts.py``.)
* ``audio_append_x_realtime``: how many times faster than real time 24 kHz pcm16 appends are decoded and resampled.

    python benchmarks/bench_realtime.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time

import numpy as np
import websockets

from app.live import SessionManager
from app.realtime_protocol import InputAudioConverter, parse_client_event
from app.ws_server import RealtimeServer, ServerOptions
from engine.runtime import EngineConfig


async def ws_turn_overhead_ms(repeats: int) -> list[float]:
    server = RealtimeServer(SessionManager(EngineConfig(backend="cascade", speech=False)), ServerOptions(port=0))
    await server.start()
    out: list[float] = []
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/realtime") as ws:
            await ws.recv()
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What do you see?"}]}
            for _ in range(repeats):
                start = time.perf_counter()
                await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
                await ws.send(json.dumps({"type": "response.create"}))
                first = None
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == "response.output_text.delta" and first is None:
                        first = time.perf_counter()
                    if event["type"] == "response.done":
                        break
                assert first is not None
                out.append((first - start) * 1000)
    finally:
        await server.close()
    return out


def audio_append_x_realtime() -> float:
    converter = InputAudioConverter()
    pcm = (np.sin(np.arange(2400) / 7) * 8000).astype("<i2").tobytes()  # 100 ms blocks
    message = json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
    blocks = 600  # 60 s of audio
    start = time.perf_counter()
    for _ in range(blocks):
        event = parse_client_event(message)
        converter.convert(event.pcm)  # type: ignore[union-attr]
    return blocks * 0.1 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    turn = asyncio.run(ws_turn_overhead_ms(args.repeats))
    result = {
        "ws_turn_overhead_ms": round(statistics.median(turn), 1),
        "audio_append_x_realtime": round(audio_append_x_realtime(), 1),
        "repeats": args.repeats,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
