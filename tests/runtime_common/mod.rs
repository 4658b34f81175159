//! Shared helpers of the runtime integration tests (`tests/runtime_*.rs`).
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

use segstream::segmenter::{FrameRef, PixelFormat};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed default bundle.
pub fn tiny() -> PathBuf {
    repo().join("engines/tiny")
}

/// Writes a fixture bundle with tests/fixtures/make_bundle.py (python3 + onnx).
pub fn make_bundle(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = Command::new("python3")
        .arg(repo().join("tests/fixtures/make_bundle.py"))
        .arg("--out")
        .arg(dir)
        .args(extra)
        .output()
        .expect("python3 must be installed to build test bundles");
    assert!(out.status.success(), "make_bundle.py failed: {}", String::from_utf8_lossy(&out.stderr));
    dir.to_path_buf()
}

/// A test picture: grey background with a bright disc, as owned planes in `format`.
pub struct Picture {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<Vec<u8>>,
    pub strides: [usize; 3],
}

impl Picture {
    pub fn frame(&self) -> FrameRef<'_> {
        let p = |i: usize| self.planes.get(i).map(Vec::as_slice).unwrap_or(&[]);
        FrameRef { format: self.format, width: self.width, height: self.height, planes: [p(0), p(1), p(2)], strides: self.strides }
    }
}

fn rgb_at(x: usize, y: usize, w: usize, h: usize, shift: usize) -> [u8; 3] {
    let (cx, cy, r) = ((w / 3 + shift) as f32, (h / 2) as f32, (h / 5) as f32);
    let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
    if d < r {
        [230, 60, 40]
    } else {
        [90, 110, 100]
    }
}

/// Picture in any format; `shift` moves the disc right (frames of a little video).
pub fn picture(format: PixelFormat, width: usize, height: usize, shift: usize) -> Picture {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let px = |x, y| rgb_at(x, y, width, height, shift);
    let yuv = |[r, g, b]: [u8; 3]| {
        let (r, g, b) = (r as f32, g as f32, b as f32);
        let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
        let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
        let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
        [y.round() as u8, u.round() as u8, v.round() as u8]
    };
    match format {
        PixelFormat::Rgb | PixelFormat::Rgba | PixelFormat::Bgrx => {
            let bpp = if format == PixelFormat::Rgb { 3 } else { 4 };
            let stride = width * bpp + 8; // padded rows on purpose
            let mut p = vec![0u8; stride * height];
            for y in 0..height {
                for x in 0..width {
                    let [r, g, b] = px(x, y);
                    let o = y * stride + x * bpp;
                    let v = if format == PixelFormat::Bgrx { [b, g, r] } else { [r, g, b] };
                    p[o..o + 3].copy_from_slice(&v);
                }
            }
            Picture { format, width, height, planes: vec![p], strides: [stride, 0, 0] }
        }
        PixelFormat::I420 | PixelFormat::Nv12 => {
            let mut yp = vec![0u8; width * height];
            let mut u = vec![0u8; cw * ch];
            let mut v = vec![0u8; cw * ch];
            for y in 0..height {
                for x in 0..width {
                    let c = yuv(px(x, y));
                    yp[y * width + x] = c[0];
                    if x % 2 == 0 && y % 2 == 0 {
                        u[(y / 2) * cw + x / 2] = c[1];
                        v[(y / 2) * cw + x / 2] = c[2];
                    }
                }
            }
            if format == PixelFormat::I420 {
                Picture { format, width, height, planes: vec![yp, u, v], strides: [width, cw, cw] }
            } else {
                let uv = u.iter().zip(&v).flat_map(|(a, b)| [*a, *b]).collect();
                Picture { format, width, height, planes: vec![yp, uv], strides: [width, cw * 2, 0] }
            }
        }
    }
}
