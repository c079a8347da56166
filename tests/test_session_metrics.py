"""The metrics event's counters: reports every interval of stream time, bounded TTFT memory, dropped counts."""

from __future__ import annotations

from engine.options import SessionOptions
from engine.session_metrics import SessionMetrics

TTFT_WINDOW = SessionOptions().metrics_ttft_window


def test_reports_fall_due_once_per_interval_of_stream_time() -> None:
    metrics = SessionMetrics(5.0, TTFT_WINDOW)
    due = [t for t in (0.0, 4.9, 5.0, 5.1, 9.9, 17.0, 18.0, 20.0) if metrics.due(t)]
    assert due == [5.0, 17.0, 20.0]  # a jump over several intervals gives one report, not a burst


def test_values_count_what_came_in_and_what_was_dropped() -> None:
    metrics = SessionMetrics(5.0, TTFT_WINDOW)
    metrics.frames += 12
    metrics.audio(50, lag=0.2)
    metrics.audio(50, lag=0.05)
    first = metrics.values(5.0, frames_dropped=3, audio_dropped=0)
    assert first["video_frames"] == 12 and first["video_frames_dropped"] == 3
    assert first["audio_chunks"] == 100 and first["audio_lag_max_s"] == 0.2
    assert first["responses"] == 0 and "ttft_ms_p50" not in first
    metrics.answered(120.0)
    metrics.answered(80.0)
    metrics.answered(100.0)
    second = metrics.values(10.0, frames_dropped=3, audio_dropped=1)
    assert second["responses"] == 3 and second["ttft_ms_last"] == 100.0 and second["ttft_ms_p50"] == 100.0
    assert second["stream_s"] == 10.0 and second["audio_chunks_dropped"] == 1


def test_ttft_memory_is_bounded_however_long_the_session_runs() -> None:
    metrics = SessionMetrics(5.0, TTFT_WINDOW)
    for i in range(3 * TTFT_WINDOW):
        metrics.answered(1000.0 if i < 2 * TTFT_WINDOW else 10.0)
    values = metrics.values(5.0, frames_dropped=0, audio_dropped=0)
    assert len(metrics.ttft) == TTFT_WINDOW
    assert values["responses"] == 3 * TTFT_WINDOW and values["ttft_ms_p50"] == 10.0
