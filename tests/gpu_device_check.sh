#!/usr/bin/env bash
# Device check of the GPU engine and of GPU training, for a session that has a lent GPU machine
# (see docs/gpu.md). Run from the repository root there:
#   run(command="bash tests/gpu_device_check.sh", timeout_s=540)
# Everything it prints, with the `set -x` trace, also goes to $OUT/device_check.log; the numbers go
# to $OUT/gpu_tests.txt, $OUT/BENCH_gpu.md (+ .json) and $OUT/train_gpu.md (+ .json). About
# 3-6 minutes on an H100/H200 (budget 8, CuPy install included). On a machine without a GPU it
# runs the same steps and the GPU parts skip with their reason (a dry run):
#   OUT=/tmp/gpu_dry GPU_CHECK_SAMPLES=50 GPU_CHECK_EPOCHS=1 bash tests/gpu_device_check.sh
# Exit status: 0 when every step that could run passed.
set -u -o pipefail
OUT=${OUT:-/tmp/spikelut_gpu_out}
mkdir -p "$OUT"
PS4='+ [$(( $(date +%s) - START ))s] '
START=$(date +%s)

check() {
set -x
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
SAMPLES=${GPU_CHECK_SAMPLES:-4000}
EPOCHS=${GPU_CHECK_EPOCHS:-2}
STATUS=0

# CuPy: the image may have it; else, where there is a driver, from PyPI with the CUDA libraries
# it loads (nvrtc, cuBLAS, ...). Never on a machine without a GPU (a dry run installs nothing).
if nvidia-smi -L; then
    if ! $PY -c "import cupy" 2>/dev/null; then
        timeout 120 $PY -m pip install --quiet --retries 1 --timeout 30 "cupy-cuda12x[ctk]" \
            || echo "CuPy could not be installed here; the GPU parts will skip"
    fi
else
    echo "nvidia-smi: no NVIDIA driver here; the GPU parts will skip"
fi
$PY - <<'EOF' || true
import numba, numpy
print("numpy", numpy.__version__, "numba", numba.__version__)
try:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
    names = [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(n)]
    print("cupy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "devices", names, "compute capability", cupy.cuda.Device().compute_capability)
except Exception as e:
    print("no usable CuPy:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
EOF
$PY -c "from spikelut.train.passes import why_unavailable as w; print('cuda backend:', w('cuda') or 'available')"

# 1. the gpu-marked tests (inference and training kernels bit-exact / within float32 rounding,
# the trainer on CuPy and its checkpoints moving to the CPU, DLPack with torch), the NVRTC compile
# test and the emulated-device training tests
timeout 180 $PY -m pytest -q -rs -p no:cacheprovider --continue-on-collection-errors -m gpu tests/ 2>&1 | tee "$OUT/gpu_tests.txt" | tail -30
[ "${PIPESTATUS[0]}" -eq 0 ] || STATUS=1
timeout 120 $PY -m pytest -q -rs -p no:cacheprovider tests/test_nvrtc.py tests/test_train_backends.py \
    tests/test_cuda_emulation.py \
    2>&1 | tee -a "$OUT/gpu_tests.txt" | tail -8
[ "${PIPESTATUS[0]}" -eq 0 ] || STATUS=1

# 2. inference throughput: reference, bit-sliced CPU and the GPU in one run
BENCH_SEL=(--backend cuda)
if $PY -c "from spikelut.backend import gpu_available as g; raise SystemExit(0 if g() else 1)" 2>/dev/null \
    || $PY -c "from spikelut.xp import gpu_available as g; raise SystemExit(0 if g() else 1)" 2>/dev/null; then
    timeout 150 $PY -m spikelut bench --sizes small,default "${BENCH_SEL[@]}" --repeats 3 \
        --no-progress --no-training -o "$OUT/BENCH_gpu.md" --json > "$OUT/BENCH_gpu.json" || STATUS=1
    tail -n 12 "$OUT/BENCH_gpu.md" || true
else
    echo "bench: skipped, no usable GPU"
fi

# 3. training on the GPU: gradients against the reference, seconds per epoch against numba
timeout 240 $PY tests/gpu_train_check.py --out "$OUT" --samples "$SAMPLES" --epochs "$EPOCHS" || STATUS=1

set +x
echo "device check finished in $(( $(date +%s) - START )) s, status $STATUS; files in $OUT:"
ls -l "$OUT"
return $STATUS
}

check 2>&1 | tee "$OUT/device_check.log"
exit "${PIPESTATUS[0]}"
