"""The [B] proactive target on the project's synthetic proactive cases: the real cascade backend fires each
standing instruction within 2 s of the true moment, never before it (replayed through the evaluator)."""

from __future__ import annotations

import json

import pytest

from eval.bench import BenchConfig, run_bench
from eval.generator import GenConfig, generate
from eval.timestamps import parse_timestamp


@pytest.mark.e2e
def test_generated_proactive_instructions_fire_within_2s_and_never_early(tmp_path):
    generate(GenConfig(out=tmp_path / "suite", videos=2, seed=11, kinds=("proactive",)))
    data = tmp_path / "suite" / "questions_proactive.json"
    truth = {
        f"[{i}].questions[{j}]": parse_timestamp(q["ground_truth_time_stamp"])
        for i, entry in enumerate(json.loads(data.read_text()))
        for j, q in enumerate(entry["questions"])
    }
    run_bench(BenchConfig(data=(data,), videos=tmp_path / "suite", out=tmp_path / "out"))
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(records) == len(truth) >= 3
    for record in records:
        assert record["status"] == "proactive" and record["official"], record
        fired = record["dialog_history"][-1]["time"]
        assert 0.0 <= fired - truth[record["record"]] <= 2.0, record
