"""Media for the browser tests: a .y4m clip for Chromium's fake camera and a WAV with a spoken question for its fake
microphone (espeak-ng through ``streams.synth``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from streams.items import SAMPLE_RATE
from streams.synth import place, speak, write_media, write_wav, write_y4m

SCREEN_RGB = (200, 30, 30)
SCREEN_TEXT = "OPEN 24"


def screen_frames(count: int, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """A red screen with white text, the text drifting a few pixels per frame so that the picture is alive."""
    width, height = size
    frames = []
    for i in range(count):
        frame = np.full((height, width, 3), SCREEN_RGB, np.uint8)
        origin = (40 + i % 8, height // 2 + 15)
        cv2.putText(frame, SCREEN_TEXT, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 4)
        frames.append(frame)
    return frames


def write_camera_clip(path: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    return write_y4m(path, screen_frames(round(seconds * fps)), fps)


def write_question_wav(path: Path, question: str, *, lead_s: float = 1.0, tail_s: float = 8.0) -> Path:
    """``question`` spoken after ``lead_s`` of silence and followed by ``tail_s`` of silence (Chromium loops it)."""
    speech = speak(question)
    track = place(lead_s + len(speech) / SAMPLE_RATE + tail_s, [(lead_s, speech * 0.8)])
    return write_wav(path, track)


def write_spoken_clip(path: Path, question: str, *, fps: int = 10, lead_s: float = 0.5, tail_s: float = 1.5) -> Path:
    """An MP4 of the red screen with ``question`` spoken on its audio track (for the file-replay path)."""
    speech = speak(question)
    seconds = lead_s + len(speech) / SAMPLE_RATE + tail_s
    audio = place(seconds, [(lead_s, speech * 0.8)])
    return write_media(path, screen_frames(round(seconds * fps)), fps, audio=audio)
