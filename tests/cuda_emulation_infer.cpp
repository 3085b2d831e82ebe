// Host driver for kernels/bitsliced_infer.cu under tests/cuda_emulation.h (see tests/test_gpu.py).
#include "cuda_emulation.h"
#include "bitsliced_infer.cu"

extern "C" void emulate_infer(
    int grid, const unsigned int* inp, unsigned int* out, unsigned int* ghist, const int* tap_sig,
    const int* tap_dly, const unsigned long long* table, const int* rec_row, const int* layer,
    int T, int W32, int n_in, int N, int m, int depth, int n_rec, int use_smem, int tw)
{
    gridDim.x = (unsigned int)grid;
    for (int b = 0; b < grid; ++b) {
        blockIdx.x = (unsigned int)b;
        spikelut_infer(inp, out, ghist, tap_sig, tap_dly, table, rec_row, layer,
                       T, W32, n_in, N, m, depth, n_rec, use_smem, tw);
    }
}
