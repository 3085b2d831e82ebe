// Bit-sliced inference of a spikelut network on the GPU (loaded by spikelut/engine/gpu.py through
// cupy.RawModule; semantics: DESIGN.md section 2, checked bit for bit against the reference engine).
//
// Every 32-bit word holds one bit of 32 samples. Samples never interact, so each block owns one
// sample word and runs the WHOLE simulation for it: the time loop and all layers are fused into
// one launch, threads split a layer's nodes, and __syncthreads() separates layers (a layer's nodes
// only read earlier layers at delay 0, and anything at delay >= 1, which is already written).
//
// History is a ring of `depth` slots per signal (signal = input channel, then every node in
// global order): cycle t lives in slot t % depth and a tap at delay d reads slot (t - d) % depth.
// Slots never written are zero = "0 before cycle 0". The ring lives in shared memory when it fits
// (use_smem = 1), else in this block's part of `ghist` in global memory.
//
// Layouts (all C-contiguous):
//   inp     uint32 [T, W32, n_in]    word-major, so a block's reads of one cycle are contiguous
//   out     uint32 [T, W32, n_rec]   recorded nodes' spikes, same layout
//   ghist   uint32 [gridDim.x, depth, n_sig]  (unused with use_smem)
//   tap_sig int32  [N, 6]   signal read by tap p (taps >= k unused)
//   tap_dly int32  [N, 6]   its delay
//   table   uint64 [N]      bit a = table entry a
//   rec_row int32  [N]      output row of node, -1 = not recorded
//   layer   int32  [m, 4]   lo, hi (global node range), k, refractory

#ifndef SPIKELUT_EMULATE
#define SPIKELUT_SHARED_DECL extern __shared__ unsigned int smem[];
#else
#define SPIKELUT_SHARED_DECL unsigned int* smem = nullptr;
#endif

// Mux tree, written as compile-time recursion so every tree value stays in a register:
// Mux<0, a> picks table entry 2a or 2a+1 with tap 0, Mux<p, a> merges Mux<p-1, 2a> and
// Mux<p-1, 2a+1> with tap p; a K-input LUT is Mux<K-1, 0>.
template <int P, int A>
struct Mux {
    static __device__ __forceinline__ unsigned int eval(unsigned long long tab, const unsigned int* x)
    {
        const unsigned int lo = Mux<P - 1, 2 * A>::eval(tab, x);
        const unsigned int hi = Mux<P - 1, 2 * A + 1>::eval(tab, x);
        return lo ^ (x[P] & (lo ^ hi));
    }
};

template <int A>
struct Mux<0, A> {
    static __device__ __forceinline__ unsigned int eval(unsigned long long tab, const unsigned int* x)
    {
        const unsigned int e0 = (unsigned int)(tab >> (2 * A)) & 1u;
        const unsigned int e1 = (unsigned int)(tab >> (2 * A + 1)) & 1u;
        return (0u - e0) ^ (x[0] & (0u - (e0 ^ e1)));
    }
};

template <int K>
__device__ __forceinline__ unsigned int lut_eval(unsigned long long tab, const unsigned int* x)
{
    return Mux<K - 1, 0>::eval(tab, x);
}

extern "C" __global__ void spikelut_infer(
    const unsigned int* __restrict__ inp, unsigned int* __restrict__ out,
    unsigned int* __restrict__ ghist, const int* __restrict__ tap_sig,
    const int* __restrict__ tap_dly, const unsigned long long* __restrict__ table,
    const int* __restrict__ rec_row, const int* __restrict__ layer,
    int T, int W32, int n_in, int N, int m, int depth, int n_rec, int use_smem)
{
    SPIKELUT_SHARED_DECL
    const int w = blockIdx.x;
    if (w >= W32) return;
    const int n_sig = n_in + N;
    unsigned int* hist = use_smem ? smem : ghist + (unsigned long long)w * depth * n_sig;
    for (int i = threadIdx.x; i < depth * n_sig; i += blockDim.x) hist[i] = 0u;
    __syncthreads();

    for (int t = 0; t < T; ++t) {
        unsigned int* cur = hist + (t % depth) * n_sig;
        const unsigned int* in_t = inp + ((unsigned long long)t * W32 + w) * n_in;
        for (int c = threadIdx.x; c < n_in; c += blockDim.x) cur[c] = in_t[c];
        __syncthreads();
        unsigned int* out_t = out + ((unsigned long long)t * W32 + w) * n_rec;
        for (int l = 0; l < m; ++l) {
            const int lo = layer[4 * l], hi = layer[4 * l + 1];
            const int k = layer[4 * l + 2], R = layer[4 * l + 3];
            for (int j = lo + threadIdx.x; j < hi; j += blockDim.x) {
                unsigned int x[6];
#pragma unroll
                for (int p = 0; p < 6; ++p) {
                    if (p < k) {
                        const int row = (t - tap_dly[6 * j + p] + depth) % depth;
                        x[p] = hist[row * n_sig + tap_sig[6 * j + p]];
                    } else {
                        x[p] = 0u;
                    }
                }
                const unsigned long long tab = table[j];
                unsigned int s;
                switch (k) {  // uniform within a layer: no divergence
                    case 2: s = lut_eval<2>(tab, x); break;
                    case 3: s = lut_eval<3>(tab, x); break;
                    case 4: s = lut_eval<4>(tab, x); break;
                    case 5: s = lut_eval<5>(tab, x); break;
                    default: s = lut_eval<6>(tab, x); break;
                }
                // refractory gate: silent if the node fired in any of the last R cycles
                for (int q = 1; q <= R; ++q)
                    s &= ~hist[((t - q + depth) % depth) * n_sig + n_in + j];
                cur[n_in + j] = s;
                const int r = rec_row[j];
                if (r >= 0) out_t[r] = s;
            }
            __syncthreads();
        }
    }
}
