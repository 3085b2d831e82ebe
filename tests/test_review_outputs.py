"""Review of the output commands (vcd, raster, plot) as a new user: a waveform written under an
image or HDF5 name, and a --model of another input width taken silently for a result."""

import pytest

from helpers import chain, layer, one_error_line, run
from spikelut.io import save_model


@pytest.fixture
def files(tmp_path, capsys):
    """A 1-input model, a result simulated with it, and a model of the same layer sizes that
    reads 2 inputs (not the one the result comes from)."""
    one = chain(1, [layer([[(-1, 0, 0), (0, 0, 1)]], [0, 1, 0, 0], name="osc")])
    two = chain(2, [layer([[(-1, 1, 0), (0, 0, 1)]], [0, 1, 0, 0], name="osc")])
    save_model(one, tmp_path / "one.h5")
    save_model(two, tmp_path / "two.h5")
    assert run(capsys, "stimulus", tmp_path / "one.h5", "--steps", 6, "--batch", 2, "-o",
               tmp_path / "s.h5")[0] == 0
    assert run(capsys, "simulate", tmp_path / "one.h5", tmp_path / "s.h5", "-o",
               tmp_path / "r.h5")[0] == 0
    return tmp_path


@pytest.mark.parametrize("name", ["wave.png", "wave.h5", "wave.json"])
def test_vcd_refuses_a_name_of_another_format(files, capsys, name):
    """vcd -o wave.png wrote VCD text under an image name (raster refuses the converse)."""
    out = files / name
    line = one_error_line(capsys, "vcd", "vcd", files / "r.h5", "-o", out)
    suffix = name[name.index("."):]
    assert line == (f"spikelut vcd: error: {out}: the waveform is written as VCD text; give a "
                    f"file name ending in .vcd (not {suffix})")
    assert not out.exists()


@pytest.mark.parametrize("name", ["wave.vcd", "wave.VCD", "wave"])
def test_vcd_takes_a_vcd_name_or_none(files, capsys, name):
    code, out, err = run(capsys, "vcd", files / "r.h5", "-o", files / name)
    assert (code, err) == (0, "")
    assert (files / name).read_text().startswith("$version spikelut")


@pytest.mark.parametrize("command", [["raster"], ["vcd"], ["plot", "rates"], ["plot", "table"]])
def test_a_model_of_another_input_width_is_refused(files, capsys, command):
    """load_result checked only the layer sizes against --model: a model of the same layers but
    another input width named (and coloured) the figure or waveform of a result it never made."""
    ext = "vcd" if command == ["vcd"] else "png"
    line = one_error_line(capsys, command[0], *command, files / "r.h5", "--model",
                          files / "two.h5", "-o", files / f"o.{ext}")
    assert line == (f"spikelut {command[0]}: error: {files / 'r.h5'}: the result has 1 input "
                    f"channel but the model has 2 inputs; give the model the result was "
                    f"simulated with")
    assert not (files / f"o.{ext}").exists()
    code, _, err = run(capsys, *command, files / "r.h5", "--model", files / "one.h5", "-o",
                       files / f"o.{ext}")
    assert (code, err) == (0, "")
