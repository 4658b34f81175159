//! Everything that is not an object: a low-contrast cluttered background (blobs and lines
//! that must not be segmented), and the camera effects applied to the whole frame
//! (blur, illumination drift, sensor noise).
use super::rng::{mix, Rng};

#[derive(Debug, Clone)]
pub struct Backdrop {
    width: usize,
    height: usize,
    /// Static background, RGB f32, computed once per world.
    base: Vec<f32>,
    /// Mix factor of a 3x3 binomial blur (0 = sharp).
    blur: f32,
    gain_amp: f32,
    gain_period: f32,
    gain_phase: f32,
    slope: f32,
    slope_turn: f32,
    slope_phase: f32,
    noise_seed: u64,
    /// Zero-mean noise samples with the world's standard deviation.
    noise: Vec<f32>,
}

const NOISE_LEN: usize = 1 << 16;

impl Backdrop {
    pub fn new(rng: &mut Rng, width: usize, height: usize, hard: bool) -> Backdrop {
        let mut base = vec![0.0; width * height * 3];
        let grey = rng.range(80.0, 170.0);
        let tint = [rng.range(-12.0, 12.0), rng.range(-12.0, 12.0), rng.range(-12.0, 12.0)];
        for px in base.chunks_exact_mut(3) {
            for c in 0..3 {
                px[c] = grey + tint[c];
            }
        }
        let s = width.min(height) as f32;
        for _ in 0..6 + rng.below(9) {
            add_blob(&mut base, width, height, rng, s);
        }
        for _ in 0..3 + rng.below(6) {
            add_line(&mut base, width, height, rng, s);
        }
        let sigma = if hard { rng.range(4.0, 9.0) } else { rng.range(1.5, 6.0) };
        // Sum of two uniforms: triangular noise, scaled to standard deviation `sigma`.
        let noise = (0..NOISE_LEN).map(|_| (rng.unit() + rng.unit() - 1.0) * sigma * 2.449).collect();
        Backdrop {
            width,
            height,
            base,
            blur: if rng.chance(0.5) { rng.range(0.2, 0.8) } else { 0.0 },
            gain_amp: rng.range(0.03, 0.15),
            gain_period: rng.range(60.0, 240.0),
            gain_phase: rng.angle(),
            slope: rng.range(0.0, 0.2),
            slope_turn: rng.range(-0.02, 0.02),
            slope_phase: rng.angle(),
            noise_seed: rng.next_u64(),
            noise,
        }
    }

    pub fn base(&self) -> &[f32] {
        &self.base
    }

    /// Camera effects on the composited canvas, then quantisation into `out` (RGB8).
    pub fn finish(&self, frame: u64, canvas: &mut [f32], tmp: &mut [f32], out: &mut [u8]) {
        if self.blur > 0.0 {
            blur3(canvas, tmp, self.width, self.height, self.blur);
        }
        let t = frame as f32;
        let gain = 1.0 + self.gain_amp * (std::f32::consts::TAU * t / self.gain_period + self.gain_phase).sin();
        let a = self.slope_phase + self.slope_turn * t;
        let (gx, gy) = (self.slope * a.cos() / self.width as f32, self.slope * a.sin() / self.height as f32);
        // Noise: a per-frame random odd-stride walk through the world's noise table, so every
        // frame gets a different pattern for the cost of a table lookup per sample.
        let h = mix(self.noise_seed ^ frame.wrapping_mul(0x9E37_79B9));
        let (mut k, stride) = (h as usize, ((h >> 32) as usize) | 1);
        let (cx, cy) = (self.width as f32 / 2.0, self.height as f32 / 2.0);
        let row = self.width * 3;
        for (y, (src, dst)) in canvas.chunks_exact(row).zip(out.chunks_exact_mut(row)).enumerate() {
            let row_gain = gain * (1.0 + gy * (y as f32 - cy));
            for (x, (p, o)) in src.chunks_exact(3).zip(dst.chunks_exact_mut(3)).enumerate() {
                let g = row_gain + gain * gx * (x as f32 - cx);
                for c in 0..3 {
                    k = k.wrapping_add(stride);
                    let v = p[c] * g + self.noise[k & (NOISE_LEN - 1)];
                    // Round half up; `as` saturates and the clamp keeps the value in range.
                    o[c] = (v.clamp(0.0, 255.0) + 0.5) as u8;
                }
            }
        }
    }
}

/// Soft low-contrast blob: brightness change falling smoothly to zero at its radius.
fn add_blob(base: &mut [f32], w: usize, h: usize, rng: &mut Rng, s: f32) {
    let (cx, cy, r) = (rng.range(0.0, w as f32), rng.range(0.0, h as f32), rng.range(0.05, 0.25) * s);
    let d = rng.range(8.0, 22.0) * if rng.chance(0.5) { 1.0 } else { -1.0 };
    let tint = [rng.range(0.7, 1.3), rng.range(0.7, 1.3), rng.range(0.7, 1.3)];
    let (x0, x1) = (((cx - r).floor().max(0.0)) as usize, ((cx + r).ceil().max(0.0) as usize).min(w));
    let (y0, y1) = (((cy - r).floor().max(0.0)) as usize, ((cy + r).ceil().max(0.0) as usize).min(h));
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = ((x as f32 + 0.5 - cx) / r, (y as f32 + 0.5 - cy) / r);
            let q = 1.0 - (dx * dx + dy * dy);
            if q > 0.0 {
                for c in 0..3 {
                    base[(y * w + x) * 3 + c] += d * tint[c] * q * q;
                }
            }
        }
    }
}

/// Thin straight low-contrast line segment with soft edges.
fn add_line(base: &mut [f32], w: usize, h: usize, rng: &mut Rng, s: f32) {
    let (ax, ay) = (rng.range(0.0, w as f32), rng.range(0.0, h as f32));
    let (a, len) = (rng.angle(), rng.range(0.2, 0.8) * s);
    let (bx, by) = (ax + a.cos() * len, ay + a.sin() * len);
    let half = rng.range(0.5, 1.3);
    let d = rng.range(8.0, 20.0) * if rng.chance(0.5) { 1.0 } else { -1.0 };
    let (ux, uy) = (bx - ax, by - ay);
    let l2 = ux * ux + uy * uy;
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f32 + 0.5 - ax, y as f32 + 0.5 - ay);
            let t = ((px * ux + py * uy) / l2).clamp(0.0, 1.0);
            let (ex, ey) = (px - t * ux, py - t * uy);
            let k = (half + 0.5 - (ex * ex + ey * ey).sqrt()).clamp(0.0, 1.0);
            if k > 0.0 {
                for c in 0..3 {
                    base[(y * w + x) * 3 + c] += d * k;
                }
            }
        }
    }
}

/// In-place 3x3 binomial blur mixed with the original by `amount`; `tmp` is scratch.
/// Rows are processed as flat interleaved slices (neighbours 3 apart) so the inner loops
/// vectorise; borders repeat the edge pixel.
fn blur3(img: &mut [f32], tmp: &mut [f32], w: usize, h: usize, amount: f32) {
    let row = w * 3;
    for (src, dst) in img.chunks_exact(row).zip(tmp.chunks_exact_mut(row)) {
        if w < 2 {
            dst.copy_from_slice(src);
            continue;
        }
        for i in 3..row - 3 {
            dst[i] = 0.25 * (src[i - 3] + src[i + 3]) + 0.5 * src[i];
        }
        for c in 0..3 {
            dst[c] = 0.25 * src[c + 3] + 0.75 * src[c];
            dst[row - 3 + c] = 0.25 * src[row - 6 + c] + 0.75 * src[row - 3 + c];
        }
    }
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let (a, b, c) = (&tmp[up * row..(up + 1) * row], &tmp[y * row..(y + 1) * row], &tmp[down * row..(down + 1) * row]);
        let out = &mut img[y * row..(y + 1) * row];
        for i in 0..row {
            let blurred = 0.25 * (a[i] + c[i]) + 0.5 * b[i];
            out[i] += amount * (blurred - out[i]);
        }
    }
}
