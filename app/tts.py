"""Spoken replies: streamed answer text is cut into sentences, each synthesised by espeak-ng as soon as it is complete.

A ``Speaker`` owns one worker thread. The event loop feeds it response deltas; the worker runs ``espeak-ng --stdout``
per sentence, reads its 16-bit PCM while it is being produced, resamples it to the sink's rate and writes it to an
``AudioSink`` in chunks of ``chunk_ms``. ``cancel`` (barge-in, client cancel) takes effect between two chunks: the
sentence's espeak-ng process is killed, queued sentences are dropped and the sink is told to stop, so playback ends
within one chunk.
"""

from __future__ import annotations

import logging
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import av
import numpy as np

log = logging.getLogger(__name__)

ESPEAK_RATE = 22_050  # espeak-ng's output sample rate
_BOUNDARY = re.compile(r"(?<=[.!?;:…])\s+|\n+")


class TtsUnavailable(RuntimeError):
    """Speech synthesis or local playback cannot run on this machine; the message says what is missing."""


class SentenceSplitter:
    """Collects streamed text and hands out whole sentences; a run-on longer than ``max_chars`` is cut at a space."""

    def __init__(self, max_chars: int = 200) -> None:
        self.max_chars = max_chars
        self._buf = ""

    def feed(self, text: str) -> list[str]:
        self._buf += text
        parts = _BOUNDARY.split(self._buf)
        self._buf = parts.pop()
        out = [p.strip() for p in parts if p.strip()]
        while len(self._buf) > self.max_chars:
            cut = self._buf.rfind(" ", 0, self.max_chars)
            cut = cut if cut > 0 else self.max_chars
            out.append(self._buf[:cut].strip())
            self._buf = self._buf[cut:].lstrip()
        return out

    def flush(self) -> str | None:
        rest, self._buf = self._buf.strip(), ""
        return rest or None


class EspeakVoice:
    """Synthesis through the ``espeak-ng`` executable (no model download; the voices ship with the package)."""

    def __init__(self, voice: str = "en-us", words_per_minute: int = 175, executable: str | None = None) -> None:
        if not 80 <= words_per_minute <= 450:
            raise ValueError(f"words_per_minute must be within 80..450, got {words_per_minute}")
        found = shutil.which(executable or "espeak-ng")
        if found is None:
            raise TtsUnavailable(f"{executable or 'espeak-ng'} not found (apt install espeak-ng)")
        self.executable = found
        self.voice = voice
        self.words_per_minute = words_per_minute

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
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            if proc.stderr is not None:
                proc.stderr.close()


class AudioSink(Protocol):
    """Where spoken audio goes. Both methods are called only from the speaker's worker thread."""

    sample_rate: int

    def write(self, response_id: str, pcm: np.ndarray) -> None:
        """Take int16 mono samples at ``sample_rate``; a player blocks here at playback pace."""
        ...

    def stop(self) -> None:
        """Drop whatever is queued or playing right now."""
        ...


class LocalPlayer:
    """Plays through the default (or given) output device with sounddevice."""

    def __init__(self, device: int | str | None = None, sample_rate: int = ESPEAK_RATE) -> None:
        try:
            import sounddevice as sd
        except OSError as exc:
            raise TtsUnavailable(f"local playback unavailable: {exc} (apt install libportaudio2)") from None
        try:
            self._stream = sd.OutputStream(
                samplerate=sample_rate, channels=1, dtype="int16", device=device, latency="low"
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise TtsUnavailable(f"no usable audio output device ({exc})") from None
        self.sample_rate = sample_rate

    def write(self, response_id: str, pcm: np.ndarray) -> None:
        self._stream.write(pcm.reshape(-1, 1))

    def stop(self) -> None:
        self._stream.abort()
        self._stream.start()

    def close(self) -> None:
        self._stream.close()


class EchoTap:
    """An ``AudioSink`` in front of a local player that reports every chunk as it is handed to the player:
    ``note(response_id, samples, delay_s)`` with the chunk as 16 kHz float32 and the seconds until it starts playing
    (after what is still queued), so the session can tell its own voice in the microphone from the user
    (``Session.note_playback``)."""

    def __init__(self, player: AudioSink, note: Callable[[str, np.ndarray, float], None]) -> None:
        self.player = player
        self.note = note
        self.sample_rate = player.sample_rate
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)
        self._queued_until = 0.0  # monotonic time at which the audio handed over so far has played

    def write(self, response_id: str, pcm: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        now = time.monotonic()
        start = max(now, self._queued_until)
        self._queued_until = start + len(pcm) / self.sample_rate
        if parts:
            self.note(response_id, np.concatenate(parts).astype(np.float32, copy=False), start - now)
        self.player.write(response_id, pcm)

    def stop(self) -> None:
        self._queued_until = 0.0
        self.player.stop()


def _resampler(rate: int) -> Callable[[np.ndarray | None], np.ndarray]:
    """Stateful 22.05 kHz → ``rate`` int16 converter; ``None`` drains it at the end of a sentence."""
    if rate == ESPEAK_RATE:
        return lambda pcm: pcm if pcm is not None else np.zeros(0, np.int16)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

    def convert(pcm: np.ndarray | None) -> np.ndarray:
        frame = None
        if pcm is not None:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = ESPEAK_RATE
        parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        return np.concatenate(parts).astype(np.int16, copy=False) if parts else np.zeros(0, np.int16)

    return convert


@dataclass(frozen=True, slots=True)
class _Job:
    generation: int
    response_id: str
    sentence: str | None  # None marks the end of the response


class Speaker:
    """Speaks streamed responses through ``sink``. ``on_done(response_id, cancelled)`` runs in the worker thread,
    or in the thread that calls ``cancel`` for the responses it cuts."""

    def __init__(
        self,
        sink: AudioSink,
        voice: EspeakVoice | None = None,
        *,
        on_done: Callable[[str, bool], None] | None = None,
        chunk_ms: int = 50,
    ) -> None:
        self.sink = sink
        self.voice = voice or EspeakVoice()
        self.on_done = on_done
        self.chunk_samples = max(1, sink.sample_rate * chunk_ms // 1000)
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._splitters: dict[str, SentenceSplitter] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._open: set[str] = set()
        self._playing = threading.Event()
        self._playing.set()
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._thread.start()

    def feed(self, response_id: str, text: str) -> None:
        """Add a delta of ``response_id``; complete sentences are queued for synthesis at once."""
        with self._lock:
            self._open.add(response_id)
            splitter = self._splitters.setdefault(response_id, SentenceSplitter())
            for sentence in splitter.feed(text):
                self._jobs.put(_Job(self._generation, response_id, sentence))

    def finish(self, response_id: str) -> None:
        """The response's text is complete: speak the rest, then report it done."""
        with self._lock:
            self._open.add(response_id)
            splitter = self._splitters.pop(response_id, None) or SentenceSplitter()
            rest = splitter.flush()
            if rest:
                self._jobs.put(_Job(self._generation, response_id, rest))
            self._jobs.put(_Job(self._generation, response_id, None))

    def pause(self) -> None:
        """Hold output (barge-in candidate): the sink is stopped within one chunk; ``resume`` goes on from there."""
        self._playing.clear()

    def resume(self) -> None:
        self._playing.set()

    def cancel(self) -> list[str]:
        """Stop speaking now and drop everything queued; returns the responses that were cut."""
        with self._lock:
            self._generation += 1
            cut = sorted(self._open)
            self._open.clear()
            self._splitters.clear()
        self._playing.set()
        for response_id in cut:
            self._report(response_id, True)
        return cut

    def close(self) -> None:
        self.cancel()
        self._jobs.put(None)
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ worker
    def _report(self, response_id: str, cancelled: bool) -> None:
        if self.on_done is not None:
            try:
                self.on_done(response_id, cancelled)
            except Exception:
                log.exception("speaker on_done callback failed for %s", response_id)

    def _stale(self, generation: int) -> bool:
        return generation != self._generation

    def _hold(self, generation: int) -> bool:
        """Between two chunks: wait out a pause; True when the job was cancelled (the sink is then stopped)."""
        if not self._playing.is_set():
            self.sink.stop()
            self._playing.wait()
        if self._stale(generation):
            self.sink.stop()
            return True
        return False

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._stale(job.generation):
                continue
            if job.sentence is None:
                with self._lock:
                    finished = not self._stale(job.generation) and job.response_id in self._open
                    self._open.discard(job.response_id)
                if finished:
                    self._report(job.response_id, False)
                continue
            try:
                self._say(job)
            except Exception as exc:
                log.error("speech synthesis failed for %r: %s", job.sentence, exc)

    def _say(self, job: _Job) -> None:
        assert job.sentence is not None
        convert = _resampler(self.sink.sample_rate)
        pending = np.zeros(0, np.int16)
        for block in self.voice.stream(job.sentence, lambda: self._stale(job.generation)):
            pending = np.concatenate([pending, convert(block)])
            while len(pending) >= self.chunk_samples:
                if self._hold(job.generation):
                    return
                self.sink.write(job.response_id, pending[: self.chunk_samples])
                pending = pending[self.chunk_samples :]
        if self._hold(job.generation):
            return
        pending = np.concatenate([pending, convert(None)])
        for i in range(0, len(pending), self.chunk_samples):
            if self._hold(job.generation):
                return
            self.sink.write(job.response_id, pending[i : i + self.chunk_samples])
