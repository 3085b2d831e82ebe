// Host driver for kernels/bitsliced_infer.cu under tests/cuda_emulation.h (see tests/test_gpu.py).
#include <cstring>
#include <vector>

#include "cuda_emulation.h"
#include "bitsliced_infer.cu"

// smem_bytes: the launch's dynamic shared memory (gpu.launch_config's smem_bytes; 0 on the
// global-memory path). Each block gets a fresh heap buffer of exactly that size, filled with
// 0xA5 bytes: shared memory is not zeroed on a GPU, and under AddressSanitizer a heap buffer of
// the exact size makes every read or write past the end an error.
extern "C" void emulate_infer(
    int grid, int smem_bytes, const unsigned int* inp, unsigned int* out, unsigned int* ghist,
    const int* tap_sig, const int* tap_dly, const unsigned long long* table, const int* rec_row,
    const int* layer, int T, int W32, int n_in, int N, int m, int depth, int n_rec, int use_smem,
    int tw)
{
    gridDim.x = (unsigned int)grid;
    for (int b = 0; b < grid; ++b) {
        blockIdx.x = (unsigned int)b;
        std::vector<unsigned char> smem((size_t)smem_bytes, 0xA5);
        emu_dynamic_smem = smem_bytes > 0 ? smem.data() : nullptr;
        spikelut_infer(inp, out, ghist, tap_sig, tap_dly, table, rec_row, layer,
                       T, W32, n_in, N, m, depth, n_rec, use_smem, tw);
        emu_dynamic_smem = nullptr;
    }
}
