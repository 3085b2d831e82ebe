"""Bad input to the RTL emitters and synthesis found while documenting them: one clear
ConfigError, never invalid Verilog printed silently, a TypeError, or a yosys script command
smuggled in through an argument."""

import re

import numpy as np
import pytest

from spikelut.errors import ConfigError
from spikelut.rtl import emit_lut_model, emit_testbench, emit_wrapper, synthesize
from spikelut.wiring import random_network


@pytest.fixture(scope="module")
def net():
    return random_network(0, 4, [6, 2], k=3)


@pytest.mark.parametrize("width", [0, 7, -1, 2.0, True, "2"])
def test_lut_model_refuses_a_width_without_a_primitive(width):
    # width 0 printed `module LUT0 ... (output O, );` and `INIT[{}]`: not Verilog
    with pytest.raises(ConfigError, match=r"^LUT width must be a whole number in 1\.\.6 "
                                          r"\(LUT1\.\.LUT6\), got "):
        emit_lut_model(width)


def test_lut_model_text_unchanged():
    assert emit_lut_model(np.int64(1)).splitlines()[3] == \
        "module LUT1 #(parameter [1:0] INIT = 2'h0) (output O, input I0);"


@pytest.mark.parametrize("steps, shown", [(1.5, "1.5"), ("8", "'8'"), (0, "0"), (True, "True")])
def test_wrapper_steps_must_be_a_whole_number(net, steps, shown):
    # 1.5 was printed into the wrapper ("over 1.5 cycles"), "8" was a TypeError
    with pytest.raises(ConfigError, match=rf"^steps must be a whole number >= 1, got {shown}$"):
        emit_wrapper(net, "demo", steps)


@pytest.mark.parametrize("top, steps, samples, message", [
    ("1x", 8, 2, r"^top name '1x' is not a legal Verilog identifier"),
    ("module", 8, 2, r"^top name 'module' is a Verilog keyword"),
    ("demo", 0, 2, r"^steps must be a whole number >= 1, got 0$"),
    ("demo", 8, 0, r"^samples must be a whole number >= 1, got 0$"),
    ("demo", 8, 2.5, r"^samples must be a whole number >= 1, got 2\.5$"),
])
def test_testbench_checks_its_arguments(net, top, steps, samples, message):
    # the testbench was written for any of these: `module tb_1x`, `localparam SAMPLES = 0`
    with pytest.raises(ConfigError, match=message):
        emit_testbench(net, top, steps, samples)


def test_testbench_and_wrapper_accept_numpy_integers(net):
    assert emit_testbench(net, "demo", np.int64(8), np.int32(2)) == emit_testbench(net, "demo", 8, 2)
    assert emit_wrapper(net, "demo", np.int64(8)) == emit_wrapper(net, "demo", 8)


@pytest.mark.parametrize("family", ["xc7\n!touch pwned", "xc7; tee -o x", "", 7])
def test_synth_family_cannot_inject_yosys_commands(net, family, tmp_path, monkeypatch):
    # the family was spliced into the yosys script: a newline started a command of its own
    # (a line starting with '!' runs a shell command); refused before yosys is looked for
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"^Xilinx family .* is not a plain name; give one such "
                                          r"as xc7, xcu or xcup$"):
        synthesize(net, family=family, work_dir=tmp_path / "synth")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "synth").exists()


@pytest.mark.parametrize("classes, per, message", [
    (2, 1.5, r"^readout: nodes_per_class must be a whole number >= 1, got 1\.5$"),
    (2.5, None, r"^readout: classes must be a whole number >= 1, got 2\.5$"),
    ("2", None, r"^readout: classes must be a whole number >= 1, got '2'$"),
])
def test_readout_classes_refuses_fractions(classes, per, message):
    # 1.5 nodes per class was truncated to 1 silently; 2.5 classes was a TypeError from a slice
    from spikelut.errors import NetworkError
    from spikelut.network import readout_classes

    with pytest.raises(NetworkError, match=message):
        readout_classes(5, classes, per)


def test_readout_classes_takes_numpy_integers():
    from spikelut.network import readout_classes

    assert readout_classes(5, np.int64(2), np.int32(1)).tolist() == [0, 1, -1, -1, -1]


def test_build_network_refuses_a_config_that_is_not_a_dict():
    # a path given where the parsed config goes was "'str' object has no attribute 'get'"
    from spikelut.config import build_network

    with pytest.raises(ConfigError, match=r"^config must be a dict \(load_config\(path\) or "
                                          r"parse_config\(text\)\), got str$"):
        build_network("demos/run_default.toml")


def test_parse_config_refuses_bytes():
    # bytes were tomllib's TypeError
    from spikelut.config import parse_config

    with pytest.raises(ConfigError, match=r"^invalid TOML: expected text \(str\), got bytes; "
                                          r"decode the file as UTF-8 first$"):
        parse_config(b"inputs = 4")


@pytest.mark.parametrize("shape", [(5, 4, 3), (5, 4), (5, 4, 2, 1)])
def test_readout_refuses_spikes_of_another_width(net, shape):
    # the wrong width or rank was numpy's matmul ValueError ("mismatch in its core dimension")
    from spikelut.engine import readout
    from spikelut.errors import ShapeError

    with pytest.raises(ShapeError, match=rf"^readout spikes must be \[T, B, 2\] \(one channel per "
                                         rf"node of the readout layer\), got shape "
                                         rf"{re.escape(str(shape))}$"):
        readout(net, np.ones(shape, np.uint8))


@pytest.mark.parametrize("bits", [0, 17, 2.0, True])
def test_table_values_refuses_bits_out_of_range(bits):
    # 0 bits divided by zero: every table value NaN, silently
    from spikelut.analog import table_values

    with pytest.raises(ConfigError, match=r"^analog bits must be an integer in 1 \.\. 16, got "):
        table_values(np.zeros((1, 4)), bits)


def test_class_values_refuses_values_of_another_width(net):
    # was numpy's matmul ValueError
    from spikelut.analog import class_values
    from spikelut.errors import ShapeError

    with pytest.raises(ShapeError, match=r"^readout values must be \[T, B, 2\] \(one channel per "
                                         r"node of the readout layer\), got shape \(4, 2, 3\)$"):
        class_values(net, np.ones((4, 2, 3)))


@pytest.mark.parametrize("x, lengths, message", [
    (np.zeros((2, 5)), [3], r"^differences: lengths must be one per sample \(2\), got shape \(1,\)$"),
    (np.zeros((2, 5)), [0, 0], r"^differences: the training values have no cycles to take the "
                               r"range of \(no samples, or every length is 0\)$"),
    (np.zeros((0, 5)), None, r"^differences: the training values have no cycles"),
])
def test_difference_range_refuses_lengths_that_do_not_fit(x, lengths, message):
    # were numpy IndexErrors (a boolean index of another size, a quantile of nothing)
    from spikelut.differences import difference_range
    from spikelut.errors import ShapeError

    with pytest.raises(ShapeError, match=message):
        difference_range(x, [1], lengths)


def test_difference_range_without_lags_is_empty():
    # "cannot reshape array of size 0 into shape (0)" before
    from spikelut.differences import difference_range

    lo, hi = difference_range(np.zeros((2, 5)), [])
    assert lo.shape == hi.shape == (0,)


@pytest.mark.parametrize("labels, shown", [(np.array([[0, 5], [1, 1]]), 5), (np.array(7), 7)])
def test_scoring_problem_names_an_out_of_range_label_of_any_shape(labels, shown):
    # labels[argmax] of a 2-D array was a row (TypeError), of a 0-d one an IndexError
    from spikelut.metrics import scoring_problem
    from spikelut.network import Readout

    assert scoring_problem(Readout(0, [0, 1], 2), 5, labels) == (
        f"label {shown} is out of range: the readout has 2 classes (labels 0..1); set [readout] "
        f"classes to match the data")


@pytest.mark.parametrize("threads", [1.5, "2", None])
def test_check_thread_count_refuses_non_integers(threads):
    # 1.5 passed the check and reached numba.set_num_threads; "2" was a TypeError from '<'
    from spikelut.threads import check_thread_count

    with pytest.raises(ConfigError, match=r"^--workers must be an integer >= 1, got "):
        check_thread_count(threads, "--workers")


def test_environment_refuses_a_non_string_before_setting_anything(monkeypatch):
    # os.environ.update set A, then raised on B's int: A stayed set after the error
    import os

    from spikelut.threads import environment

    monkeypatch.delenv("SPIKELUT_DOC_A", raising=False)
    with pytest.raises(TypeError, match=r"^environment: SPIKELUT_DOC_B must be a string, got 2$"):
        with environment(SPIKELUT_DOC_A="1", SPIKELUT_DOC_B=2):
            pass
    assert "SPIKELUT_DOC_A" not in os.environ
