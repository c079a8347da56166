"""Vision models' speed: ms per frame per model on real photos (skimage.data), onnxruntime CPU, one thread.

Each model runs ``--repeats`` times on each photo after one warm-up run; the table gives the median over all runs
and the median process CPU time per call. "people" takes the detector's output for the frame (as the cascade passes
it) and runs BlazeFace on the frame plus MoveNet once per detected person.
Usage: python benchmarks/bench_vision.py [--repeats 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from pathlib import Path

import skimage.data

from engine.vision.classifier import ImageClassifier
from engine.vision.detector import ObjectDetector
from engine.vision.people import PeopleDetector

PHOTOS = {
    "astronaut": skimage.data.astronaut,
    "chelsea": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "motorcycle_right": lambda: skimage.data.stereo_motorcycle()[1],
    "rocket": skimage.data.rocket,
    "horse": lambda: (skimage.data.horse() * 255).astype("uint8"),
}


def _time(call, repeats: int) -> tuple[list[float], list[float]]:
    call()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per photo and model (default 10)")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    detector = ObjectDetector.load()
    classifier = ImageClassifier.load()
    people = PeopleDetector.load(detector)
    images = {name: load() for name, load in PHOTOS.items()}
    found = {name: detector.detect(image) for name, image in images.items()}
    stages = {
        "detector (NanoDet-m 416)": lambda image, _: detector.detect(image),
        "classifier, whole frame (EfficientNet-Lite0 224)": lambda image, _: classifier.classify(image),
        "classifier, one detected box": lambda image, dets: dets and classifier.classify(image, dets[0].box),
        "faces (BlazeFace 256)": lambda image, _: people.faces(image),
        "people: faces + pose per detected person": lambda image, dets: people.find(image, dets),
    }
    needs_detections = {"classifier, one detected box"}
    results = {}
    for stage, call in stages.items():
        wall, cpu = [], []
        for name, image in images.items():
            if stage in needs_detections and not found[name]:
                continue  # timed only on photos where the detector found something
            w, c = _time(functools.partial(call, image, found[name]), args.repeats)
            wall += w
            cpu += c
        results[stage] = {
            "median_ms": statistics.median(wall),
            "p90_ms": sorted(wall)[int(0.9 * len(wall))],
            "median_cpu_ms": statistics.median(cpu),
        }
    print(f"{len(images)} photos x {args.repeats} runs, onnxruntime 1 thread, load average {os.getloadavg()[0]:.1f}")
    for stage, r in results.items():
        print(
            f"{stage:52s} median {r['median_ms']:6.1f} ms  p90 {r['p90_ms']:6.1f} ms  cpu {r['median_cpu_ms']:6.1f} ms"
        )
    if args.json:
        args.json.write_text(json.dumps({"load_average": os.getloadavg()[0], "results": results}, indent=2))


if __name__ == "__main__":
    main()
