//! Mask logits -> binary mask at the output size, and its box.
//!
//! The CPU reference twin of `cuda/postprocess.cu`: bilinear upsampling of the
//! [h4, w4] logit map (half-pixel centres) followed by `logit > 0`. Thresholding after
//! interpolation gives smooth edges instead of 4x4 blocks.
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

impl MaskUpsampler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `logits` ([h4 * w4], row-major) upsampled to `out_w` x `out_h` and thresholded
    /// at 0 into `out` (its allocation is reused); returns the box of the foreground.
    pub fn run(&mut self, logits: &[f32], (w4, h4): (usize, usize), (out_w, out_h): (usize, usize), out: &mut Mask) -> Option<BBox> {
        assert_eq!(logits.len(), w4 * h4, "mask logits must be h4 * w4 values");
        self.xs.rebuild(w4, out_w);
        self.ys.rebuild(h4, out_h);
        out.width = out_w;
        out.height = out_h;
        out.data.clear();
        out.data.resize(out_w * out_h, 0);
        // A bilinear value is a convex combination of its 4 taps, so it can only be > 0 where
        // a tap is a positive cell: only output pixels whose taps touch the positive cells'
        // box are computed (objects are small; a 1080p mask is mostly a memset).
        let (cx0, cx1, cy0, cy1) = positive_cells(logits, w4)?;
        let xr = self.xs.i1.partition_point(|&i| (i as usize) < cx0)..self.xs.i0.partition_point(|&i| i as usize <= cx1);
        let yr = self.ys.i1.partition_point(|&i| (i as usize) < cy0)..self.ys.i0.partition_point(|&i| i as usize <= cy1);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for oy in yr {
            // Vertical blend once per output row (w4 values), then one lerp per pixel.
            let (r0, r1, wy) = (self.ys.i0[oy] as usize * w4, self.ys.i1[oy] as usize * w4, self.ys.w[oy]);
            self.row.clear();
            self.row.extend((0..w4).map(|c| logits[r0 + c] + (logits[r1 + c] - logits[r0 + c]) * wy));
            let row = &mut out.data[oy * out_w..(oy + 1) * out_w];
            let mut any = false;
            for ox in xr.clone() {
                let (c0, c1, wx) = (self.xs.i0[ox] as usize, self.xs.i1[ox] as usize, self.xs.w[ox]);
                let on = self.row[c0] + (self.row[c1] - self.row[c0]) * wx > 0.0;
                row[ox] = on as u8;
                any |= on;
            }
            if any {
                let first = row.iter().position(|&p| p != 0).unwrap_or(0);
                let last = row.iter().rposition(|&p| p != 0).unwrap_or(0);
                (x0, x1, y0, y1) = (x0.min(first), x1.max(last), y0.min(oy), y1.max(oy));
            }
        }
        (x0 != usize::MAX).then(|| BBox { x: x0 as f32, y: y0 as f32, w: (x1 - x0 + 1) as f32, h: (y1 - y0 + 1) as f32 })
    }
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
