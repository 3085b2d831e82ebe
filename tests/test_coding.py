"""Encoders and decoders of spikelut.coding: exact small cases, properties, errors."""

import numpy as np
import pytest

from spikelut.xp import gpu_available
from spikelut.coding import (CODINGS, RANDOM_BLOCK, channels_per_value, decode, encode,
                             resolve_params)
from spikelut.errors import ConfigError


def trains(s):
    """[T, 1, C] -> per-channel lists (easier to read in asserts)."""
    return np.asarray(s)[:, 0, :].T.tolist()


def test_registry_names():
    assert CODINGS == ("rate", "rate_even", "latency", "latency_log", "phase", "thermometer",
                       "population", "delta", "sigma_delta", "none")


# ---------------------------------------------------------------------------- rate
def test_rate_extremes_exact():
    s = encode(np.array([[0.0, 1.0, 0.0]]), "rate", steps=5, seed=3)
    assert s.dtype == np.uint8 and s.shape == (5, 1, 3)
    assert trains(s) == [[0] * 5, [1] * 5, [0] * 5]


def test_rate_follows_documented_stream():
    x = np.array([[0.3, 0.7], [0.5, 0.2]])
    s = encode(x, "rate", steps=4, seed=9)
    u = np.random.default_rng([9, 0]).random((2, 4, 2), dtype=np.float32).transpose(1, 0, 2)
    np.testing.assert_array_equal(s, (u < x[None]).astype(np.uint8))


def test_rate_mean_converges():
    x = np.array([[0.1, 0.5, 0.9, 0.03]])
    s = encode(x, "rate", steps=40000, seed=1)
    np.testing.assert_allclose(s.mean(axis=0)[0], x[0], atol=0.01)
    np.testing.assert_allclose(decode(s, "rate")[0], x[0], atol=0.01)


def test_rate_seeds_reproduce_and_differ():
    x = np.full((3, 10), 0.5)
    a = encode(x, "rate", steps=16, seed=5)
    np.testing.assert_array_equal(a, encode(x, "rate", steps=16, seed=5))
    assert not np.array_equal(a, encode(x, "rate", steps=16, seed=6))


def test_rate_sample_independent_of_batch_tail():
    x = np.random.default_rng(0).random((RANDOM_BLOCK + 40, 3))
    full = encode(x, "rate", steps=6, seed=2)
    np.testing.assert_array_equal(encode(x[:7], "rate", steps=6, seed=2), full[:, :7])
    np.testing.assert_array_equal(encode(x[:RANDOM_BLOCK + 1], "rate", steps=6, seed=2),
                                  full[:, :RANDOM_BLOCK + 1])


def test_rate_sequence_mode_one_value_per_cycle():
    x = np.array([[0.0, 1.0, 1.0, 0.0]])
    s = encode(x, "rate", steps=4, sequence=True)
    assert s.shape == (4, 1, 1)
    assert trains(s) == [[0, 1, 1, 0]]


# ---------------------------------------------------------------------------- rate_even
def test_rate_even_exact():
    s = encode(np.array([[0.5, 0.25, 0.0, 1.0, 0.75]]), "rate_even", steps=4)
    assert trains(s) == [[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 1]]


def test_rate_even_count_is_rounded_product():
    x = np.linspace(0, 1, 101)[None, :]
    for T in (1, 3, 7, 16):
        s = encode(x, "rate_even", steps=T)
        np.testing.assert_array_equal(s.sum(axis=0)[0], np.floor(T * x[0] + 0.5))
        np.testing.assert_allclose(decode(s, "rate_even")[0], x[0], atol=0.5 / T + 1e-12)


# ---------------------------------------------------------------------------- latency
def test_latency_exact():
    s = encode(np.array([[1.0, 0.5, 0.0, 0.75]]), "latency", steps=5)
    assert trains(s) == [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 1, 0, 0, 0]]


def test_latency_threshold_silences_small_values():
    s = encode(np.array([[0.2, 0.3]]), "latency", steps=3, threshold=0.25)
    assert trains(s) == [[0, 0, 0], [0, 1, 0]]


@pytest.mark.parametrize("coding", ["latency", "latency_log"])
def test_latency_monotonic_one_spike(coding):
    x = np.linspace(0.02, 1.0, 200)[None, :]
    s = encode(x, coding, steps=32)
    assert (s.sum(axis=0) == 1).all()
    first = np.argmax(s[:, 0, :], axis=0)
    assert (np.diff(first) <= 0).all()  # larger value never fires later
    assert first[-1] == 0 and first[0] > 20


def test_latency_log_exact_and_decode():
    s = encode(np.array([[1.0, 0.1, 0.01, 0.005]]), "latency_log", steps=3)
    assert trains(s) == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
    np.testing.assert_allclose(decode(s, "latency_log")[0], [1.0, 0.1, 0.01, 0.0])
    x = np.geomspace(0.01, 1, 50)[None, :]
    ratio = decode(encode(x, "latency_log", steps=64), "latency_log") / x
    # one cycle is a factor 100**(1/63); rounding costs at most half of it
    assert np.abs(np.log(ratio)).max() <= 0.5 * np.log(100) / 63 + 1e-9


def test_latency_decode_error_bound():
    x = np.linspace(0.01, 1, 300)[None, :]
    y = decode(encode(x, "latency", steps=21), "latency")
    assert np.abs(y - x).max() <= 0.5 / 20 + 1e-12


# ---------------------------------------------------------------------------- phase
def test_phase_exact():
    s = encode(np.array([[0.6, 1.0, 0.0, 3 / 7]]), "phase", steps=7, phases=3)
    # q = round(0.6 * 7) = 4 = 100; 7 = 111; 0; 3 = 011 -- repeated every 3 cycles
    assert trains(s) == [[1, 0, 0, 1, 0, 0, 1], [1] * 7, [0] * 7, [0, 1, 1, 0, 1, 1, 0]]


def test_phase_decode_roundtrip():
    x = np.random.default_rng(0).random((5, 30))
    y = decode(encode(x, "phase", steps=16, phases=8), "phase", phases=8)
    assert np.abs(y - x).max() <= 0.5 / 255 + 1e-12
    with pytest.raises(ConfigError, match="decoding needs at least 8 cycles"):
        decode(encode(x, "phase", steps=4, phases=8), "phase", phases=8)


# ---------------------------------------------------------------------------- thermometer / population
def test_thermometer_static_exact():
    s = encode(np.array([[0.2, 0.9], [0.5, 0.0]]), "thermometer", steps=2, levels=4)
    assert s.shape == (2, 2, 8)
    assert s[0].tolist() == [[1, 0, 0, 0, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0, 0]]
    np.testing.assert_array_equal(s[0], s[1])


def test_thermometer_custom_thresholds():
    s = encode(np.array([[0.3, 0.6, 0.1]]), "thermometer", steps=1, thresholds="0.25,0.6")
    assert s[0, 0].tolist() == [1, 0, 1, 1, 0, 0]
    assert channels_per_value("thermometer", thresholds=(0.25, 0.6)) == 2
    with pytest.raises(ConfigError, match="thresholds must increase strictly"):
        encode(np.array([[0.3]]), "thermometer", steps=1, thresholds=(0.6, 0.25))


def test_thermometer_sequence_exact():
    x = np.array([[0.0, 0.5, 1.0]])
    s = encode(x, "thermometer", steps=3, levels=2, sequence=True)
    assert s[:, 0, :].tolist() == [[0, 0], [1, 0], [1, 1]]
    np.testing.assert_allclose(decode(s, "thermometer", levels=2, sequence=True), [[[0], [0.5], [1]]])


def test_thermometer_sequence_multifeature_layout():
    x = np.array([[[0.0, 1.0], [1.0, 0.0]]])  # B=1, L=2, F=2
    s = encode(x, "thermometer", steps=2, levels=2, sequence=True)
    assert s[:, 0, :].tolist() == [[0, 0, 1, 1], [1, 1, 0, 0]]


def test_thermometer_decode_roundtrip():
    x = np.random.default_rng(1).random((4, 25))
    y = decode(encode(x, "thermometer", steps=3, levels=16), "thermometer", levels=16)
    assert np.abs(y - x).max() <= 0.5 / 16 + 1e-12


def test_population_exact_and_decode():
    s = encode(np.array([[0.2, 1.0, 0.0, 0.5]]), "population", steps=1, levels=4)
    assert s[0, 0].tolist() == [1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0]
    x = np.random.default_rng(2).random((3, 40))
    y = decode(encode(x, "population", steps=2, levels=10), "population", levels=10)
    assert np.abs(y - x).max() <= 0.05 + 1e-12
    seq = encode(np.array([[0.1, 0.9]]), "population", steps=2, levels=2, sequence=True)
    assert seq[:, 0, :].tolist() == [[1, 0], [0, 1]]


# ---------------------------------------------------------------------------- delta / sigma-delta
def test_delta_exact():
    s = encode(np.array([[0.0, 0.5, 0.5, 0.25, 0.25, -0.25]]), "delta", steps=6, threshold=0.25)
    # [on, off] per cycle: silent, up, up, down, silent, down (slope overload: one spike per cycle)
    assert s[:, 0, :].tolist() == [[0, 0], [1, 0], [1, 0], [0, 1], [0, 0], [0, 1]]


def test_delta_constant_signal_is_silent_and_decoder_tracks():
    assert encode(np.full((2, 10), 0.0), "delta", steps=10).sum() == 0
    t = np.arange(200)
    x = (0.5 + 0.4 * np.sin(t / 15.0))[None, :]  # slope <= 0.027 per cycle < step 0.05
    s = encode(x, "delta", steps=200, threshold=0.05)
    r = decode(s, "delta", threshold=0.05)[0, :, 0]
    assert np.abs(r[20:] - x[0, 20:]).max() <= 0.025 + 1e-12  # after the ramp up from 0


def test_sigma_delta_exact_and_bound():
    s = encode(np.array([[0.5, 0.5, 0.5, 0.5, -1.0]]), "sigma_delta", steps=5)
    assert s[:, 0, :].tolist() == [[1, 0], [0, 0], [1, 0], [0, 0], [0, 1]]
    x = np.random.default_rng(3).uniform(-1, 1, (4, 300))
    q = encode(x, "sigma_delta", steps=300, threshold=1.0).astype(int)
    err = np.cumsum(x, axis=1) - np.cumsum(q[:, :, 0] - q[:, :, 1], axis=0).T
    assert np.abs(err).max() < 0.5 + 1e-12


def test_sigma_delta_decoder_moving_average():
    x = np.full((1, 400), 0.3)
    y = decode(encode(x, "sigma_delta", steps=400), "sigma_delta", window=100)
    assert abs(y[0, -1, 0] - 0.3) <= 0.01


# ---------------------------------------------------------------------------- none / common
def test_none_passes_spikes():
    x = np.array([[[0, 1]], [[1, 1]]], np.uint8)
    np.testing.assert_array_equal(encode(x, "none", steps=None), x)
    with pytest.raises(ConfigError, match="spikes must be 0 or 1"):
        encode(x * 2, "none", steps=2)


def test_resolve_params_coerces_strings():
    p = resolve_params("thermometer", {"levels": "4", "sequence": "yes", "thresholds": None})
    assert p == {"levels": 4, "thresholds": None, "sequence": True}


@pytest.mark.parametrize("call, message", [
    (lambda: encode(np.zeros((1, 2)), "morse", 4), "unknown coding 'morse'; choose one of rate"),
    (lambda: encode(np.zeros((1, 2)), "rate", 4, levels=3),
     "coding 'rate': unknown parameter 'levels'; its parameters are sequence"),
    (lambda: encode(np.zeros((1, 2)), "thermometer", 4, levels="many"),
     "coding 'thermometer': parameter levels must be an integer, got 'many'"),
    (lambda: encode(np.array([[1.5]]), "latency", 4),
     r"values must lie in \[0, 1\], got 1.5 .. 1.5; rescale"),
    (lambda: encode(np.array([[np.nan]]), "rate", 4), "NaN or infinity"),
    (lambda: encode(np.zeros((1, 40)), "thermometer", 30, sequence=True),
     "steps = 30, but one value per cycle: the sequences have 40 cycles; pass steps = 40"),
    (lambda: encode(np.zeros((1, 5)), "latency", 5, sequence=True),
     "coding 'latency' spreads one value over many cycles and cannot feed one value per cycle"),
    (lambda: encode(np.zeros((1, 5)), "delta", 5, sequence=False),
     "coding 'delta' needs a time series fed one value per cycle"),
    (lambda: encode(np.zeros(5), "rate", 5), r"values must be \[B, features...\]"),
    (lambda: encode(np.zeros((1, 5)), "rate", 0), "steps must be a positive integer, got 0"),
    (lambda: encode(np.zeros((1, 5)), "rate", 3, seed=-2), "seed must be an integer >= 0, got -2"),
    (lambda: encode(np.zeros((1, 5)), "latency_log", 5, eps=2), r"eps must be in \(0, 1\)"),
    (lambda: decode(np.zeros((3, 1, 2), np.uint8), "none"), "coding 'none' has no decoder"),
])
def test_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("coding, params", [
    ("rate", {}), ("rate_even", {}), ("latency", {}), ("latency_log", {}), ("phase", {"phases": 4}),
    ("thermometer", {"levels": 5}), ("population", {"levels": 5}),
    ("thermometer", {"levels": 3, "sequence": True}), ("delta", {}), ("sigma_delta", {}),
])
def test_gpu_equals_cpu(coding, params):
    import cupy as cp

    x = np.random.default_rng(4).random((300, 12))
    steps = 12 if params.get("sequence") or coding in ("delta", "sigma_delta") else 9
    cpu = encode(x, coding, steps, seed=7, **params)
    gpu = encode(cp.asarray(x), coding, steps, seed=7, **params)
    assert isinstance(gpu, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(gpu), cpu)
