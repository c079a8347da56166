"""End to end through the real cascade backend: a generated two-video suite replayed by ``python -m eval bench``,
killed after its first finished item and run again, which must finish the rest without repeating anything."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from eval.generator import GenConfig, generate

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("suite")
    generate(GenConfig(out=out, videos=2, seed=11, seconds=30.0))  # a real-time video and an omni-source video
    return out


@pytest.fixture(scope="module")
def run(suite: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, "-m", "eval", "bench", "--data", str(suite / "questions_real.json"),
           "--data", str(suite / "questions_omni.json"), "--videos", str(suite), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert first.stderr is not None
    for line in first.stderr:  # the progress bar prints a line once each item is on disk
        if re.search(r"\] 1/10 items", line):
            break
    first.kill()
    first.wait()
    before = (out / "results.jsonl").read_text().splitlines()
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    return out, before, second


def test_killed_run_resumes_without_losing_or_repeating_items(run: tuple) -> None:
    out, before, second = run
    assert second.returncode == 0, second.stderr[-2000:]
    assert 1 <= len(before) < 10
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    counts = Counter(r["uid"] for r in lines)
    assert len(counts) == 10 and set(counts.values()) == {1}
    assert [json.loads(line)["uid"] for line in before if line.strip()] == [r["uid"] for r in lines[: len(before)]]


def test_replay_through_the_real_engine_writes_every_output(run: tuple) -> None:
    out, _, second = run
    report = json.loads((out / "report.json").read_text())
    assert report["answered"] == 10 and report["skipped"] == [] and report["problems"] == []
    assert set(report["scores"]["tasks"]) == {"OP", "CR", "CS", "ATP", "EU", "ER", "SCU", "SD", "MA", "ACU"}
    assert report["ttft_ms"]["n"] == 10 and report["ttft_ms"]["p50"] > 0
    meta = report["meta"]
    assert meta["replay_speed"] > 0 and meta["decode_ratio_vs_recut"] < 1
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(r["response"].strip() and r["status"] == "completed" for r in records)
    for name in ("questions_real", "questions_omni"):
        data = json.loads((out / "official" / f"{name}_output_omnistream-cascade.json").read_text())
        answers = [q["omnistream-cascade"] for entry in data for q in entry["questions"]]
        assert len(answers) == 5 and all(isinstance(a, str) and a for a in answers)
    assert "| **overall** | 10 |" in (out / "report.md").read_text()
    assert (out / "report.png").stat().st_size > 10_000
    assert "10 items scored" in second.stdout


def test_spoken_questions_are_heard_and_answered(suite: Path, tmp_path: Path) -> None:
    """The ``_stream`` variant: each question's recording is mixed into the audio at its time and asked by voice."""
    cmd = [sys.executable, "-m", "eval", "bench", "--spoken", "--data", str(suite / "questions_real_stream.json"),
           "--videos", str(suite), "--out", str(tmp_path), "--limit", "2", "--fps", "1", "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(records) == 2 and not any(r["skipped"] for r in records)
    for record in records:
        asked = set(re.findall(r"[a-z]+", record["prompt"].splitlines()[0].lower()))
        heard = set(re.findall(r"[a-z]+", record["heard"].lower()))
        assert len(asked & heard) >= len(asked) // 2, (record["prompt"], record["heard"])
        assert record["response"].strip() and record["status"] == "completed"
    assert json.loads((tmp_path / "report.json").read_text())["meta"]["questions"] == "spoken"
