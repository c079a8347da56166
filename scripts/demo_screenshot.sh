#!/usr/bin/env bash
# docs/demo.png: the demo page after one click on the photo sample, taken by the browser test (headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_SCREENSHOT="$PWD/docs/demo.png" python3 -m pytest -q tests/test_gradio_browser.py -k photo_sample
python3 - <<'PY'
import cv2

path = "docs/demo.png"
image = cv2.imread(path)
scale = 900 / image.shape[1]
small = cv2.resize(image, (900, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
cv2.imwrite(path, small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
PY
