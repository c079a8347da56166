"""Time stamps in every shape the official files use."""

from __future__ import annotations

import pytest

from eval.timestamps import TimestampError, parse_timestamp, parse_window, repair_timestamp


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:31", 31.0),
        ("0:00:31", 31.0),
        ("00:00:8", 8.0),  # single-digit seconds
        ("00:24", 24.0),  # MM:SS
        ("1:02:03", 3723.0),
        ("12", 12.0),
        (" 0:10:05 ", 605.0),
    ],
)
def test_well_formed_shapes(text: str, seconds: float) -> None:
    assert parse_timestamp(text) == seconds


@pytest.mark.parametrize("text", ["00:12450", "", "ab:cd", "00:61", "1:2:3:4", "00:-1:00"])
def test_malformed_stamps_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(TimestampError, match="malformed time stamp"):
        parse_timestamp(text)


def test_run_together_stamp_is_repaired_only_inside_its_window() -> None:
    assert repair_timestamp("00:12450", (720.0, 780.0)) == 765.0
    with pytest.raises(TimestampError, match="outside the record's window"):
        repair_timestamp("00:12450", (0.0, 60.0))
    with pytest.raises(TimestampError, match="no way to repair"):
        repair_timestamp("00:12450", None)


def test_windows() -> None:
    assert parse_window("[0:12:00 - 0:13:00]") == (720.0, 780.0)
    with pytest.raises(TimestampError, match="ends before it starts"):
        parse_window("[0:13:00 - 0:12:00]")
    with pytest.raises(TimestampError, match="malformed time window"):
        parse_window("twelve to one")
