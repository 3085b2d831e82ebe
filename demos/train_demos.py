"""Training demos: encode a dataset, train with ``spikelut train``, evaluate with ``spikelut eval``,
and record accuracy, LUTs, flip-flops, cycles, wall time and the commands in a JSON file.

Each demo is a config ``demos/train_<name>.toml`` plus the data settings below. Run from the
repository root (with ``nice`` on a shared machine):

    nice -n 10 python demos/train_demos.py first_of_two first_of_two_norec
    nice -n 10 python demos/train_demos.py mnist1d --out runs/
    python demos/train_demos.py mnist5k --epochs 1        # quick smoke run

Results go to ``<out>/<demo>/`` (spike files, model, log) and ``<out>/results.json`` (one entry
per demo, updated in place).
"""

from __future__ import annotations

import argparse
import json
from contextlib import redirect_stdout
from io import StringIO
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: demo -> data settings (dataset, coding, steps, coding parameters)
DEMOS = {
    "first_of_two": {"dataset": "first_of_two", "coding": None, "steps": None, "params": {}},
    "first_of_two_norec": {"dataset": "first_of_two", "coding": None, "steps": None, "params": {}},
    "mnist1d": {"dataset": "mnist1d", "coding": "thermometer", "steps": 40,
                "params": {"levels": 32}},
    "mnist5k": {"dataset": "mnist5k", "coding": "rate", "steps": 16, "params": {}},
}


def encode_command(demo: str, split: str, path: Path) -> str:
    """The ``spikelut encode`` command that writes the same spike file."""
    spec = DEMOS[demo]
    cmd = f"spikelut encode --dataset {spec['dataset']}"
    if spec["coding"] is not None:
        cmd += f" --coding {spec['coding']} --steps {spec['steps']}"
    for key, value in spec["params"].items():
        cmd += f" --param {key}={value}"
    return cmd + f" --split {split} --seed 0 -o {_rel(path)}"


def encode(demo: str, out: Path) -> tuple[Path, Path]:
    """Write ``<out>/train.h5`` and ``test.h5`` for ``demo`` (skipped when they exist)."""
    from spikelut.datasets import encode_dataset
    from spikelut.io import save_spikes

    spec = DEMOS[demo]
    paths = []
    for split in ("train", "test"):
        path = out / f"{split}.h5"
        if not path.exists():
            sd = encode_dataset(spec["dataset"], spec["coding"], spec["steps"], split=split, seed=0,
                                **spec["params"])
            save_spikes(path, sd.spikes, sd.labels, sd.meta)
        paths.append(path)
    return paths[0], paths[1]


def _rel(p: Path) -> str:
    """``p`` relative to the working directory when below it (shorter recorded commands)."""
    try:
        return str(Path(p).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def run_demo(demo: str, root: Path, epochs: int | None) -> dict:
    from spikelut.cli import main
    from spikelut.io import load_model, load_spikes

    out = root / demo
    out.mkdir(parents=True, exist_ok=True)
    train, test = encode(demo, out)
    config = HERE / f"train_{demo}.toml"
    model, log = out / "model.h5", out / "log.jsonl"
    # the test split is passed as --val for monitoring only: keep = "last" in every demo config,
    # so the model is never selected on test data
    argv = ["train", _rel(config), "--data", _rel(train), "--val", _rel(test), "-o", _rel(model),
            "--log", _rel(log), "--checkpoint", _rel(out / "ckpt.h5"),
            "--force"]  # each run trains from the start: it replaces the last run's checkpoint
    if epochs is not None:
        argv += ["--epochs", str(epochs)]
    t0 = time.perf_counter()
    if main(argv) != 0:
        raise SystemExit(f"training {demo} failed")
    wall = time.perf_counter() - t0
    ev_argv = ["eval", _rel(model), _rel(test), "--json"]
    buf = StringIO()
    with redirect_stdout(buf):
        if main(ev_argv) != 0:
            raise SystemExit(f"evaluating {demo} failed")
    ev = json.loads(buf.getvalue())
    net = load_model(model)
    s = net.summary()
    spikes = load_spikes(train)
    history = [json.loads(line) for line in log.read_text().splitlines()]
    return {"demo": demo, "test_accuracy": ev["accuracy"], "train_accuracy_last_epoch": history[-1]["acc"],
            "luts": s["luts"], "flip_flops": s["flip_flops"], "cycles": int(spikes.spikes.shape[0]),
            "inputs": net.n_in, "train_samples": int(spikes.spikes.shape[1]),
            "test_samples": ev["samples"], "epochs": len(history),
            "epoch_seconds": [round(r["time"], 2) for r in history],
            "wall_seconds": round(wall, 1),
            "encode_commands": [encode_command(demo, sp, out / f"{sp}.h5") for sp in ("train", "test")],
            "command": "spikelut " + " ".join(shlex.quote(a) for a in argv),
            "eval_command": "spikelut " + " ".join(shlex.quote(a) for a in ev_argv[:-1])}


def main_(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("demos", nargs="+", choices=sorted(DEMOS))
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--epochs", type=int, default=None, help="override the configs' epochs")
    args = p.parse_args(argv)
    from spikelut.fileutil import write_text_atomic

    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    results_path = root / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for demo in args.demos:
        r = run_demo(demo, root, args.epochs)
        results[demo] = r
        write_text_atomic(results_path, json.dumps(results, indent=1) + "\n")
        print(f"{demo}: test accuracy {r['test_accuracy']:.4f}, {r['luts']} LUTs, "
              f"{r['flip_flops']} flip-flops, {r['cycles']} cycles, {r['wall_seconds']} s",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))  # demos.* when run as a script
    from demos._script import run_main

    run_main(main_)  # bad input: one line and status 1, as the spikelut command does
