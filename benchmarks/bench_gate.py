"""Non-awakening gate: held-out precision/recall/accuracy of the committed classifier and milliseconds per decision.

``ms`` is wall time of one ``LearnedGate.decide`` (one MiniLM forward pass plus the regression); ``cpu_ms`` is the
process CPU time of all threads for it (less sensitive to other load on a shared machine).
``--streamingbench DIR`` also reports the share of StreamingBench's own questions (``questions_real.json`` and
``questions_omni.json`` in DIR) that the gate accepts: real video questions written by others, all addressed.
Usage: python benchmarks/bench_gate.py [--decisions 200] [--threads N] [--streamingbench DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from engine.gate_data.dataset import load_examples
from engine.gate_model import MiniLmEmbedder, sigmoid
from engine.gate_policies import LearnedGate

TARGET_ADDRESSED = 0.95
TARGET_BACKGROUND = 0.05


def _rates(labels: np.ndarray, accepted: np.ndarray) -> dict[str, float | int]:
    tp = int(np.sum(accepted & (labels == 1)))
    fp = int(np.sum(accepted & (labels == 0)))
    return {
        "n": len(labels),
        "addressed_accepted": round(tp / max(int(np.sum(labels == 1)), 1), 4),
        "background_accepted": round(fp / max(int(np.sum(labels == 0)), 1), 4),
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(int(np.sum(labels == 1)), 1), 4),
        "accuracy": round(float(np.mean(accepted == (labels == 1))), 4),
    }


def _streamingbench_questions(folder: Path) -> list[str]:
    """The distinct question texts of StreamingBench's real-time and omni-source files, in file order."""
    seen: dict[str, None] = {}
    for name in ("questions_real.json", "questions_omni.json"):
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (expected StreamingBench's src/data files in {folder})")
        for entry in json.loads(path.read_text(encoding="utf-8")):
            for question in entry["questions"]:
                seen.setdefault(str(question["question"]).strip(), None)
    return list(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200, help="timed single decisions (default 200)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's default)")
    parser.add_argument("--streamingbench", type=Path, help="folder with StreamingBench's questions_*.json")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    if args.decisions < 1:
        parser.error(f"--decisions must be at least 1, got {args.decisions}")

    started = time.perf_counter()
    gate = LearnedGate(embedder=MiniLmEmbedder(threads=args.threads))
    gate.load()
    load_s = time.perf_counter() - started

    heldout = load_examples("heldout")
    labels = np.array([e.label for e in heldout])
    scores = sigmoid(gate.logits([e.text for e in heldout]))
    accepted = scores >= gate.threshold
    sources = np.array([e.source for e in heldout])
    result: dict[str, object] = {
        "threshold": gate.threshold,
        "heldout": _rates(labels, accepted),
        "heldout_handwritten": _rates(labels[sources == "handwritten"], accepted[sources == "handwritten"]),
        "heldout_template": _rates(labels[sources == "template"], accepted[sources == "template"]),
        "errors": [
            {"text": e.text, "label": "addressed" if e.label else "background", "score": round(float(s), 3)}
            for e, s, a in zip(heldout, scores, accepted, strict=True)
            if a != bool(e.label)
        ],
    }
    if args.streamingbench is not None:
        questions = _streamingbench_questions(args.streamingbench)
        sb_accepted = sigmoid(gate.logits(questions)) >= gate.threshold
        result["streamingbench_questions"] = {"n": len(questions), "accepted": round(float(sb_accepted.mean()), 4)}

    texts = [heldout[i % len(heldout)].text for i in range(args.decisions)]
    gate.decide(texts[0], start=0.0, end=2.0)  # warm-up
    wall, cpu = [], []
    for text in texts:
        w0, c0 = time.perf_counter(), time.process_time()
        gate.decide(text, start=0.0, end=2.0)
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    wall.sort()
    result["timing"] = {
        "load_s": round(load_s, 2),
        "decisions": len(texts),
        "ms_median": round(statistics.median(wall), 2),
        "ms_p95": round(wall[int(0.95 * (len(wall) - 1))], 2),
        "cpu_ms_median": round(statistics.median(cpu), 2),
        "threads": args.threads,
    }
    held = result["heldout"]
    assert isinstance(held, dict)
    result["meets_targets"] = (
        held["addressed_accepted"] >= TARGET_ADDRESSED and held["background_accepted"] <= TARGET_BACKGROUND
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
