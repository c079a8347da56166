"""Loading the prepared vision models in tests: skipped only when they were never prepared and CI is unset."""

from __future__ import annotations

import os

import pytest

from engine.vision import models


def require(key: str) -> None:
    """Skip the test if the model ``key`` was never prepared here (outside CI, where install.sh prepares them)."""
    if not models.model_path(key).is_file() and not os.environ.get("CI"):
        pytest.skip(f"{models.model_path(key)} not prepared: run `bash scripts/install.sh` (CI always has it)")
