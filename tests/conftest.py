import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny matrices run far faster on one thread than with two threads contending for two shared cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def omni() -> Any:
    """The tiny random-weight Qwen2.5-Omni thinker, loaded through ``from_pretrained``, every frame kept."""
    from engine.backends.omni.backend import OmniBackend
    from engine.backends.omni.options import OmniOptions
    from engine.backends.omni.tiny import cached_tiny

    backend = OmniBackend(str(cached_tiny("omni")), "cpu", OmniOptions(dedupe_threshold=0.0))
    backend.load()
    return backend
