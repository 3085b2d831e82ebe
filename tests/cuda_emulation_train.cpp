// Host driver for kernels/train_bptt.cu under tests/cuda_emulation.h (see tests/test_train_kernels.py):
// every CUDA thread of a launch runs as its own one-thread block, in order.
#include "cuda_emulation.h"
#include "train_bptt.cu"

extern "C" void emulate_train_forward(
    long long threads, unsigned char* hist, unsigned char* addr, const int* gidx, const int* dly,
    const unsigned char* tabs, const long long* tab_off,
    int t, int D, int N, int B, int Nn, int lo, int hi, int k, int R, int sig0, int save, int addr16)
{
    for (long long b = 0; b < threads; ++b) {
        blockIdx.x = (unsigned int)b;
        spikelut_train_forward(hist, addr, gidx, dly, tabs, tab_off, t, D, N, B, Nn, lo, hi, k, R,
                               sig0, save, addr16);
    }
}

extern "C" void emulate_train_backward(
    long long threads, float* G, const unsigned char* hist, const unsigned char* addr,
    const float* sg, const float* diffs, const long long* diff_off, const unsigned char* tabs,
    const long long* tab_off, const int* gidx, const int* dly, const unsigned char* is_in, double* acc,
    int t, int T, int D, int N, int B, int Nn, int lo, int hi, int k, int R, int sig0,
    int mode, int tbptt, int input_grad, int addr16)
{
    for (long long b = 0; b < threads; ++b) {
        blockIdx.x = (unsigned int)b;
        spikelut_train_backward(G, hist, addr, sg, diffs, diff_off, tabs, tab_off, gidx, dly, is_in, acc,
                                t, T, D, N, B, Nn, lo, hi, k, R, sig0, mode, tbptt,
                                input_grad, addr16);
    }
}

// the fused kernels: one block per sample; with one thread per block each block's node loops
// cover the whole layer
extern "C" void emulate_train_forward_fused(
    long long blocks, unsigned char* hist, unsigned char* addr, const int* gidx, const int* dly,
    const unsigned char* tabs, const long long* tab_off, const int* layer,
    int T, int D, int N, int B, int Nn, int m, int save, int addr16)
{
    for (long long b = 0; b < blocks; ++b) {
        blockIdx.x = (unsigned int)b;
        spikelut_train_forward_fused(hist, addr, gidx, dly, tabs, tab_off, layer, T, D, N, B, Nn,
                                     m, save, addr16);
    }
}

extern "C" void emulate_train_backward_fused(
    long long blocks, float* G, const unsigned char* hist, const unsigned char* addr,
    const float* sg, const float* diffs, const long long* diff_off, const unsigned char* tabs,
    const long long* tab_off, const int* gidx, const int* dly, const unsigned char* is_in, double* acc,
    const int* layer, int T, int D, int N, int B, int Nn, int m, int mode, int tbptt,
    int input_grad, int addr16)
{
    for (long long b = 0; b < blocks; ++b) {
        blockIdx.x = (unsigned int)b;
        spikelut_train_backward_fused(G, hist, addr, sg, diffs, diff_off, tabs, tab_off, gidx, dly,
                                      is_in, acc, layer, T, D, N, B, Nn, m, mode, tbptt,
                                      input_grad, addr16);
    }
}
