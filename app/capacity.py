"""``--max-sessions auto``: the session limit derived from a measured per-session cost.

The cost is measured, not guessed: ``benchmarks/bench_capacity.py`` runs one live session against ``omnistream serve``
(2 fps video, real-time audio, a spoken question every 20 s, the server's configured backend) and records the server
process's CPU time per second of stream, in cores, in ``$OMNISTREAM_CACHE/capacity.json``, with the largest number of
sessions its ramp kept in real time. ``auto`` then allows as many sessions as the cores this process may run on carry
at that cost: ``floor(cores / cores_per_session)``, at least 1, and on as many cores as were measured never more than
the ramp kept in real time (on 2 cores the CPU is not the first limit: answers wait for the one shared language
model). A measurement taken on a machine with a different core count still applies through its cost. Without a
measurement ``auto`` is refused with the command that makes one.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.assets import cache_dir

AUTO = "auto"


class CapacityUnknown(Exception):
    """No usable per-session cost has been measured on this machine."""


@dataclass(frozen=True)
class SessionCost:
    """One live session's measured cost: server CPU cores busy per second of stream, and how it was measured."""

    cores_per_session: float
    backend: str
    measured_on_cores: int
    measured_at: str  # ISO time of the measurement
    kept_real_time: int | None = None  # the most sessions the ramp kept in real time on ``measured_on_cores``

    def __post_init__(self) -> None:
        if not self.cores_per_session > 0:
            raise ValueError(f"cores_per_session must be positive, got {self.cores_per_session}")


def cost_file() -> Path:
    return cache_dir() / "capacity.json"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0))


def save_cost(cost: SessionCost, path: Path | None = None) -> Path:
    target = path or cost_file()
    target.write_text(json.dumps(asdict(cost), indent=2) + "\n")
    return target


def load_cost(path: Path | None = None) -> SessionCost:
    source = path or cost_file()
    hint = "measure it with: python -m benchmarks.bench_capacity"
    try:
        data = json.loads(source.read_text())
    except FileNotFoundError:
        raise CapacityUnknown(f"--max-sessions auto: no per-session cost measured yet ({source}); {hint}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CapacityUnknown(f"--max-sessions auto: cannot read {source}: {exc}; {hint}") from None
    try:
        return SessionCost(**data)
    except (TypeError, ValueError) as exc:
        raise CapacityUnknown(f"--max-sessions auto: {source} is not a cost measurement: {exc}; {hint}") from None


def auto_limit(cost: SessionCost, cores: int) -> int:
    """How many sessions ``cores`` carry at ``cost`` (at least 1: a server that refuses everyone serves nobody)."""
    limit = math.floor(cores / cost.cores_per_session + 1e-9)
    if cost.kept_real_time is not None and cores == cost.measured_on_cores:
        limit = min(limit, cost.kept_real_time)
    return max(1, limit)


def describe(cost: SessionCost, cores: int) -> str:
    return (
        f"--max-sessions auto: {cost.cores_per_session:.2f} cores per {cost.backend} session "
        f"(measured {cost.measured_at}) on {cores} cores"
        + (
            f", at most the {cost.kept_real_time} sessions kept in real time there"
            if cost.kept_real_time is not None and cores == cost.measured_on_cores
            else ""
        )
    )


def resolve_max_sessions(value: int | str, *, cores: int | None = None, path: Path | None = None) -> tuple[int, str]:
    """A ``--max-sessions`` value (a number or ``auto``) → the limit and, for ``auto``, how it was derived (which
    refusals name)."""
    if value != AUTO:
        return int(value), ""
    cores = cores or usable_cores()
    cost = load_cost(path)
    return auto_limit(cost, cores), describe(cost, cores)
