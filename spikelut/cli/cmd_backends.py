"""List the backends (numpy, numba, cuda): what each supports and whether it is usable on this
machine, or why not. ``--backend auto`` picks the fastest usable one (cuda, numba, numpy).

Example:
    spikelut backends
    spikelut backends --json
"""

from __future__ import annotations

import argparse

from ..api import backends
from ..backends import get_backend
from ..escape import terminal
from . import Output
from .common import table

NAME = "backends"
HELP = "list the backends and whether each is usable here"


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> Output:
    rows = backends()
    auto = get_backend("auto").name
    text = table([[r["name"], r["device"], ", ".join(r["supports"]),
                   "yes" if r["available"] else "no: " + terminal(r["why_unavailable"])]
                  for r in rows], ["backend", "device", "supports", "usable here"])
    from ..engine import bitsimd
    from ..train import simd

    simd_rec = {"available": simd.AVAILABLE, "enabled": simd.enabled(),
                "forward_lut": {"available": bitsimd.LUT_AVAILABLE,
                                "enabled": bitsimd.lut_enabled()}}
    return Output({"backends": rows, "auto": auto, "train_simd": simd_rec},
                  text + f"\nauto = {auto}\n{simd.status()}")
