// Mask logits [h4, w4] -> binary mask [out_h, out_w] (GPU twin of src/kernels/postprocess.rs).
// Bilinear upsampling with half-pixel centres, then logit > 0. One thread per output pixel.
// Compiled by NVRTC in the tests; never run on this project's CI (no GPU).

__device__ __forceinline__ float src_coord(int d, int src, int dst) {
    // (src / dst) first, as the CPU twin (bilinear::Axis) computes it: same rounding.
    float s = (d + 0.5f) * ((float)src / (float)dst) - 0.5f;
    return fminf(fmaxf(s, 0.0f), (float)(src - 1));
}

extern "C" __global__ void upsample_threshold(
    const float* logits, int w4, int h4, unsigned char* out, int out_w, int out_h) {
    int ox = blockIdx.x * blockDim.x + threadIdx.x, oy = blockIdx.y * blockDim.y + threadIdx.y;
    if (ox >= out_w || oy >= out_h) return;
    float sx = src_coord(ox, w4, out_w), sy = src_coord(oy, h4, out_h);
    int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
    int x1 = min(x0 + 1, w4 - 1), y1 = min(y0 + 1, h4 - 1);
    float wx = sx - x0, wy = sy - y0;
    float a = logits[y0 * w4 + x0], b = logits[y0 * w4 + x1];
    float c = logits[y1 * w4 + x0], d = logits[y1 * w4 + x1];
    float top = a + (b - a) * wx, bottom = c + (d - c) * wx;
    out[oy * out_w + ox] = (top + (bottom - top) * wy) > 0.0f ? 1 : 0;
}
