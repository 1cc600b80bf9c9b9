"""Shared fixtures: sample resolution and a helper to run a pipeline in-process."""
from __future__ import annotations

from pathlib import Path

import pytest

from corpus.samples import local_samples


@pytest.fixture(scope="session")
def samples() -> Path:
    root = local_samples()
    if root is None:
        pytest.skip("no samples: set $LLAMA_CORPUS_SAMPLES or provide ../shared/data")
    return root
