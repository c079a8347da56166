"""Time stamps as the annotation files write them, to seconds.

Well-formed shapes: ``H:MM:SS`` / ``HH:MM:SS`` (``00:00:31``, ``0:00:31``), ``MM:SS`` (``00:24``) and single-digit
fields (``00:00:8``). The official scripts read every shape as ``sum(int(x) * 60**i)`` over the reversed fields;
``parse_timestamp`` gives the same value for all of them. One field run together (``00:12450``) is not a time stamp;
``repair_timestamp`` reads such a run as minutes and seconds (``12450`` → ``12:45``) when that lands inside the record's
``time`` window, and otherwise refuses.
"""

from __future__ import annotations

import re

_FIELD = re.compile(r"\d{1,2}")
_WINDOW = re.compile(r"^\s*\[?\s*([\d:]+)\s*-\s*([\d:]+)\s*\]?\s*$")


class TimestampError(ValueError):
    """A time stamp that cannot be read; the message quotes it."""


def parse_timestamp(text: str) -> float:
    """Seconds of a well-formed time stamp (1–3 fields of 1–2 digits; minutes and seconds below 60)."""
    if not isinstance(text, str):
        raise TimestampError(f"time stamp must be a string, got {type(text).__name__}")
    fields = text.strip().split(":")
    if not 1 <= len(fields) <= 3 or not all(_FIELD.fullmatch(f) for f in fields):
        raise TimestampError(f"malformed time stamp {text!r} (expected H:MM:SS, MM:SS or SS)")
    values = [int(f) for f in fields]
    if any(v >= 60 for v in values[1:]):
        raise TimestampError(f"malformed time stamp {text!r} (minutes and seconds must be below 60)")
    return float(sum(v * 60**i for i, v in enumerate(reversed(values))))


def parse_window(text: str) -> tuple[float, float]:
    """The record's ``time`` field, ``"[0:12:00 - 0:13:00]"`` → (720.0, 780.0)."""
    m = _WINDOW.match(text) if isinstance(text, str) else None
    if m is None:
        raise TimestampError(f"malformed time window {text!r} (expected '[H:MM:SS - H:MM:SS]')")
    start, end = parse_timestamp(m.group(1)), parse_timestamp(m.group(2))
    if end < start:
        raise TimestampError(f"time window {text!r} ends before it starts")
    return start, end


def repair_timestamp(text: str, window: tuple[float, float] | None) -> float:
    """Read a time stamp whose minutes and seconds ran together (``00:12450``) using the record's window.

    The field before the run is hours; the run is split into two-digit minutes and seconds (extra trailing digits
    dropped); the result is accepted only when it lies inside ``window``. Raises ``TimestampError`` otherwise.
    """
    head, _, run = text.strip().rpartition(":")
    if window is None or len(run) < 4 or not run.isdigit() or (head and not _FIELD.fullmatch(head)):
        raise TimestampError(f"malformed time stamp {text!r} and no way to repair it")
    hours = int(head) if head else 0
    minutes, seconds = int(run[:2]), int(run[2:4])
    value = float(hours * 3600 + minutes * 60 + seconds)
    if seconds >= 60 or not window[0] <= value <= window[1]:
        raise TimestampError(f"malformed time stamp {text!r}: read as {value:.0f} s, outside the record's window")
    return value
