"""Where results go: an append-only ``results.jsonl`` (one line per finished item, flushed and fsynced, so a crash or
Ctrl-C loses nothing and a re-run skips what is done) and a copy of each annotation file with the answers written in
the official format under the model's name."""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from eval.loader import Annotations, Item, item_at
from eval.replay import POLL_AFTER_GT_S, poll_prompt


class ResultsLog:
    """``results.jsonl``: the latest line per item id wins; a torn last line (killed mid-write) is ignored."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        self._lock = threading.Lock()
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        raw = self.path.read_bytes()
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.torn_lines += 1
                continue
            if isinstance(record, dict) and isinstance(record.get("uid"), str):
                self.records[record["uid"]] = record
            else:
                self.torn_lines += 1
        if raw and not raw.endswith(b"\n"):
            with self.path.open("ab") as f:  # the next record starts on its own line
                f.write(b"\n")

    def finished(self) -> set[str]:
        """Ids of items that were answered (skipped items are tried again)."""
        return {uid for uid, r in self.records.items() if not r.get("skipped")}

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self.records[record["uid"]] = dict(record)


def closing_poll(item: Item) -> list[dict[str, Any]]:
    """The last poll the official protocol makes for an instruction that never fired: asked at the ground-truth time
    + 4 s, answered with nothing (the engine said nothing). The official harness always records at least that poll,
    and ``count.py`` reads ``dialog_history[-1]``; 4 s off the ground truth, it scores as not on time, as our own
    scoring of an empty history does."""
    t = float(item.gt_time_s or 0.0) + POLL_AFTER_GT_S
    return [
        {"role": "user", "time": t, "content": poll_prompt(item)},
        {"role": "assistant", "time": t, "content": ""},
    ]


def official_answer(record: Mapping[str, Any], item: Item) -> Any:
    """What the official scripts expect under the model's name: the answer string, or for proactive items
    ``{"answered": time or false, "dialog_history": [{role, time, content}, …]}`` (never empty: see
    ``closing_poll``)."""
    if record["kind"] == "proactive":
        history = list(record["dialog_history"]) or closing_poll(item)
        return {"answered": record.get("answered") or False, "dialog_history": history}
    return record["response"]


def write_official(
    annotations: Iterable[Annotations], records: Mapping[str, Mapping[str, Any]], model: str, out_dir: str | Path
) -> list[Path]:
    """For each annotation file with answered items, a copy with each answer under ``model`` (official format)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ann in annotations:
        answered = [(i, records[i.uid]) for i in ann.items if i.uid in records and not records[i.uid].get("skipped")]
        if not answered:
            continue
        data = copy.deepcopy(ann.data)
        for item, record in answered:
            item_at(data, item.path)[model] = official_answer(record, item)
        path = out_dir / f"{Path(ann.file).stem}_output_{model}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
