"""What the user's guide walk-through found: the documented defaults are in `--help` too."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from spikelut.cli import build_parser

from helpers import one_error_line, run

REPO = Path(__file__).resolve().parent.parent


def _sub(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


# (command path, option, the default the guide states): docs/guide/networks.md (stimulus),
# docs/guide/plots.md (plot), docs/guide/benchmarks.md (bench)
DOCUMENTED = [
    (("stimulus",), "--batch", "1"),
    (("stimulus",), "--rate", "0.5"),
    (("stimulus",), "--seed", "0"),
    (("plot", "rates"), "--bins", "20"),
    (("plot", "rates"), "--size", "1200x900"),
    (("plot", "table"), "--max-nodes", "64"),
    (("plot", "curves"), "--size", "1200x900"),
    (("bench",), "--repeats", "3"),
    (("bench",), "--seed", "0"),
]


@pytest.mark.parametrize("path, option, default", DOCUMENTED)
def test_help_states_the_default_the_parser_uses(path, option, default):
    parser = _sub(build_parser(), *path)
    action = next(a for a in parser._actions if option in a.option_strings)
    assert str(action.default) == default
    # the help text names the same default (it did not: `--help` left the user guessing)
    assert re.search(rf"\(default {re.escape(default)}\)", action.help or ""), action.help


@pytest.fixture
def model_and_data(tmp_path):
    import spikelut as sl
    from spikelut.datasets import encode_dataset

    net = sl.build(str(REPO / "demos" / "first_of_two.toml"))
    sd = encode_dataset("first_of_two", None, None, split="test", limit=20)
    sl.save_model(net, tmp_path / "m.h5")
    sl.save_spikes(tmp_path / "d.h5", sd.spikes, sd.labels)
    return tmp_path / "m.h5", tmp_path / "d.h5"


@pytest.mark.parametrize("inside", ["imp.h5", "sub/imp.h5"])
def test_analyze_save_importance_into_the_new_output_directory(capsys, tmp_path, model_and_data,
                                                               inside):
    # docs/rewiring.md: `analyze ... -o DIR` and `--save-importance OUT.h5`. With OUT.h5 inside a
    # DIR that did not exist yet, its output check made DIR (and put its lock file there), and the
    # analysis then refused DIR as "not written by 'spikelut analyze'"
    model, data = model_and_data
    out = tmp_path / "analysis"
    code, stdout, err = run(capsys, "analyze", model, data, "-o", out,
                            "--save-importance", out / inside)
    assert code == 0, err
    assert f"wrote {out / inside} (tap influence and gradient signal)" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {"attribution_0.png", "nodes.csv", "summary.txt", inside.split("/")[0]})
    import spikelut as sl

    saved = sl.load_model(out / inside)
    assert all(layer.tap_influence is not None for layer in saved.layers)


def test_analyze_still_refuses_a_foreign_directory(capsys, tmp_path, model_and_data):
    model, data = model_and_data
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    line = one_error_line(capsys, "analyze", "analyze", model, data, "-o", out,
                          "--save-importance", out / "imp.h5")
    assert line == (f"spikelut analyze: error: {out}: directory exists and was not written by "
                    f"'spikelut analyze' (no nodes.csv of its own); choose a new directory, "
                    f"empty it, or pass --force")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_bench_with_no_size_says_so(capsys):
    # docs/guide/benchmarks.md: --sizes is a comma-separated list of tiny, small, default, large
    line = one_error_line(capsys, "bench", "bench", "--sizes", "", "--no-training",
                          "--no-progress")
    assert line == ("spikelut bench: error: no benchmark size given; choose from tiny, small, "
                    "default, large")
