"""Run by ``tests/test_local_playback.py`` in a subprocess whose ALSA default device writes to a file: the MQTT bridge
speaks an answer on the local output through sounddevice, the user talks over it 1.5 s in, and what happened is
written as JSON (wall times from ``time.monotonic``, comparable across processes) once the user's turn is accepted.

The bridge's input handler is called directly; its MQTT transport is tested against mosquitto in
``tests/test_mqtt_bridge.py``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import numpy as np

from app.audio_out import LocalPlayer
from app.live import SessionManager
from app.mqtt_bridge import BridgeOptions, MqttBridge
from app.speech_options import SpeechOptions
from app.tts import ESPEAK_RATE
from engine.events import QueryAccepted, ResponseDelta, ResponseDone, SpeechStarted
from engine.gate import AnswerEverything
from engine.runtime import EngineConfig
from streams.synth import speak

USER_SPEAKS_AFTER_S = 1.5


async def run() -> dict[str, Any]:
    manager = SessionManager(EngineConfig(backend="cascade", speech=True, policy=AnswerEverything()), max_sessions=1)
    speech = SpeechOptions(
        engine="espeak", device_rate=ESPEAK_RATE
    )  # espeak-ng is deterministic: checked sample by sample
    bridge = MqttBridge(manager, BridgeOptions(), speech_sink=LocalPlayer(ESPEAK_RATE), speech=speech)
    await bridge._on_message("dev1", "command", b'{"command": "start"}')
    live = bridge.sessions["dev1"]
    events = live.session.subscribe()
    out: dict[str, Any] = {}
    await bridge._on_message("dev1", "text", b"What is on the screen?")
    async for event in events:
        if isinstance(event, ResponseDelta) and "first_delta" not in out:
            out["first_delta"] = time.monotonic()
            out["answer"] = event.text
            await asyncio.sleep(USER_SPEAKS_AFTER_S)  # the user listens for a moment, then talks over the answer
            # the microphone goes on after the words: long enough for any end of turn (semantic: at most 1.5 s)
            said = np.concatenate([speak("Stop, wait a moment please."), np.zeros(2 * 16_000, np.float32)])
            pcm = np.clip(said * 32767, -32768, 32767).astype("<i2")
            out["user_speaks"] = time.monotonic()
            await bridge._on_message("dev1", "audio", pcm.tobytes())
        elif isinstance(event, SpeechStarted) and "speech_started" not in out:
            out["speech_started"] = time.monotonic()
        elif isinstance(event, ResponseDone) and "done" not in out:
            out["done"] = time.monotonic()  # the text is complete long before it has been spoken
        elif isinstance(event, QueryAccepted) and event.source == "speech":
            out["turn"] = time.monotonic()  # the user's turn: what was left of the answer is dropped
            out["heard"] = event.text
            break
    offset = time.monotonic() - live.session.clock.now()
    out["played"] = [(a + offset, b + offset) for a, b in live.session.echo.playback_intervals()]
    await bridge.close()
    return out


if __name__ == "__main__":
    result = asyncio.run(run())
    with open(sys.argv[1], "w") as f:
        json.dump(result, f)
