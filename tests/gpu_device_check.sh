#!/usr/bin/env bash
# Device check of the GPU engine, for a session that has a lent GPU machine (see the device tool).
# Run from the repository root there; its image has python3 with CuPy, PyTorch, numba, h5py,
# pytest and hypothesis, so nothing needs installing: the package is used from the source tree.
#   run(command="bash tests/gpu_device_check.sh", timeout_s=540)
# Writes $OUT/gpu_tests.txt and $OUT/BENCH_gpu.md (+ .json); about 3-5 minutes on an H100.
set -u
OUT=${OUT:-/tmp/spikelut_gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi -L
python3 -c "import cupy, numba, numpy; print('cupy', cupy.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__)"
# the gpu tests (bit-exactness vs the reference, shared- and global-memory history, DLPack with
# torch) and the torch round trip on the CPU
timeout 300 python3 -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py tests/test_engines.py \
    tests/test_train_kernels.py tests/test_bench.py -k "gpu or torch or dlpack or pytorch" 2>&1 | tee "$OUT/gpu_tests.txt" | tail -25
# throughput: reference, bit-sliced CPU (16 cores there) and the GPU, same run
timeout 400 python3 -m spikelut bench --sizes small,default,large --device gpu --repeats 5 \
    --no-progress --no-training -o "$OUT/BENCH_gpu.md" --json > "$OUT/BENCH_gpu.json"
tail -n 15 "$OUT/BENCH_gpu.md"
