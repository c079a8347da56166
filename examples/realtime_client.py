"""A complete client of ``omnistream serve`` using only ``websockets``: streams a video file's frames (the
``input_video_buffer.append`` extension) and a sound file's audio in real time, asks typed questions, prints the
transcript, gate decisions and streamed answers, and saves spoken replies to a WAV. When the server needs a key,
put it in ``OMNISTREAM_API_KEY``: it is sent as ``Authorization: Bearer``.

    omnistream serve &
    python examples/realtime_client.py --video clip.mp4 --audio question.wav --text "What is on screen?@3"
    python examples/realtime_client.py --text "Describe the scene." --speak-to reply.wav
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
import wave
from typing import Any

import av
import cv2
import numpy as np
import websockets


def _frames(path: str, fps: float) -> list[tuple[float, bytes]]:
    """(media seconds, JPEG bytes) at ``fps``."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise SystemExit(f"error: cannot open video {path}")
    out: list[tuple[float, bytes]] = []
    next_t = 0.0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if t + 1e-6 >= next_t:
            encoded, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
            if encoded:
                out.append((t, jpeg.tobytes()))
            next_t += 1.0 / fps
    cap.release()
    return out


def _pcm24k(path: str) -> bytes:
    """Any sound file → pcm16 mono 24 kHz, the Realtime API's input format."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=24_000)
    parts: list[np.ndarray] = []
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts).astype("<i2").tobytes() if parts else b""


async def _send_video(ws: websockets.ClientConnection, frames: list[tuple[float, bytes]], start: float) -> None:
    for t, jpeg in frames:
        await asyncio.sleep(max(0.0, start + t - time.monotonic()))
        event = {"type": "input_video_buffer.append", "image": base64.b64encode(jpeg).decode()}
        await ws.send(json.dumps(event))


async def _send_audio(ws: websockets.ClientConnection, pcm: bytes, start: float) -> None:
    block = 24_000 * 2 // 10  # 100 ms
    for i in range(0, len(pcm), block):
        await asyncio.sleep(max(0.0, start + i / 48_000 - time.monotonic()))
        await ws.send(
            json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + block]).decode()})
        )
    if pcm:  # a file ends without the trailing silence a microphone gives: end the turn explicitly
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))


async def _send_text(ws: websockets.ClientConnection, questions: list[tuple[float, str]], start: float) -> None:
    for t, text in questions:
        await asyncio.sleep(max(0.0, start + t - time.monotonic()))
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))


def _show(event: dict[str, Any], audio: bytearray) -> None:
    kind = event["type"]
    if kind in ("response.output_text.delta", "response.output_audio_transcript.delta"):
        print(event["delta"], end="", flush=True)
    elif kind == "response.output_audio.delta":
        audio.extend(base64.b64decode(event["delta"]))
    elif kind == "response.created":
        print("\nassistant: ", end="", flush=True)
    elif kind == "response.done":
        response = event["response"]
        if response["status"] != "completed":
            print(f" [{response['status']}: {(response.get('status_details') or {}).get('reason', '')}]", end="")
        print()
    elif kind == "conversation.item.input_audio_transcription.completed":
        print(f"\nyou said: {event['transcript']}")
    elif kind == "query.ignored":
        print(f"\n(ignored: {event['reason']}: {event['text']!r})")
    elif kind == "proactive":
        print(f"\nalert: {event['text']}")
    elif kind == "error":
        print(f"\nerror [{event['error']['code']}] {event['error']['message']}", file=sys.stderr)


def _parse_text(spec: str) -> tuple[float, str]:
    text, sep, at = spec.rpartition("@")
    if sep and text.strip():
        try:
            return float(at), text.strip()
        except ValueError:
            pass
    return 0.0, spec


async def main(args: argparse.Namespace) -> int:
    frames = _frames(args.video, args.fps) if args.video else []
    pcm = _pcm24k(args.audio) if args.audio else b""
    questions = [_parse_text(spec) for spec in args.text]
    duration = max([frames[-1][0] if frames else 0.0, len(pcm) / 48_000, *[t for t, _ in questions]]) + args.linger
    audio = bytearray()
    key = os.environ.get("OMNISTREAM_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with websockets.connect(args.url, max_size=None, additional_headers=headers) as ws:
        created = json.loads(await ws.recv())
        if created["type"] != "session.created":
            _show(created, audio)
            return 1
        if args.speak_to:
            await ws.send(json.dumps({"type": "session.update", "session": {"output_modalities": ["audio"]}}))

        async def receive() -> None:
            async for message in ws:
                _show(json.loads(message), audio)

        receiver = asyncio.create_task(receive())
        start = time.monotonic()
        await asyncio.gather(
            _send_video(ws, frames, start), _send_audio(ws, pcm, start), _send_text(ws, questions, start)
        )
        await asyncio.sleep(max(0.0, start + duration - time.monotonic()))
        receiver.cancel()
    if args.speak_to and audio:
        with wave.open(args.speak_to, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(24_000)
            out.writeframes(bytes(audio))
        print(f"spoken replies: {len(audio) / 48_000:.1f} s written to {args.speak_to}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8765/v1/realtime")
    parser.add_argument("--video", help="video file whose frames are streamed in real time")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--audio", help="sound file streamed as microphone audio in real time")
    parser.add_argument("--text", action="append", default=[], metavar="TEXT[@SECONDS]", help="typed question")
    parser.add_argument("--speak-to", metavar="WAV", help="ask for spoken replies and save them here")
    parser.add_argument("--linger", type=float, default=8.0, help="seconds to wait for answers after the input ends")
    sys.exit(asyncio.run(main(parser.parse_args())))
