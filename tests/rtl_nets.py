"""Random networks for the RTL tests: arbitrary (every rule of DESIGN.md section 2 exercised) and
"live" ones (every node and flip-flop can reach out_spikes, so synthesis keeps all of them)."""

import numpy as np

from spikelut.network import INPUT, Layer, Network, Readout


def arbitrary_network(seed: int, n_in: int = 3, max_layers: int = 3, max_nodes: int = 5,
                      max_delay: int = 4, max_refractory: int = 3) -> Network:
    """k 2..6 per layer, delays 0..max_delay, refractory 0..max_refractory, self-loops (often at
    exactly the delays a refractory gate needs), taps to later layers at delay >= 1, a readout on
    any layer with any class layout and start."""
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, max_layers + 1))
    sizes = rng.integers(1, max_nodes + 1, size=m).tolist()
    layers = []
    for i, n in enumerate(sizes):
        k = int(rng.integers(1, 10))  # LUT1 .. LUT6 and compositions up to k = 9
        R = int(rng.integers(0, max_refractory + 1))
        src = np.empty((n, k), np.int32)
        idx = np.empty((n, k), np.int32)
        dly = np.empty((n, k), np.int32)
        options = ([INPUT] if n_in else []) + list(range(m))
        for j in range(n):
            for p in range(k):
                s = int(rng.choice(options))
                if s == INPUT:
                    src[j, p], idx[j, p] = s, rng.integers(0, n_in)
                else:
                    src[j, p], idx[j, p] = s, rng.integers(0, sizes[s])
                lo = 1 if src[j, p] >= i else 0
                dly[j, p] = rng.integers(lo, max_delay + 1)
            if R and rng.random() < 0.5:
                # read the own output at some or all of the delays 1..R (foldable gates)
                for d in range(1, R + 1):
                    if rng.random() < 0.8:
                        p = int(rng.integers(0, k))
                        src[j, p], idx[j, p], dly[j, p] = i, j, d
        table = rng.integers(0, 2, size=(n, 1 << k), dtype=np.uint8)
        layers.append(Layer(table, src, idx, dly, R, f"layer{i}"))
    ro = int(rng.integers(0, m))
    classes = int(rng.integers(1, 5))
    class_of = rng.integers(-1, classes, size=sizes[ro]).astype(np.int32)
    return Network(n_in, layers, Readout(ro, class_of, classes, int(rng.integers(0, 4))))


def live_network(seed: int, n_in: int, sizes, k, refractory, max_delay: int = 3) -> Network:
    """Every node computes a parity (so it depends on every tap), taps within a node are distinct,
    and every node of layer s < last is read by layer s + 1: nothing is dead or constant."""
    rng = np.random.default_rng(seed)
    m = len(sizes)
    ks = [k] * m if isinstance(k, int) else list(k)
    rs = [refractory] * m if isinstance(refractory, int) else list(refractory)
    taps = []
    for i, (n, ki) in enumerate(zip(sizes, ks)):
        cands = [(INPUT, c, d) for c in range(n_in) for d in range(max_delay + 1)]
        cands += [(s, j, d) for s in range(m) for j in range(sizes[s])
                  for d in range(1 if s >= i else 0, max_delay + 1)]
        layer_taps = []
        for _ in range(n):
            pick = rng.choice(len(cands), size=ki, replace=False)
            layer_taps.append([cands[q] for q in pick])
        taps.append(layer_taps)
    for s in range(m - 1):
        fixed = set()
        for j in range(sizes[s]):
            if any(t[0] == s and t[1] == j for node in taps[s + 1] for t in node):
                continue
            for _ in range(1000):
                q, p = int(rng.integers(0, sizes[s + 1])), int(rng.integers(0, ks[s + 1]))
                new = (s, j, int(rng.integers(0, max_delay + 1)))
                if (q, p) not in fixed and new not in taps[s + 1][q]:
                    taps[s + 1][q][p] = new
                    fixed.add((q, p))
                    break
            else:
                raise AssertionError("cannot wire every node; use a larger next layer")
    layers = []
    for i, (n, ki) in enumerate(zip(sizes, ks)):
        arr = np.asarray(taps[i], np.int32)
        addr = np.arange(1 << ki)
        parity = np.zeros(1 << ki, np.uint8)
        for p in range(ki):
            parity ^= ((addr >> p) & 1).astype(np.uint8)
        flip = rng.integers(0, 2, size=(n, 1), dtype=np.uint8)
        layers.append(Layer(parity[None, :] ^ flip, arr[..., 0], arr[..., 1], arr[..., 2], rs[i]))
    n_out = sizes[-1]
    return Network(n_in, layers, Readout(m - 1, np.arange(n_out) % 2, 2))
