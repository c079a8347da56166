"""The flag value types every command shares: values accepted, and the message for each refusal."""

from __future__ import annotations

import argparse

import pytest

from app import arg_types


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (arg_types.positive_int, "3", 3),
        (arg_types.positive, "0.5", 0.5),
        (arg_types.non_negative, "0", 0.0),
        (arg_types.fraction, "0.99", 0.99),
        (arg_types.unit_interval, "1", 1.0),
        (arg_types.seconds_or_off, "off", None),
        (arg_types.port, "65535", 65535),
        (arg_types.port_or_any, "0", 0),
        (arg_types.context_seconds, "ALL", None),
        (arg_types.context_seconds, "60", 60.0),
    ],
)
def test_values_accepted(kind, text: str, value: object) -> None:
    assert kind(text) == value


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (arg_types.positive_int, "2.5", "expected a whole number, got '2.5'"),
        (arg_types.positive_int, "0", "expected a positive whole number, got 0"),
        (arg_types.positive, "nan", "expected a positive number, got nan"),
        (arg_types.non_negative, "-1", "expected a number >= 0, got -1"),
        (arg_types.fraction, "1", "expected a number in [0, 1), got 1"),
        (arg_types.unit_interval, "1.5", "expected a number in (0, 1], got 1.5"),
        (arg_types.seconds_or_off, "later", "expected a number, got 'later'"),
        (arg_types.port, "0", "expected a positive whole number, got 0"),
        (arg_types.port, "70000", "expected a port within 1..65535, got 70000"),
        (arg_types.context_seconds, "soon", "--context must be a number of seconds or 'all', got 'soon'"),
        (arg_types.context_seconds, "-5", "--context must be positive"),
    ],
)
def test_refusals_name_what_was_expected(kind, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        kind(text)
    assert str(refused.value) == message
