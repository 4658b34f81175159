//! Frame -> model input: colour conversion, bilinear resize, normalised CHW f32.
//!
//! The CPU reference twin of `cuda/preprocess.cu` (same sampling and colour formulas).
//! Any frame size and stride is accepted; the frame is stretched to the model's input
//! size (masks are stretched back by postprocessing, so no letterbox bookkeeping).
//! YUV uses limited-range BT.601 below 720 rows and BT.709 from 720 rows, which is
//! GStreamer's default colorimetry guess for raw video without a colorimetry field.
use super::bilinear::Axis;
use crate::frame::{FrameRef, PixelFormat};
use crate::tensor::Tensor;

/// Reusable preprocessing state for one model input size and normalisation.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    pub width: usize,
    pub height: usize,
    /// value = pixel * scale[c] + bias[c]  ==  (pixel/255 - mean[c]) / std[c]
    scale: [f32; 3],
    bias: [f32; 3],
    xs: Axis,
    ys: Axis,
}

/// A frame whose planes do not hold what its size, format and strides promise.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bad frame: {0}")]
pub struct FrameError(pub String);

/// YUV -> RGB matrix rows (limited range): R = y + rv*v; G = y + gu*u + gv*v; B = y + bu*u.
#[derive(Debug, Clone, Copy)]
pub struct YuvMatrix {
    pub rv: f32,
    pub gu: f32,
    pub gv: f32,
    pub bu: f32,
}

pub const BT601: YuvMatrix = YuvMatrix { rv: 1.596, gu: -0.392, gv: -0.813, bu: 2.017 };
pub const BT709: YuvMatrix = YuvMatrix { rv: 1.793, gu: -0.213, gv: -0.533, bu: 2.112 };

/// Colorimetry used for a YUV frame of `height` rows.
pub fn yuv_matrix(height: usize) -> YuvMatrix {
    if height >= 720 {
        BT709
    } else {
        BT601
    }
}

/// Limited-range YUV (0..255 bytes) -> RGB in 0..255, clamped.
#[inline]
pub fn yuv_to_rgb(y: f32, u: f32, v: f32, m: &YuvMatrix) -> [f32; 3] {
    let (y, u, v) = (1.164 * (y - 16.0), u - 128.0, v - 128.0);
    [(y + m.rv * v).clamp(0.0, 255.0), (y + m.gu * u + m.gv * v).clamp(0.0, 255.0), (y + m.bu * u).clamp(0.0, 255.0)]
}

impl Preprocessor {
    pub fn new(width: usize, height: usize, mean: [f32; 3], std: [f32; 3]) -> Self {
        let scale = std.map(|s| 1.0 / (255.0 * s));
        let bias = [0, 1, 2].map(|c| -mean[c] / std[c]);
        Preprocessor { width, height, scale, bias, xs: Axis::default(), ys: Axis::default() }
    }

    /// Writes the normalised [1, 3, H, W] image of `frame` into `out` (reused).
    pub fn run(&mut self, frame: &FrameRef, out: &mut Tensor) -> Result<(), FrameError> {
        check_frame(frame)?;
        self.xs.rebuild(frame.width, self.width);
        self.ys.rebuild(frame.height, self.height);
        let shape = [1, 3, self.height, self.width];
        if out.shape != shape {
            out.resize(&shape);
        }
        let (p, s) = (&frame.planes, &frame.strides);
        match frame.format {
            PixelFormat::Rgb => self.resample(out, |x, y| packed(p[0], s[0], x, y, 3, [0, 1, 2])),
            PixelFormat::Rgba => self.resample(out, |x, y| packed(p[0], s[0], x, y, 4, [0, 1, 2])),
            PixelFormat::Bgrx => self.resample(out, |x, y| packed(p[0], s[0], x, y, 4, [2, 1, 0])),
            PixelFormat::I420 => {
                let m = yuv_matrix(frame.height);
                self.resample(out, |x, y| {
                    let (cx, cy) = (x / 2, y / 2);
                    let yy = p[0][y * s[0] + x] as f32;
                    yuv_to_rgb(yy, p[1][cy * s[1] + cx] as f32, p[2][cy * s[2] + cx] as f32, &m)
                })
            }
            PixelFormat::Nv12 => {
                let m = yuv_matrix(frame.height);
                self.resample(out, |x, y| {
                    let uv = (y / 2) * s[1] + (x / 2) * 2;
                    yuv_to_rgb(p[0][y * s[0] + x] as f32, p[1][uv] as f32, p[1][uv + 1] as f32, &m)
                })
            }
        }
        Ok(())
    }

    /// Bilinear resample of RGB pixels given by `rgb_at(x, y)` into normalised CHW.
    fn resample(&self, out: &mut Tensor, rgb_at: impl Fn(usize, usize) -> [f32; 3]) {
        let plane = self.width * self.height;
        let (xs, ys) = (&self.xs, &self.ys);
        for oy in 0..self.height {
            let (y0, y1, wy) = (ys.i0[oy] as usize, ys.i1[oy] as usize, ys.w[oy]);
            for ox in 0..self.width {
                let (x0, x1, wx) = (xs.i0[ox] as usize, xs.i1[ox] as usize, xs.w[ox]);
                let (a, b, c, d) = (rgb_at(x0, y0), rgb_at(x1, y0), rgb_at(x0, y1), rgb_at(x1, y1));
                let i = oy * self.width + ox;
                for ch in 0..3 {
                    let top = a[ch] + (b[ch] - a[ch]) * wx;
                    let bottom = c[ch] + (d[ch] - c[ch]) * wx;
                    let v = top + (bottom - top) * wy;
                    out.data[ch * plane + i] = v * self.scale[ch] + self.bias[ch];
                }
            }
        }
    }
}

#[inline]
fn packed(plane: &[u8], stride: usize, x: usize, y: usize, bpp: usize, order: [usize; 3]) -> [f32; 3] {
    let o = y * stride + x * bpp;
    order.map(|k| plane[o + k] as f32)
}

/// Checks plane count, strides and plane lengths (so sampling never reads out of bounds).
pub fn check_frame(f: &FrameRef) -> Result<(), FrameError> {
    if f.width == 0 || f.height == 0 {
        return Err(FrameError(format!("empty frame {}x{}", f.width, f.height)));
    }
    let (cw, ch) = (f.width.div_ceil(2), f.height.div_ceil(2));
    // (row bytes, rows) of each plane the format uses.
    let planes: &[(usize, usize)] = match f.format {
        PixelFormat::Rgb => &[(f.width * 3, f.height)],
        PixelFormat::Rgba | PixelFormat::Bgrx => &[(f.width * 4, f.height)],
        PixelFormat::I420 => &[(f.width, f.height), (cw, ch), (cw, ch)],
        PixelFormat::Nv12 => &[(f.width, f.height), (cw * 2, ch)],
    };
    for (i, &(row, rows)) in planes.iter().enumerate() {
        let (stride, len) = (f.strides[i], f.planes[i].len());
        if stride < row {
            return Err(FrameError(format!("{:?} plane {i}: stride {stride} < row size {row}", f.format)));
        }
        let need = stride * (rows - 1) + row;
        if len < need {
            return Err(FrameError(format!(
                "{:?} {}x{} plane {i}: {len} bytes, need {need} (stride {stride})",
                f.format, f.width, f.height
            )));
        }
    }
    Ok(())
}

impl Preprocessor {
    /// Per-channel (scale, bias) with value = pixel * scale + bias (the CUDA kernel's inputs).
    pub fn scale_bias(&self) -> ([f32; 3], [f32; 3]) {
        (self.scale, self.bias)
    }
}
