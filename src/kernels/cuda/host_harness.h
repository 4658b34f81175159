// Host harness: compiles a .cu file of this directory as plain C++ so its kernels run on the
// CPU, one call per (block, thread) of the launch grid, in the order a GPU may not use but
// with the same arithmetic. Used only by tests (tests/cuda_host.rs) to check the CUDA source
// itself against the CPU twins on a machine without a GPU. Not a CUDA emulator: it supports
// exactly what our kernels use (no shared memory, no synchronisation, no atomics).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <tuple>
#include <utility>

#define __global__
#define __device__
#define __forceinline__ inline

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };

// The launch coordinates of the "thread" being executed (single-threaded harness).
static uint3 blockIdx, threadIdx;
static dim3 blockDim, gridDim;

using std::max;
using std::min;

namespace segstream_host {
// Calls kernel `k` with its arguments read from `params`, as cuLaunchKernel does: params[i]
// points at the i-th argument's value.
template <typename... A, std::size_t... I>
void call(void (*k)(A...), void** params, std::index_sequence<I...>) {
    k(*static_cast<std::remove_reference_t<A>*>(params[I])...);
}

template <typename... A>
void launch(void (*k)(A...), unsigned gx, unsigned gy, unsigned bx, unsigned by, void** params) {
    gridDim = {gx, gy, 1};
    blockDim = {bx, by, 1};
    for (unsigned byi = 0; byi < gy; ++byi)
        for (unsigned bxi = 0; bxi < gx; ++bxi)
            for (unsigned ty = 0; ty < by; ++ty)
                for (unsigned tx = 0; tx < bx; ++tx) {
                    blockIdx = {bxi, byi, 0};
                    threadIdx = {tx, ty, 0};
                    call(k, params, std::index_sequence_for<A...>{});
                }
}
}  // namespace segstream_host

// extern "C" host_<kernel>(grid x, grid y, block x, block y, void** params)
#define SEGSTREAM_HOST_EXPORT(kernel)                                                           \
    extern "C" void host_##kernel(unsigned gx, unsigned gy, unsigned bx, unsigned by, void** p) { \
        segstream_host::launch(kernel, gx, gy, bx, by, p);                                      \
    }
