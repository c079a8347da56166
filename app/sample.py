"""The sample clip for ``omnistream run --sample``: generated once, then reused from the cache.

18 s of 640×360 video in three scenes (a blue "GATE 7" sign, a red "EXIT 42" sign, a green "PLATFORM 3" sign, with
a moving ball), and an audio track with a spoken question at 13 s asking what is on the screen.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from engine.assets import cache_dir
from streams.synth import place, speak, write_media

VERSION = 1
FPS = 10
SECONDS = 18.0
QUESTION = "What is written on the screen right now?"
QUESTION_AT = 13.0
SCENES = [  # (start s, background RGB, sign text)
    (0.0, (20, 40, 160), "GATE 7"),
    (6.0, (170, 20, 20), "EXIT 42"),
    (12.0, (20, 130, 40), "PLATFORM 3"),
]


def _frames() -> Iterator[np.ndarray]:
    width, height = 640, 360
    for i in range(int(SECONDS * FPS)):
        t = i / FPS
        _, colour, text = [s for s in SCENES if s[0] <= t][-1]
        frame = np.zeros((height, width, 3), np.uint8)
        frame[:] = colour
        size, _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 2.2, 5)
        cv2.putText(
            frame, text, ((width - size[0]) // 2, 150), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (255, 255, 255), 5, cv2.LINE_AA
        )
        x = int(60 + (width - 120) * ((t % 6.0) / 6.0))
        cv2.circle(frame, (x, 280), 28, (250, 220, 30), -1)
        yield frame


def sample_clip() -> Path:
    """Path of the sample clip, generating it on first use."""
    path = cache_dir("sample") / f"sample-v{VERSION}.mp4"
    if path.exists():
        return path
    audio = place(SECONDS, [(QUESTION_AT, speak(QUESTION))])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.mp4")
    write_media(tmp, _frames(), FPS, audio=audio)
    os.replace(tmp, path)
    return path
