"""Value types for command-line flags, shared by every command: each turns the text into a value or raises
``argparse.ArgumentTypeError`` with a message naming what was expected and what was given."""

from __future__ import annotations

import argparse


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return number


def sessions_limit(value: str) -> int | str:
    """``--max-sessions``: a positive whole number, or ``auto`` (derived from a measured cost, app/capacity.py)."""
    if value == "auto":
        return value
    return positive_int(value)


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {value}")
    return number


def positive(value: str) -> float:
    number = _number(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return number


def non_negative(value: str) -> float:
    number = _number(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return number


def fraction(value: str) -> float:
    """A number in [0, 1)."""
    number = non_negative(value)
    if number >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return number


def unit_interval(value: str) -> float:
    """A number in (0, 1]."""
    number = positive(value)
    if number > 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value}")
    return number


def seconds_or_off(value: str) -> float | None:
    return None if value == "off" else non_negative(value)


def port(value: str) -> int:
    number = positive_int(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"expected a port within 1..65535, got {number}")
    return number


def port_or_any(value: str) -> int:
    """A port, or 0 for any free one."""
    return 0 if value.strip() == "0" else port(value)


def context_seconds(value: str) -> float | None:
    """``--context``: seconds of stream a question may use, or ``all``."""
    if value.strip().lower() == "all":
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--context must be a number of seconds or 'all', got {value!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("--context must be positive")
    return seconds
