"""A new user's review of encode, rtl, bench and peers: each test failed before its fix."""

import json
import shlex
from pathlib import Path

import pytest

from spikelut.cli import main
from spikelut.io import save_model
from spikelut.wiring import random_network

from helpers import one_error_line, run

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------- info: a command line to paste
def _model_with_data_record(tmp_path, record):
    net = random_network(0, 2, [4, 2], k=2, classes=2)
    net.meta["data"] = record
    path = tmp_path / "m.h5"
    save_model(net, path)
    return path


def test_info_quotes_a_dataset_path_with_a_space_for_the_shell(tmp_path, capsys):
    model = _model_with_data_record(tmp_path, {"dataset": "my data/train.npz", "coding": "rate",
                                               "steps": 8, "params": {"sequence": False}})
    code, out, _ = run(capsys, "info", model)
    assert code == 0
    line = out.strip().splitlines()[-1]
    assert line == ("trained on data encoded with: spikelut encode --dataset 'my data/train.npz' "
                    "--coding rate --steps 8 --param sequence=false")
    # pasted into a shell, the path stays one word
    assert shlex.split(line.split(": ", 1)[1])[3] == "my data/train.npz"


def test_info_command_line_from_a_hostile_model_runs_nothing_when_pasted(tmp_path, capsys):
    model = _model_with_data_record(tmp_path, {
        "dataset": "x; touch pwned $(id)", "coding": "thermometer", "steps": True,
        "params": {"levels": 4, "a b": "c;d", "sequence": False}})
    code, out, _ = run(capsys, "info", model, "--json")
    assert code == 0
    options = json.loads(out)["encode_options"]
    assert options == ("--dataset 'x; touch pwned $(id)' --coding thermometer "
                       "--param levels=4 --param 'a b=c;d' --param sequence=false")
    assert shlex.split(options) == ["--dataset", "x; touch pwned $(id)", "--coding", "thermometer",
                                    "--param", "levels=4", "--param", "a b=c;d",
                                    "--param", "sequence=false"]  # no '--steps True' either


# ------------------------------------------------------------- rtl: --top length, --jobs
def _model(tmp_path):
    path = tmp_path / "m.h5"
    save_model(random_network(0, 2, [4, 2], k=2, classes=2), path)
    return path


def test_rtl_refuses_a_top_name_too_long_for_its_file_names_before_any_work(tmp_path, capsys):
    top = "a" * 300
    line = one_error_line(capsys, "rtl", "rtl", _model(tmp_path), "-o", tmp_path / "out",
                          "--top", top)
    assert line == ("spikelut rtl: error: top name aaaaaaaaaaaaaaaaaaaa... is 300 characters long, "
                    "more than 200 (its files tb_<top>.v and <top>_classifier.v must fit a file "
                    "name); choose a shorter name")
    assert not (tmp_path / "out").exists()


def test_rtl_accepts_a_top_name_of_200_characters(tmp_path, capsys):
    top = "b" * 200
    code, out, err = run(capsys, "rtl", _model(tmp_path), "-o", tmp_path / "out", "--top", top)
    assert code == 0, err
    assert (tmp_path / "out" / f"tb_{top}.v").is_file()
    assert (tmp_path / "out" / f"{top}_classifier.v").is_file()


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_rtl_refuses_a_jobs_count_below_one(tmp_path, capsys, jobs):
    with pytest.raises(SystemExit) as e:  # a command line that does not parse: usage, exit 2
        main(["rtl", str(_model(tmp_path)), "-o", str(tmp_path / "out"), "--jobs", jobs])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (f"spikelut rtl: error: argument --jobs: must be an "
                                            f"integer >= 1, got {jobs}")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------- rtl: the header points at a page
def test_generated_core_points_at_a_page_that_ships(tmp_path, capsys):
    code, _, err = run(capsys, "rtl", _model(tmp_path), "-o", tmp_path / "out", "--top", "core")
    assert code == 0, err
    first = (tmp_path / "out" / "core.v").read_text().splitlines()[0]
    assert "DESIGN.md" not in first
    assert first.endswith("(ports and timing: docs/guide/rtl.md, 'The core: the RTL contract').")
    assert "### The core: the RTL contract" in (ROOT / "docs/guide/rtl.md").read_text()


# ------------------------------------------------------------- encode: a part of a spike file
def test_a_part_of_an_encoded_spike_file_keeps_its_encoding(tmp_path, capsys):
    import h5py

    from spikelut.wiring import random_network as rn

    whole, part = tmp_path / "test.h5", tmp_path / "part.h5"
    code, _, err = run(capsys, "encode", "--dataset", "mnist1d", "--split", "test", "--param",
                       "levels=2", "--differences", "1", "--limit", 6, "-o", whole)
    assert code == 0, err
    code, out, err = run(capsys, "encode", "--dataset", whole, "--limit", 4, "--coding", "rate",
                         "-o", part)
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"wrote {part}: 40 cycles x 4 samples x 4 channels "
                                          f"(mnist1d test, coding thermometer, 10 classes, ")
    assert out.splitlines()[1] == f"note: {whole} already is spikes; --coding rate was ignored"
    with h5py.File(whole) as a, h5py.File(part) as b:
        assert (a["spikes"][:, :4] == b["spikes"][:]).all()
        for key in ("dataset", "coding", "params", "differences", "channels_per_value", "split"):
            assert a.attrs[key] == b.attrs[key], key
    # a model trained on the whole encoding reads the part: no 'encoded differently' refusal
    net = rn(0, 4, [6, 10], k=2, classes=10)
    net.meta["data"] = {"dataset": "mnist1d", "coding": "thermometer", "steps": 40,
                        "params": {"levels": 2, "sequence": True},
                        "differences": json.loads(h5py.File(whole).attrs["differences"])}
    model = tmp_path / "m.h5"
    save_model(net, model)
    code, out, err = run(capsys, "eval", model, part, "--json")
    assert code == 0, err
    assert json.loads(out)["samples"] == 4


def test_a_spike_file_with_a_hostile_encoding_record_is_read_as_plain_spikes(tmp_path, capsys):
    import h5py
    import numpy as np

    from spikelut.io import save_spikes

    src, out = tmp_path / "s.h5", tmp_path / "o.h5"
    save_spikes(src, np.zeros((3, 2, 2), np.uint8), labels=[0, 1])
    with h5py.File(src, "r+") as f:
        f.attrs["coding"] = "thermo\x1b[2J"           # not a coding
        f.attrs["params"] = '{"levels": 4}'
        f.attrs["dataset"] = "mnist1d"
    code, text, err = run(capsys, "encode", "--dataset", src, "-o", out)
    assert code == 0, err
    assert text.splitlines()[0] == (f"wrote {out}: 3 cycles x 2 samples x 2 channels ({src} all, "
                                    f"coding none, 2 classes, mean rate 0.0000)")


# ------------------------------------------------------------- encode: an event file's cycles
def test_events_past_the_cycle_limit_are_named_in_a_short_number(tmp_path, capsys):
    import numpy as np

    src = tmp_path / "ev.npz"
    np.savez(src, t=[0.0, 1.0], channel=[0, 1], sample=[0, 0], label=[1], dt=1e-300)
    line = one_error_line(capsys, "encode", "encode", "--dataset", src, "-o", tmp_path / "o.h5")
    assert line == (f"spikelut encode: error: {src}: t: events reach cycle 1e+300, more than the "
                    f"limit of 16777216 cycles; raise dt")


# --------------------------------------------------------------------- thread counts, --limit
def test_bench_refuses_more_threads_than_numbas_pool(tmp_path, capsys):
    # it ran with numba's pool (a row saying 1) and, in the training part, was a ValueError
    # traceback from numba.set_num_threads
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    out = tmp_path / "b.md"
    assert main(["bench", "--sizes", "tiny", "--threads", str(top + 1), "-o", str(out),
                 "--json"]) == 1
    stdout, err = capsys.readouterr()
    line = (f"--threads {top + 1} is more than numba's {top} thread{'' if top == 1 else 's'}; "
            f"start with NUMBA_NUM_THREADS={top + 1} or ask for fewer")
    assert err == f"spikelut bench: error: {line}\n" and json.loads(stdout)["error"] == line
    assert not out.exists()


def test_encode_limit_below_one_names_the_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["encode", "--dataset", "first_of_two", "--limit", "0"])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "spikelut encode: error: argument --limit: must be an integer >= 1, got 0")


def test_a_limit_that_loses_whole_classes_is_said(tmp_path, capsys):
    # mnist5k is stored class by class: --limit 200 kept class 0 only, silently (the docs
    # reviewer's run config reported 93 % "test accuracy" on two classes of ten)
    from spikelut.datasets import encode_dataset

    out = tmp_path / "l.h5"
    assert main(["encode", "--dataset", "mnist5k", "--coding", "rate", "--steps", "2",
                 "--limit", "200", "-o", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "note: the first 200 samples hold no sample of classes 1, 2, 3, 4, 5, 6, 7, 8, 9 (the "
        "dataset is in file order, not shuffled): a model trained or scored on them never sees "
        "those classes; use a larger limit or none")
    assert encode_dataset("mnist5k", "rate", 2, limit=800).meta["limit_missing_classes"] == [
        2, 3, 4, 5, 6, 7, 8, 9]
    # a limit that keeps every class, or none, says nothing
    assert "limit_missing_classes" not in encode_dataset("first_of_two", None, None, limit=50).meta
    assert "limit_missing_classes" not in encode_dataset("first_of_two", None, None).meta
