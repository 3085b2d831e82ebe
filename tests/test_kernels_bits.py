"""The bit-sliced training forward (spikelut/train/kernels_bits.py, docs/training-speed.md,
"Bit-sliced forward"): the same spikes and addresses as the reference forward bit for bit and the
same gradients (bit for bit as after the per-sample forward, within float32 rounding of the
reference) on random networks with delays, self-loops and refractory periods, every k 1..12,
batches across word boundaries; the time-major record; the automatic choice; selection from the
config, the trainer and the CLI."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from spikelut.cli import main
from spikelut.errors import ConfigError, ShapeError
from spikelut.io import load_model, save_spikes
from spikelut.lowering import address_dtype
from spikelut.engine import bitsimd
from spikelut.train import Trainer, TrainConfig, bptt, kernels_bits, kernels_cpu
from spikelut.train.kernels_bits import _transpose64
from spikelut.train.surrogates import get_surrogate
from spikelut.wiring import random_network

from helpers import assert_same_training, simd_env
from test_train import CONFIG, _setup, first_of_two
from test_train_fast import numba_threads
from test_train_kernels import assert_grads_close as close, case

BATCHES = (1, 25, 64, 130)  # one sample; part of a word; one full word; three words, the last partial


def _check(seed, ks, max_delay, refractory, T, B, mode="block", tbptt=0, input_grad=False,
           keep_addr=None):
    net, plan, x, thetas, g = case(seed, ks, max_delay, refractory, T, B)
    tables = bptt.tables_of(thetas)
    ref = bptt.forward(plan, tables, x)
    look = kernels_cpu.forward(plan, tables, x, keep_addr=keep_addr)
    bits = kernels_bits.forward(plan, tables, x, keep_addr=keep_addr)
    assert isinstance(bits, kernels_bits.BitsForward)
    np.testing.assert_array_equal(ref.hist, bits.hist)
    np.testing.assert_array_equal(look.bits, bits.bits)  # the backward pass's record, exactly
    for i in range(len(net.layers)):
        np.testing.assert_array_equal(ref.spikes(i), bits.spikes(i))
    for p, q in zip(ref.addr, bits.addr, strict=True):
        assert q.dtype == address_dtype(max(ks))
        np.testing.assert_array_equal(p, q)
    sg = get_surrogate("fast_sigmoid")
    ra, ia = bptt.backward(plan, thetas, ref, g, sg, mode, "tanh", tbptt, input_grad)
    rl, il = kernels_cpu.backward(plan, thetas, look, g, sg, mode, "tanh", tbptt, input_grad)
    rb, ib = kernels_bits.backward(plan, thetas, bits, g, sg, mode, "tanh", tbptt, input_grad)
    close(ra, rb)
    for p, q in zip(rl, rb):  # the same backward pass on the same record and addresses
        np.testing.assert_array_equal(p, q)
    if input_grad:
        np.testing.assert_allclose(ia, ib, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(il, ib)
    return ref, bits


@pytest.mark.parametrize("k", range(1, 13))
@pytest.mark.parametrize("B", BATCHES)
@pytest.mark.parametrize("fast", ["1", "0"])
def test_every_k_and_batch_equals_the_reference(k, B, fast):
    # layer 0 has k (taps to the input, itself and later layers, delays up to 3, R = 2), layer 1
    # a LUT of at most 6 inputs with R = 1; stored addresses (uint16 where k > 8); with the
    # AVX-512 paths where the CPU has them (fast = "1": bit-shuffle LUTs for k <= 6, mask-move
    # addresses) and without (the mux tree and the unpacking loop)
    with simd_env(fast):
        ref, _ = _check(100 * k + B, (k, min(k, 6), 3), 3, (2, 1, 0), 7, B, mode="full",
                        input_grad=True)
    assert 0 < ref.hist[ref.plan.D:].mean() < 1  # the spikes are not all 0 or all 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**20), k0=st.integers(1, 12), k1=st.integers(1, 6),
       max_delay=st.integers(0, 4), r0=st.integers(0, 3), r1=st.integers(0, 3),
       T=st.integers(1, 9), B=st.sampled_from(BATCHES + (2, 63, 65, 128)),
       mode=st.sampled_from(["block", "pass", "full"]), tbptt=st.integers(0, 4),
       keep_addr=st.sampled_from([None, False]), n_threads=st.integers(1, 3),
       fast=st.sampled_from(["1", "0"]))
def test_random_networks_equal_the_reference(seed, k0, k1, max_delay, r0, r1, T, B, mode, tbptt,
                                             keep_addr, n_threads, fast):
    with numba_threads(n_threads), simd_env(fast):
        _, bits = _check(seed, (k0, k1, 3), max_delay, (r0, r1, 0), T, B, mode, tbptt,
                         input_grad=bool(seed & 1), keep_addr=keep_addr)
    assert (bits.stored is None) == (keep_addr is False)


def test_long_refractory_over_several_time_words():
    """150 cycles (the time-major record spans 3 words), R = 3 and 2, delays up to 4, self-loops,
    130 samples (3 sample words); 1, 2 and 3 threads give the same words."""
    net, plan, x, thetas, g = case(11, (6, 3, 2), 4, (3, 2, 0), 150, 130)
    tables = bptt.tables_of(thetas)
    ref = bptt.forward(plan, tables, x)
    look = kernels_cpu.forward(plan, tables, x)
    words = None
    for n in (1, 2, 3):
        with numba_threads(n):
            fb = kernels_bits.forward(plan, tables, x)
        assert fb.plan.D == 4 and fb.words.shape == ((4 + 150) * 25, 3)  # 4 inputs + 21 nodes
        assert fb.bits.shape == (25, 130, 3)
        np.testing.assert_array_equal(look.bits, fb.bits)
        np.testing.assert_array_equal(ref.hist, fb.hist)
        for p, q in zip(ref.addr, fb.addr):
            np.testing.assert_array_equal(p, q)
        words = fb.words if words is None else words
        np.testing.assert_array_equal(words[:, :2], fb.words[:, :2])  # full words: all 64 lanes
    assert 0 < ref.spikes(0).mean() < 1
    sg = get_surrogate("sigmoid")
    ra, _ = bptt.backward(plan, thetas, ref, g, sg, "full")
    close(ra, kernels_bits.backward(plan, thetas, fb, g, sg, "full")[0])


@pytest.mark.parametrize("refractory, mode, keep_addr, built", [
    ((0, 0, 0), "full", None, False),   # no refractory period, addresses stored: not read
    ((2, 0, 0), "pass", None, False),   # the gate passes the gradient: not read
    ((2, 0, 0), "block", None, True),   # the gate's keep mask reads the record
    ((0, 0, 0), "block", False, True),  # addresses recomputed from the record
])
def test_backward_builds_the_time_major_record_only_where_it_reads_it(refractory, mode,
                                                                      keep_addr, built):
    net, plan, x, thetas, g = case(21, (6, 4, 3), 2, refractory, 9, 70)
    tables = bptt.tables_of(thetas)
    sg = get_surrogate("fast_sigmoid")
    fb = kernels_bits.forward(plan, tables, x, keep_addr=keep_addr)
    rb, ib = kernels_bits.backward(plan, thetas, fb, g, sg, mode, input_grad=True)
    assert (fb._bits is not None) == built
    rl, il = kernels_cpu.backward(plan, thetas, kernels_cpu.forward(plan, tables, x), g, sg, mode,
                                  input_grad=True)
    for p, q in zip(rl, rb):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(il, ib)


def test_transpose64_swaps_rows_and_columns():
    @njit
    def tr(a):
        _transpose64(a)

    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, 64, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 64, dtype=np.uint64)
    b = a.copy()
    tr(b)
    bits = (a[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)  # [word, bit]
    assert ((b[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).tolist() == bits.T.tolist()


def test_masks_pack_each_small_table_into_one_word():
    # tables of 2..128 entries in a row, so that some start inside a byte of the packed tables
    # (read entry by entry) and others on a whole byte (read from the packed bytes)
    rng = np.random.default_rng(3)
    sizes = [2, 64, 4, 8, 64, 2, 2, 32, 128, 16, 64, 8]
    tab_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    tabs = rng.integers(0, 2, int(tab_off[-1])).astype(np.uint8)
    cm = np.zeros((len(sizes), 64), np.uint64)
    dm = np.zeros_like(cm)
    t64 = np.full(len(sizes), 12345, np.uint64)
    kernels_bits._masks(tabs, np.packbits(tabs, bitorder="little"), tab_off, cm, dm, t64, 64)
    for j, n in enumerate(sizes):
        want = sum(int(tabs[tab_off[j] + a]) << a for a in range(n)) if n <= 64 else 0
        assert int(t64[j]) == want, (j, n)
    assert not cm[sizes.index(64)].any()  # a shuffled node gets no mux masks
    j = sizes.index(128)  # ... a larger one does: column a is all-ones where entry 2a is 1
    assert [int(c != 0) for c in cm[j]] == tabs[tab_off[j]:tab_off[j + 1]:2].tolist()


def test_evaluation_forward_skips_the_addresses_and_the_time_major_record():
    net, plan, x, thetas, _ = case(5, (6, 4, 3), 2, (1, 0, 0), 6, 70)
    fb = kernels_bits.forward(plan, bptt.tables_of(thetas), x, save=False)
    assert fb.stored is None and fb.addr == [] and fb._bits is None
    ref = bptt.forward(plan, bptt.tables_of(thetas), x, save=False)
    np.testing.assert_array_equal(ref.spikes(2), fb.spikes(2))
    assert fb._bits is None  # spikes() reads the words


def test_shape_errors():
    net, plan, x, thetas, _ = case(0)
    tables = bptt.tables_of(thetas)
    with pytest.raises(ShapeError) as e:
        kernels_bits.forward(plan, tables, x[:, :, :3])
    assert str(e.value) == f"input spikes must be [T, B, 4], got shape {x[:, :, :3].shape}"
    with pytest.raises(ShapeError) as e:
        kernels_bits.forward(plan, tables[:2], x)
    assert str(e.value) == "tables: got 2 arrays for 3 layers"


# ---------------------------------------------------------------------------- the automatic choice
def test_choose_forward_follows_the_cost_model():
    six = bptt.compile_plan(random_network(0, n_in=8, sizes=[1000, 10], k=6))
    assert kernels_bits.choose_forward(six, 4) == "lookup"        # below AUTO_MIN_BATCH
    assert kernels_bits.choose_forward(six, 256) == "bitsliced"
    assert kernels_bits.choose_forward(six, 256, save=False) == "bitsliced"
    wide = bptt.compile_plan(random_network(0, n_in=8, sizes=[1000, 10], k=10))
    assert kernels_bits.choose_forward(wide, 256) == "lookup"      # 1,024 entries: look-ups win
    # the rule is the estimate with its margin, from AUTO_MIN_BATCH samples on
    for B in (8, 16, 25, 64, 130):
        est = kernels_bits.estimate_ns(six, B)
        want = est["bitsliced"] * kernels_bits.AUTO_MARGIN < est["lookup"]
        assert kernels_bits.choose_forward(six, B) == ("bitsliced" if want else "lookup")
    # the demo's 4,296 LUT6 in 40 cycles: bit-sliced at batch 64 (measured 1.9x), not at 4
    two = bptt.compile_plan(random_network(0, n_in=64, sizes=[2000, 2000, 10], k=6))
    assert [kernels_bits.choose_forward(two, B) for B in (4, 64)] == ["lookup", "bitsliced"]


def test_auto_forward_gives_the_same_results_either_way():
    net, plan, x, thetas, _ = case(9, (2, 2, 2), 1, (1, 0, 0), 5, 130)
    tables = bptt.tables_of(thetas)
    small, big = kernels_bits.auto_forward(plan, tables, x[:, :2]), kernels_bits.auto_forward(plan, tables, x)
    assert type(small) is kernels_cpu.PackedForward and type(big) is kernels_bits.BitsForward
    np.testing.assert_array_equal(small.hist, bptt.forward(plan, tables, x[:, :2]).hist)
    np.testing.assert_array_equal(big.hist, bptt.forward(plan, tables, x).hist)


def test_select_forward():
    assert kernels_bits.select_forward("auto") is kernels_bits.auto_forward
    assert kernels_bits.select_forward("lookup") is kernels_cpu.forward
    assert kernels_bits.select_forward("bitsliced") is kernels_bits.forward
    with pytest.raises(ConfigError) as e:
        kernels_bits.select_forward("bytes")
    assert str(e.value) == "unknown forward 'bytes'; choose one of auto, lookup, bitsliced"


# ---------------------------------------------------------------------------- config, trainer, CLI
@pytest.mark.parametrize("table, message", [
    ({"forward": "bits"}, "[train]: unknown forward 'bits'; choose one of auto, bitsliced, lookup"),
    ({"forward": "bitsliced", "backend": "numpy"},
     "[train]: forward = 'bitsliced' chooses a pass of the numba backend; this config trains on "
     "'numpy': use backend = \"numba\" or forward = \"auto\""),
    ({"forward": "lookup", "backend": "cuda"},
     "[train]: forward = 'lookup' chooses a pass of the numba backend; this config trains on "
     "'cuda': use backend = \"numba\" or forward = \"auto\""),
    ({"forward": "bitsliced", "analog_bits": 2},
     "[train]: forward = 'bitsliced' chooses a pass of the numba backend; this config trains on "
     "numpy (analog_bits): use backend = \"numba\" or forward = \"auto\""),
])
def test_config_errors_are_one_line(table, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(table)
    assert str(e.value) == message


def test_trainer_uses_the_chosen_forward_and_keeps_the_same_tables():
    x, y = first_of_two()
    runs = {}
    for name, fn in (("lookup", kernels_cpu.forward), ("bitsliced", kernels_bits.forward),
                     ("auto", kernels_bits.auto_forward)):
        net, tc = _setup(epochs=3, forward=name)
        tr = Trainer(net, tc, progress=False)
        assert tr._forward is fn and tr._backward is kernels_bits.backward
        runs[name] = tr, tr.fit((x, y))
    assert_same_training(*runs["lookup"], *runs["bitsliced"])
    assert_same_training(*runs["lookup"], *runs["auto"])
    # the reference backend keeps its own pass; forward = "auto" asks nothing of it
    net, tc = _setup(backend="numpy")
    assert Trainer(net, tc, progress=False)._forward is bptt.forward


def test_a_checkpoint_resumes_with_another_forward(tmp_path):
    x, y = first_of_two()
    net, tc = _setup(epochs=2, forward="lookup")
    ck = tmp_path / "ck.h5"
    Trainer(net, tc, progress=False).fit((x, y), checkpoint=ck)
    net, tc = _setup(epochs=3, forward="bitsliced")
    res = Trainer(net, tc, progress=False).fit((x, y), checkpoint=ck, resume=True)
    assert [r["epoch"] for r in res.history] == [1, 2, 3]


def test_cli_forward_flag(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(CONFIG)
    x, y = first_of_two()
    save_spikes(tmp_path / "d.h5", x, y)
    models = []
    for name in ("lookup", "bitsliced"):
        m = tmp_path / f"{name}.h5"
        code = main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                     str(m), "--epochs", "2", "--backend", "numba", "--forward", name,
                     "--no-progress", "--json"])
        out = capsys.readouterr().out
        assert code == 0 and json.loads(out)["ok"]
        models.append(load_model(m))
    for a, b in zip(*[m.layers for m in models]):
        np.testing.assert_array_equal(a.logits, b.logits)
    code = main(["train", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.h5"), "-o",
                 str(tmp_path / "n.h5"), "--backend", "numpy", "--forward", "bitsliced"])
    assert code == 1
    assert capsys.readouterr().err == (
        "spikelut train: error: --forward, --backend: forward = 'bitsliced' chooses a "
        "pass of the numba backend; this config trains on 'numpy': use backend = \"numba\" or "
        "forward = \"auto\"\n")


def test_bench_forward_costs_mode(demos_dir, monkeypatch):
    from test_bench_train_epoch import _load

    mod = _load(demos_dir)
    monkeypatch.setattr(mod, "COST_BATCHES", (1, 70))
    text = mod.forward_costs([2, 7], threads=1, steps=2)
    lines = text.splitlines()
    assert lines[0] == "# Training forward passes: lookup / bitsliced time against k and batch"
    table = [s for s in lines if s.startswith("| ")]
    assert table[0] == "| k | B = 1 | B = 70 |" and [s.split(" | ")[0] for s in table[1:]] == ["| 2", "| 7"]
    assert all(len(s.split(" / ")) == 3 for s in table[1:])  # two cells "train / eval" a row
    fits = [s.strip() for s in lines if s.startswith("    (")]
    # the mux tree's model from the rows that ran it: k = 7, and k = 2 too without BITALG
    want = ["('lookup', True)", "('lookup', False)", "('bitsliced', True)", "('bitsliced', False)"]
    if bitsimd.lut_enabled():
        want += ["('bitsliced_lut', True)", "('bitsliced_lut', False)"]
    assert [s.split(":")[0] for s in fits] == want
    assert fits[3].endswith(", 0, 0),")  # the evaluation pass unpacks no addresses
