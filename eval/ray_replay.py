"""A benchmark run on a Ray cluster: each video is one Ray task (with its own CPU/GPU request) that replays it
through the real engine on whichever node has room, and returns its records; the driver writes them to its
``results.jsonl`` as the tasks finish (in finishing order), then reports exactly as a local run does.

Resuming: a task whose worker dies is retried by Ray (``max_retries``); records reach results.jsonl only when a
task has finished, and each item at most once (``record_once`` keys by item id), so neither a retried task nor a
re-run after a killed driver counts an item twice: a re-run skips the videos results.jsonl already holds.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runtime import EngineConfig
from eval.bench import BenchConfig, BenchResult, finish, plan, record_once
from eval.loader import Item
from eval.replay import GroupOutcome, ProactiveMode, replay_group, resolve_video
from streams.clock import Pace

TASK_RETRIES = 3  # further attempts at a video whose worker process or node died


class RayUnavailable(Exception):
    """The Ray cluster could not be reached or started."""


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # host:port of an existing cluster's GCS; None = start a local one for this run
    cpus_per_video: float = 1.0  # CPUs each video's task reserves
    gpus_per_video: float = 0.0  # GPUs each video's task reserves (fractions share a GPU)


def _check_answers(address: str, timeout: float = 5.0) -> None:
    """Fail fast, before Ray's own long connection retries, when nothing listens at ``address``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"Ray address {address!r} is not host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RayUnavailable(f"the Ray cluster at {address} does not answer ({exc.strerror or exc})") from None


def replay_video(
    items: list[Item],
    video: Path,
    engine: EngineConfig,
    pace: Pace,
    proactive: ProactiveMode,
    spoken_root: Path | None,
) -> tuple[list[dict[str, Any]], GroupOutcome]:
    """One video's replay inside a Ray worker: its records and statistics."""
    records: list[dict[str, Any]] = []
    outcome = asyncio.run(
        replay_group(
            items,
            video=video,
            config=engine,
            pace=pace,
            proactive=proactive,
            write=records.append,
            spoken_root=spoken_root,
        )
    )
    return records, outcome


def run_bench_ray(config: BenchConfig, options: RayOptions) -> BenchResult:
    import ray

    if options.address is not None:
        _check_answers(options.address)
    run = plan(config)  # before connecting: bad annotation files fail without a cluster
    try:
        ray.init(address=options.address, include_dashboard=False, log_to_driver=False)
    except Exception as exc:
        raise RayUnavailable(f"cannot join the Ray cluster at {options.address or 'local'}: {exc}") from exc
    try:
        task = ray.remote(replay_video).options(
            num_cpus=options.cpus_per_video, num_gpus=options.gpus_per_video, max_retries=TASK_RETRIES
        )
        started = time.monotonic()
        spoken_root = config.videos if config.spoken else None
        pending = [
            task.remote(todo, resolve_video(config.videos, todo[0].video), run.engine, config.pace,
                        config.proactive, spoken_root)
            for todo in run.work
        ]  # fmt: skip
        outcomes: list[GroupOutcome] = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            records, outcome = ray.get(done[0])
            for record in records:
                record_once(config, run, record)
            outcomes.append(outcome)
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        return finish(config, run, outcomes, time.monotonic() - started, ray_nodes=nodes)
    finally:
        ray.shutdown()
