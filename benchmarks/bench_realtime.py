"""Latency of the interfaces' own parts, printed as JSON (medians over repeats).

* ``tts_first_audio_ms``: a complete sentence handed to the speaker → its first 50 ms audio block (espeak-ng).
* ``tts_cancel_stop_ms``: ``Speaker.cancel()`` during playback → the sink is stopped (paced like a sound card).
* ``ws_turn_overhead_ms``: ``conversation.item.create`` + ``response.create`` → first ``response.output_text.delta``
  over a local websocket, for an answer the cascade backend gives without decoding (protocol + engine overhead).
* ``audio_append_x_realtime``: how many times faster than real time 24 kHz pcm16 appends are decoded and resampled.

    python benchmarks/bench_realtime.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import threading
import time

import numpy as np
import websockets

from app.live import SessionManager
from app.realtime_protocol import InputAudioConverter, parse_client_event
from app.tts import ESPEAK_RATE, Speaker
from app.ws_server import RealtimeServer, ServerOptions
from engine.runtime import EngineConfig


class _Sink:
    def __init__(self, paced: bool) -> None:
        self.sample_rate = ESPEAK_RATE
        self.paced = paced
        self.first = threading.Event()
        self.stopped = threading.Event()
        self.first_at = 0.0
        self.stopped_at = 0.0

    def write(self, response_id: str, pcm: np.ndarray) -> None:
        if not self.first.is_set():
            self.first_at = time.perf_counter()
            self.first.set()
        if self.paced:
            time.sleep(len(pcm) / self.sample_rate)

    def stop(self) -> None:
        if not self.stopped.is_set():
            self.stopped_at = time.perf_counter()
            self.stopped.set()


def tts_first_audio_ms() -> float:
    sink = _Sink(paced=False)
    speaker = Speaker(sink)
    try:
        start = time.perf_counter()
        speaker.feed("r", "The red box is on the left side of the table. ")  # the space of the next delta ends it
        sink.first.wait(10)
        return (sink.first_at - start) * 1000
    finally:
        speaker.close()


def tts_cancel_stop_ms() -> float:
    sink = _Sink(paced=True)
    speaker = Speaker(sink)
    try:
        speaker.feed("r", "This answer is long enough to still be playing when the user interrupts it.")
        speaker.finish("r")
        sink.first.wait(10)
        time.sleep(0.2)
        start = time.perf_counter()
        speaker.cancel()
        sink.stopped.wait(5)
        return (sink.stopped_at - start) * 1000
    finally:
        speaker.close()


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
    first = [tts_first_audio_ms() for _ in range(args.repeats)]
    stop = [tts_cancel_stop_ms() for _ in range(args.repeats)]
    turn = asyncio.run(ws_turn_overhead_ms(args.repeats))
    result = {
        "tts_first_audio_ms": round(statistics.median(first), 1),
        "tts_cancel_stop_ms": round(statistics.median(stop), 1),
        "tts_cancel_stop_ms_max": round(max(stop), 1),
        "ws_turn_overhead_ms": round(statistics.median(turn), 1),
        "audio_append_x_realtime": round(audio_append_x_realtime(), 1),
        "repeats": args.repeats,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
