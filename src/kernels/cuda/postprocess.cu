// Mask logits [h4, w4] -> binary mask (GPU twin of src/kernels/postprocess.rs).
// Bilinear upsampling with half-pixel centres to out_w x out_h, then logit > 0, computed
// only over a window of the output (the part that can hold foreground, chosen on the host
// from the logits: MaskUpsampler::window) and written densely, win_w bytes per row, so only
// the window crosses the bus. The full mask is the window (0, 0, out_w, out_h).
// One thread per window pixel. Compiled by NVRTC in the tests; never run on a GPU here.

__device__ __forceinline__ float src_coord(int d, int src, int dst) {
    // (src / dst) first, as the CPU twin (bilinear::Axis) computes it: same rounding.
    float s = (d + 0.5f) * ((float)src / (float)dst) - 0.5f;
    return fminf(fmaxf(s, 0.0f), (float)(src - 1));
}

extern "C" __global__ void upsample_threshold_window(
    const float* logits, int w4, int h4, int out_w, int out_h,
    int win_x, int win_y, int win_w, int win_h, unsigned char* out) {
    int tx = blockIdx.x * blockDim.x + threadIdx.x, ty = blockIdx.y * blockDim.y + threadIdx.y;
    if (tx >= win_w || ty >= win_h) return;
    int ox = win_x + tx, oy = win_y + ty;
    float sx = src_coord(ox, w4, out_w), sy = src_coord(oy, h4, out_h);
    int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
    int x1 = min(x0 + 1, w4 - 1), y1 = min(y0 + 1, h4 - 1);
    float wx = sx - x0, wy = sy - y0;
    float a = logits[y0 * w4 + x0], b = logits[y0 * w4 + x1];
    float c = logits[y1 * w4 + x0], d = logits[y1 * w4 + x1];
    // Vertical blend first, then horizontal: the CPU twin's order (it blends a row once).
    float left = a + (c - a) * wy, right = b + (d - b) * wy;
    out[ty * win_w + tx] = (left + (right - left) * wx) > 0.0f ? 1 : 0;
}
