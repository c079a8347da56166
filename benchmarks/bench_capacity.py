"""Capacity: how many live websocket sessions one ``omnistream serve`` carries in real time, and the per-session cost
that ``--max-sessions auto`` reads (app/capacity.py).

Starts ``omnistream serve`` (``--backend``, default cascade) on loopback with the limit set to the cap, then ramps
N = 1, 2, … up to ``--max-n``: each step opens N sessions at once, each streaming 2 fps JPEG video and real-time
24 kHz audio (faint noise) with an espeak-ng spoken question every ``--question-every-s`` seconds (staggered across
sessions), for ``--step-s`` seconds. A step keeps every session in real time when no session's ``metrics`` reports a
dropped audio chunk and every question is answered within ``--latency-factor`` × the single-session median (answer
latency: the last sample of the question sent → its first text delta, client wall time). The ramp stops at the first
step that fails. The server's CPU time per second at N = 1 is the per-session cost written to
``$OMNISTREAM_CACHE/capacity.json``. Bounded: at most ``max_n`` steps of ``step_s`` seconds, then the server is stopped.

python -m benchmarks.bench_capacity [--max-n 6] [--step-s 60] [--question-every-s 20] [--backend cascade] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import websockets

from app.capacity import SessionCost, auto_limit, save_cost, usable_cores
from app.realtime_protocol import WIRE_RATE, pcm16_base64
from streams.items import SAMPLE_RATE
from streams.synth import resample, speak

FPS = 2.0
BLOCK_S = 0.1  # audio is sent in 100 ms blocks, as examples/realtime_client.py does
QUESTIONS = (
    "What colour is the screen right now?",
    "What is written on the screen?",
    "What number is shown on the screen?",
)
LISTENING = re.compile(r"ws://[^\s]+/v1/realtime")


@dataclass
class SessionResult:
    latencies_s: list[float] = field(default_factory=list)
    unanswered: int = 0
    audio_dropped: int = 0
    errors: list[str] = field(default_factory=list)


def _frame(t: float) -> str:
    image = np.zeros((240, 320, 3), np.uint8)
    image[:] = (40, 40 + int(t * 7) % 200, 160)
    cv2.putText(image, f"ROOM {int(t) // 10}", (60, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(data.tobytes()).decode()


def _wire_audio(samples_16k: np.ndarray) -> np.ndarray:
    return (np.clip(resample(samples_16k, SAMPLE_RATE, WIRE_RATE), -1, 1) * 32767).astype(np.int16)


async def _session(url: str, step_s: float, offset_s: float, every_s: float, spoken: list[np.ndarray]) -> SessionResult:
    result = SessionResult()
    rng = np.random.default_rng(int(offset_s * 1000))
    block = round(WIRE_RATE * BLOCK_S)
    asked: list[float] = []  # wall time each question's last sample was sent
    answered: set[int] = set()
    async with websockets.connect(url, max_size=1 << 24) as ws:
        await ws.send(
            json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
        )

        async def receive() -> None:
            async for raw in ws:
                event = json.loads(raw)
                kind = event["type"]
                if kind == "response.output_text.delta" and asked and len(asked) - 1 not in answered:
                    answered.add(len(asked) - 1)
                    result.latencies_s.append(time.monotonic() - asked[-1])
                elif kind == "metrics":
                    result.audio_dropped = max(result.audio_dropped, int(event["values"]["audio_chunks_dropped"]))
                elif kind == "error":
                    result.errors.append(event["error"]["message"])

        receiver = asyncio.create_task(receive())
        start = time.monotonic()
        question_at = [offset_s + k * every_s for k in range(int((step_s - offset_s - 6) // every_s) + 1)]
        pending: np.ndarray | None = None
        next_frame = 0.0
        t = 0.0
        while t < step_s:
            await asyncio.sleep(max(0.0, start + t - time.monotonic()))  # real-time pacing of a live microphone
            if question_at and t >= question_at[0]:
                question_at.pop(0)
                pending = spoken[len(asked) % len(spoken)]
            noise = (rng.normal(0, 60, block)).astype(np.int16)
            if pending is not None:
                chunk, pending = pending[:block], pending[block:]
                noise[: len(chunk)] += chunk
                if not len(pending):
                    pending = None
                    asked.append(time.monotonic())
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": pcm16_base64(noise)}))
            if t >= next_frame:
                await ws.send(json.dumps({"type": "input_video_buffer.append", "image": _frame(t)}))
                next_frame += 1 / FPS
            t += BLOCK_S
        await asyncio.sleep(0)
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
    result.unanswered = len(asked) - len(answered)
    return result


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime in clock ticks (USER_HZ = 100)


async def _start_server(args: argparse.Namespace) -> tuple[asyncio.subprocess.Process, str]:
    # room for the previous step's sessions, whose slots are freed as the server closes them after the disconnect
    limit = str(2 * args.max_n)
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", "0", "--no-speak", "--max-sessions", limit]
    proc = await asyncio.create_subprocess_exec(*cmd, "--backend", args.backend, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    while line := (await proc.stderr.readline()).decode():
        if match := LISTENING.search(line):
            return proc, match.group(0) + "?model=omnistream"
    raise SystemExit(f"omnistream serve exited before listening (rc {await proc.wait()})")


async def run(args: argparse.Namespace) -> dict:
    spoken = [_wire_audio(speak(q)) for q in QUESTIONS]
    proc, url = await _start_server(args)
    steps: list[dict] = []
    baseline: float | None = None
    try:
        for n in range(1, args.max_n + 1):
            cpu0, wall0 = _cpu_s(proc.pid), time.monotonic()
            offsets = [3.0 + i * args.question_every_s / n for i in range(n)]
            results = await asyncio.gather(
                *(_session(url, args.step_s, o, args.question_every_s, spoken) for o in offsets)
            )
            cores = (_cpu_s(proc.pid) - cpu0) / (time.monotonic() - wall0)
            latencies = [x for r in results for x in r.latencies_s]
            median = statistics.median(latencies) if latencies else None
            if n == 1:
                baseline = median
            bound = args.latency_factor * baseline if baseline else None
            real_time = bool(
                bound
                and all(r.audio_dropped == 0 and r.unanswered == 0 for r in results)
                and (n == 1 or all(x <= bound for x in latencies))  # N = 1 defines the bound (its first answer is cold)
            )
            step = {
                "n": n,
                "server_cores": round(cores, 3),
                "median_latency_s": median,
                "real_time": real_time,
                "sessions": [asdict(r) for r in results],
            }
            steps.append(step)
            print(json.dumps({k: v for k, v in step.items() if k != "sessions"}), flush=True)
            if not real_time:
                break
    finally:
        proc.terminate()
        await proc.wait()
    passing = [s["n"] for s in steps if s["real_time"]]
    cost = SessionCost(
        steps[0]["server_cores"],
        args.backend,
        usable_cores(),
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        kept_real_time=max(passing, default=0) if len(passing) < len(steps) else None,  # None: the cap was not found
    )
    path = save_cost(cost)
    return {
        "largest_real_time_n": max(passing, default=0),
        "cores_per_session": cost.cores_per_session,
        "auto_limit": auto_limit(cost, usable_cores()),
        "cores": usable_cores(),
        "cost_file": str(path),
        "steps": steps,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-n", type=int, default=6)
    p.add_argument("--step-s", type=float, default=60.0)
    p.add_argument("--question-every-s", type=float, default=20.0)
    p.add_argument("--latency-factor", type=float, default=2.0)
    p.add_argument("--backend", default="cascade")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "steps"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
