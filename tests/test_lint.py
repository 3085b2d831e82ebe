"""The code passes ruff's pyflakes rules (pyproject.toml [tool.ruff.lint]): an unused import or a
shadowed name is often a mistake (session s found a local ``onnx`` shadowing the module import)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    pytest.importorskip("ruff", reason="ruff is not installed (pip install -e '.[dev]')")
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format",
                        "concise", "spikelut", "tests", "demos", "data"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
