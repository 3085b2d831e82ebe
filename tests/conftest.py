import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def demos_dir():
    return os.path.join(REPO, "demos")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
