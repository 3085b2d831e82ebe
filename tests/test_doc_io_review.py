"""Bugs found while documenting the file and dataset API (spikelut.io, spikelut.datasets,
spikelut.ucr, spikelut.vcd): each test fails on the code before its fix."""

import math

import numpy as np
import pytest

from spikelut import ucr
from spikelut.datasets import (bin_events, dataset_files, make_first_of_two, make_patterns,
                               mnist5k_split, plan_encoding)
from spikelut.engine.result import SimResult
from spikelut.errors import ConfigError, FileFormatError, ShapeError
from spikelut.io import check_sample, save_features
from spikelut.vcd import read_vcd, vcd_spike_trains, write_vcd


@pytest.mark.parametrize("bad", [math.nan, math.inf, "x", None, "1", 1.5, True])
def test_check_sample_refuses_non_integers_with_one_config_error(bad):
    # NaN, inf, text and None were ValueError / OverflowError / TypeError tracebacks
    with pytest.raises(ConfigError, match=r"^sample .* does not exist; the result has samples 0 \.\. 2$"):
        check_sample(bad, 3)


def test_check_sample_keeps_whole_numbers():
    assert check_sample(2.0, 3) == 2 and type(check_sample(2.0, 3)) is int


@pytest.mark.parametrize("bad", [[["a", "b"]], [[1.0, 2.0], [3.0]]])
def test_save_features_refuses_text_and_ragged_rows_with_one_file_format_error(tmp_path, bad):
    # np.asarray(..., float32) raised numpy's ValueError (a traceback) before the shape check
    out = tmp_path / "f.h5"
    with pytest.raises(FileFormatError, match=r"f\.h5: /features: not an array of numbers \[B, F\] "
                                              r"\(.*\); give one row of numbers per sample$"):
        save_features(out, bad)
    assert not out.exists()


def test_mnist5k_split_with_no_test_images_per_class_puts_every_image_in_train():
    # y[-0:] is the whole class: per_class=0 put every image in the test split
    train, test = mnist5k_split(np.array([0, 1, 0, 1]), per_class=0)
    assert train.tolist() == [0, 1, 2, 3] and test.tolist() == []
    with pytest.raises(ConfigError, match=r"^mnist5k_split: per_class must be >= 0, got -1$"):
        mnist5k_split(np.array([0, 1]), per_class=-1)


@pytest.mark.parametrize("make, name", [(make_first_of_two, "first_of_two"), (make_patterns, "patterns")])
def test_synthetic_tasks_refuse_a_negative_sample_count_with_one_config_error(make, name):
    # was numpy's "negative dimensions are not allowed" ValueError traceback
    with pytest.raises(ConfigError, match=rf"^{name}: need n >= 0 samples, got n=-1$"):
        make(-1)


@pytest.mark.parametrize("bad", ["x", math.nan, math.inf])
def test_plan_encoding_refuses_a_limit_that_is_no_number_with_one_config_error(bad):
    # int(limit) on text, NaN or infinity was a ValueError / OverflowError traceback
    with pytest.raises(ConfigError, match=r"^limit must be a positive integer, got "):
        plan_encoding("first_of_two", None, None, split="test", limit=bad)


@pytest.mark.parametrize("bad", ["x", math.nan])
def test_plan_encoding_refuses_spike_steps_that_are_no_number_with_one_config_error(bad):
    with pytest.raises(ConfigError, match=r"^dataset first_of_two is spikes of 20 cycles: steps "
                                          r"must be 20 or more \(extra cycles are silent\), got "):
        plan_encoding("first_of_two", None, bad, split="test", limit=2)


def test_plan_encoding_bounds_whole_float_spike_steps_by_the_cycle_limit():
    # steps = 1e30 (a float) skipped the int-only limit check and planned 10**30 cycles
    with pytest.raises(ConfigError, match=r"^steps = \d+ is more than the limit of \d+ cycles; "
                                          r"give fewer steps$"):
        plan_encoding("first_of_two", None, 1e30, split="test", limit=2)
    assert plan_encoding("first_of_two", None, 25.0, split="test", limit=2).shape == (25, 2, 2)


@pytest.mark.parametrize("dt", [0, -0.1, math.nan, math.inf, "x"])
def test_bin_events_refuses_a_dt_that_is_not_a_positive_number(dt):
    # t / 0 cast inf to int64 garbage (-9223372036854775808) with only numpy's warning
    with pytest.raises(ConfigError, match=r"^bin_events: dt must be a finite number > 0, got "):
        bin_events([0.1, 0.2], dt)


@pytest.mark.parametrize("t", [[math.nan], [-1.0], [math.inf]])
def test_bin_events_refuses_times_that_are_not_finite_and_non_negative(t):
    with pytest.raises(ConfigError, match=r"^bin_events: event times must be finite numbers >= 0$"):
        bin_events(t, 1.0)


@pytest.mark.parametrize("lengths", [[2], [1, 2, 3]])
def test_blank_padding_refuses_lengths_that_are_not_one_per_sample(lengths):
    # one length was broadcast to every sample (a silently wrong padding); three for two
    # samples was numpy's broadcast traceback
    with pytest.raises(ShapeError, match=r"^lengths: expected 2 whole numbers \(one per sample\), "
                                         r"got int64 of shape \(\d,\)$"):
        ucr.blank_padding(np.ones((3, 2, 1), np.uint8), lengths)


def test_own_cycle_counts_refuses_lengths_that_are_not_one_per_sample():
    s = np.ones((3, 2, 1), np.uint8)
    with pytest.raises(ShapeError, match=r"^lengths: expected 2 whole numbers"):
        ucr.own_cycle_counts(s, np.array([0]), 1, 0, [1])
    assert ucr.own_cycle_counts(s, np.array([0]), 1, 0, [1, 3]).tolist() == [[1], [3]]


def test_ucr_load_refuses_an_unknown_name_or_split_with_one_config_error():
    # SETS[name] and raw[split] were KeyError tracebacks (checked before aeon is imported)
    with pytest.raises(ConfigError, match=r"^unknown UCR/UEA dataset 'nosuch'; choose one of ACSF1, "):
        ucr.load("nosuch", "train")
    with pytest.raises(ConfigError, match=r"^unknown split 'val'; choose train or test$"):
        ucr.load("GunPoint", "val")


_VCD = """$timescale 1ns $end
$scope module spikelut $end
$var wire 1 ! clk $end
$scope module L0 $end
$var wire 1 " n0 $end
$var wire 1 # n1 $end
$upscope $end
{extra}$upscope $end
{other}$enddefinitions $end
#0 1! 1" 0# #5 0! #10 1! 0" 1# #15 0! #20 1!
"""


@pytest.mark.parametrize("extra, other", [
    # a signal after the last wire (an RTL testbench's done): m.group on None, AttributeError
    ("$var wire 1 $ done $end\n", ""),
    # a wire n5 in another top scope was written into L0 as node 5 (then "not 0 .. 2")
    ("", "$scope module other $end\n$scope module L0 $end\n$var wire 1 $ n5 $end\n"
         "$upscope $end\n$upscope $end\n"),
])
def test_vcd_spike_trains_reads_each_wire_into_its_own_scope_only(tmp_path, extra, other):
    p = tmp_path / "t.vcd"
    p.write_text(_VCD.format(extra=extra, other=other))
    trains = vcd_spike_trains(p)
    assert list(trains) == ["L0"] and trains["L0"].tolist() == [[1, 0], [0, 1]]


def test_read_vcd_refuses_a_vector_value_without_bits(tmp_path):
    p = tmp_path / "t.vcd"
    p.write_text("$scope module top $end $var wire 2 ! v $end $upscope $end $enddefinitions $end "
                 "#0 b !")
    with pytest.raises(FileFormatError, match=r"t\.vcd: vector value 'b' without bits at time 0$"):
        read_vcd(p)


@pytest.mark.parametrize("period", [math.nan, "x", None])
def test_write_vcd_refuses_a_period_that_is_no_number_with_one_config_error(tmp_path, period):
    s = np.ones((2, 1, 1), np.uint8)
    res = SimResult([s], np.zeros((1, 1), np.int32), np.zeros(1, np.int32))
    with pytest.raises(ConfigError, match=r"^period must be an even number of ns >= 2, got "):
        write_vcd(res, 0, tmp_path / "w.vcd", period=period)


def test_dataset_files_of_a_folder_that_cannot_be_listed_is_empty(tmp_path, monkeypatch):
    # an unreadable folder was a PermissionError traceback here, before the loader's own message
    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(tmp_path), "iterdir", refuse)
    assert dataset_files(tmp_path) == []
