"""spikelut.api mirrors the commands: each function returns what its command prints."""

import numpy as np

from spikelut import api
from spikelut.wiring import random_network


def test_encode_train_evaluate_compile(tmp_path):
    data = api.encode("patterns", limit=40, seed=1)
    T, B, C = data.spikes.shape
    assert B == 40 and data.labels.shape == (40,) and data.meta["dataset"] == "patterns"
    classes = int(data.labels.max()) + 1
    net = random_network(0, n_in=C, sizes=[16, 2 * classes], k=3, classes=classes)
    res = api.train(net, data, {"epochs": 1, "batch_size": 20})
    assert len(res.history) == 1 and res.net.layers[0].logits is not None
    ev = api.evaluate(res.net, data.spikes, data.labels, backend="numpy")
    assert ev.samples == 40 and int(ev.confusion.sum()) == 40
    assert ev.pred.tolist() == api.simulate(res.net, data.spikes, backend="numba").pred.tolist()
    files, report = api.compile_rtl(res.net, tmp_path / "rtl", stimulus=data.spikes[:, :3])
    assert report is None and (tmp_path / "rtl" / "spikelut_core.v").is_file()
    assert np.array_equal(files.expected.pred, ev.pred[:3])
