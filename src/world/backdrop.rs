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
    noise_sigma: f32,
    /// Mix factor of a 3x3 binomial blur (0 = sharp).
    blur: f32,
    gain_amp: f32,
    gain_period: f32,
    gain_phase: f32,
    slope: f32,
    slope_turn: f32,
    slope_phase: f32,
    noise_seed: u64,
}

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
        let noise = if hard { (4.0, 9.0) } else { (1.5, 6.0) };
        Backdrop {
            width,
            height,
            base,
            noise_sigma: rng.range(noise.0, noise.1),
            blur: if rng.chance(0.5) { rng.range(0.2, 0.8) } else { 0.0 },
            gain_amp: rng.range(0.03, 0.15),
            gain_period: rng.range(60.0, 240.0),
            gain_phase: rng.angle(),
            slope: rng.range(0.0, 0.2),
            slope_turn: rng.range(-0.02, 0.02),
            slope_phase: rng.angle(),
            noise_seed: rng.next_u64(),
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
        let seed = mix(self.noise_seed ^ frame.wrapping_mul(0x9E37_79B9));
        let (cx, cy) = (self.width as f32 / 2.0, self.height as f32 / 2.0);
        for y in 0..self.height {
            let row_gain = gain * (1.0 + gy * (y as f32 - cy));
            for x in 0..self.width {
                let g = row_gain + gain * gx * (x as f32 - cx);
                let i = y * self.width + x;
                let h = mix(seed ^ i as u64);
                for c in 0..3 {
                    // Sum of two uniforms: triangular noise with the given standard deviation.
                    let bits = h >> (c * 20);
                    let n = ((bits & 0x3ff) as f32 + ((bits >> 10) & 0x3ff) as f32) / 1023.0 - 1.0;
                    let v = canvas[i * 3 + c] * g + n * self.noise_sigma * 2.449;
                    out[i * 3 + c] = v.clamp(0.0, 255.0).round() as u8;
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
fn blur3(img: &mut [f32], tmp: &mut [f32], w: usize, h: usize, amount: f32) {
    let at = |x: isize, lim: usize| x.clamp(0, lim as isize - 1) as usize;
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let l = img[(y * w + at(x as isize - 1, w)) * 3 + c];
                let r = img[(y * w + at(x as isize + 1, w)) * 3 + c];
                tmp[(y * w + x) * 3 + c] = 0.25 * l + 0.5 * img[(y * w + x) * 3 + c] + 0.25 * r;
            }
        }
    }
    for y in 0..h {
        let (yu, yd) = (at(y as isize - 1, h), at(y as isize + 1, h));
        for x in 0..w {
            for c in 0..3 {
                let b = 0.25 * tmp[(yu * w + x) * 3 + c] + 0.5 * tmp[(y * w + x) * 3 + c] + 0.25 * tmp[(yd * w + x) * 3 + c];
                let i = (y * w + x) * 3 + c;
                img[i] += amount * (b - img[i]);
            }
        }
    }
}
