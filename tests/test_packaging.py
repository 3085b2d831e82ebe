"""The wheel holds every subpackage: pyproject.toml lists packages by hand, so a new one (the
fileutil package, split out of one module) is missing from an installed spikelut unless listed."""

from pathlib import Path

from spikelut.config import tomllib  # tomli on Python 3.10

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "spikelut").rglob("__init__.py")}
    assert found - listed == set()
    assert {"spikelut", "spikelut.fileutil", "spikelut.train"} <= found


def test_a_checkout_finds_its_own_data_folder():
    """data_dir looked one level too shallow once datasets became a package (spikelut/data),
    which only an installed spikelut.data package hid."""
    from spikelut.datasets import data_dir

    assert data_dir() == ROOT / "data"
