"""Review of the research features' options (rewiring, relaxations, analog tables, pulse
settings, schedules, init) as a new user meets them: each `[train]` key and flag with wrong
types, out-of-range and huge values, and the combinations the docs refuse. Every bad value must
stop before training with one line naming the key (or the flag) and what is allowed."""

import pytest

from helpers import one_error_line
from spikelut.cli import main
from spikelut.errors import ConfigError
from spikelut.train import TrainConfig

# a pulse-only layer with an own-output loop and a readout: trains an epoch in a moment
NET = ('seed = 0\ninputs = 2\n[[layers]]\nname = "mem"\nnodes = 8\nk = 4\nrefractory = 1\n'
       'taps = [{ from = "input", count = 2 }, { from = "self", count = 1, delay = 1 },\n'
       '        { from = "own", delay = 2 }]\n'
       '[[layers]]\nname = "out"\nnodes = 4\nk = 4\ntaps = [{ from = "mem", count = 4 }]\n'
       '[readout]\nclasses = 2\n')


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("research")
    assert main(["encode", "--dataset", "first_of_two", "--limit", "20",
                 "-o", str(d / "fot.h5")]) == 0
    return d


def train_error(capsys, d, train: str, *flags: str) -> str:
    """The one error line of ``spikelut train`` on NET with ``[train]`` = ``train``."""
    cfg = d / "c.toml"
    cfg.write_text(NET + "[train]\nepochs = 2\n" + train + "\n")
    return one_error_line(capsys, "train", "train", cfg, "--data", d / "fot.h5",
                          "-o", d / "m.h5", "--no-progress", "--force", *flags)


# ------------------------------------------------------------------ names of the wrong type
@pytest.mark.parametrize("key,names", [
    ("relaxation", "bipolar, dlut, dlut_fixed, mlp, multilinear, walsh"),
    ("loss", "ce_count, ce_count_temporal, ce_temporal, mse_count"),
    ("init", "data, logits, normal, residual, table"),
])
def test_a_name_key_given_a_list_is_one_line(capsys, data, key, names):
    """relaxation = [1] and loss = [1] ended in a TypeError traceback (unhashable list looked up
    in the dict of relaxations/losses); every name key now says it wants a name and lists them."""
    line = train_error(capsys, data, f"{key} = [1]")
    assert line == (f"spikelut train: error: {data / 'c.toml'}: [train]: {key} must be a name, "
                    f"one of {names}; got [1]")
    with pytest.raises(ConfigError, match=rf"^\[train\]: {key} must be a name, one of "):
        TrainConfig.from_dict({key: {"a": 1}})


# ------------------------------------------------------------------ sizes bounded up front
def test_epochs_are_bounded_before_the_run_is_planned(capsys, data):
    """--epochs 1000000000000 built a per-epoch plan of 10**12 entries (a MemoryError traceback
    after the machine's memory filled); epochs are now 1..100,000, refused in one line."""
    line = train_error(capsys, data, "", "--epochs", "1000000000000")
    assert line == ("spikelut train: error: --epochs must be an integer 1..100,000, "
                    "got 1000000000000")
    with pytest.raises(ConfigError, match=r"^\[train\]: epochs must be an integer 1\.\.100,000, "
                                          r"got 100001$"):
        TrainConfig.from_dict({"epochs": 100_001})
    assert TrainConfig.from_dict({"epochs": 100_000}).epochs == 100_000


def test_rewire_candidates_are_bounded(capsys, data):
    """rewire_candidates = 10**12 drew that many candidates per pruned tap (and one probe pass
    per candidate rank): the run hung; now 1..1024, the most a gradient-scored slot holds."""
    line = train_error(capsys, data, "rewire_every = 5\nrewire_candidates = 1000000000000")
    assert line.startswith(f"spikelut train: error: {data / 'c.toml'}: [train]: rewire_candidates "
                           f"must be an integer 1..1024 (each candidate rank is one probe forward "
                           f"and backward pass per rewiring; ")
    assert line.endswith("got 1000000000000")
    assert TrainConfig.from_dict({"rewire_every": 5, "rewire_candidates": 1024}).rewire_candidates \
        == 1024


def test_tbptt_fits_the_kernels_int(capsys, data):
    """tbptt goes to the CUDA kernels as a C int: 10**12 was accepted by the config and would
    stop the GPU run in a marshalling ValueError; it is now bounded by the cycle limit (2**24;
    any value >= the data's cycles is full BPTT anyway)."""
    line = train_error(capsys, data, "tbptt = 1000000000000")
    assert line == (f"spikelut train: error: {data / 'c.toml'}: [train]: tbptt must be an integer "
                    f"0..16,777,216 (cycles; 0 = full BPTT, as is any value >= the data's cycles "
                    f"per sample), got 1000000000000")
    assert TrainConfig.from_dict({"tbptt": 2 ** 24}).tbptt == 2 ** 24


# ------------------------------------------------------------------ combinations the docs refuse
@pytest.mark.parametrize("train,flags,source,relaxation,init", [
    ('relaxation = "dlut"\ninit = "residual"', (), "{cfg}: [train]", "dlut", "residual"),
    ('relaxation = "dlut_fixed"', ("--init", "data"), "{cfg}: [train] with --init", "dlut_fixed",
     "data"),
    ('init = "table"', ("--relaxation", "dlut"), "{cfg}: [train] with --relaxation", "dlut",
     "table"),
])
def test_binarybrain_relaxations_refuse_other_inits_naming_the_source(capsys, data, train, flags,
                                                                      source, relaxation, init):
    """dlut, dlut_fixed and mlp draw their own parameters and refuse every init but normal
    (docs/relaxations.md). The refusal came from the Trainer after the data were loaded, as
    '[train]: ...' without the config file or the flag that set the value; it is now part of
    the [train] check and names them like every other clash."""
    line = train_error(capsys, data, train, *flags)
    where = source.format(cfg=data / "c.toml")
    assert line == (f"spikelut train: error: {where}: relaxation = \"{relaxation}\" starts from "
                    f"BinaryBrain's N(0.5, 0.01) tables; use init = \"normal\" (init = \"{init}\" "
                    f"sets multilinear logits, which this model cannot take over exactly)")


def test_mlp_refuses_other_inits_at_the_config_check():
    with pytest.raises(ConfigError, match=r'^--relaxation, --init: relaxation = "mlp" draws its '
                                          r'own He-initialised weights; use init = "normal" '
                                          r'\(init = "residual" sets multilinear logits\)$'):
        TrainConfig.from_dict({"relaxation": "mlp", "init": "residual"},
                              flags={"relaxation": "--relaxation", "init": "--init"})


# ------------------------------------------------------------------ settings that do nothing
def _train_ok(capsys, d, train):
    cfg = d / "c.toml"
    cfg.write_text(NET + "[train]\nepochs = 2\nbatch_size = 10\n" + train + "\n")
    code = main(["train", str(cfg), "--data", str(d / "fot.h5"), "-o", str(d / "m.h5"),
                 "--no-progress", "--force"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return [line for line in err.splitlines() if "warning" in line]


def test_rewire_keys_without_rewire_every_are_named(capsys, data):
    """rewire_delays = [0, 3] (learnable delays) or rewire_regrow = "gradient" without
    rewire_every trained a plain network without a word: rewiring is off by default. The run
    now says which keys change nothing and what turns rewiring on."""
    assert _train_ok(capsys, data, 'rewire_fraction = 0.5\nrewire_delays = [0, 3]') == [
        "spikelut: warning: [train] rewire_fraction, rewire_delays change nothing while "
        "rewire_every = 0 (rewiring off); set rewire_every = N to rewire every N optimizer steps"]
    assert _train_ok(capsys, data, 'init_samples = 100') == [
        "spikelut: warning: [train] init_samples = 100 changes nothing: only init = \"data\" "
        "reads it (init = 'normal')"]
    # used as set: nothing to say (defaults spelled out are not reported either)
    assert _train_ok(capsys, data, 'rewire_every = 1\nrewire_fraction = 0.5\ninit = "data"\n'
                                   'init_samples = 100\nrewire_schedule = "cosine"') == []
    assert TrainConfig.from_dict({"rewire_every": 0, "rewire_fraction": 0.1}).unused() == []


@pytest.mark.parametrize("train,warning", [
    ('relaxation = "dlut"\nsurrogate = "arctan"\ntap_grad = "identity"',
     "surrogate, tap_grad change nothing with relaxation = 'dlut'"),
    ('relaxation = "mlp"\nwidth = 0.3\ntap_grad = "identity"',
     "width changes nothing with relaxation = 'mlp'"),
    ('relaxation = "bipolar"\ntap_grad = "identity"',
     "tap_grad changes nothing with relaxation = 'bipolar'"),
])
def test_keys_a_relaxation_does_not_read_are_named(capsys, data, train, warning):
    """docs/relaxations.md: dlut, dlut_fixed and mlp bring BinaryBrain's backward rule, so the
    config's surrogate and width do nothing (and tap_grad nothing for dlut, dlut_fixed and
    bipolar; the docs said mlp ignored it too, but its tap differences follow tap_grad). A
    surrogate set for such a run was silently ignored; the run now says so."""
    assert _train_ok(capsys, data, train) == [
        f"spikelut: warning: [train] {warning}, which brings its own backward rule "
        f"(docs/relaxations.md)"]
    assert _train_ok(capsys, data, 'relaxation = "bipolar"\nsurrogate = "arctan"') == []


def test_mlp_reads_tap_grad_and_dlut_does_not():
    """What the docs now say, checked on the gradient itself: one training step of mlp moves
    with tap_grad, dlut's does not (nor dlut's with the surrogate)."""
    import numpy as np

    from spikelut.config import build_network, parse_config
    from spikelut.train import Trainer

    net = build_network(parse_config(NET))
    rng = np.random.default_rng(0)
    x = (rng.random((6, 10, 2)) < 0.3).astype(np.uint8)
    y = np.arange(10) % 2

    def params(**kw):
        tr = Trainer(net, TrainConfig.from_dict({"epochs": 1, "batch_size": 10,
                                                 "backend": "numpy", **kw}), progress=False)
        tr.fit((x, y))
        return np.concatenate([np.asarray(p).ravel() for p in tr.params])

    assert not np.array_equal(params(relaxation="mlp"),
                              params(relaxation="mlp", tap_grad="identity"))
    assert np.array_equal(params(relaxation="dlut"), params(relaxation="dlut", tap_grad="identity"))
    assert np.array_equal(params(relaxation="dlut"), params(relaxation="dlut", surrogate="arctan"))


def test_refractory_ramp_without_refractory_layers_is_named(capsys, data):
    """The refractory curriculum relaxes the refractory gate (docs/pulse.md); on a network with
    R = 0 in every layer there is no gate, and the ramp's epochs only ran on the slower numpy
    reference, without a word. The run now says so."""
    cfg = data / "r0.toml"
    cfg.write_text(NET.replace("refractory = 1", "refractory = 0")
                   + "[train]\nepochs = 3\nbatch_size = 10\nrefractory_ramp = 2\n")
    code = main(["train", str(cfg), "--data", str(data / "fot.h5"), "-o", str(data / "r0.h5"),
                 "--no-progress", "--force"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err.strip().splitlines() == [
        "spikelut: warning: [train] refractory_ramp = 2 changes nothing: no layer of the network "
        "has a refractory period (R = 0 everywhere), so its relaxed epochs only run slower (on "
        "the numpy reference)"]
    # a pulse layer: the ramp does what it says, nothing to warn about
    assert _train_ok(capsys, data, "refractory_ramp = 1") == []


# ------------------------------------------------------------------ the Python API's inputs
def _api_case():
    import numpy as np

    from spikelut.config import build_network, parse_config

    net = build_network(parse_config(NET))
    x = (np.random.default_rng(0).random((6, 12, 2)) < 0.3).astype(np.uint8)
    return net, x, np.arange(12) % 2


@pytest.mark.parametrize("case,kind,message", [
    ("negative labels", "ShapeError", "targets: labels must be >= 0, got -2"),
    ("nan features", "ShapeError", "targets: values must be finite (no NaN or infinity)"),
    ("spikes of 2", "ShapeError", "input spikes must be 0 or 1"),
    ("no samples", "ShapeError", "input spikes: no samples to score the signals on"),
    ("seed -1", "ConfigError", "seed must be an integer >= 0, got -1"),
])
def test_guided_wiring_refuses_bad_arrays_in_one_line(case, kind, message):
    """spikelut.guided.guided_wiring (docs/rewiring.md) took negative labels into a numpy
    ValueError, NaN teacher features into scores of 0 for every signal (a silently unguided
    wiring), spikes of 2 as two spikes, and no samples or seed -1 into numpy errors."""
    import numpy as np

    from spikelut import errors
    from spikelut.guided import guided_wiring

    net, x, y = _api_case()
    args = {"negative labels": (x, -y - 1, "mi", 0),
            "nan features": (x, np.full((12, 3), np.nan), "corr", 0),
            "spikes of 2": (x * 2, y, "mi", 0),
            "no samples": (x[:, :0], y[:0], "mi", 0),
            "seed -1": (x, y, "mi", -1)}[case]
    with pytest.raises(getattr(errors, kind)) as e:
        guided_wiring(net, args[0], args[1], method=args[2], seed=args[3])
    assert str(e.value) == message


@pytest.mark.parametrize("labels,message", [
    ("3", "tap importance data: label 3 is out of range: the readout has 2 classes (labels 0..1); "
          "set [readout] classes to match the data"),
    ("-1", "tap importance data: label -1 is out of range: the readout has 2 classes (labels "
           "0..1); set [readout] classes to match the data"),
    ("0.5", "tap importance data: labels must be integers"),
])
def test_tap_importance_checks_its_labels(labels, message):
    """spikelut.importance.tap_importance took a label >= classes into an IndexError, and a
    label of -1 or 0.5 silently (-1 scored the gradient against the last class)."""
    from spikelut.errors import ShapeError
    from spikelut.importance import tap_importance

    net, x, y = _api_case()
    with pytest.raises(ShapeError) as e:
        tap_importance(net, x, y + float(labels) if labels == "0.5" else y * 0 + int(labels))
    assert str(e.value) == message
    assert tap_importance(net, x, y).layers[0].tap_gradient.shape == (8, 4)


@pytest.mark.parametrize("case,kind,message", [
    ("spikes of 2", "ShapeError", "input spikes must be 0 or 1"),
    ("half spikes", "ShapeError", "input spikes must be 0 or 1"),
    ("no samples", "ShapeError", "input spikes: no samples to simulate"),
    ("batch 0", "ConfigError", "batch_size must be an integer >= 1, got 0"),
    ("seed -1", "ConfigError", "seed must be an integer >= 0, got -1"),
])
def test_analog_simulate_refuses_bad_input(case, kind, message):
    """spikelut.analog.simulate (docs/relaxations.md, analog tables) read spikes of 2 or 0.5 as
    tap values and returned another result without a word; no samples, batch_size 0 and seed
    -1 ended in numpy errors."""
    import numpy as np

    from spikelut import errors
    from spikelut.analog import AnalogSpec, simulate

    net, x, _ = _api_case()
    net = net.replace(layers=[la.replace(logits=np.where(la.table > 0, 1.0, -1.0))
                              for la in net.layers])
    x_, kw = {"spikes of 2": (x * 2, {}), "half spikes": (x * 0.5, {}),
              "no samples": (x[:, :0], {}), "batch 0": (x, {"batch_size": 0}),
              "seed -1": (x, {"seed": -1})}[case]
    with pytest.raises(getattr(errors, kind)) as e:
        simulate(net, x_, spec=AnalogSpec(bits=2), **kw)
    assert str(e.value) == message
    assert simulate(net, x, spec=AnalogSpec(bits=2)).pred.shape == (12,)


@pytest.mark.parametrize("kw,message", [
    ({"k": 40}, "random_network: k must be 1..12, one value or one per layer (1), got 40"),
    ({"sizes": []}, "random_network: sizes must be one or more node counts 1..16777216, got []"),
    ({"sizes": [4, 2], "k": [3]},
     "random_network: k must be 1..12, one value or one per layer (2), got [3]"),
    ({"max_delay": -1}, "random_network: max_delay must be 0..65535, got -1"),
    ({"refractory": [1, 0]},
     "random_network: refractory must be 0..65535, one value or one per layer (1), got [1, 0]"),
    ({"seed": -1}, "random_network: seed must be an integer >= 0, got -1"),
])
def test_random_network_checks_its_arguments_before_drawing(kw, message):
    """spikelut.wiring.random_network (docs/node-sizes.md: random_network(seed, n_in, sizes,
    k=[1, 8])): k = 40 tried to allocate 4 TiB of tables (MemoryError), an empty sizes list
    raised IndexError, a k list shorter than sizes dropped layers into a misleading
    NetworkError, max_delay -1 and seed -1 ended in numpy errors."""
    from spikelut.wiring import random_network

    args = {"seed": 0, "n_in": 2, "sizes": [4], **kw}
    with pytest.raises(ConfigError) as e:
        random_network(args.pop("seed"), args.pop("n_in"), args.pop("sizes"), **args)
    assert str(e.value) == message
    assert random_network(0, 2, [4, 2], k=[1, 8], refractory=[1, 0]).sizes == [4, 2]


def test_an_ensemble_of_analog_tables_is_refused_before_training(capsys, data):
    """--ensemble 2 with analog_bits = 2 trained the first member in full and only then stopped
    ('ensemble member 0 is an analog model'); the [train] check now refuses it up front. One
    bit without noise is saved as a binary circuit (docs/relaxations.md) and still merges."""
    line = train_error(capsys, data, "analog_bits = 2", "--ensemble", "2")
    assert line == (f"spikelut train: error: {data / 'c.toml'}: [train] with --ensemble: ensemble "
                    f"= 2 merges binary circuits, but analog_bits = 2 trains analog tables (only 1 "
                    f"bit without noise is saved as a binary circuit): train the members without "
                    f"analog_bits")
    with pytest.raises(ConfigError, match=r"^\[train\]: ensemble = 3 merges binary circuits, but "
                                          r"analog_bits = 1, analog_noise = 0\.1 trains analog"):
        TrainConfig.from_dict({"ensemble": 3, "analog_bits": 1, "analog_noise": 0.1})
    assert TrainConfig.from_dict({"ensemble": 3, "analog_bits": 1}).ensemble == 3


@pytest.mark.parametrize("train,warning", [
    ("gamma = 0.5\nstep_size = 2", "step_size, gamma change nothing with schedule = 'cosine'"),
    ('schedule = "constant"\nmin_lr = 0.001', "min_lr changes nothing with schedule = 'constant'"),
    ("div_factor = 10.0\nfinal_div_factor = 100.0",
     "div_factor, final_div_factor change nothing with schedule = 'cosine' and no warmup"),
    ("momentum = 0.5", "momentum changes nothing with optimizer = 'adam'"),
    ('optimizer = "sgd"\nbetas = [0.8, 0.9]', "betas changes nothing with optimizer = 'sgd'"),
    ("batch_schedule = [[5, 20]]", "batch_schedule pairs from epoch 5 on change nothing: the run "
                                   "has 2 epochs"),
    ("ttfs_scale = 2.0\ntarget_rates = [0.4, 0.1]",
     "ttfs_scale, target_rates change nothing with loss = 'ce_count'"),
    ('loss = "mse"\nlogit_scale = 0.5', "logit_scale changes nothing with loss = 'mse_count'"),
    ("rate_target = 0.1", "rate_target = 0.1 changes nothing while rate_reg = 0 (the firing-rate "
                          "regularizer is off)"),
])
def test_schedule_and_optimizer_keys_of_another_choice_are_named(capsys, data, train, warning):
    """docs/epochs.md: gamma and step_size belong to the step schedule, min_lr to cosine and
    linear, div_factor to a warm-up or onecycle, final_div_factor to onecycle, momentum to SGD,
    betas to Adam and Lion. Set for another schedule or optimizer they were silently ignored
    (a 'gamma = 0.5' under the default cosine schedule trains as if it were not there)."""
    assert _train_ok(capsys, data, train) == [f"spikelut: warning: [train] {warning}"]


def test_schedule_keys_in_use_are_not_named(capsys, data):
    assert _train_ok(capsys, data, 'schedule = "step"\ngamma = 0.5\nstep_size = 1\n'
                                   'warmup = 0.2\ndiv_factor = 10.0\noptimizer = "sgd"\n'
                                   'momentum = 0.5\nbatch_schedule = [[2, 20]]') == []
    assert _train_ok(capsys, data, 'schedule = "onecycle"\nfinal_div_factor = 100.0\n'
                                   'optimizer = "lion"\nbetas = [0.9, 0.99]\nmin_lr = 0.0') == []


def test_surrogate_keys_with_analog_tables_are_named(capsys, data):
    """Analog tables train with the exact gradient of their read (docs/relaxations.md): the
    surrogate, its width and tap_grad change nothing (checked on the parameters after an
    epoch), and were silently ignored; the run now says so."""
    import numpy as np

    from spikelut.config import build_network, parse_config
    from spikelut.train import Trainer

    assert _train_ok(capsys, data, 'analog_bits = 2\nsurrogate = "arctan"\nwidth = 0.2') == [
        "spikelut: warning: [train] surrogate, width change nothing with analog_bits = 2: analog "
        "tables train with the exact gradient of their read (docs/relaxations.md)"]
    net = build_network(parse_config(NET))
    x = (np.random.default_rng(0).random((6, 10, 2)) < 0.3).astype(np.uint8)

    def params(**kw):
        tr = Trainer(net, TrainConfig.from_dict({"epochs": 1, "batch_size": 10, "analog_bits": 2,
                                                 **kw}), progress=False)
        tr.fit((x, np.arange(10) % 2))
        return np.concatenate([np.asarray(p).ravel() for p in tr.params])

    assert np.array_equal(params(), params(surrogate="arctan", width=0.2, tap_grad="identity"))


def test_refractory_grad_without_refractory_layers_is_named(capsys, data):
    """refractory_grad says how the refractory gate passes gradient (docs/pulse.md); with
    R = 0 in every layer there is no gate and the key was silently ignored."""
    cfg = data / "r0g.toml"
    cfg.write_text(NET.replace("refractory = 1", "refractory = 0")
                   + '[train]\nepochs = 2\nbatch_size = 10\nrefractory_grad = "full"\n')
    code = main(["train", str(cfg), "--data", str(data / "fot.h5"), "-o", str(data / "r0g.h5"),
                 "--no-progress", "--force"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err.strip().splitlines() == [
        "spikelut: warning: [train] refractory_grad = 'full' changes nothing: no layer of the "
        "network has a refractory period (R = 0 everywhere), so there is no gate to pass gradient "
        "through"]
    assert _train_ok(capsys, data, 'refractory_grad = "full"') == []


# ------------------------------------------------------------------ teacher features
@pytest.mark.parametrize("wiring, message", [
    ('"config"', 'init_wiring = "config" keeps the config\'s wiring, but --teacher-features '
                 're-draws it by correlation with the features; leave init_wiring unset (or '
                 '"corr"), or drop --teacher-features'),
    ('"mi"', 'init_wiring = "mi" scores taps against the labels; with --teacher-features use '
             '"corr" (or leave it unset)'),
])
def test_teacher_features_refuse_a_wiring_they_would_override(capsys, data, wiring, message):
    """An explicit init_wiring = "config" was re-wired by the features without a word; both
    clashes are refused before the data are read (a features file that does not exist is not
    even opened)."""
    line = train_error(capsys, data, f"init_wiring = {wiring}", "--teacher-features",
                       data / "none.h5")
    assert line == f"spikelut train: error: {data / 'c.toml'}: {message}"


def test_teacher_features_with_init_wiring_unset_or_corr_still_train(capsys, data):
    import numpy as np

    from spikelut.io import save_features

    save_features(data / "f.h5", np.random.default_rng(0).random((20, 3)).astype(np.float32))
    for train in ("", 'init_wiring = "corr"'):
        cfg = data / "c.toml"
        cfg.write_text(NET + "[train]\nepochs = 1\n" + train + "\n")
        code = main([str(a) for a in ("train", cfg, "--data", data / "fot.h5", "--teacher-features",
                                      data / "f.h5", "-o", data / "m.h5", "--no-progress", "--force")])
        assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("train, flags, source", [
    ('init = "logits"', (), '{cfg}: [train] init = "logits"'),
    ("", ("--init", "logits"), "--init logits"),
])
def test_init_logits_is_refused_before_the_data_naming_its_source(capsys, data, train, flags,
                                                                  source):
    """The Trainer said '[train]: init = "logits" but layer 0 ('mem') has no logits' after the
    data were read; spikelut train builds from a config, which never has logits."""
    line = train_error(capsys, data, train, *flags)
    assert line == (f"spikelut train: error: {source.format(cfg=data / 'c.toml')}: starts from a "
                    f"model's logits, and a network built from a config has none; use normal, "
                    f"table, residual or data (logits is for a model loaded from a file and "
                    f"trained again through the Python API)")


def test_an_ensemble_says_a_setting_that_changes_nothing_once(capsys, data):
    """Every member trained with the same settings repeated the warning between the members'
    progress lines; the first member trained says it."""
    assert _train_ok(capsys, data, 'ensemble = 3\ninit_samples = 100') == [
        "spikelut: warning: [train] init_samples = 100 changes nothing: only init = \"data\" "
        "reads it (init = 'normal')"]
