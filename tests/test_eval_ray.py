"""``omnistream bench --ray`` on a real local Ray cluster: a head node and a second worker node, each a ``ray start
--block`` process on 127.0.0.1; the worker node is killed while it replays a video."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.generator import GenConfig, generate
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
RAY = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]


class Node:
    def __init__(self, args: list[str], log: Path) -> None:
        with log.open("ab") as out:
            self.proc = subprocess.Popen([*RAY, "start", "--block", *args], env=ENV, stdout=out, stderr=out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, Node]]:
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = Node(["--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1",
                 "--include-dashboard=false", "--disable-usage-stats"], tmp_path / "head.log")  # fmt: skip
    check = [*RAY, "status", f"--address={address}"]
    for _ in range(120):  # up once the GCS answers
        if subprocess.run(check, env=ENV, capture_output=True).returncode == 0:
            break
        assert head.proc.poll() is None, (tmp_path / "head.log").read_text()
    worker = Node([f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1"], tmp_path / "worker.log")
    try:
        yield address, worker
    finally:
        worker.stop()
        head.stop()


def bench(suite: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "eval", "bench", "--data", str(suite / "questions_real.json"), "--videos",
            str(suite), "--out", str(out), "--no-speech", *extra]  # fmt: skip


def test_a_worker_node_killed_mid_run_loses_and_repeats_no_item(cluster: tuple[str, Node], tmp_path: Path) -> None:
    address, worker = cluster
    suite = tmp_path / "suite"
    generate(GenConfig(out=suite, videos=3, seed=3, seconds=30.0, kinds=("real",)))
    items = sum(len(entry["questions"]) for entry in json.loads((suite / "questions_real.json").read_text()))
    out = tmp_path / "out"
    driver = subprocess.Popen(bench(suite, out, "--ray", address), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert driver.stderr is not None
    seen = []
    for line in driver.stderr:  # the progress bar moves once a video's records are in results.jsonl
        seen.append(line)
        if re.search(r"\] [1-9]\d*/\d+ items", line):
            break
    worker.stop()  # its raylet and task workers go with it; Ray re-runs the video it held on the head node
    out_text, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, "".join(seen) + err
    uids = [json.loads(line)["uid"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert not [u for u, n in Counter(uids).items() if n > 1]
    assert len(uids) == items
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["videos_replayed"] == 3
    assert f"{items} items scored" in out_text


def test_a_ray_address_that_does_not_answer_stops_the_bench_before_replaying(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    generate(GenConfig(out=suite, videos=1, seed=3, seconds=30.0, kinds=("real",)))
    address = f"127.0.0.1:{free_port()}"
    done = subprocess.run(bench(suite, tmp_path / "out", "--ray", address), cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert f"the Ray cluster at {address} does not answer" in done.stderr
    assert not (tmp_path / "out" / "results.jsonl").exists()
