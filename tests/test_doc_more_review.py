"""Review of the analysis / plot docstrings (helper-doc-more): bugs found while reading the code."""
import numpy as np
import pytest

from spikelut.analysis import degree, influences, walsh
from spikelut.errors import ConfigError, ShapeError


@pytest.mark.parametrize("fn", [walsh, degree, influences])
def test_table_measures_refuse_entries_other_than_0_or_1(fn):
    # walsh([[2, 0]]) gave [[-2, -4]] without a word: a 2 was transformed as if it were a bit
    with pytest.raises(ShapeError, match=r"^a table must hold 0 or 1 entries only$"):
        fn(np.array([[2, 0]]))


def test_table_measures_still_exact_on_bits():
    assert walsh(np.array([[0, 1]])).tolist() == [[0, 2]]
    assert degree(np.array([[0, 1, 1, 0]])).tolist() == [2]


def test_to_onnx_refuses_an_analog_model():
    # spikelut.export_onnx refused it; to_onnx itself exported the binary tables without a word
    pytest.importorskip("onnx")
    from spikelut.onnx_export import to_onnx
    from spikelut.wiring import random_network

    net = random_network(0, n_in=2, sizes=[2], k=2)
    with pytest.raises(ConfigError, match=r"^export needs a binary circuit, but this is an analog "
                                          r"model \(4-bit tables"):
        to_onnx(net.replace(meta={"analog": {"bits": 4, "noise": 0.0}}))


def test_serial_wiring_refuses_a_source_without_channels():
    # n_src = 0 gave all-zero taps (and a numpy RuntimeWarning), not an error
    from spikelut.wiring import serial

    with pytest.raises(ConfigError, match=r"^serial wiring needs a source of at least 1 channel, "
                                          r"got 0$"):
        serial(3, 2, 0)


@pytest.mark.parametrize("theta, grad", [(np.zeros((1, 3)), np.zeros((1, 3))),
                                         (np.zeros((1, 4)), np.zeros((1, 2)))])
def test_tap_gradient_from_bad_shapes_is_one_line(theta, grad):
    # were an IndexError and a broadcasting ValueError (tracebacks)
    from spikelut.importance import tap_gradient_from

    with pytest.raises(ShapeError, match=r"^tap gradient: logits \(1, \d\) and gradient \(1, \d\) "
                                         r"must both be \[n, 2\*\*k\] of the same shape$"):
        tap_gradient_from(theta, grad)


def test_importance_score_refuses_a_gradient_of_another_shape():
    # [1, 2] influence + [1, 1] gradient was broadcast without a word
    from spikelut.importance import importance_score

    with pytest.raises(ShapeError, match=r"^importance: gradient \(1, 1\) and influence \(1, 2\) "
                                         r"must have the same \[n, k\] shape$"):
        importance_score(np.array([[0.5, 0.0]]), np.array([[1.0]]))


def test_importance_summary_refuses_a_negative_count():
    # lowest=-1 sliced argsort[:-1]: every tap but one came back as "lowest"
    from spikelut.importance import importance_summary
    from spikelut.wiring import random_network

    with pytest.raises(ConfigError, match=r"^lowest must be a whole number >= 0, got -1$"):
        importance_summary(random_network(0, n_in=2, sizes=[2], k=2), lowest=-1)
