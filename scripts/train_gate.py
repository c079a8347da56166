"""Train the non-awakening gate's classifier on the project's dataset and report held-out precision/recall.

Deterministic: fixed data order, fixed cross-validation folds, a deterministic solver. Writes
``engine/gate_data/gate_weights.npz`` (or ``--out``) and prints one JSON object.

    python scripts/train_gate.py [--limit N] [--out PATH] [--c 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from engine.gate_data.dataset import Example, load_examples
from engine.gate_model import WEIGHTS_PATH, GateClassifier, MiniLmEmbedder, cue_matrix, sigmoid

SEED = 20260127
FOLDS = 5


def _features(embedder: MiniLmEmbedder, examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    texts = [e.text for e in examples]
    embeddings = embedder.encode(texts)
    return np.concatenate([embeddings, cue_matrix(texts)], axis=1), np.array([e.label for e in examples])


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-8, solver="lbfgs").fit(x, y)


def _choose_threshold(x: np.ndarray, y: np.ndarray, c: float) -> float:
    """The probability threshold with the best balanced accuracy on out-of-fold training predictions."""
    folds = StratifiedKFold(n_splits=min(FOLDS, int(np.bincount(y).min())), shuffle=True, random_state=SEED)
    scores = np.zeros(len(y))
    for fit_idx, val_idx in folds.split(x, y):
        scores[val_idx] = _fit(x[fit_idx], y[fit_idx], c).predict_proba(x[val_idx])[:, 1]
    candidates = np.round(np.arange(0.20, 0.81, 0.01), 2)
    balanced = [((scores[y == 1] >= t).mean() + (scores[y == 0] < t).mean()) / 2 for t in candidates]
    best = max(balanced)
    return float(min((t for t, b in zip(candidates, balanced, strict=True) if b == best), key=lambda t: abs(t - 0.5)))


def metrics(labels: np.ndarray, accepted: np.ndarray) -> dict[str, float | int]:
    """Gate metrics with 'addressed' as the positive class."""
    tp = int(np.sum(accepted & (labels == 1)))
    fp = int(np.sum(accepted & (labels == 0)))
    fn = int(np.sum(~accepted & (labels == 1)))
    tn = int(np.sum(~accepted & (labels == 0)))
    return {
        "n": len(labels),
        "addressed_accepted": round(tp / max(tp + fn, 1), 4),
        "background_accepted": round(fp / max(fp + tn, 1), 4),
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "accuracy": round((tp + tn) / max(len(labels), 1), 4),
    }


def subset(examples: Sequence[Example], limit: int | None) -> list[Example]:
    """The first ``limit`` examples of each (split, label), in dataset order."""
    if limit is None:
        return list(examples)
    counts: dict[tuple[str, int], int] = {}
    kept = []
    for e in examples:
        key = (e.split, e.label)
        if counts.get(key, 0) < limit:
            counts[key] = counts.get(key, 0) + 1
            kept.append(e)
    return kept


def train(
    embedder: MiniLmEmbedder, *, limit: int | None = None, c: float = 1.0
) -> tuple[GateClassifier, dict[str, object]]:
    """Fit on the train split, score the held-out split; returns the classifier and a report."""
    train_set = subset(load_examples("train"), limit)
    heldout = subset(load_examples("heldout"), limit)
    x, y = _features(embedder, train_set)
    threshold = _choose_threshold(x, y, c)
    model = _fit(x, y, c)
    classifier = GateClassifier(
        coef=model.coef_[0].astype(np.float32), intercept=float(model.intercept_[0]), threshold=threshold
    )
    hx, hy = _features(embedder, heldout)
    probs = sigmoid(hx @ classifier.coef + classifier.intercept)
    report: dict[str, object] = {
        "train_size": len(train_set),
        "heldout_size": len(heldout),
        "c": c,
        "threshold": threshold,
        "train": metrics(y, sigmoid(x @ classifier.coef + classifier.intercept) >= threshold),
        "heldout": metrics(hy, probs >= threshold),
        "digest": classifier.digest(),
    }
    return classifier, report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="examples per split and label (for quick checks)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="where to write the weights (.npz)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 regularisation strength")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 2:
        parser.error(f"--limit must be at least 2, got {args.limit}")
    classifier, report = train(MiniLmEmbedder(), limit=args.limit, c=args.c)
    classifier.save(args.out)
    report["weights"] = str(args.out)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
