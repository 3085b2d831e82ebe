// Runs CUDA kernels on the CPU for tests: a block is one thread (blockDim.x = 1), so every
// "for (j = threadIdx.x; ...; j += blockDim.x)" loop covers all of its range and __syncthreads()
// is a no-op. This checks a kernel's logic and indexing bit for bit without a GPU; it cannot
// check races between threads (the GPU tests do that). Built with -fsanitize=address,undefined
// (tests/helpers.py, sanitize=True) it also catches out-of-bounds and overflowing indices.
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

// A kernel's `extern __shared__` memory (SPIKELUT_SHARED_DECL in the .cu file): the driver points
// this at a buffer of exactly the launch's dynamic shared-memory size for each block, filled with
// garbage as on a GPU, so a read past it or of a slot never written is caught.
static unsigned char* emu_dynamic_smem = nullptr;
