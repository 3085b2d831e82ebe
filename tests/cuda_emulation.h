// Runs CUDA kernels on the CPU for tests: a block is one thread (blockDim.x = 1), so every
// "for (j = threadIdx.x; ...; j += blockDim.x)" loop covers all of its range and __syncthreads()
// is a no-op. This checks a kernel's logic and indexing bit for bit without a GPU; it cannot
// check races between threads (the GPU tests do that).
#pragma once
#include <cstddef>

#define SPIKELUT_EMULATE 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __syncthreads() ((void)0)

struct emu_dim3 { unsigned int x, y, z; };
static emu_dim3 threadIdx = {0, 0, 0};
static emu_dim3 blockIdx = {0, 0, 0};
static emu_dim3 blockDim = {1, 1, 1};
static emu_dim3 gridDim = {1, 1, 1};
