"""Train the semantic end-of-turn classifier (``engine/turn_end.py``) and report held-out accuracy.

Finished turns are the utterances of the project's dataset (``engine/gate_data``, both labels: whatever was said
to the assistant or not, a whole sentence is a finished turn); unfinished ones are their prefixes cut at word
boundaries, written as a recogniser writes speech that stopped mid-phrase: no stop, a trailing "...", or a comma.
Deterministic (fixed seeds and solver). Writes ``engine/gate_data/turn_end_weights.npz`` (or ``--out``) and prints
one JSON object with the held-out split's rates.

    python scripts/train_turn_end.py [--out PATH] [--c 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from engine.gate_data.dataset import load_examples
from engine.turn_end import WEIGHTS_PATH, features

SEED = 20261207
_STOPPED = ("", "...", ",")  # how a recogniser ends a phrase cut off mid-way


def examples(split: str) -> list[tuple[str, int]]:
    """(text, 1 finished / 0 unfinished) for one split of the dataset."""
    rng = random.Random(f"{SEED}-{split}")
    out: list[tuple[str, int]] = []
    for example in load_examples(split):  # type: ignore[arg-type]
        text = example.text.strip()
        out.append((text, 1))
        words = text.split()
        if len(words) < 2:
            continue
        for cut in rng.sample(range(1, len(words)), min(2, len(words) - 1)):
            prefix = re.sub(r"[.?!,;:]+$", "", " ".join(words[:cut]))
            out.append((prefix + rng.choice(_STOPPED), 0))
    return out


def rates(model: LogisticRegression, data: list[tuple[str, int]]) -> dict[str, float]:
    x = np.stack([features(text) for text, _ in data])
    y = np.array([label for _, label in data])
    said = model.predict_proba(x)[:, 1] >= 0.5
    return {
        "n": len(data),
        "finished_kept": round(float(said[y == 1].mean()), 4),  # finished turns judged finished
        "unfinished_caught": round(float((~said[y == 0]).mean()), 4),  # unfinished ones judged unfinished
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    args = parser.parse_args(argv)
    train = examples("train")
    x = np.stack([features(text) for text, _ in train])
    y = np.array([label for _, label in train])
    model = LogisticRegression(C=args.c, class_weight="balanced", max_iter=5000, tol=1e-8, solver="lbfgs").fit(x, y)
    np.savez(args.out, weights=model.coef_[0].astype(np.float32), bias=np.float32(model.intercept_[0]))
    report = {"train": rates(model, train), "heldout": rates(model, examples("heldout")), "weights": str(args.out)}
    json.dump(report, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
