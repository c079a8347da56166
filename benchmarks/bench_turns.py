"""Turn-taking and recognition on real synthesised speech (espeak-ng and the Piper voice, several speeds).

  eot  False end of turn: questions spoken with a pause in the middle of a phrase ("What colour is the … car on the
       left?", pauses of 0.6-1.2 s), each replayed through the real session (Silero VAD, Whisper, the turn-end
       classifier; fast replay, which judges every pause before the next audio, like real time with instant ASR).
       A question counts as answered too early when a turn that ended in its pause was accepted as a query; the
       finished question must still be accepted. Run per end-of-turn mode and ASR model.
  wer  Word error rate of the ASR choices on the same questions spoken whole, side by side, with the real-time factor:
       each model with Whisper's full 30 s window and with windows fitted to the utterance (``--fit-pads``).

python benchmarks/bench_turns.py eot [--mode semantic|silence] [--asr-model base|tiny.en] [--json OUT]
python benchmarks/bench_turns.py wer [--fit-pads 1 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from app.speech_options import SpeechOptions
from app.tts import open_voice
from engine.events import Event, QueryAccepted, SpeechStopped
from engine.gate_policies import AnswerEverything
from engine.options import AsrOptions, EndOfTurnOptions, SessionOptions
from engine.runtime import EngineConfig, load_transcriber, open_session
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.synth import place, resample, speak, write_media

# Each question cut where a speaker may stop to think and where what was said so far is not yet a question of its
# own: after an article, a preposition, a conjunction or a verb.
SPLIT = [
    ("What colour is the", "car on the left?"),
    ("How many people are", "standing near the door?"),
    ("Tell me when a", "red bus appears."),
    ("What is written on the", "sign above the shop?"),
    ("Is there a dog in the", "garden?"),
    ("Can you read the", "text at the bottom?"),
    ("Where did the man", "put his keys?"),
    ("What was shown just before the", "rocket?"),
    ("Which side of the screen is", "the cat on?"),
    ("Describe what the woman", "is holding."),
    ("What did the announcer say about", "the next train?"),
    ("How many cups are on", "the table?"),
    ("Is anything moving in", "the background?"),
    ("What colour is the shirt of", "the man on the right?"),
    ("Tell me when someone", "raises a hand."),
    ("Could you describe the", "picture for me?"),
    ("What time does the", "store open?"),
    ("Is the person sitting or", "standing?"),
    ("What is the name of", "the street?"),
    ("Read me the", "headline, please."),
]
VOICES = (("espeak", 140), ("espeak", 190), ("piper", 1.0), ("piper", 1.25))  # (voice, words/min or speed)
PAUSES = (0.6, 0.8, 1.0, 1.2)
RATE = 16_000


def say(text: str, voice: str, speed: float) -> np.ndarray:
    """16 kHz float32 speech of ``text`` by espeak-ng (``speed`` words/min) or the Piper voice (``speed`` rate), with
    the silence the synthesiser puts before and after it cut off (so a pause placed between two parts is exact)."""
    if voice == "espeak":
        audio = speak(text, words_per_minute=int(speed))
    else:
        piper, problem = open_voice(SpeechOptions(engine="piper", speed=speed))
        if problem is not None:
            raise RuntimeError(problem)
        pcm = np.concatenate(list(piper.stream(text, lambda: False))).astype(np.float32) / 32768.0
        audio = resample(pcm, piper.sample_rate, RATE)
    loud = np.flatnonzero(np.abs(audio) > 0.02)
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio


def cases() -> Iterator[tuple[int, str, float, float]]:
    """(question index, voice, speed, pause): every question in every voice, the pause cycling through PAUSES."""
    for v, (voice, speed) in enumerate(VOICES):
        for q in range(len(SPLIT)):
            yield q, voice, speed, PAUSES[(q + v) % len(PAUSES)]


async def _replay(clip: Path, config: EngineConfig) -> list[Event]:
    session = await open_session(config, ReplayClock("fast"))
    events = session.subscribe()
    out: list[Event] = []

    async def collect() -> None:
        async for event in events:
            out.append(event)

    task = asyncio.create_task(collect())
    await session.run([AudioFileSource(str(clip))])
    await task
    return out


def eot(args: argparse.Namespace) -> dict:
    eot_options = EndOfTurnOptions(mode=args.mode, check_last_word=args.check_last_word)
    options = SessionOptions(asr=AsrOptions(model=args.asr_model), end_of_turn=eot_options)
    config = EngineConfig(backend="cascade", speech=True, options=options, policy=AnswerEverything())
    early, missed, rows = 0, 0, []
    with tempfile.TemporaryDirectory() as folder:
        for n, (q, voice, speed, pause) in enumerate(cases()):
            head, tail = (say(part, voice, speed) for part in SPLIT[q])
            resume = 1.0 + len(head) / RATE + pause
            audio = place(resume + len(tail) / RATE + 2.5, [(1.0, head), (resume, tail)])
            clip = write_media(Path(folder) / f"q{n}.mp4", [np.zeros((32, 32, 3), np.uint8)] * 2, 1.0, audio=audio)
            events = asyncio.run(_replay(clip, config))
            turns = {e.turn_id: e for e in events if isinstance(e, SpeechStopped)}
            accepted = [e for e in events if isinstance(e, QueryAccepted) and e.turn_id in turns]
            too_soon = [e for e in accepted if turns[e.turn_id].start + turns[e.turn_id].duration < resume - 0.05]
            whole = [e for e in accepted if turns[e.turn_id].start + turns[e.turn_id].duration > resume + 0.2]
            early += bool(too_soon)
            missed += not whole
            rows.append(
                {
                    "question": " … ".join(SPLIT[q]),
                    "voice": f"{voice} {speed:g}",
                    "pause_s": pause,
                    "queries": [e.text for e in accepted],
                    "too_soon": bool(too_soon),
                    "whole_answered": bool(whole),
                }
            )
    total = len(rows)
    return {
        "benchmark": "false end of turn",
        "mode": args.mode,
        "asr_model": args.asr_model,
        "check_last_word": args.check_last_word,
        "utterances": total,
        "answered_too_soon": early,
        "answered_too_soon_pct": round(100 * early / total, 1),
        "finished_question_not_answered": missed,
        "target_pct": 5.0,
        "cases": rows,
    }


def _words(text: str) -> list[str]:
    text = text.lower().replace("colour", "color")
    return re.findall(r"[a-z0-9']+", text)


def wer_of(reference: str, heard: str) -> float:
    ref, hyp = _words(reference), _words(heard)
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)] / max(1, len(ref))


def wer(args: argparse.Namespace) -> dict:
    sentences = [f"{head} {tail}" for head, tail in SPLIT]
    spoken = [(s, voice, speed, say(s, voice, speed)) for voice, speed in VOICES for s in sentences]
    out: dict = {"benchmark": "ASR word error rate", "utterances": len(spoken), "models": {}}
    configs = [(model, pad) for model in ("base", "tiny.en") for pad in (None, *args.fit_pads)]
    for model, pad in configs:
        window = "full 30 s window" if pad is None else f"fitted window, {pad:g} s pad"
        asr = load_transcriber(AsrOptions(model=model, fit_window=pad is not None, fit_pad_s=pad or 0.0))
        asr.transcribe(spoken[0][3])  # warm up
        errors, words, rtfs, worst = 0.0, 0, [], []
        for sentence, voice, speed, audio in spoken:
            started = time.perf_counter()
            heard = asr.transcribe(audio)
            rtfs.append((time.perf_counter() - started) / (len(audio) / RATE))
            n = len(_words(sentence))
            errors += wer_of(sentence, heard) * n
            words += n
            if heard and wer_of(sentence, heard) > 0:
                worst.append(f"{voice} {speed:g}: {sentence!r} → {heard!r}")
        out["models"][f"{model}, {window}"] = {
            "wer_pct": round(100 * errors / words, 1),
            "rtf_median": round(statistics.median(rtfs), 3),
            "errors": worst[:12],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="which", required=True)
    p = sub.add_parser("eot")
    p.add_argument("--mode", choices=["semantic", "silence"], default="semantic")
    p.add_argument("--asr-model", default="base")
    p.add_argument(
        "--check-last-word",
        action=argparse.BooleanOptionalAction,
        default=EndOfTurnOptions().check_last_word,
        help="semantic end of turn reads the recogniser's sureness of the last word (the default)",
    )
    p = sub.add_parser("wer")
    p.add_argument("--fit-pads", type=float, nargs="*", default=[1.0, 3.0], help="pads of fitted windows to compare")
    for p in sub.choices.values():
        p.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = eot(args) if args.which == "eot" else wer(args)
    result["machine"] = f"{platform.machine()}, python {platform.python_version()}"
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
