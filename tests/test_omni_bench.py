"""The omni benchmark script, run as a GPU session would run it, so that its few lent minutes are not spent on a
crash: the tiny model end to end, and the full-size 3B code path at full width with one layer per tower."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"ingest_fps", "ttft_ms", "decode_tok_s", "peak_mem_mb"}


def bench(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.omni_bench", "--device", "cpu", "--json", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_tiny_reports_every_key_per_stream_length(tmp_path):
    result = bench(tmp_path, "--config", "tiny", "--stream-seconds", "2,12", "--repeats", "2", "--threads", "1")
    assert result.keys() >= KEYS and result["complete"] is True
    assert set(result["ttft_ms"]) == set(result["peak_mem_mb"]) == {"2", "12"}
    assert result["ingest_fps"] > 0 and result["decode_tok_s"] > 0
    assert all(ms > 0 for ms in result["ttft_ms"].values())
    # 12 s of stream with the 10 s default window: the oldest chunks are gone again
    assert result["kv_tokens"]["12"] < 12 * (256 + 25)


def test_full_size_3b_path_runs_at_full_width(tmp_path):
    """448×448 frames through the 1280-wide vision tower, a 151 936-token vocabulary at hidden size 2048: one
    second of stream is 256 video and 25 audio tokens plus delimiters, and decoding is timed per token even though
    random weights with the tiny tokenizer produce ids that decode to no text."""
    result = bench(
        tmp_path,
        "--config", "omni-3b", "--layers", "1", "--stream-seconds", "2",
        "--repeats", "1", "--max-new-tokens", "3", "--threads", "2",
    )  # fmt: skip
    assert result["layers"] == 1
    (_, after_first, _), (_, after_second, _) = result["kv_timeline"]
    assert after_second - after_first == pytest.approx(256 + 25, abs=10)
    assert result["kv_tokens"]["2"] == after_second
    assert result["decode_tok_s"] > 0 and result["ttft_ms"]["2"] > 0


def test_layers_only_apply_to_the_full_size_configs(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.omni_bench", "--config", "tiny", "--layers", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "--layers" in done.stderr
