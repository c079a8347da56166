"""A whole benchmark run: load annotation files, skip what ``results.jsonl`` already holds, replay the remaining
videos (``workers`` at a time, sharing one loaded model), then write the official-format answers and the reports.

Across machines: each machine runs one shard (``shard=(k, n)``: the videos whose stable hash falls in slot k of n,
so a video's questions stay together and every machine agrees without talking), then ``merge_shards`` joins their
``results.jsonl`` files into one report."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.runtime import EngineConfig, open_session
from eval.loader import Annotations, Item, Problem, load_annotations, select
from eval.progress import Progress
from eval.replay import GroupOutcome, Opener, ProactiveMode, engine_config, replay_group, resolve_video
from eval.report import build_report, write_report
from eval.results import ResultsLog, write_official
from streams.clock import Pace


@dataclass(frozen=True)
class BenchConfig:
    data: tuple[Path, ...]  # annotation JSON files (official StreamingBench format)
    videos: Path  # folder that the annotations' video_path entries are relative to
    out: Path  # output folder: results.jsonl, report.json/md/png, official-format copies
    backend: str = "cascade"  # model backend (see engine/backends/registry.py)
    model: str | None = None  # model id or path for the backend; None = the backend's default
    device: str = "auto"  # auto | cpu | cuda
    context: float | None = 60.0  # None = all of the stream so far
    pace: Pace = "fast"  # fast: as fast as the engine goes; realtime: the stream's own pace
    workers: int = 1  # videos replayed at once, sharing one loaded model
    limit: int | None = None  # at most this many items, in file order; None = all
    tasks: frozenset[str] | None = None  # task codes to keep; None = all
    proactive: ProactiveMode = "events"  # events: the engine's proactive events; poll: the official polling
    speech: bool = True  # transcribe the videos' audio (VAD + ASR)
    fps: float = 2.0  # video frames per second given to the model
    name: str | None = None  # the key answers are written under; default "omnistream-<backend>"
    spoken: bool = False  # speak questions that have an audio_path (relative to ``videos``) instead of typing them
    progress: bool = True  # progress bar on stderr
    shard: tuple[int, int] | None = None  # (k, n): only the videos of shard k of n (1-based); None = every video
    loaded: tuple[Annotations, ...] | None = None  # ``data`` already parsed (by the CLI's checks); None = parse here

    @property
    def model_name(self) -> str:
        return self.name or f"omnistream-{self.backend}"


@dataclass
class BenchResult:
    report: dict[str, Any]
    paths: dict[str, Path]
    official: list[Path]


def shard_of(group: str, shards: int) -> int:
    """The 1-based shard a video (item group) belongs to: a hash of its name, the same on every machine."""
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards + 1


def in_shard(items: Sequence[Item], shard: tuple[int, int] | None) -> list[Item]:
    if shard is None:
        return list(items)
    k, n = shard
    if not 1 <= k <= n:
        raise ValueError(f"shard must be k/n with 1 <= k <= n, got {k}/{n}")
    return [i for i in items if shard_of(i.group, n) == k]


def _groups(items: Sequence[Item]) -> list[list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    return list(groups.values())


def _pending(group: list[Item], finished: set[str]) -> list[Item]:
    """Items to pose on a re-run: the unfinished ones, or all of an SQA video (its answers build on each other)."""
    todo = [i for i in group if i.uid not in finished]
    if todo and any(i.task.code == "SQA" for i in group):
        return group
    return todo


@dataclass
class Plan:
    """What a run (or resumed run) still has to replay, and where its results go."""

    annotations: list[Annotations]
    problems: list[Problem]
    items: list[Item]  # the selected items of this shard
    log: ResultsLog
    finished: set[str]  # item ids results.jsonl already holds
    work: list[list[Item]]  # per video, the items to pose
    engine: EngineConfig
    progress: Progress


def plan(config: BenchConfig) -> Plan:
    if config.workers < 1:
        raise ValueError(f"workers must be at least 1, got {config.workers}")
    if config.spoken and not config.speech:
        raise ValueError("spoken questions need speech recognition (drop --no-speech)")
    annotations, problems, selected_items = _load(config)
    items = in_shard(selected_items, config.shard)
    log = ResultsLog(config.out / "results.jsonl")
    finished = log.finished()
    work = [todo for g in _groups(items) if (todo := _pending(g, finished))]
    progress = Progress(sum(len([i for i in todo if i.uid not in finished]) for todo in work))
    engine = engine_config(
        config.backend,
        model=config.model,
        device=config.device,
        context=config.context,
        fps=config.fps,
        speech=config.speech,
    )
    return Plan(annotations, problems, items, log, finished, work, engine, progress)


def record_once(config: BenchConfig, run: Plan, record: dict[str, Any]) -> None:
    """Append ``record`` to results.jsonl unless its item is already there (a resumed or retried video)."""
    if record["uid"] in run.finished:
        return
    run.log.append(record)
    run.finished.add(record["uid"])
    if config.progress:
        run.progress.advance()


def finish(config: BenchConfig, run: Plan, outcomes: Sequence[GroupOutcome], wall: float, **extra: Any) -> BenchResult:
    """The report over every selected item results.jsonl holds, with the run's statistics."""
    if config.progress:
        run.progress.close()
    selected = {i.uid for i in run.items}
    records = [r for uid, r in run.log.records.items() if uid in selected]
    stream_s = sum(o.stream_s for o in outcomes)
    decoded, recut = sum(o.frames_decoded for o in outcomes), sum(o.frames_recut for o in outcomes)
    meta: dict[str, Any] = {
        **_describe(config, run.annotations),
        "shard": f"{config.shard[0]}/{config.shard[1]}" if config.shard else None,
        **extra,
        "videos_replayed": len(outcomes),
        "wall_s": round(wall, 2),
        "stream_s": round(stream_s, 2),
        "replay_speed": round(stream_s / wall, 3) if wall > 0 and stream_s else None,
        "frames_decoded": decoded,
        "frames_decoded_recut": recut,
        "decode_ratio_vs_recut": round(decoded / recut, 3) if recut else None,
        "torn_result_lines": run.log.torn_lines,
    }
    return _write_outputs(config, run.annotations, run.problems, records, meta)


async def run_bench_async(config: BenchConfig, opener: Opener = open_session) -> BenchResult:
    """Run (or resume) the benchmark; ``opener`` builds each video's session (the real engine by default)."""
    run = plan(config)
    outcomes: list[GroupOutcome] = []
    gate = asyncio.Semaphore(config.workers)
    started = time.monotonic()

    async def one(todo: list[Item]) -> None:
        async with gate:
            outcomes.append(
                await replay_group(
                    todo,
                    video=resolve_video(config.videos, todo[0].video),
                    config=run.engine,
                    pace=config.pace,
                    proactive=config.proactive,
                    write=lambda record: record_once(config, run, record),
                    opener=opener,
                    spoken_root=config.videos if config.spoken else None,
                )
            )

    await asyncio.gather(*(one(todo) for todo in run.work))
    return finish(config, run, outcomes, time.monotonic() - started)


def _load(config: BenchConfig) -> tuple[list[Annotations], list[Problem], list[Item]]:
    """The annotation files, their problems, and the items the run's task and limit filters select."""
    annotations = list(config.loaded) if config.loaded is not None else [load_annotations(p) for p in config.data]
    problems = [p for a in annotations for p in a.problems]
    problems += [Problem(i.file, i.record, i.note) for a in annotations for i in a.items if i.note]
    items = select([i for a in annotations for i in a.items], tasks=config.tasks, limit=config.limit)
    return annotations, problems, items


def _describe(config: BenchConfig, annotations: Sequence[Annotations]) -> dict[str, Any]:
    return {
        "model": config.model_name,
        "backend": config.backend,
        "context": "all" if config.context is None else f"{config.context:g} s",
        "pace": config.pace,
        "proactive": config.proactive,
        "questions": "spoken" if config.spoken else "typed",
        "workers": config.workers,
        "files": ", ".join(a.file for a in annotations),
    }


def _write_outputs(
    config: BenchConfig,
    annotations: Sequence[Annotations],
    problems: list[Problem],
    records: list[dict[str, Any]],
    meta: dict[str, Any],
) -> BenchResult:
    scenes = {i.uid: i.scene for a in annotations for i in a.items if i.scene is not None}
    report = build_report(records, problems, meta, scenes)
    official = write_official(annotations, {r["uid"]: r for r in records}, config.model_name, config.out / "official")
    paths = write_report(report, config.out)
    return BenchResult(report, paths, official)


def merge_shards(config: BenchConfig, shard_dirs: Sequence[Path]) -> BenchResult:
    """Join the ``results.jsonl`` of shard runs (each an ``out`` folder) into ``config.out`` and report on them all.

    An item answered differently in two shard folders is an error (the shards overlapped); items that no shard
    answered are reported as missing in ``meta`` and left out of the scores."""
    annotations, problems, items = _load(config)
    selected = {i.uid for i in items}
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, Path] = {}
    metas: list[dict[str, Any]] = []
    torn = 0
    for folder in shard_dirs:
        path = folder / "results.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no results.jsonl (is this the --out folder of a shard run?)")
        log = ResultsLog(path)
        torn += log.torn_lines
        for uid, record in log.records.items():
            if uid in merged and merged[uid] != record:
                raise ValueError(f"item {uid} was answered in both {origin[uid]} and {folder}: the shards overlap")
            merged[uid], origin[uid] = record, folder
        report_path = folder / "report.json"
        if report_path.is_file():
            metas.append(json.loads(report_path.read_text(encoding="utf-8")).get("meta", {}))
    if config.out.resolve() in {d.resolve() for d in shard_dirs}:
        raise ValueError(f"{config.out}: the merged output must not be one of the shard folders")
    described = _describe(config, annotations)
    for key in ("model", "backend", "context", "pace", "proactive", "questions"):
        values = {m[key] for m in metas if m.get(key) is not None}
        if len(values) > 1:
            raise ValueError(f"the shards were run with different {key} settings: {', '.join(sorted(values))}")
        if values and not (key == "model" and config.name):
            described[key] = values.pop()
    described["workers"] = max((m.get("workers") or 1 for m in metas), default=config.workers)
    config = replace(config, name=described["model"])
    out_log = config.out / "results.jsonl"
    if out_log.exists():
        out_log.unlink()
    log = ResultsLog(out_log)
    for record in merged.values():
        log.append(record)
    records = [r for uid, r in merged.items() if uid in selected]
    missing = sorted(selected - set(merged))

    def total(key: str) -> float:
        return round(sum(m.get(key) or 0 for m in metas), 2)

    wall = max((m.get("wall_s") or 0 for m in metas), default=0)
    meta: dict[str, Any] = {
        **described,
        "shards_merged": len(shard_dirs),
        "items_missing": len(missing),
        "missing_examples": missing[:5],
        "videos_replayed": int(total("videos_replayed")),
        "wall_s": wall,
        "stream_s": total("stream_s"),
        "replay_speed": round(total("stream_s") / wall, 3) if wall else None,
        "frames_decoded": int(total("frames_decoded")),
        "frames_decoded_recut": int(total("frames_decoded_recut")),
        "torn_result_lines": torn,
    }
    return _write_outputs(config, annotations, problems, records, meta)


def run_bench(config: BenchConfig) -> BenchResult:
    return asyncio.run(run_bench_async(config))
