"""Training with surrogate gradients through time (DESIGN.md section 3).

Modules: :mod:`.surrogates` (step surrogates by name), :mod:`.bptt` (the reference forward and
backward passes), :mod:`.kernels_cpu` / :mod:`.kernels_gpu` (the same passes compiled with numba
and in CUDA), :mod:`.passes` (``[train] backend``: which passes and array module a run uses),
:mod:`.losses`, :mod:`.optim`, :mod:`.relax` (``[train] relaxation``: how a table is
parameterised for the backward pass), :mod:`.config` (the ``[train]`` table) and :mod:`.trainer` (the
loop, logs, checkpoints, resume).

Example:
    >>> import numpy as np
    >>> from spikelut.wiring import random_network
    >>> from spikelut.train import TrainConfig, train
    >>> net = random_network(0, n_in=4, sizes=[16, 4], k=3, classes=2)
    >>> x = (np.random.default_rng(0).random((6, 20, 4)) < 0.5).astype(np.uint8)
    >>> y = (x[:, :, 0].sum(axis=0) > 3).astype(np.int64)
    >>> res = train(net, TrainConfig(epochs=1, batch_size=10), (x, y), progress=False)
    >>> res.net.layers[0].logits.shape
    (16, 8)
"""

from .config import TrainConfig
from .losses import LOSSES, get_loss
from .relax import RELAXATIONS, get_relaxation, register_relaxation
from .surrogates import SURROGATES, get_surrogate, register_surrogate
from .trainer import Evaluation, Trainer, TrainResult, check_data, train

__all__ = ["TrainConfig", "Trainer", "TrainResult", "Evaluation", "train", "check_data",
           "LOSSES", "get_loss", "SURROGATES", "get_surrogate", "register_surrogate",
           "RELAXATIONS", "get_relaxation", "register_relaxation"]
