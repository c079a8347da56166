"""Per-session input rate limits: a token bucket, the admission of one client's messages built from three of them
(messages per second, bytes per second, video frames per second), and the reporting of what was refused. Used by the
websocket server and the MQTT bridge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


class TokenBucket:
    """Holds up to ``capacity`` tokens, gains ``rate`` per second; ``take(n)`` spends ``n`` if that many are there."""

    def __init__(self, rate: float, capacity: float, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError(f"a token bucket needs a positive rate and capacity, got {rate} and {capacity}")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def take(self, amount: float = 1.0) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + max(0.0, now - self._stamp) * self.rate)
        self._stamp = now
        if amount > self._tokens:
            return False
        self._tokens -= amount
        return True


@dataclass(frozen=True)
class RateLimits:
    """Sustained rates one session may send; each bucket holds ``burst_s`` seconds of its rate."""

    messages_per_s: float = 200.0  # 20 ms audio chunks (50/s) + 30 fps video + control events, with room to spare
    bytes_per_s: float = 8 * 1024 * 1024  # 24 kHz pcm16 is 64 KB/s in base64; 30 fps of 720p JPEG about 4 MB/s
    max_fps: float = 30.0  # video frames per second; frames above it are dropped
    burst_s: float = 1.0  # bucket size in seconds of its rate (the byte bucket holds at least the largest message)
    report_interval_s: float = 1.0  # at most one report of refused input per interval

    def __post_init__(self) -> None:
        for name in ("messages_per_s", "bytes_per_s", "max_fps", "burst_s", "report_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"RateLimits.{name} must be positive, got {getattr(self, name)}")


class InputLimiter:
    """One session's admission of input. Refused input is counted by kind (``messages``, ``bytes``, ``frames``);
    ``report`` describes what was refused since the previous report, at most once per ``report_interval_s``."""

    def __init__(self, limits: RateLimits, *, largest_message: int, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        burst = limits.burst_s
        self._messages = TokenBucket(limits.messages_per_s, max(1.0, limits.messages_per_s * burst), clock)
        self._bytes = TokenBucket(limits.bytes_per_s, max(float(largest_message), limits.bytes_per_s * burst), clock)
        self._frames = TokenBucket(limits.max_fps, max(1.0, limits.max_fps * burst), clock)
        self.dropped = {"messages": 0, "bytes": 0, "frames": 0}
        self._reported = dict(self.dropped)
        self._last_report: float | None = None

    def admit(self, size: int) -> bool:
        """One message of ``size`` bytes: False (and counted) when over the message or byte rate."""
        if not self._messages.take():
            self.dropped["messages"] += 1
            return False
        if not self._bytes.take(size):
            self.dropped["bytes"] += 1
            return False
        return True

    def admit_frame(self) -> bool:
        """One video frame: False (and counted) when over ``max_fps``."""
        if self._frames.take():
            return True
        self.dropped["frames"] += 1
        return False

    def seconds_until_report(self) -> float:
        if self._last_report is None:
            return 0.0
        return max(0.0, self.limits.report_interval_s - (self._clock() - self._last_report))

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def report(self) -> str | None:
        """What was refused since the last report, naming the limits; None when nothing new or reported too recently."""
        now = self._clock()
        new = {kind: count - self._reported[kind] for kind, count in self.dropped.items()}
        if not any(new.values()):
            return None
        if self._last_report is not None and now - self._last_report < self.limits.report_interval_s:
            return None
        self._last_report = now
        self._reported = dict(self.dropped)
        limits = self.limits
        parts = []
        if new["messages"]:
            parts.append(f"{new['messages']} messages over {limits.messages_per_s:g} messages/s")
        if new["bytes"]:
            parts.append(f"{new['bytes']} messages over {limits.bytes_per_s / 1024 / 1024:g} MiB/s")
        if new["frames"]:
            parts.append(f"{new['frames']} video frames over {limits.max_fps:g} frames/s")
        return "rate limit: dropped " + ", ".join(parts) + " since the last report"


class RateGuard:
    """A session's ``InputLimiter`` on an event loop. Refused input is reported through ``send(report, ref)`` (``ref``:
    what the refused message was, e.g. the client's event id) when a report is due, else once the interval has passed
    (one timer), so the tail of a flood is reported too."""

    def __init__(self, limiter: InputLimiter, send: Callable[[str, str | None], None]) -> None:
        self.limiter = limiter
        self._send = send
        self._timer: asyncio.TimerHandle | None = None

    def admit(self, size: int, ref: str | None = None) -> bool:
        if self.limiter.admit(size):
            return True
        self._refused(ref)
        return False

    def admit_frame(self, ref: str | None = None) -> bool:
        if self.limiter.admit_frame():
            return True
        self._refused(ref)
        return False

    def _refused(self, ref: str | None) -> None:
        report = self.limiter.report()
        if report is not None:
            self._send(report, ref)
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.limiter.seconds_until_report(), self._late_report)

    def _late_report(self) -> None:
        self._timer = None
        report = self.limiter.report()
        if report is not None:
            self._send(report, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
