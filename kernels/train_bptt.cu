// Training forward and backward passes on the GPU (loaded by spikelut/train/kernels_gpu.py through
// cupy.RawModule). Same maths and layouts as spikelut/train/bptt.py (the reference) and
// spikelut/train/kernels_cpu.py: one launch per (cycle, layer), one thread per (node, sample).
//
// Layouts (C-contiguous, batch last so a warp's accesses are contiguous):
//   hist   uint8   [D + T, N, B]   every signal's spikes, row D + t = cycle t (inputs first)
//   addr   uint8   [T, Nn, B]      each node's LUT address per cycle (Nn = nodes of all layers)
//   gidx   int32   [Nn, 6]         signal read by tap p;  dly int32 [Nn, 6]: its delay
//   is_in  uint8   [Nn, 6]         tap p reads a network input
//   tabs   uint8   [total]         tables of all nodes, node j at tab_off[j] (2**k entries)
//   G      float32 [D + T, N, B]   dL/ds, filled from the loss; the backward pass adds into it
//   sg     float32 [total]         surrogate'(theta) per table entry (computed by CuPy)
//   diffs  float32 [6, total]      f(theta)[a | 1<<p] - f(theta)[a & ~(1<<p)]
//   acc    float64 [total]         dL/dtheta accumulated with atomics

#ifndef SPIKELUT_EMULATE
#define SPIKELUT_ATOMIC_ADD(p, v) atomicAdd((p), (v))
#else
#define SPIKELUT_ATOMIC_ADD(p, v) (*(p) += (v))
#endif

extern "C" __global__ void spikelut_train_forward(
    unsigned char* __restrict__ hist, unsigned char* __restrict__ addr,
    const int* __restrict__ gidx, const int* __restrict__ dly,
    const unsigned char* __restrict__ tabs, const long long* __restrict__ tab_off,
    int t, int D, int N, int B, int Nn, int lo, int hi, int k, int R, int sig0, int save)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)(hi - lo) * B) return;
    const int j = lo + (int)(i / B);
    const int b = (int)(i % B);
    const int row = D + t;
    int a = 0;
    for (int p = 0; p < k; ++p) {
        const int r = row - dly[6 * j + p];
        a |= (int)hist[((unsigned long long)r * N + gidx[6 * j + p]) * B + b] << p;
    }
    unsigned char s = tabs[tab_off[j] + a];
    const int sj = sig0 + (j - lo);
    for (int q = 1; q <= R; ++q)
        if (hist[((unsigned long long)(row - q) * N + sj) * B + b]) s = 0;  // refractory gate
    hist[((unsigned long long)row * N + sj) * B + b] = s;
    if (save) addr[((unsigned long long)t * Nn + j) * B + b] = (unsigned char)a;
}

// mode: 0 = block, 1 = pass, 2 = full (see bptt.py); tbptt = 0: full BPTT
extern "C" __global__ void spikelut_train_backward(
    float* __restrict__ G, const unsigned char* __restrict__ hist,
    const unsigned char* __restrict__ addr, const float* __restrict__ sg,
    const float* __restrict__ diffs, const unsigned char* __restrict__ tabs,
    const long long* __restrict__ tab_off, const int* __restrict__ gidx,
    const int* __restrict__ dly, const unsigned char* __restrict__ is_in,
    double* __restrict__ acc, long long total,
    int t, int T, int D, int N, int B, int Nn, int lo, int hi, int k, int R, int sig0,
    int mode, int tbptt, int input_grad)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)(hi - lo) * B) return;
    const int j = lo + (int)(i / B);
    const int b = (int)(i % B);
    const int row = D + t;
    const int phase = tbptt > 0 ? t % tbptt : T + D;  // "no boundary" exceeds every delay
    const int sj = sig0 + (j - lo);
    const long long ai = tab_off[j] + addr[((unsigned long long)t * Nn + j) * B + b];
    // this launch only writes rows < row (delays >= 1) or earlier layers' signals (delay 0), so
    // the value read here is final
    float g_a = G[((unsigned long long)row * N + sj) * B + b];
    if (R > 0 && mode != 1) {
        int fired = 0;
        for (int q = 1; q <= R; ++q) fired |= hist[((unsigned long long)(row - q) * N + sj) * B + b];
        const float g_s = g_a;
        g_a = g_s * (float)(1 - fired);
        if (mode == 2) {
            const float out_a = (float)tabs[ai];
            for (int r = 1; r <= R; ++r) {
                if (phase < r) continue;  // reading s[t - r] crosses a tbptt boundary
                float excl = 1.0f;
                for (int q = 1; q <= R; ++q)
                    if (q != r) excl *= (float)(1 - hist[((unsigned long long)(row - q) * N + sj) * B + b]);
                SPIKELUT_ATOMIC_ADD(&G[((unsigned long long)(row - r) * N + sj) * B + b], -(g_s * out_a * excl));
            }
        }
    }
    const float g_u = g_a * sg[ai];
    SPIKELUT_ATOMIC_ADD(&acc[ai], (double)g_u);
    for (int p = 0; p < k; ++p) {
        const int d = dly[6 * j + p];
        if (d > phase || (is_in[6 * j + p] && !input_grad)) continue;
        SPIKELUT_ATOMIC_ADD(&G[((unsigned long long)(row - d) * N + gidx[6 * j + p]) * B + b],
                            diffs[(unsigned long long)p * total + ai] * g_u);
    }
}
