"""Where model assets live on disk: the cache folder for files the project derives from shipped packages."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$OMNISTREAM_CACHE`` (default ``~/.cache/omnistream``) joined with ``parts``, created if missing."""
    root = Path(os.environ.get("OMNISTREAM_CACHE") or Path.home() / ".cache" / "omnistream")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
