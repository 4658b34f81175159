// Frame -> normalised CHW f32 model input (GPU twin of src/kernels/preprocess.rs).
// One thread per output pixel. Bilinear sampling with half-pixel centres, clamped at the
// borders; YUV is limited range with the matrix given by the caller (BT.601 / BT.709).
// Compiled by NVRTC in the tests; never run on this project's CI (no GPU).

__device__ __forceinline__ float src_coord(int d, int src, int dst) {
    // (src / dst) first, as the CPU twin (bilinear::Axis) computes it: same rounding.
    float s = (d + 0.5f) * ((float)src / (float)dst) - 0.5f;
    return fminf(fmaxf(s, 0.0f), (float)(src - 1));
}

struct Taps { int x0, x1, y0, y1; float wx, wy; };

__device__ __forceinline__ Taps taps(int ox, int oy, int src_w, int src_h, int out_w, int out_h) {
    Taps t;
    float sx = src_coord(ox, src_w, out_w), sy = src_coord(oy, src_h, out_h);
    t.x0 = (int)floorf(sx); t.y0 = (int)floorf(sy);
    t.x1 = min(t.x0 + 1, src_w - 1); t.y1 = min(t.y0 + 1, src_h - 1);
    t.wx = sx - t.x0; t.wy = sy - t.y0;
    return t;
}

__device__ __forceinline__ float lerp2(float a, float b, float c, float d, float wx, float wy) {
    float top = a + (b - a) * wx, bottom = c + (d - c) * wx;
    return top + (bottom - top) * wy;
}

__device__ __forceinline__ void store(float* out, int i, int plane, const float rgb[3],
                                      const float* scale, const float* bias) {
    for (int c = 0; c < 3; ++c) out[c * plane + i] = rgb[c] * scale[c] + bias[c];
}

__device__ __forceinline__ void yuv_rgb(float y, float u, float v, const float* m, float rgb[3]) {
    y = 1.164f * (y - 16.0f); u -= 128.0f; v -= 128.0f;
    rgb[0] = fminf(fmaxf(y + m[0] * v, 0.0f), 255.0f);
    rgb[1] = fminf(fmaxf(y + m[1] * u + m[2] * v, 0.0f), 255.0f);
    rgb[2] = fminf(fmaxf(y + m[3] * u, 0.0f), 255.0f);
}

// RGB (bpp 3), RGBA / BGRx (bpp 4); order = byte offsets of R, G, B within a pixel.
extern "C" __global__ void preprocess_packed(
    const unsigned char* src, int src_w, int src_h, int stride, int bpp,
    int r_off, int g_off, int b_off,
    float* out, int out_w, int out_h, const float* scale, const float* bias) {
    int ox = blockIdx.x * blockDim.x + threadIdx.x, oy = blockIdx.y * blockDim.y + threadIdx.y;
    if (ox >= out_w || oy >= out_h) return;
    Taps t = taps(ox, oy, src_w, src_h, out_w, out_h);
    int off[3] = {r_off, g_off, b_off};
    float rgb[3];
    for (int c = 0; c < 3; ++c) {
        float a = src[t.y0 * stride + t.x0 * bpp + off[c]], b = src[t.y0 * stride + t.x1 * bpp + off[c]];
        float cc = src[t.y1 * stride + t.x0 * bpp + off[c]], d = src[t.y1 * stride + t.x1 * bpp + off[c]];
        rgb[c] = lerp2(a, b, cc, d, t.wx, t.wy);
    }
    store(out, oy * out_w + ox, out_w * out_h, rgb, scale, bias);
}

__device__ __forceinline__ void i420_px(const unsigned char* y, const unsigned char* u, const unsigned char* v,
                                        int ys, int us, int vs, int x, int yy, const float* m, float rgb[3]) {
    yuv_rgb(y[yy * ys + x], u[(yy / 2) * us + x / 2], v[(yy / 2) * vs + x / 2], m, rgb);
}

extern "C" __global__ void preprocess_i420(
    const unsigned char* y, const unsigned char* u, const unsigned char* v,
    int src_w, int src_h, int y_stride, int u_stride, int v_stride, const float* matrix,
    float* out, int out_w, int out_h, const float* scale, const float* bias) {
    int ox = blockIdx.x * blockDim.x + threadIdx.x, oy = blockIdx.y * blockDim.y + threadIdx.y;
    if (ox >= out_w || oy >= out_h) return;
    Taps t = taps(ox, oy, src_w, src_h, out_w, out_h);
    float a[3], b[3], c[3], d[3], rgb[3];
    i420_px(y, u, v, y_stride, u_stride, v_stride, t.x0, t.y0, matrix, a);
    i420_px(y, u, v, y_stride, u_stride, v_stride, t.x1, t.y0, matrix, b);
    i420_px(y, u, v, y_stride, u_stride, v_stride, t.x0, t.y1, matrix, c);
    i420_px(y, u, v, y_stride, u_stride, v_stride, t.x1, t.y1, matrix, d);
    for (int k = 0; k < 3; ++k) rgb[k] = lerp2(a[k], b[k], c[k], d[k], t.wx, t.wy);
    store(out, oy * out_w + ox, out_w * out_h, rgb, scale, bias);
}

__device__ __forceinline__ void nv12_px(const unsigned char* y, const unsigned char* uv, int ys, int uvs,
                                        int x, int yy, const float* m, float rgb[3]) {
    int o = (yy / 2) * uvs + (x / 2) * 2;
    yuv_rgb(y[yy * ys + x], uv[o], uv[o + 1], m, rgb);
}

extern "C" __global__ void preprocess_nv12(
    const unsigned char* y, const unsigned char* uv,
    int src_w, int src_h, int y_stride, int uv_stride, const float* matrix,
    float* out, int out_w, int out_h, const float* scale, const float* bias) {
    int ox = blockIdx.x * blockDim.x + threadIdx.x, oy = blockIdx.y * blockDim.y + threadIdx.y;
    if (ox >= out_w || oy >= out_h) return;
    Taps t = taps(ox, oy, src_w, src_h, out_w, out_h);
    float a[3], b[3], c[3], d[3], rgb[3];
    nv12_px(y, uv, y_stride, uv_stride, t.x0, t.y0, matrix, a);
    nv12_px(y, uv, y_stride, uv_stride, t.x1, t.y0, matrix, b);
    nv12_px(y, uv, y_stride, uv_stride, t.x0, t.y1, matrix, c);
    nv12_px(y, uv, y_stride, uv_stride, t.x1, t.y1, matrix, d);
    for (int k = 0; k < 3; ++k) rgb[k] = lerp2(a[k], b[k], c[k], d[k], t.wx, t.wy);
    store(out, oy * out_w + ox, out_w * out_h, rgb, scale, bias);
}
