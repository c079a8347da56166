"""Benchmark replay across machines: ``bench --shard K/N`` on each machine, then ``bench-merge`` of their folders."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.backends.base import AnswerRequest
from engine.cancel import CancelToken
from engine.runtime import EngineConfig
from engine.session import Session
from eval.bench import BenchConfig, in_shard, merge_shards, run_bench_async, shard_of
from eval.cli import add_commands
from eval.loader import load_annotations, shared_dir
from streams.clock import ReplayClock
from streams.synth import write_media
from tests.fakes import ScriptedBackendContext

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = [f"v{k}.mp4" for k in range(6)]


class FirstOption(ScriptedBackendContext):
    """Names option A of a choice question."""

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]:
        self.requests.append(request)
        yield "A"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("suite")
    clip = write_media(root / VIDEOS[0], (np.full((48, 48, 3), 20 * k, np.uint8) for k in range(12)), fps=2.0)
    for name in VIDEOS[1:]:
        shutil.copy(clip, root / name)
    options = ["A. one", "B. two", "C. three", "D. four"]
    data = [
        {"video_path": name, "questions": [
            {"task_type": "Counting", "question": f"How many in {name}?", "time_stamp": "00:00:02", "answer": "A",
             "options": options},
            {"task_type": "Object Perception", "question": f"What is in {name}?", "time_stamp": "00:00:04",
             "answer": "B", "options": options},
        ]}
        for name in VIDEOS
    ]  # fmt: skip
    (root / "q.json").write_text(json.dumps(data))
    return root


async def _run(suite: Path, out: Path, shard: tuple[int, int] | None) -> dict:
    async def opener(config: EngineConfig, clock: ReplayClock) -> Session:
        return Session(FirstOption(), clock=clock, options=config.options, policy=config.policy)

    config = BenchConfig(data=(suite / "q.json",), videos=suite, out=out, progress=False, speech=False, shard=shard)
    return (await run_bench_async(config, opener=opener)).report


def test_shards_split_the_official_files_by_video_and_cover_every_item() -> None:
    files = sorted((shared_dir() / "streamingbench").glob("questions_*.json"))
    items = [i for f in files for i in load_annotations(f).items]
    shards = [in_shard(items, (k, 4)) for k in range(1, 5)]
    assert sorted(i.uid for s in shards for i in s) == sorted(i.uid for i in items)
    videos = [{i.group for i in s} for s in shards]
    assert all(videos) and all(a.isdisjoint(b) for n, a in enumerate(videos) for b in videos[n + 1 :])
    assert max(map(len, shards)) < 2 * min(map(len, shards))  # a hash split, roughly even by video


def test_shard_assignment_is_the_same_in_every_process() -> None:
    names = [f"video_{k}.mp4" for k in range(40)]
    code = f"from eval.bench import shard_of; print([shard_of(n, 5) for n in {names!r}])"
    other = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert other.stdout.strip() == str([shard_of(n, 5) for n in names])


async def test_two_shard_runs_merge_into_the_report_of_one_run(suite: Path, tmp_path: Path) -> None:
    whole = await _run(suite, tmp_path / "whole", None)
    parts = [await _run(suite, tmp_path / f"part{k}", (k, 2)) for k in (1, 2)]
    assert sum(p["answered"] for p in parts) == whole["answered"] == 12 and all(p["answered"] for p in parts)
    assert all(p["meta"]["shard"] in ("1/2", "2/2") for p in parts)

    config = BenchConfig(data=(suite / "q.json",), videos=suite, out=tmp_path / "merged", progress=False)
    merged = merge_shards(config, [tmp_path / "part1", tmp_path / "part2"]).report
    assert merged["scores"] == whole["scores"]
    assert merged["meta"]["items_missing"] == 0 and merged["meta"]["shards_merged"] == 2
    assert merged["meta"]["videos_replayed"] == 6
    official = "official/q_output_omnistream-cascade.json"
    assert json.loads((tmp_path / "merged" / official).read_text()) == json.loads(
        (tmp_path / "whole" / official).read_text()
    )

    alone = merge_shards(
        BenchConfig(data=(suite / "q.json",), videos=suite, out=tmp_path / "half"), [tmp_path / "part1"]
    ).report
    assert alone["meta"]["items_missing"] == 12 - parts[0]["answered"]
    assert alone["scores"]["overall"]["total"] == parts[0]["answered"]


async def test_overlapping_or_missing_shards_are_refused_with_the_folder_named(suite: Path, tmp_path: Path) -> None:
    await _run(suite, tmp_path / "part1", (1, 2))
    copy = tmp_path / "copy"
    copy.mkdir()
    lines = (tmp_path / "part1" / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["response"] = "something else"
    (copy / "results.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    config = BenchConfig(data=(suite / "q.json",), videos=suite, out=tmp_path / "merged")
    with pytest.raises(ValueError, match=f"{re.escape(first['uid'])}.*part1.*copy.*overlap"):
        merge_shards(config, [tmp_path / "part1", copy])
    with pytest.raises(FileNotFoundError, match=r"nowhere: no results\.jsonl"):
        merge_shards(config, [tmp_path / "nowhere"])


def test_cli_refuses_bad_shard_specs_and_reports_merge_errors(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    for bad in ("3/2", "0/2", "2", "a/b"):
        with pytest.raises(SystemExit):
            parser.parse_args(["bench", "--data", "x", "--videos", "v", "--out", "o", "--shard", bad])
        assert "expected K/N with 1 <= K <= N" in capsys.readouterr().err
    args = parser.parse_args(["bench-merge", "--data", str(suite / "q.json"), "--out", str(tmp_path / "m"),
                              str(tmp_path / "missing")])  # fmt: skip
    assert args.func(args) == 2
    assert "missing: no results.jsonl" in capsys.readouterr().err
