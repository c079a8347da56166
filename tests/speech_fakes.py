"""Stand-ins for the speech-out controller's timing tests: a virtual clock, a synthesiser whose samples count up,
and a sink that records. The real voices and outputs have their own end-to-end tests (tests/test_speech_out.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np

from app.tts import TtsUnavailable

RAMP = 30_000  # the tone voice's sample values count up modulo this, so that order and gaps can be read back


class VirtualClock:
    """The controller's time, moved only by the test. ``advance_to`` lets the worker do everything due up to then
    and returns once it waits again (for a call or a later time)."""

    def __init__(self) -> None:
        self.t = 0.0
        self._state = threading.Condition()
        self._kicks = 0
        self._waiting: tuple[threading.Condition, float | None, int] | None = None

    def now(self) -> float:
        return self.t

    def kick(self, cond: threading.Condition) -> None:
        with self._state:
            self._kicks += 1
        cond.notify_all()

    def wait(self, cond: threading.Condition, until: float | None) -> None:
        with self._state:
            self._waiting = (cond, until, self._kicks)
            self._state.notify_all()
        cond.wait(timeout=5)  # woken by a kick or by advance_to; the timeout only keeps a broken test from hanging
        with self._state:
            self._waiting = None

    def _settled(self) -> bool:
        w = self._waiting
        return w is not None and w[2] == self._kicks and (w[1] is None or w[1] > self.t)

    def settle(self) -> None:
        with self._state:
            assert self._state.wait_for(self._settled, timeout=20), "the speech-out worker did not come to rest"

    def advance_to(self, t: float) -> None:
        while True:
            self.settle()
            assert self._waiting is not None
            cond, until, _ = self._waiting
            if until is None or until > t:
                break
            with self._state:
                self.t = until
            with cond:
                cond.notify_all()
        self.t = max(self.t, t)
        self.settle()


class ToneVoice:
    """Says each word as ``seconds_per_word`` of samples counting up (0, 1, 2, … modulo ``RAMP``), in blocks of
    ``block`` samples; ``fail_after`` blocks it raises, like a broken voice file."""

    latin_only = True

    def __init__(self, sample_rate: int = 16_000, seconds_per_word: float = 0.25, *, block: int = 1000) -> None:
        self.name = "tone"
        self.sample_rate = sample_rate
        self.per_word = round(seconds_per_word * sample_rate)
        self.block = block
        self.fail_after: int | None = None
        self.said: list[str] = []
        self.aborts = 0
        self._next = 0

    def stream(self, text: str, should_stop: Callable[[], bool]) -> Iterator[np.ndarray]:
        self.said.append(text)
        total = self.per_word * len(text.split())
        for i, start in enumerate(range(0, total, self.block)):
            if should_stop():
                return
            if self.fail_after is not None and i >= self.fail_after:
                raise TtsUnavailable(f"{self.name}: the voice file is corrupt")
            n = min(self.block, total - start)
            yield (np.arange(self._next, self._next + n) % RAMP).astype(np.int16)
            self._next += n

    def abort(self) -> None:
        self.aborts += 1


class RecordingSink:
    """Keeps every chunk written and every stop, with the clock's time."""

    def __init__(
        self, clock: VirtualClock | None, sample_rate: int = 16_000, *, lead_s: float = 0.2, drops: bool = True
    ):
        self.clock = clock
        self.sample_rate = sample_rate
        self.lead_s = lead_s
        self.drops_on_stop = drops
        self.writes: list[tuple[float, str, np.ndarray]] = []
        self.stops: list[float] = []

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else 0.0

    def write(self, key: str, pcm: np.ndarray) -> None:
        assert pcm.dtype == np.int16
        self.writes.append((self._now(), key, pcm.copy()))

    def stop(self) -> None:
        self.stops.append(self._now())

    def samples(self, key: str | None = None) -> np.ndarray:
        parts = [pcm for _, k, pcm in self.writes if key in (None, k)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)
