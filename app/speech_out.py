"""Speech out: the one controller that speaks a session's answers, for every interface.

``SpeechOut`` is fed the session's events (``handle``) and does the same thing wherever it runs:

* ``response.delta`` text is cut into sentences; each is made speakable (``app.speakable``) and synthesised by the
  voice in a worker thread as soon as it is complete, while the rest of the answer is still being decoded;
* audio is resampled once to the sink's rate, cut into ``chunk_ms`` chunks and released at playback pace, at most the
  sink's ``lead_s`` ahead of what is playing;
* the user starting to talk (``speech.started`` while audio plays, ``response.paused``) pauses playback: a sink that
  can drop what it holds is stopped and the unheard audio is kept; ``response.resumed``, ``query.ignored``, a noise
  burst too short to be speech or a failed transcription resume it where it stopped; a user turn
  (``query.accepted``), an interrupted or cancelled response or ``cancel`` drop it. Nothing is released after a
  cancel, and the sink is stopped before the next chunk would have been (``chunk_ms``, 40 ms by default);
* every chunk released is reported with the time it will start playing (``note``: the interfaces pass
  ``Session.note_playback``), so the echo guard knows the assistant's own voice when the microphone hears it.

The controller keeps its own record (``released``, ``cancels``, ``stops``) on its clock, which a test can replace
with a virtual one. A voice that fails while speaking is replaced by ``fallback`` (espeak-ng), with a ``report``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from app.audio_out import AudioSink, Resampler
from app.speakable import SentenceSplitter, speakable
from app.speech_options import SpeechOptions
from app.tts import EspeakVoice, TtsUnavailable, Voice, espeak_voice, open_voice
from engine.events import (
    Event,
    Proactive,
    QueryAccepted,
    QueryIgnored,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseResumed,
    SpeechStarted,
    SpeechStopped,
    TranscriptFailed,
)
from engine.options import SessionOptions, TurnOptions
from engine.session import Session
from streams.items import SAMPLE_RATE

log = logging.getLogger(__name__)
_RECORD = 4096  # entries kept in each of the controller's records


class PlayoutClock(Protocol):
    """The controller's time. ``wait`` is called with ``cond`` held and returns when notified (``kick``) or at
    ``until`` (None: only when notified)."""

    def now(self) -> float: ...

    def wait(self, cond: threading.Condition, until: float | None) -> None: ...

    def kick(self, cond: threading.Condition) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def wait(self, cond: threading.Condition, until: float | None) -> None:
        cond.wait(None if until is None else max(0.0, until - self.now()))

    def kick(self, cond: threading.Condition) -> None:
        cond.notify_all()


@dataclass(frozen=True, slots=True)
class Released:
    """A chunk handed to the sink at ``t``, playing from ``start`` (both on the controller's clock)."""

    t: float
    key: str
    start: float
    samples: int


@dataclass(frozen=True, slots=True)
class _Job:
    key: str
    text: str | None  # None: the response's text is complete


Note = Callable[[str, float, np.ndarray], None]  # (key, seconds until it plays, 16 kHz float32 samples)


class SpeechOut:
    def __init__(
        self,
        sink: AudioSink,
        voice: Voice,
        *,
        options: SpeechOptions | None = None,
        turns: TurnOptions | None = None,
        min_speech_ms: int = 250,
        note: Note | None = None,
        on_done: Callable[[str, bool], None] | None = None,
        report: Callable[[str], None] | None = None,
        speaks: Callable[[str], bool] | None = None,
        fallback: Voice | None = None,
        clock: PlayoutClock | None = None,
    ) -> None:
        """``on_done(key, cut)`` runs once per response spoken (in the worker, or in the thread that cut it);
        ``speaks(response_id)`` chooses the responses to speak (all when None); ``report`` hears problems."""
        self.sink = sink
        self.voice = voice
        self.fallback = fallback
        self.options = options or SpeechOptions()
        self.turns = turns or TurnOptions()
        self.min_speech_ms = min_speech_ms
        self.note = note
        self.on_done = on_done
        self.report = report
        self.speaks = speaks
        self.clock: PlayoutClock = clock or MonotonicClock()
        self.chunk = max(1, sink.sample_rate * self.options.chunk_ms // 1000)
        self.released: deque[Released] = deque(maxlen=_RECORD)
        self.cancels: deque[float] = deque(maxlen=_RECORD)
        self.stops: deque[float] = deque(maxlen=_RECORD)
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._splitters: dict[str, SentenceSplitter] = {}
        self._open: set[str] = set()  # responses fed and not yet reported done
        self._dead: deque[str] = deque(maxlen=256)  # responses cut: none of their audio goes out any more
        self._current: str | None = None
        self._paused = False
        self._stopped = False  # the sink was stopped for the pause in progress
        self._stop_pending = False
        self._ahead: deque[tuple[float, str, np.ndarray]] = deque()  # released, not yet played: (start, key, pcm)
        self._replay: deque[tuple[str, np.ndarray]] = deque()  # dropped by a stop before it was heard
        self._play_end = 0.0
        self._closed = False
        self._echo = Resampler(sink.sample_rate, SAMPLE_RATE, to_float=True)
        self._thread = threading.Thread(target=self._run, name="speech-out", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ events (the interface's thread)
    def handle(self, event: Event, scope: str = "") -> None:
        """Act on one session event; ``scope`` prefixes response ids when one output serves several sessions."""
        if isinstance(event, ResponseDelta):
            if self.speaks is None or self.speaks(event.response_id):
                self.feed(scope + event.response_id, event.text)
        elif isinstance(event, ResponseDone):
            key = scope + event.response_id
            if event.status == "completed":
                if self.speaks is None or self.speaks(event.response_id) or key in self._open:
                    self.finish(key)
            else:
                self.cancel(key)
        elif isinstance(event, ResponsePaused):
            self.pause()
        elif isinstance(event, SpeechStarted):
            if self.turns.barge_in and self.speaking:
                self.pause()
        elif isinstance(event, QueryAccepted):
            self.cancel(scope=scope)  # the user's turn: what is left of that session's answer is not said
        elif isinstance(event, (ResponseResumed, QueryIgnored)):
            self.resume()
        elif isinstance(event, SpeechStopped):
            if event.duration * 1000 < self.min_speech_ms:
                self.resume()  # a burst too short to be speech: no transcript will come
        elif isinstance(event, TranscriptFailed):
            self.resume()
        elif isinstance(event, Proactive):
            self.speak(f"{scope}proactive-{event.instruction_id}", event.text)

    # ------------------------------------------------------------------ control (any thread)
    @property
    def speaking(self) -> bool:
        """Whether anything is being synthesised, waits to be, or is still playing."""
        with self._cond:
            return bool(self._open or self._jobs or self._replay or self._play_end > self.clock.now())

    @property
    def paused(self) -> bool:
        return self._paused

    def feed(self, key: str, text: str) -> None:
        """Add a delta of response ``key``; complete sentences are queued for synthesis at once."""
        with self._cond:
            if key in self._dead:
                return
            self._open.add(key)
            for sentence in self._splitters.setdefault(key, SentenceSplitter()).feed(text):
                self._jobs.append(_Job(key, sentence))
            self.clock.kick(self._cond)

    def finish(self, key: str) -> None:
        """The response's text is complete: speak the rest, then report it done."""
        with self._cond:
            if key in self._dead:
                return
            self._open.add(key)
            rest = (self._splitters.pop(key, None) or SentenceSplitter()).flush()
            if rest:
                self._jobs.append(_Job(key, rest))
            self._jobs.append(_Job(key, None))
            self.clock.kick(self._cond)

    def speak(self, key: str, text: str) -> None:
        self.feed(key, text)
        self.finish(key)

    def pause(self) -> None:
        """Hold playback (the user may be taking the turn); ``resume`` goes on with what was not heard."""
        with self._cond:
            self._paused = True
            self.clock.kick(self._cond)

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self.clock.kick(self._cond)

    def cancel(self, key: str | None = None, *, scope: str = "") -> list[str]:
        """Drop response ``key`` (when None: every response whose key starts with ``scope``, so all of one session's
        when several share this output) now: nothing more of it is released and the sink is stopped before the next
        chunk. Returns the responses cut."""
        with self._cond:
            now = self.clock.now()
            self.cancels.append(now)
            cut = sorted(k for k in self._open if k == key or (key is None and k.startswith(scope)))
            if key is not None and key not in self._dead:
                self._dead.append(key)
            for k in cut:
                self._open.discard(k)
                self._splitters.pop(k, None)
                if k not in self._dead:
                    self._dead.append(k)
            self._jobs = deque(j for j in self._jobs if j.key not in self._dead)
            self._replay = deque(c for c in self._replay if c[0] not in self._dead)
            playing = any(
                k in self._dead and start + len(pcm) / self.sink.sample_rate > now for start, k, pcm in self._ahead
            )
            if playing:
                self._drop_ahead(now)
                self._stop_pending = True
            if key is None or not self._open:
                self._paused = False
            aborting = self._current is not None and self._current in self._dead
            self.clock.kick(self._cond)
        if aborting:
            self.voice.abort()
        for k in cut:
            self._done(k, True)
        return cut

    def close(self) -> None:
        self.cancel()
        with self._cond:
            self._closed = True
            self.clock.kick(self._cond)
        self.voice.abort()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ worker
    def _done(self, key: str, cut: bool) -> None:
        if self.on_done is not None:
            try:
                self.on_done(key, cut)
            except Exception:
                log.exception("speech-out on_done callback failed for %s", key)

    def _problem(self, message: str) -> None:
        log.error("%s", message)
        if self.report is not None:
            try:
                self.report(message)
            except Exception:
                log.exception("speech-out report callback failed")

    def _drop_ahead(self, now: float) -> None:
        """The sink is about to drop what it holds: keep what was not heard yet to be released again (lock held)."""
        rate = self.sink.sample_rate
        if self.sink.drops_on_stop:
            unheard = [
                (k, pcm) for start, k, pcm in self._ahead if start + len(pcm) / rate > now and k not in self._dead
            ]
            self._replay.extendleft(reversed([(k, pcm) for k, pcm in unheard if k not in self._dead]))
            self._ahead.clear()
            self._play_end = min(self._play_end, now)

    def _service(self) -> None:
        """Stop the sink where a cancel or a pause asks for it (worker, lock held)."""
        if self._paused and not self._stopped:
            self._stopped = True
            self._drop_ahead(self.clock.now())
            self._stop_pending = True
        if self._stop_pending:
            self._stop_pending = False
            self.stops.append(self.clock.now())
            try:
                self.sink.stop()
            except Exception:
                log.exception("stopping the audio output failed")

    def _cut(self) -> bool:
        return self._closed or (self._current is not None and self._current in self._dead)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    self._service()
                    if self._closed:
                        return
                    if self._replay and not self._paused:
                        break
                    if self._jobs:
                        break
                    self.clock.wait(self._cond, None)
                job = self._jobs.popleft() if self._jobs and not self._replay else None
                self._current = job.key if job is not None else None
            if job is None:
                self._emit(None)  # audio a stop dropped while nothing else was queued
            elif job.text is None:
                with self._cond:
                    finished = job.key in self._open and job.key not in self._dead
                    self._open.discard(job.key)
                    self._current = None
                if finished:
                    self._done(job.key, False)
            else:
                self._say(job.key, job.text)
                with self._cond:
                    self._current = None

    def _say(self, key: str, sentence: str) -> None:
        voice = self.voice
        text = speakable(sentence, latin_only=voice.latin_only)
        if not text:
            log.info("nothing speakable in %r: skipped", sentence)
            return
        convert = Resampler(voice.sample_rate, self.sink.sample_rate)
        pending = np.zeros(0, np.int16)
        try:
            for block in voice.stream(text, self._cut):
                pending = np.concatenate([pending, convert(block)])
                while len(pending) >= self.chunk:
                    if not self._emit((key, pending[: self.chunk])):
                        return
                    pending = pending[self.chunk :]
            if self._cut():
                return
            pending = np.concatenate([pending, convert(None)])
            for i in range(0, len(pending), self.chunk):
                if not self._emit((key, pending[i : i + self.chunk])):
                    return
        except Exception as exc:
            if self._cut():
                return
            if self.fallback is None or voice is self.fallback:
                self._problem(f"speech synthesis failed ({voice.name}) for {sentence!r}: {type(exc).__name__}: {exc}")
                return
            kind = "" if isinstance(exc, TtsUnavailable) else f"{type(exc).__name__}: "
            self._problem(f"{voice.name} failed ({kind}{exc}); {self.fallback.name} speaks from now on")
            self.voice = self.fallback
            self._say(key, sentence)

    def _emit(self, chunk: tuple[str, np.ndarray] | None) -> bool:
        """Release ``chunk`` (after any audio a stop dropped before it was heard) at playback pace; False when the
        response being spoken was cut."""
        rate = self.sink.sample_rate
        queue: deque[tuple[str, np.ndarray]] = deque([chunk] if chunk is not None else [])
        while True:
            with self._cond:
                while True:
                    self._service()
                    if self._cut():
                        return False
                    if self._replay and not self._paused:
                        queue.extendleft(reversed(self._replay))
                        self._replay.clear()
                    while queue and queue[0][0] in self._dead:
                        queue.popleft()
                    if not queue:
                        return True
                    now = self.clock.now()
                    if self._paused:
                        self.clock.wait(self._cond, None)
                    elif self._play_end - now > self.sink.lead_s + 1e-6:  # (rounding must not make it wait 0 s)
                        self.clock.wait(self._cond, self._play_end - self.sink.lead_s)
                    else:
                        break
                key, pcm = queue.popleft()
                start = max(now, self._play_end)
                self._play_end = start + len(pcm) / rate
                while self._ahead and self._ahead[0][0] + len(self._ahead[0][2]) / rate <= now:
                    self._ahead.popleft()
                self._ahead.append((start, key, pcm))
                self._stopped = False
                self.released.append(Released(now, key, start, len(pcm)))
            self.sink.write(key, pcm)
            if self.note is not None:
                try:
                    self.note(key, start - now, self._echo(pcm))
                except Exception:
                    log.exception("reporting playback to the echo guard failed")


def session_note(session: Session) -> Note:
    """Reports released audio to ``session``'s echo guard, on the session's stream clock."""
    return lambda key, delay_s, samples: session.note_playback(session.clock.now() + delay_s, samples)


def open_speech_out(
    sink: AudioSink,
    options: SpeechOptions,
    session_options: SessionOptions,
    *,
    language_voice: str | None = None,
    note: Note | None = None,
    on_done: Callable[[str, bool], None] | None = None,
    report: Callable[[str], None] | None = None,
    speaks: Callable[[str], bool] | None = None,
) -> SpeechOut:
    """The controller an interface speaks with: the voice ``options`` ask for (espeak-ng when it cannot load, with a
    ``report``), espeak-ng as the fallback, the session's barge-in settings. Raises ``TtsUnavailable`` only when
    espeak-ng is missing."""
    voice, problem = open_voice(options, language_voice)
    fallback = voice if isinstance(voice, EspeakVoice) else espeak_voice(options, language_voice)
    out = SpeechOut(
        sink,
        voice,
        options=options,
        turns=session_options.turns,
        min_speech_ms=session_options.vad.min_speech_ms,
        note=note,
        on_done=on_done,
        report=report,
        speaks=speaks,
        fallback=fallback,
    )
    if problem is not None and report is not None:
        report(problem)
    return out
