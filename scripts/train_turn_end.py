"""Train the semantic end of turn's classifier and report it on held-out sentences.

Finished sentences and the same sentences cut before their end (``engine/turn_end_data/dataset.py``; the
StreamingBench questions come from ``--streamingbench``, the official annotation files), read by the shipped
SmolLM2 (``TurnEndModel.features``), into a logistic regression whose strength is chosen by 5-fold cross-validation
(log loss, fixed folds). The questions of ``benchmarks/bench_turns.py`` are left out of training: that benchmark
measures the classifier. Writes ``engine/turn_end_data/turn_end_weights.npz`` (or ``--out``) and prints one JSON
object.

    python -m scripts.train_turn_end [--streamingbench ../shared/streamingbench] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from benchmarks.bench_turns import SPLIT
from engine.turn_end import WEIGHTS_PATH, TurnEndModel
from engine.turn_end_data.dataset import Example, load_examples_for
from eval.loader import load_annotations, streamingbench_dir

SEED = 20261207
STRENGTHS = (0.01, 0.03, 0.1, 0.3)


def streamingbench_questions(folder: Path) -> list[str]:
    """The questions of the official annotation files in ``folder`` of 3 to 14 words, in ASCII, each once."""
    found = {
        text
        for path in sorted(folder.glob("questions_*.json"))
        for item in load_annotations(path).items
        if 3 <= len((text := " ".join(item.question.split())).split()) <= 14 and text.isascii()
    }
    return sorted(found)


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-8, solver="lbfgs").fit(x, y)


def _strength(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]]:
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED).split(x, y))
    losses = {}
    for c in STRENGTHS:
        scores = np.zeros(len(y))
        for fit_idx, val_idx in folds:
            scores[val_idx] = _fit(x[fit_idx], y[fit_idx], c).predict_proba(x[val_idx])[:, 1]
        losses[str(c)] = round(float(log_loss(y, scores)), 4)
    return float(min(STRENGTHS, key=lambda c: losses[str(c)])), losses


def _report(model: LogisticRegression, x: np.ndarray, examples: list[Example]) -> dict[str, object]:
    """How many of each kind are judged the wrong way, with some of them."""
    finished = model.predict_proba(x)[:, 1] >= 0.5
    out: dict[str, object] = {}
    for kind in ("whole", "mid-phrase", "elsewhere"):
        picked = [(e, f) for e, f in zip(examples, finished, strict=True) if e.kind == kind]
        wrong = [e.text for e, f in picked if f != e.label]
        if picked:
            out[kind] = {"n": len(picked), "wrong_pct": round(100 * len(wrong) / len(picked), 1), "wrong": wrong[:8]}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streamingbench", type=Path, default=None, help="official annotation files (default: shared/)")
    p.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = p.parse_args()
    folder = args.streamingbench or streamingbench_dir()
    if not folder.is_dir():
        raise SystemExit(f"no StreamingBench annotation files at {folder} (give --streamingbench)")
    benchmark = [" ".join(parts) for parts in SPLIT]
    train = load_examples_for("train", more=streamingbench_questions(folder), exclude=benchmark)
    heldout = load_examples_for("heldout", exclude=benchmark)
    bench = [Example(" ".join(parts), 1, "heldout", "whole") for parts in SPLIT] + [
        Example(head, 0, "heldout", "mid-phrase") for head, _ in SPLIT
    ]
    reader = TurnEndModel(weights=None)
    started = time.perf_counter()
    x = reader.features([e.text for e in train])
    y = np.array([e.label for e in train])
    read_s = time.perf_counter() - started
    c, losses = _strength(x, y)
    model = _fit(x, y, c)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, coef=model.coef_[0].astype(np.float32), intercept=np.float32(model.intercept_[0]), c=c)
    report = {
        "weights": str(args.out),
        "train_examples": len(train),
        "read_s": round(read_s, 1),
        "cv_log_loss": losses,
        "strength": c,
        "train": _report(model, x, train),
        "heldout": _report(model, reader.features([e.text for e in heldout]), heldout),
        "benchmark_sentences_as_written": _report(model, reader.features([e.text for e in bench]), bench),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
