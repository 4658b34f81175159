//! Mask logits -> binary mask at the output size, and its box.
//!
//! The CPU reference twin of `cuda/postprocess.cu`: bilinear upsampling of the
//! [h4, w4] logit map (half-pixel centres) followed by `logit > 0`. Thresholding after
//! interpolation gives smooth edges instead of 4x4 blocks.
//!
//! A bilinear value is a convex combination of its 4 taps, so it can only be > 0 where a tap
//! is a positive cell: only the output pixels whose taps touch the positive cells' box (the
//! [`Window`]) can be foreground. The CPU path computes only those (a 1080p mask is mostly a
//! memset); the GPU path computes only those and copies only them to the host
//! ([`MaskUpsampler::crop`] is the twin of that kernel, [`paste`] rebuilds the mask).
use super::bilinear::Axis;
use crate::mask::{BBox, Mask};

/// Reusable upsampling tables for one (logit size, output size) pair.
#[derive(Debug, Clone, Default)]
pub struct MaskUpsampler {
    xs: Axis,
    ys: Axis,
    /// One vertically blended logit row (reused).
    row: Vec<f32>,
}

/// The part of an output mask that can hold foreground: columns `x..x + w`, rows `y..y + h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Window {
    pub fn area(&self) -> usize {
        self.w * self.h
    }
}

impl MaskUpsampler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Output pixels of `logits` upsampled to `out_w` x `out_h` that can be foreground;
    /// `None` when none can (no positive cell, or none within reach of an output pixel).
    pub fn window(&mut self, logits: &[f32], (w4, h4): (usize, usize), (out_w, out_h): (usize, usize)) -> Option<Window> {
        assert_eq!(logits.len(), w4 * h4, "mask logits must be h4 * w4 values");
        self.xs.rebuild(w4, out_w);
        self.ys.rebuild(h4, out_h);
        let (cx0, cx1, cy0, cy1) = positive_cells(logits, w4)?;
        let x = self.xs.i1.partition_point(|&i| (i as usize) < cx0);
        let x_end = self.xs.i0.partition_point(|&i| i as usize <= cx1);
        let y = self.ys.i1.partition_point(|&i| (i as usize) < cy0);
        let y_end = self.ys.i0.partition_point(|&i| i as usize <= cy1);
        (x < x_end && y < y_end).then(|| Window { x, y, w: x_end - x, h: y_end - y })
    }

    /// Writes `logits` ([h4 * w4], row-major) upsampled to `out_w` x `out_h` and thresholded
    /// at 0 into `out` (its allocation is reused); returns the box of the foreground.
    pub fn run(&mut self, logits: &[f32], (w4, h4): (usize, usize), (out_w, out_h): (usize, usize), out: &mut Mask) -> Option<BBox> {
        out.width = out_w;
        out.height = out_h;
        out.data.clear();
        out.data.resize(out_w * out_h, 0);
        let win = self.window(logits, (w4, h4), (out_w, out_h))?;
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for oy in win.y..win.y + win.h {
            self.blend_row(logits, w4, oy);
            let row = &mut out.data[oy * out_w..(oy + 1) * out_w];
            let mut any = false;
            for (ox, px) in row.iter_mut().enumerate().skip(win.x).take(win.w) {
                let on = self.at(ox);
                *px = on as u8;
                any |= on;
            }
            if any {
                let first = row.iter().position(|&p| p != 0).unwrap_or(0);
                let last = row.iter().rposition(|&p| p != 0).unwrap_or(0);
                (x0, x1, y0, y1) = (x0.min(first), x1.max(last), y0.min(oy), y1.max(oy));
            }
        }
        (x0 != usize::MAX).then(|| BBox::spanning(x0, y0, x1, y1))
    }

    /// CPU twin of `upsample_threshold_window` (cuda/postprocess.cu): the pixels of `win`
    /// (from [`Self::window`] for the same sizes), row-major, `win.w` bytes per row.
    pub fn crop(&mut self, logits: &[f32], (w4, h4): (usize, usize), (out_w, out_h): (usize, usize), win: Window, out: &mut Vec<u8>) {
        assert_eq!(logits.len(), w4 * h4, "mask logits must be h4 * w4 values");
        self.xs.rebuild(w4, out_w);
        self.ys.rebuild(h4, out_h);
        out.clear();
        for oy in win.y..win.y + win.h {
            self.blend_row(logits, w4, oy);
            out.extend((win.x..win.x + win.w).map(|ox| self.at(ox) as u8));
        }
    }

    /// Vertical blend of output row `oy` once (w4 values); [`Self::at`] lerps along it.
    fn blend_row(&mut self, logits: &[f32], w4: usize, oy: usize) {
        let (r0, r1, wy) = (self.ys.i0[oy] as usize * w4, self.ys.i1[oy] as usize * w4, self.ys.w[oy]);
        self.row.clear();
        self.row.extend((0..w4).map(|c| logits[r0 + c] + (logits[r1 + c] - logits[r0 + c]) * wy));
    }

    fn at(&self, ox: usize) -> bool {
        let (c0, c1, wx) = (self.xs.i0[ox] as usize, self.xs.i1[ox] as usize, self.xs.w[ox]);
        self.row[c0] + (self.row[c1] - self.row[c0]) * wx > 0.0
    }
}

/// Rebuilds an `out_w` x `out_h` mask from a window's pixels (`crop`'s layout: `win.w`
/// per row; zero elsewhere) and returns the foreground's tight box. Used on the GPU path
/// after the window came down from the device.
pub fn paste(win: Window, pixels: &[u8], (out_w, out_h): (usize, usize), out: &mut Mask) -> Option<BBox> {
    assert!(win.x + win.w <= out_w && win.y + win.h <= out_h && pixels.len() == win.area(), "window outside the mask");
    out.width = out_w;
    out.height = out_h;
    out.data.clear();
    out.data.resize(out_w * out_h, 0);
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (r, src) in pixels.chunks(win.w.max(1)).enumerate() {
        let oy = win.y + r;
        out.data[oy * out_w + win.x..oy * out_w + win.x + win.w].copy_from_slice(src);
        if let (Some(a), Some(b)) = (src.iter().position(|&p| p != 0), src.iter().rposition(|&p| p != 0)) {
            (x0, x1, y0, y1) = (x0.min(win.x + a), x1.max(win.x + b), y0.min(oy), y1.max(oy));
        }
    }
    (x0 != usize::MAX).then(|| BBox::spanning(x0, y0, x1, y1))
}

/// Box (x0, x1, y0, y1), inclusive, of the cells with a positive logit.
fn positive_cells(logits: &[f32], w: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut x1, mut y0, mut y1) = (usize::MAX, 0, usize::MAX, 0);
    for (i, _) in logits.iter().enumerate().filter(|(_, &v)| v > 0.0) {
        let (x, y) = (i % w, i / w);
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    (x0 != usize::MAX).then_some((x0, x1, y0, y1))
}
