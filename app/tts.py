"""Voices: what turns a sentence into audio, and which voice an interface speaks with.

A ``Voice`` yields int16 blocks at its ``sample_rate`` for one sentence while it synthesises, stops when asked between
two blocks and can be aborted from another thread. ``EspeakVoice`` runs the ``espeak-ng`` program (formant
synthesis, many languages); ``app.piper_voice.PiperVoice`` is the neural English voice. ``open_voice`` picks one from
``SpeechOptions``: the Piper voice for English unless espeak-ng is asked for, espeak-ng for other languages, and
espeak-ng with a stated reason when the Piper voice cannot be loaded.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from app.speech_options import SpeechOptions
from engine.backends.base import AssetStatus

log = logging.getLogger(__name__)

ESPEAK_RATE = 22_050  # espeak-ng's output sample rate


class TtsUnavailable(RuntimeError):
    """Speech synthesis or local playback cannot run on this machine; the message says what is missing."""


class Voice(Protocol):
    name: str
    sample_rate: int
    latin_only: bool  # the voice reads only Latin script: words in other scripts are skipped

    def stream(self, text: str, should_stop: Callable[[], bool]) -> Iterator[np.ndarray]:
        """int16 mono blocks at ``sample_rate`` while the sentence is synthesised, until ``should_stop``."""
        ...

    def abort(self) -> None:
        """End the synthesis in progress now (called from another thread)."""
        ...


class EspeakVoice:
    """Synthesis through the ``espeak-ng`` executable (no model download; the voices ship with the package)."""

    sample_rate = ESPEAK_RATE
    latin_only = False  # espeak-ng reads many scripts with its language voices

    def __init__(self, voice: str = "en-us", words_per_minute: int = 175, executable: str | None = None) -> None:
        if not 80 <= words_per_minute <= 450:
            raise ValueError(f"words_per_minute must be within 80..450, got {words_per_minute}")
        found = shutil.which(executable or "espeak-ng")
        if found is None:
            raise TtsUnavailable(f"{executable or 'espeak-ng'} not found (apt install espeak-ng)")
        self.executable = found
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.name = f"espeak:{voice}"
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def abort(self) -> None:
        """End the synthesis in progress (any thread): its espeak-ng process is killed."""
        with self._lock:
            for proc in self._procs:
                proc.kill()

    def check(self) -> None:
        """Synthesise a word; raises ``TtsUnavailable`` naming the problem (e.g. an unknown voice)."""
        for _ in self.stream("ok", lambda: False):
            pass

    def stream(self, text: str, should_stop: Callable[[], bool], block_samples: int = 1024) -> Iterator[np.ndarray]:
        """Yield int16 blocks at 22.05 kHz while espeak-ng produces them; kills the process once ``should_stop``."""
        proc = subprocess.Popen(
            [self.executable, "--stdout", "-v", self.voice, "-s", str(self.words_per_minute)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        with self._lock:
            self._procs.add(proc)
        try:
            proc.stdin.write(text.encode("utf-8"))
            proc.stdin.close()
            header = proc.stdout.read(44)
            if len(header) < 44 or header[:4] != b"RIFF" or header[36:40] != b"data":
                proc.wait()
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                raise TtsUnavailable(f"espeak-ng produced no audio for voice {self.voice!r}: {err or 'no output'}")
            pending = b""
            while not should_stop():
                data = proc.stdout.read1(block_samples * 2)  # type: ignore[attr-defined]
                if not data:
                    break
                data = pending + data
                usable = len(data) - len(data) % 2
                pending = data[usable:]
                if usable:
                    yield np.frombuffer(data[:usable], dtype="<i2").copy()
        finally:
            with self._lock:
                self._procs.discard(proc)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            if proc.stderr is not None:
                proc.stderr.close()


def espeak_voice(options: SpeechOptions, voice: str | None = None) -> EspeakVoice:
    """espeak-ng at ``options.speed`` (175 words per minute at 1.0)."""
    return EspeakVoice(voice or options.espeak_voice, words_per_minute=max(80, min(450, round(175 * options.speed))))


def open_voice(options: SpeechOptions, language_voice: str | None = None) -> tuple[Voice, str | None]:
    """The voice to speak with, and why it is not the one asked for (None when it is).

    ``language_voice`` is an espeak-ng voice a client asked for by name (e.g. "fr"): languages other than English are
    spoken by espeak-ng. Raises ``TtsUnavailable`` only when espeak-ng itself is missing.
    """
    wanted = language_voice or options.espeak_voice
    fallback = espeak_voice(options, wanted)
    if options.engine == "espeak" or not wanted.lower().startswith("en"):
        return fallback, None
    from app.piper_voice import PiperVoice

    try:
        return PiperVoice(options.piper_voice, speed=options.speed, espeak=fallback.executable), None
    except TtsUnavailable as exc:
        problem = f"the Piper voice is unavailable ({exc}); speaking with espeak-ng instead"
        log.error("%s", problem)
        return fallback, problem


def describe_voices(options: SpeechOptions | None = None) -> list[AssetStatus]:
    """What ``omnistream models`` prints for spoken replies: the Piper voice loads, espeak-ng is there."""
    from app.piper_voice import PiperVoice

    options = options or SpeechOptions()
    out = []
    try:
        voice = PiperVoice(options.piper_voice)
        out.append(AssetStatus("voice", True, f"{voice.name} ({voice.sample_rate} Hz) from {voice.model.path}"))
    except TtsUnavailable as exc:
        out.append(AssetStatus("voice", False, f"{exc}; spoken replies fall back to espeak-ng"))
    try:
        out.append(AssetStatus("espeak-ng", True, espeak_voice(options).executable))
    except TtsUnavailable as exc:
        out.append(AssetStatus("espeak-ng", False, str(exc)))
    return out
