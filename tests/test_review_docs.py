"""What the user's guide walk-through found: the documented defaults are in `--help` too."""

from __future__ import annotations

import argparse
import re

import pytest

from spikelut.cli import build_parser


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
