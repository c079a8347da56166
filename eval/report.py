"""Run reports: ``report.json``, ``report.md`` and a bar chart against the published StreamingBench leaderboard.

Leaderboard rows: StreamingBench (Lin et al., "StreamingBench: Assessing the Gap for MLLMs to Achieve Streaming Video
Understanding", arXiv 2411.03628) and its leaderboard (https://streamingbench.github.io), 60 s of context; columns are
overall / real-time / omni-source / contextual accuracy in percent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.grounding import audit_records
from eval.loader import Problem
from eval.scoring import summarize
from eval.tasks import CATEGORIES, CATEGORY_TITLES, TASKS

LEADERBOARD: dict[str, tuple[float, float, float, float]] = {
    "Human": (91.66, 91.46, 90.26, 93.55),
    "Gemini 1.5 Pro": (70.26, 77.39, 67.80, 51.06),
    "MiniCPM-o 2.6": (66.01, 79.88, 53.40, 38.45),
    "GPT-4o": (64.10, 74.54, 50.95, 47.94),
    "VITA-1.5": (57.36, 70.88, 40.80, 35.83),
}
LEADERBOARD_SOURCE = "StreamingBench, arXiv 2411.03628, and its leaderboard (streamingbench.github.io), 60 s context"


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    arr = np.asarray(values, dtype=float)
    p50, p95 = (round(float(np.percentile(arr, q)), 1) for q in (50, 95))
    return {"p50": p50, "p95": p95, "n": len(arr)}


def build_report(
    records: Iterable[Mapping[str, Any]],
    problems: Iterable[Problem],
    meta: Mapping[str, Any],
    scenes: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Scores, latency, skipped items and load problems of one run, as plain JSON data; with ``scenes`` (item id →
    the ground truth of an open question's scene) also the grounding audit of the open answers."""
    records = list(records)
    scored = [r for r in records if not r.get("skipped")]
    skipped = [
        {"file": r["file"], "record": r["record"], "video": r["video"], "reason": r["skipped"]}
        for r in records
        if r.get("skipped")
    ]
    ttft = [float(r["ttft_ms"]) for r in scored if r.get("ttft_ms") is not None]
    report = {
        "meta": dict(meta),
        "scores": summarize(scored),
        "ttft_ms": _percentiles(ttft),
        "answered": len(scored),
        "skipped": skipped,
        "problems": [{"file": p.file, "record": p.record, "message": p.message} for p in problems],
        "leaderboard": {"source": LEADERBOARD_SOURCE, "rows": {k: list(v) for k, v in LEADERBOARD.items()}},
    }
    if scenes:
        report["grounding"] = audit_records(scored, scenes)
    return report


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def render_markdown(report: Mapping[str, Any]) -> str:
    meta, scores = report["meta"], report["scores"]
    lines = [f"# StreamingBench-style evaluation: {meta.get('model', '?')}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items() if not isinstance(v, dict | list)]
    ttft = report["ttft_ms"]
    lines += [f"- TTFT per question: p50 {ttft['p50']} ms, p95 {ttft['p95']} ms (n={ttft['n']})", ""]
    lines += ["| scope | items | official % | robust % |", "|---|---:|---:|---:|"]
    overall = scores["overall"]
    lines.append(f"| **overall** | {overall['total']} | {_cell(overall['official'])} | {_cell(overall['robust'])} |")
    for c in CATEGORIES:
        b = scores["categories"][c]
        lines.append(f"| {CATEGORY_TITLES[c]} | {b['total']} | {_cell(b['official'])} | {_cell(b['robust'])} |")
    lines += ["", "| task | category | items | official % | robust % |", "|---|---|---:|---:|---:|"]
    for t in TASKS:
        b = scores["tasks"].get(t.code)
        if b:
            lines.append(
                f"| {t.code} {t.name} | {t.category} | {b['total']} | {_cell(b['official'])} | {_cell(b['robust'])} |"
            )
    lines += ["", f"Published rows ({report['leaderboard']['source']}):", ""]
    lines += ["| model | overall | real-time | omni-source | contextual |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for name, row in LEADERBOARD.items()]
    if report.get("grounding"):
        lines += _grounding_lines(report["grounding"])
    if report["skipped"]:
        lines += ["", f"## Skipped items ({len(report['skipped'])})", ""]
        lines += [f"- {s['file']} {s['record']} ({s['video']}): {s['reason']}" for s in report["skipped"]]
    if report["problems"]:
        lines += ["", f"## Records not loaded ({len(report['problems'])})", ""]
        lines += [f"- {p['file']} {p['record']}: {p['message']}" for p in report["problems"]]
    return "\n".join(lines) + "\n"


def _grounding_lines(g: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Grounding of open answers", ""]
    lines.append(
        f"{g['open_answers']} open answers made {g['claims']} checkable claims: **{g['ungrounded']} ungrounded** "
        f"({g['unchecked']} more could not be checked: counts of things the ground truth does not count)."
    )
    lines += ["", "| claim | checked | ungrounded |", "|---|---:|---:|"]
    lines += [f"| {kind} | {b['claims']} | {b['ungrounded']} |" for kind, b in g["by_kind"].items()]
    if g["ungrounded_claims"]:
        lines += ["", "| time | question | claim | why | answer |", "|---:|---|---|---|---|"]
        for c in g["ungrounded_claims"]:
            answer = " ".join(str(c["response"]).split())[:160].replace("|", "/")
            lines.append(
                f"| {c['time_s']:.0f} s | {c['question']} | {c['kind']}: {c['value']} | {c['why']} | {answer} |"
            )
    return lines


def plot(report: Mapping[str, Any], path: Path) -> Path:
    """Grouped bars: this run (official scores) next to the published rows, per column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = report["scores"]
    ours = [scores["overall"]["official"]] + [scores["categories"][c]["official"] for c in CATEGORIES]
    rows = {f"{report['meta'].get('model', 'this run')} (this run)": ours, **LEADERBOARD}
    labels = ["overall", "real-time", "omni-source", "contextual"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(rows)
    for k, (name, values) in enumerate(rows.items()):
        xs = np.arange(len(labels)) + k * width
        heights = [0.0 if v is None else float(v) for v in values]
        ax.bar(xs, heights, width, label=name)
    ax.set_xticks(np.arange(len(labels)) + width * (len(rows) - 1) / 2, labels)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("StreamingBench-style accuracy vs published leaderboard (60 s context)")
    ax.legend(fontsize=8, loc="upper right")
    fig.text(0.01, 0.01, f"Published rows: {LEADERBOARD_SOURCE}", fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md", "plot": out_dir / "report.png"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    paths["md"].write_text(render_markdown(report), encoding="utf-8")
    plot(report, paths["plot"])
    return paths
