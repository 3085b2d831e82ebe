"""`spikelut bench` on a tiny size: the documented report keys and errors (no timing assertions)."""

import json

import pytest

from spikelut import xp as backend
from spikelut.bench import SIZES, bench_network, format_report, run_bench
from spikelut.cli import main
from spikelut.errors import ConfigError

RESULT_KEYS = {"engine", "backend", "device", "threads", "threads_rule", "batch", "steps", "seconds",
               "lut_evals",
               "lut_evals_per_s", "scaled_from_smaller_run", "speedup_vs_reference",
               "kernel_seconds", "kernel_lut_evals_per_s"}
MACHINE_KEYS = {"cpu", "cores", "numba_threads", "python", "platform", "numpy", "numba", "gpu",
                "cupy"}


@pytest.fixture(scope="module")
def report():
    return run_bench(sizes=["tiny"], device="cpu", repeats=1)


def test_report_keys(report):
    assert set(report) == {"date", "command_line", "machine", "method", "repeats", "inference",
                           "training"}
    assert set(report["machine"]) == MACHINE_KEYS
    assert report["command_line"] == "spikelut bench --sizes tiny --device cpu"
    (size,) = report["inference"]
    assert {k: size[k] for k in ("size", "nodes", "k", "batch", "steps")} == \
        {"size": "tiny", **SIZES["tiny"]}
    assert size["layers"] == [80, 80, 40]
    for r in size["results"]:
        assert set(r) == RESULT_KEYS
        assert r["lut_evals"] == 200 * r["batch"] * r["steps"]
        assert r["lut_evals_per_s"] == pytest.approx(r["lut_evals"] / r["seconds"])
    engines = [(r["engine"], r["threads"]) for r in size["results"]]
    assert engines[0] == ("reference", 1) and ("bitsliced", 1) in engines
    # the second bit-sliced run is the engine's default rule: 130 samples are one slice, 1 thread
    assert [(r["threads"], r["threads_rule"]) for r in size["results"] if r["engine"] == "bitsliced"] \
        == [(1, "fixed"), (1, "default")]
    assert size["results"][0]["speedup_vs_reference"] == 1.0
    assert all(r["device"] == "cpu" for r in size["results"])  # device cpu: no GPU row


def test_training_step_benchmark(report):
    from spikelut import train

    tr = report["training"]
    assert tr["available"] is True
    if callable(getattr(train, "bench_training", None)):
        assert tr["source"] == "spikelut.train.bench_training"
        return
    assert tr["source"].startswith("built-in: train/bptt.py vs train/kernels_cpu.py")
    rows = tr["results"]
    assert [(r["engine"], r["threads"]) for r in rows][:2] == [("bptt (numpy reference)", 1),
                                                               ("kernels_cpu (numba)", 1)]
    for r in rows:
        assert set(r) == {"case", "nodes", "batch", "steps", "engine", "threads",
                          "seconds_per_step", "samples_per_s", "lut_evals_per_s",
                          "speedup_vs_bptt"}
        assert (r["case"], r["nodes"], r["batch"], r["steps"]) == ("tiny", 50, 10, 4)
        assert r["samples_per_s"] == pytest.approx(10 / r["seconds_per_step"])
    assert rows[0]["speedup_vs_bptt"] == 1.0


def test_text_report_names_machine_and_engines(report):
    text = format_report(report)
    assert text.splitlines()[1] == "command  spikelut bench --sizes tiny --device cpu"
    assert "numba" in text.splitlines()[2]
    assert "tiny  200    reference" in text and "bitsliced" in text


def test_bench_network_shape():
    net = bench_network(10_000)
    assert net.sizes == [4900, 4900, 200] and net.readout.classes == 10
    assert {layer.k for layer in net.layers} == {6} and net.max_delay() == 2


def test_cli_json_and_markdown(tmp_path, capsys):
    md = tmp_path / "B.md"
    code = main(["bench", "--sizes", "tiny", "--device", "cpu", "--repeats", "1", "--json",
                 "--no-training", "-o", str(md)])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and data["command"] == "bench"
    assert data["training"] == {"available": False, "reason": "not requested"}
    assert data["inference"][0]["size"] == "tiny"
    text = md.read_text()
    assert text.startswith("# Engine benchmark (spikelut bench)\n") and "| tiny | 200 | reference | 1 |" in text


def test_a_repeated_size_is_timed_once(capsys):
    def rows(sizes):
        assert main(["bench", "--sizes", sizes, "--backend", "numpy", "--repeats", "1", "--json",
                     "--no-training", "--no-progress"]) == 0
        return [r["size"] for r in json.loads(capsys.readouterr().out)["inference"]]

    once = rows("tiny")
    assert once and set(once) == {"tiny"}
    assert rows("tiny, tiny,tiny") == once


def test_unknown_size_is_one_line_error(capsys):
    code = main(["bench", "--sizes", "tiny,huge"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == ("spikelut bench: error: unknown benchmark size(s) ['huge']; choose from tiny, "
                   "small, default, large\n")


def test_bad_repeats():
    with pytest.raises(ConfigError, match="repeats must be >= 1, got 0"):
        run_bench(sizes=["tiny"], repeats=0)


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_gpu_asked_without_gpu(capsys):
    code = main(["bench", "--sizes", "tiny", "--device", "gpu"])
    assert code == 1
    assert "backend 'cuda' is not available here: CuPy " in capsys.readouterr().err


def test_pytorch_model_is_the_same_model():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: autograd comparison model "
                                                "not checked")
    import numpy as np

    from spikelut.bench_torch import make_step
    from spikelut.train import bptt
    from spikelut.train.surrogates import get_surrogate
    from spikelut.wiring import random_network

    rng = np.random.default_rng(2)
    net = random_network(2, n_in=4, sizes=[12, 6, 3], k=[6, 3, 4], max_delay=2,
                         refractory=[1, 2, 0], classes=3)
    plan = bptt.compile_plan(net)
    x = (rng.random((6, 9, 4)) < 0.5).astype(np.uint8)
    thetas = [rng.normal(0, 0.3, layer.table.shape).astype(np.float32) for layer in net.layers]
    g = [rng.normal(0, 1, (6, 9, layer.n)).astype(np.float32) for layer in net.layers]
    fwd = bptt.forward(plan, bptt.tables_of(thetas), x)
    ref, _ = bptt.backward(plan, thetas, fwd, g, get_surrogate("fast_sigmoid"))
    step, model = make_step(plan, thetas, x, g)
    got = step()
    out = model.forward([torch.tensor(t) for t in thetas], torch.as_tensor(x))
    for i in range(3):
        np.testing.assert_array_equal(torch.stack(out[i]).permute(0, 2, 1).numpy(), fwd.spikes(i))
        np.testing.assert_allclose(got[i].numpy(), ref[i], rtol=1e-4, atol=1e-5)
