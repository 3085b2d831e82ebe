"""Bugs found while documenting the file and dataset API (spikelut.io, spikelut.datasets,
spikelut.ucr, spikelut.vcd): each test fails on the code before its fix."""

import math

import pytest

from spikelut.errors import ConfigError
from spikelut.io import check_sample


@pytest.mark.parametrize("bad", [math.nan, math.inf, "x", None, "1", 1.5, True])
def test_check_sample_refuses_non_integers_with_one_config_error(bad):
    # NaN, inf, text and None were ValueError / OverflowError / TypeError tracebacks
    with pytest.raises(ConfigError, match=r"^sample .* does not exist; the result has samples 0 \.\. 2$"):
        check_sample(bad, 3)


def test_check_sample_keeps_whole_numbers():
    assert check_sample(2.0, 3) == 2 and type(check_sample(2.0, 3)) is int
