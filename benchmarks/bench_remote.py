"""Time to first token through the ``remote`` backend against the stream's age, and what the stable request prefix
buys: llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``, the shipped SmolLM2-135M GGUF) on
loopback, the backend's own ``RemoteContext`` and HTTP client.

The stream is synthetic and fed to the context directly (``ingest_transcript``: a short utterance every
``--speech-every`` seconds of stream), not through a session, so 600 s of stream take no wall time; only the server's
work is timed. For each stream age A (10, 60, 600 s), on a fresh stream of its own words:

* **cold**: a first question at A - 10 s (A = 10: at 0 s); nothing of this stream is in the server's cache;
* **follow-up**: a second question at A, after 10 s more speech, with the first question and its answer as history.

With the backend's layout (append-only) the follow-up's request repeats the cold one and the server's prompt cache
covers it: only the answer, the 10 s of new speech and the question are computed. The same is measured with a
prefix that moves (the stream time put first in the system text, as a client that stamps its prompt would do), which
no prefix cache can use. The tokens the server computed for each request are read from its own log ("prompt eval
time = … / N tokens").

The cold questions at 600 s dominate the run: 10.4 min on 2 shared cores (load 4-5), where the server's prompt pass
ran at ~50 tokens/s.

python -m benchmarks.bench_remote [--ages 10 60 600] [--repeats 3] --machine idle|shared [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.llama_server import LlamaServer
from engine.backends.base import AnswerRequest, Turn
from engine.backends.remote.backend import RemoteContext
from engine.backends.remote.options import RemoteOptions
from engine.cancel import CancelToken

WORDS = [
    *("the", "red", "car", "turns", "left", "near", "a", "bridge", "while", "two", "people", "walk", "their", "dog"),
    *("past", "old", "market", "and", "bus", "stops", "at", "corner", "where", "children", "wait", "under", "green"),
    *("trees", "for", "rain", "to", "end", "before", "train", "leaves", "station"),
]
QUESTIONS = ("What has been said in the stream so far?", "What did they say just now?")


def utterance(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 10)))


def stamped(messages: list[dict[str, Any]], t: float) -> list[dict[str, Any]]:
    """The same request with the stream time first in the system text: a prefix that moves with every question."""
    first = {**messages[0], "content": f"Stream time now: {t:.1f} s.\n{messages[0]['content']}"}
    return [first, *messages[1:]]


def ask(
    ctx: RemoteContext,
    server: LlamaServer,
    request: AnswerRequest,
    layout: Callable[[list[dict[str, Any]], float], Any],
) -> tuple[float, str, int]:
    """Seconds to the first piece of the answer, the answer, and the prompt tokens the server computed for it."""
    seen = len(server.prompt_tokens())
    messages = layout(ctx.messages(request), request.t)
    start = time.monotonic()
    ttft, pieces = None, []
    for piece in ctx.client.stream(messages, request.max_new_tokens, CancelToken()):
        if ttft is None and piece:
            ttft = time.monotonic() - start
        pieces.append(piece)
    if ttft is None:
        raise SystemExit(f"the server answered nothing at t={request.t:g} s")
    computed = server.prompt_tokens()[seen:]  # printed when the request finished, which it has
    return ttft, "".join(pieces), sum(computed)


def run_stream(
    server: LlamaServer, age: float, seed: int, speech_every: float, max_tokens: int, moving: bool
) -> dict[str, float]:
    """One stream: the cold question at ``age - 10`` and the follow-up at ``age``."""
    rng = random.Random(seed)
    ctx = RemoteContext(LlamaServer.ALIAS, RemoteOptions(base_url=server.base_url, max_images=0))
    layout = stamped if moving else (lambda messages, t: messages)
    first_t = max(age - 10, 0.0)
    t = speech_every
    while t <= first_t:
        ctx.ingest_transcript(t - 2.0, t, utterance(rng))
        t += speech_every
    cold = AnswerRequest(QUESTIONS[0], first_t, max_new_tokens=max_tokens)
    cold_ttft, answer, cold_tokens = ask(ctx, server, cold, layout)
    while t <= age:
        ctx.ingest_transcript(t - 2.0, t, utterance(rng))
        t += speech_every
    history = (Turn("user", QUESTIONS[0], first_t), Turn("assistant", answer, first_t + 0.5))
    follow = AnswerRequest(QUESTIONS[1], age, history=history, max_new_tokens=max_tokens)
    ttft, _, tokens = ask(ctx, server, follow, layout)
    ctx.close()
    return {"cold_ttft_s": cold_ttft, "cold_tokens": cold_tokens, "ttft_s": ttft, "tokens": tokens}


def measure(
    server: LlamaServer, ages: Sequence[float], repeats: int, speech_every: float, max_tokens: int
) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    run_stream(server, min(ages), 0, speech_every, max_tokens, False)  # the server's first request is slower: unkept
    seed = 0
    for layout in ("stable", "moving"):
        results[layout] = {}
        for age in ages:
            runs = []
            for _ in range(repeats):
                seed += 1  # each stream its own words: the server's cache holds nothing of it at the cold question
                runs.append(run_stream(server, age, seed, speech_every, max_tokens, layout == "moving"))
            summary = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            results[layout][f"{age:g}"] = {key: round(value, 4) for key, value in summary.items()}
            print(f"{layout:6s} age {age:5g} s: " + ", ".join(f"{k} {v:g}" for k, v in summary.items()), flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ages", type=float, nargs="+", default=[10.0, 60.0, 600.0], help="stream ages, seconds")
    parser.add_argument("--repeats", type=int, default=3, help="streams per age and layout (the median is kept)")
    parser.add_argument("--speech-every", type=float, default=6.0, help="seconds of stream between utterances")
    parser.add_argument("--max-new-tokens", type=int, default=8, help="tokens per answer")
    parser.add_argument("--threads", type=int, default=2, help="the server's threads")
    parser.add_argument("--n-ctx", type=int, default=4096, help="the server's context, tokens")
    parser.add_argument("--machine", choices=["idle", "shared"], required=True, help="say whether others used it")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    if min(args.ages) < 10:
        parser.error("--ages: each at least 10 s (the cold question comes 10 s before)")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        server = LlamaServer(Path(folder), n_ctx=args.n_ctx, threads=args.threads)
        try:
            server.start()
            started = time.monotonic()
            results = measure(server, args.ages, args.repeats, args.speech_every, args.max_new_tokens)
            wall = time.monotonic() - started
        finally:
            server.stop()
    low, high = f"{min(args.ages):g}", f"{max(args.ages):g}"
    report: dict[str, Any] = {
        "machine": args.machine,
        "cpus": os.cpu_count(),
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "machine")},
        "wall_s": round(wall, 1),
        "results": results,
        "ratio": {
            layout: round(results[layout][high]["ttft_s"] / results[layout][low]["ttft_s"], 2) for layout in results
        },
    }
    print(json.dumps(report, indent=2))
    load = " → ".join(map(str, report["load_1min"]))
    print(
        f"TTFT({high} s)/TTFT({low} s), follow-up question: stable prefix {report['ratio']['stable']}, moving prefix "
        f"{report['ratio']['moving']} ({args.machine} machine, load {load})"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
