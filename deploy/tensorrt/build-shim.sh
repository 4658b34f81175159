#!/usr/bin/env bash
# Builds libsegtrt.so, the C shim segstream uses to drive TensorRT 10, on a machine that
# has TensorRT and CUDA installed (Jetson JetPack 6, or a desktop with TensorRT 10).
#
#   deploy/tensorrt/build-shim.sh            # builds and installs into /usr/local/lib
#   deploy/tensorrt/build-shim.sh --check    # syntax-check only: needs headers, no libraries
#
# Header locations default to JetPack's; override with TENSORRT_INCLUDE_DIR, CUDA_INCLUDE_DIR
# (several directories may be given, separated by ':'), TENSORRT_LIB_DIR, CUDA_LIB_DIR.
set -euo pipefail
src="$(cd "$(dirname "$0")/../../src/runtime/tensorrt/shim" && pwd)"
trt_inc="${TENSORRT_INCLUDE_DIR:-/usr/include/$(uname -m)-linux-gnu}"
cuda_inc="${CUDA_INCLUDE_DIR:-/usr/local/cuda/include}"
includes=()
for d in ${trt_inc//:/ } ${cuda_inc//:/ }; do includes+=(-isystem "$d"); done

if [ "${1:-}" = "--check" ]; then
  g++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only "${includes[@]}" "$src/segtrt.cpp"
  echo "segtrt.cpp compiles against $trt_inc"
  exit 0
fi

out="${PREFIX:-/usr/local}/lib/libsegtrt.so"
g++ -std=c++17 -O2 -Wall -Wextra -shared -fPIC "${includes[@]}" "$src/segtrt.cpp" -o "$out" \
  -L"${TENSORRT_LIB_DIR:-/usr/lib/$(uname -m)-linux-gnu}" -L"${CUDA_LIB_DIR:-/usr/local/cuda/lib64}" \
  -lnvinfer -lcudart
ldconfig 2>/dev/null || true
echo "built $out (set SEGSTREAM_TRT_SHIM=$out if it is not on the loader path)"
