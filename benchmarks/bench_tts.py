"""Spoken replies, the Piper voice against espeak-ng, printed as JSON (medians over sentences and repeats).

* ``first_audio_ms``: a complete sentence handed to the speech-out controller → its first audio chunk released
  (phonemes, synthesis of the first clause, resampling to 24 kHz);
* ``rtf``: synthesis time / audio duration of whole sentences (the voice alone; below 1 is faster than real time);
* ``cancel_stop_ms``: ``SpeechOut.cancel()`` while a sentence plays in real time → the output stopped, from the
  controller's own record (median and max).

    python benchmarks/bench_tts.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time

import numpy as np

from app.speech_options import SpeechOptions
from app.speech_out import SpeechOut
from app.tts import Voice, open_voice

SENTENCES = (
    "The red box is on the left side of the table.",
    "Your train leaves from platform 9 in about twenty minutes.",
    "I can see a cat sitting next to a cup of coffee, and a rocket on the poster behind it.",
    "Yes.",
)


class _Sink:
    """Takes audio at once (first_audio) or, with ``lead_s`` small, at playback pace like a device."""

    sample_rate = 24_000
    drops_on_stop = True

    def __init__(self, lead_s: float) -> None:
        self.lead_s = lead_s
        self.first = threading.Event()

    def write(self, key: str, pcm: np.ndarray) -> None:
        self.first.set()

    def stop(self) -> None:
        """Nothing is held here."""


def first_audio_ms(voice: Voice, sentence: str) -> float:
    sink = _Sink(lead_s=60.0)
    speech = SpeechOut(sink, voice)
    try:
        start = time.monotonic()
        speech.speak("r", sentence)
        assert sink.first.wait(60)
        return (speech.released[0].t - start) * 1000
    finally:
        speech.close()


def rtf(voice: Voice, sentence: str) -> float:
    start = time.perf_counter()
    samples = sum(len(block) for block in voice.stream(sentence, lambda: False))
    return (time.perf_counter() - start) / (samples / voice.sample_rate)


def cancel_stop_ms(voice: Voice) -> float:
    sink = _Sink(lead_s=0.1)
    speech = SpeechOut(sink, voice)
    try:
        speech.speak("r", SENTENCES[2] + " " + SENTENCES[1])
        assert sink.first.wait(60)
        time.sleep(0.5)  # mid-sentence, as a listener would interrupt
        speech.cancel()
    finally:
        speech.close()
    return (speech.stops[-1] - speech.cancels[0]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, object] = {"cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)}
    for engine in ("piper", "espeak"):
        voice, problem = open_voice(SpeechOptions(engine=engine))
        assert problem is None, problem
        rtf(voice, "Warm up.")
        firsts = [first_audio_ms(voice, s) for _ in range(args.repeats) for s in SENTENCES]
        rtfs = [rtf(voice, s) for _ in range(args.repeats) for s in SENTENCES]
        stops = [cancel_stop_ms(voice) for _ in range(args.repeats)]
        result[engine] = {
            "voice": voice.name,
            "first_audio_ms": round(statistics.median(firsts), 1),
            "first_audio_ms_max": round(max(firsts), 1),
            "rtf": round(statistics.median(rtfs), 3),
            "rtf_max": round(max(rtfs), 3),
            "cancel_stop_ms": round(statistics.median(stops), 1),
            "cancel_stop_ms_max": round(max(stops), 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
