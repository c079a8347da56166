"""Spoken replies played locally through a real PortAudio/ALSA output (sounddevice) on a machine without a sound card.

The child process (``tests/playback_child.py``) runs with a HOME whose ``.asoundrc`` makes ALSA's default device the
``file`` plugin (slave ``null``) writing a WAV stream into a FIFO. This test reads the FIFO at the stream's sample rate
through a 4 KiB pipe buffer, so the player blocks as on a real card and playback runs in real time. The MQTT bridge
speaks an answer there; the user's speech pauses it; every chunk played is reported to the session's echo guard.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.speakable import speakable
from app.tts import ESPEAK_RATE, EspeakVoice
from engine.assets import cache_dir

ROOT = Path(__file__).resolve().parent.parent
F_SETPIPE_SZ = 1031  # fcntl command (Linux)
PIPE_BYTES = 4096  # ≈ 93 ms of 22.05 kHz pcm16: the "device buffer"
BARGE_IN_S = 0.35  # speech onset → silence: one 50 ms chunk, the pipe buffer, event delivery and a loaded machine
ASOUNDRC = """pcm.!default {{
    type file
    slave.pcm "null"
    file "{path}"
    format "wav"
}}
"""


class PacedFifoReader(threading.Thread):
    """Consumes the device's WAV stream like a sound card: at its sample rate, noting when each block arrived."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._keep_open: int | None = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # no EOF before the player opens
        fcntl.fcntl(self.fd, F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(self.fd, True)
        self.header = b""
        self.blocks: list[tuple[float, bytes]] = []

    def run(self) -> None:
        start, consumed = 0.0, 0
        while True:
            data = os.read(self.fd, 1024)
            if self._keep_open is not None:
                os.close(self._keep_open)
                self._keep_open = None
            if not data:
                break
            if len(self.header) < 44:
                take = 44 - len(self.header)
                self.header += data[:take]
                data = data[take:]
                if not data:
                    continue
            now = time.monotonic()
            self.blocks.append((now, data))
            bytes_per_s = 2 * struct.unpack("<I", self.header[24:28])[0]
            if now > start + consumed / bytes_per_s + 0.05:  # the player was idle (paused): start pacing afresh
                start, consumed = now, 0
            consumed += len(data)
            time.sleep(max(0.0, start + consumed / bytes_per_s - time.monotonic()))
        os.close(self.fd)

    def samples(self, before: float) -> np.ndarray:
        return np.frombuffer(b"".join(data for t, data in self.blocks if t < before), "<i2")


@pytest.mark.e2e
def test_bridge_speaks_through_sounddevice_reports_its_echo_and_barge_in_pauses_it(tmp_path: Path) -> None:
    fifo = tmp_path / "device.wav"
    os.mkfifo(fifo)
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(path=fifo))
    reader = PacedFifoReader(fifo)
    reader.start()
    result_file = tmp_path / "result.json"
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "OMNISTREAM_CACHE": str(cache_dir())}
    child = subprocess.run(
        [sys.executable, "-m", "tests.playback_child", str(result_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    reader.join(timeout=10)
    out = json.loads(result_file.read_text())

    # the device got a WAV stream: mono pcm16 at espeak-ng's rate
    assert reader.header[:4] == b"RIFF" and reader.header[8:16] == b"WAVEfmt "
    assert struct.unpack("<HHI", reader.header[20:28]) == (1, 1, ESPEAK_RATE)
    assert struct.unpack("<H", reader.header[34:36]) == (16,)

    # what was played before the user's turn is exactly the start of the spoken answer, and nothing else
    played = reader.samples(before=out["turn"])
    spoken = np.concatenate(list(EspeakVoice().stream(speakable(out["answer"].strip()), lambda: False)))
    assert np.abs(played).max() > 1000
    assert np.array_equal(played, spoken[: len(played)])

    # it played in real time until the user spoke, then stopped early: most of the answer was never played
    first_audio = reader.blocks[0][0]
    assert out["user_speaks"] - first_audio > 1.0
    assert 1.0 < len(played) / ESPEAK_RATE < out["speech_started"] - first_audio + BARGE_IN_S
    assert len(spoken) / ESPEAK_RATE - len(played) / ESPEAK_RATE > 2.0
    late = [t for t, _ in reader.blocks if out["speech_started"] + BARGE_IN_S < t < out["turn"]]
    assert not late, f"audio kept playing {late[-1] - out['speech_started']:.2f} s after the speech onset"
    assert "wait a moment" in out["heard"].lower()

    # the session's echo guard heard about every chunk as it went to the device
    noted = sum(b - a for a, b in out["played"])
    assert abs(noted - len(played) / ESPEAK_RATE) < 0.15
    assert abs(out["played"][0][0] - first_audio) < 0.3
    assert abs(out["played"][-1][1] - (first_audio + len(played) / ESPEAK_RATE)) < 0.3  # contiguous, on time
