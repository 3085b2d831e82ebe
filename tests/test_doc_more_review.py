"""Review of the analysis / plot docstrings (helper-doc-more): bugs found while reading the code."""
import numpy as np
import pytest

from spikelut.analysis import degree, influences, walsh
from spikelut.errors import ShapeError


@pytest.mark.parametrize("fn", [walsh, degree, influences])
def test_table_measures_refuse_entries_other_than_0_or_1(fn):
    # walsh([[2, 0]]) gave [[-2, -4]] without a word: a 2 was transformed as if it were a bit
    with pytest.raises(ShapeError, match=r"^a table must hold 0 or 1 entries only$"):
        fn(np.array([[2, 0]]))


def test_table_measures_still_exact_on_bits():
    assert walsh(np.array([[0, 1]])).tolist() == [[0, 2]]
    assert degree(np.array([[0, 1, 1, 0]])).tolist() == [2]
