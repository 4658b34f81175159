//! The parameter-free visual sampler (engine contract v1, "Visual sampler"): a binary mask
//! becomes R prompt tokens = 1/8-scale features at random cells inside the mask + a sine
//! positional encoding of the cell centre. Python training uses the same formula, so the
//! model sees the same token distribution at training and at inference.
use crate::mask::Mask;
use crate::tensor::Tensor;
use rand::rngs::SmallRng;
use rand::Rng;

/// Writes the positional encoding of a normalised position into `pe` (length C).
/// For k in 0..C/4: f_k = pi * 16^(k/(C/4)); pe[4k..4k+4] = sin/cos(f_k x), sin/cos(f_k y).
/// Channels past 4*(C/4) (C not a multiple of 4) get 0.
pub fn positional_encoding(xn: f32, yn: f32, pe: &mut [f32]) {
    let quarter = pe.len() / 4;
    pe.iter_mut().for_each(|v| *v = 0.0);
    for k in 0..quarter {
        let f = std::f32::consts::PI * 16f32.powf(k as f32 / quarter as f32);
        pe[4 * k] = (f * xn).sin();
        pe[4 * k + 1] = (f * xn).cos();
        pe[4 * k + 2] = (f * yn).sin();
        pe[4 * k + 3] = (f * yn).cos();
    }
}

/// Cells (i = row, j = column) of an h8 x w8 grid whose centre pixel is on in `mask`.
/// Falls back to the one cell holding the mask's centroid when no centre is on; an empty
/// mask gives no cell. The centroid is the mean of pixel centres (x + 0.5, y + 0.5).
pub fn in_cells(mask: &Mask, w8: usize, h8: usize, cells: &mut Vec<(usize, usize)>) {
    cells.clear();
    if mask.width == 0 || mask.height == 0 || w8 == 0 || h8 == 0 {
        return;
    }
    for i in 0..h8 {
        let py = ((i as f64 + 0.5) * mask.height as f64 / h8 as f64) as usize;
        for j in 0..w8 {
            let px = ((j as f64 + 0.5) * mask.width as f64 / w8 as f64) as usize;
            if mask.get(px.min(mask.width - 1), py.min(mask.height - 1)) {
                cells.push((i, j));
            }
        }
    }
    if cells.is_empty() {
        if let Some((cx, cy)) = centroid(mask) {
            let j = ((cx * w8 as f64 / mask.width as f64) as usize).min(w8 - 1);
            let i = ((cy * h8 as f64 / mask.height as f64) as usize).min(h8 - 1);
            cells.push((i, j));
        }
    }
}

/// Mean of the on pixels' centres, `None` for an empty mask.
fn centroid(mask: &Mask) -> Option<(f64, f64)> {
    let (mut sx, mut sy, mut n) = (0f64, 0f64, 0u64);
    for y in 0..mask.height {
        for x in 0..mask.width {
            if mask.get(x, y) {
                sx += x as f64 + 0.5;
                sy += y as f64 + 0.5;
                n += 1;
            }
        }
    }
    (n > 0).then(|| (sx / n as f64, sy / n as f64))
}

/// Reusable buffers of the sampler (no allocation per call once warm). The positional
/// encoding of every cell is computed once per grid size: it is most of the sampling cost.
#[derive(Debug, Default)]
pub struct Sampler {
    /// Contract v2 `prompt_encoding = "gather"`: the token is the cell's channels as they
    /// are (the encoder already put the model's own positional encoding in them).
    pub gather_only: bool,
    cells: Vec<(usize, usize)>,
    /// [h8 * w8, C] encodings of the grid `grid`.
    pe: Vec<f32>,
    grid: (usize, usize, usize),
}

impl Sampler {
    /// Samples R = out.len() / C tokens from `mask` on `s8` ([C, h8, w8]) into `out`
    /// (row-major [R, C]). Returns false (and leaves `out` alone) for an empty mask.
    /// R cells are drawn uniformly from the "in" cells: with replacement when there are
    /// fewer than R of them, without replacement (partial Fisher-Yates) otherwise.
    pub fn sample(&mut self, mask: &Mask, s8: &Tensor, rng: &mut SmallRng, out: &mut [f32]) -> bool {
        let (c, h8, w8) = (s8.shape[0], s8.shape[1], s8.shape[2]);
        in_cells(mask, w8, h8, &mut self.cells);
        let n = self.cells.len();
        let r = out.len() / c.max(1);
        if n == 0 || r == 0 {
            return false;
        }
        if self.gather_only {
            for t in 0..r {
                let (i, j) = self.draw(t, r, rng);
                for (ch, tok) in out[t * c..(t + 1) * c].iter_mut().enumerate() {
                    *tok = s8.data[(ch * h8 + i) * w8 + j];
                }
            }
            return true;
        }
        if self.grid != (c, h8, w8) {
            self.pe.resize(h8 * w8 * c, 0.0);
            for i in 0..h8 {
                for j in 0..w8 {
                    let (xn, yn) = ((j as f32 + 0.5) / w8 as f32, (i as f32 + 0.5) / h8 as f32);
                    positional_encoding(xn, yn, &mut self.pe[(i * w8 + j) * c..(i * w8 + j + 1) * c]);
                }
            }
            self.grid = (c, h8, w8);
        }
        for t in 0..r {
            let (i, j) = self.draw(t, r, rng);
            let pe = &self.pe[(i * w8 + j) * c..(i * w8 + j + 1) * c];
            for (ch, (tok, p)) in out[t * c..(t + 1) * c].iter_mut().zip(pe).enumerate() {
                *tok = s8.data[(ch * h8 + i) * w8 + j] + p;
            }
        }
        true
    }

    /// The cell of token `t` of `r`: uniform from the "in" cells, with replacement when
    /// there are fewer than `r` of them, else without (partial Fisher-Yates).
    fn draw(&mut self, t: usize, r: usize, rng: &mut SmallRng) -> (usize, usize) {
        let n = self.cells.len();
        if n < r {
            self.cells[rng.gen_range(0..n)]
        } else {
            let k = rng.gen_range(t..n);
            self.cells.swap(t, k);
            self.cells[t]
        }
    }
}

/// Mask of a box prompt in model-input pixels (a box fills itself; clipped to the image).
pub fn box_mask(width: usize, height: usize, x: f32, y: f32, w: f32, h: f32) -> Mask {
    let mut m = Mask::new(width, height);
    fill_box(&mut m, x, y, w, h);
    m
}

/// Mask of point prompts: each point becomes a box of +-3 px (contract v1).
pub fn points_mask(width: usize, height: usize, points: &[(f32, f32)]) -> Mask {
    let mut m = Mask::new(width, height);
    for &(px, py) in points {
        fill_box(&mut m, px - 3.0, py - 3.0, 7.0, 7.0);
    }
    m
}

/// Turns on the pixels whose centre lies inside the box.
fn fill_box(m: &mut Mask, x: f32, y: f32, w: f32, h: f32) {
    if !(x.is_finite() && y.is_finite() && w.is_finite() && h.is_finite()) {
        return;
    }
    let x0 = (x - 0.5).ceil().max(0.0) as usize;
    let y0 = (y - 0.5).ceil().max(0.0) as usize;
    let x1 = ((x + w - 0.5).ceil().max(0.0) as usize).min(m.width);
    let y1 = ((y + h - 0.5).ceil().max(0.0) as usize).min(m.height);
    for yy in y0..y1 {
        for xx in x0..x1 {
            m.set(xx, yy, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pe_matches_independent_formula() {
        // Values computed by hand from the contract: C = 8 -> C/4 = 2, f_0 = pi, f_1 = 4 pi.
        let (xn, yn) = (0.25f64, 0.75f64);
        let pi = std::f64::consts::PI;
        let want = [
            (pi * xn).sin(),
            (pi * xn).cos(),
            (pi * yn).sin(),
            (pi * yn).cos(),
            (4.0 * pi * xn).sin(),
            (4.0 * pi * xn).cos(),
            (4.0 * pi * yn).sin(),
            (4.0 * pi * yn).cos(),
        ];
        let mut pe = [9.0f32; 8];
        positional_encoding(0.25, 0.75, &mut pe);
        for (a, b) in pe.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-6, "{pe:?}");
        }
        // sin(pi/4) = 0.70710678, cos(4pi*0.75) = cos(3pi) = -1: literal spot checks.
        assert!((pe[0] - 0.707_106_77).abs() < 1e-6);
        assert!((pe[7] + 1.0).abs() < 1e-6);
    }

    #[test]
    fn cell_rule_reads_cell_centres_and_falls_back_to_centroid() {
        // 16x16 mask, 4x4 grid: cell (i, j) reads pixel (floor((j+.5)*4), floor((i+.5)*4)) = (4j+2, 4i+2).
        let mut m = Mask::new(16, 16);
        m.set(6, 10, true); // centre of cell (i=2, j=1)
        m.set(7, 10, true); // not a centre
        let mut cells = Vec::new();
        in_cells(&m, 4, 4, &mut cells);
        assert_eq!(cells, vec![(2, 1)]);
        // Only an off-centre pixel (13, 1): centroid (13.5, 1.5) lies in cell (i=0, j=3).
        let mut m = Mask::new(16, 16);
        m.set(13, 1, true);
        in_cells(&m, 4, 4, &mut cells);
        assert_eq!(cells, vec![(0, 3)]);
        in_cells(&Mask::new(16, 16), 4, 4, &mut cells);
        assert!(cells.is_empty());
    }

    #[test]
    fn tokens_are_feature_plus_pe_at_in_cells() {
        let (c, h8, w8) = (8, 4, 4);
        let mut s8 = Tensor::zeros(&[c, h8, w8]);
        for (k, v) in s8.data.iter_mut().enumerate() {
            *v = k as f32;
        }
        let mut m = Mask::new(16, 16);
        for (x, y) in [(2, 2), (14, 6)] {
            m.set(x, y, true); // cells (0,0) and (1,3)
        }
        let mut rng = SmallRng::seed_from_u64(1);
        let mut out = vec![0.0; 5 * c];
        assert!(Sampler::default().sample(&m, &s8, &mut rng, &mut out));
        let mut pe = vec![0.0; c];
        for t in 0..5 {
            let tok = &out[t * c..(t + 1) * c];
            // Identify the cell from channel 0 (feature value = i*w8+j, pe[0] in [-1, 1]).
            let cell = [(0usize, 0usize), (1, 3)].into_iter().find(|&(i, j)| {
                positional_encoding((j as f32 + 0.5) / 4.0, (i as f32 + 0.5) / 4.0, &mut pe);
                (0..c).all(|ch| (tok[ch] - (s8.data[(ch * h8 + i) * w8 + j] + pe[ch])).abs() < 1e-5)
            });
            assert!(cell.is_some(), "token {t} is not from an in-cell");
        }
    }

    #[test]
    fn gather_tokens_are_the_cells_channels_exactly() {
        let (c, h8, w8) = (6, 4, 4);
        let mut s8 = Tensor::zeros(&[c, h8, w8]);
        for (k, v) in s8.data.iter_mut().enumerate() {
            *v = k as f32;
        }
        let mut m = Mask::new(16, 16);
        for (x, y) in [(2, 2), (14, 6)] {
            m.set(x, y, true); // cells (0,0) and (1,3)
        }
        let mut sampler = Sampler { gather_only: true, ..Default::default() };
        let mut out = vec![0.0; 5 * c];
        assert!(sampler.sample(&m, &s8, &mut SmallRng::seed_from_u64(1), &mut out));
        for t in 0..5 {
            let tok = &out[t * c..(t + 1) * c];
            let cell = [(0usize, 0usize), (1, 3)].into_iter().find(|&(i, j)| (0..c).all(|ch| tok[ch] == s8.data[(ch * h8 + i) * w8 + j]));
            assert!(cell.is_some(), "token {t} = {tok:?} is not an in-cell's channels");
        }
        // The same draw as the sine sampler: only the encoding differs.
        let mut sine = vec![0.0; 5 * c];
        assert!(Sampler::default().sample(&m, &s8, &mut SmallRng::seed_from_u64(1), &mut sine));
        assert!((0..5).all(|t| (out[t * c] - sine[t * c]).abs() <= 1.0), "{out:?} vs {sine:?}");
    }

    #[test]
    fn without_replacement_when_enough_cells() {
        let (c, h8, w8) = (4, 4, 4);
        let mut s8 = Tensor::zeros(&[c, h8, w8]);
        for i in 0..h8 * w8 {
            s8.data[i] = 100.0 * i as f32; // channel 0 identifies the cell
        }
        let m = box_mask(16, 16, 0.0, 0.0, 16.0, 16.0);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut out = vec![0.0; 16 * c];
        Sampler::default().sample(&m, &s8, &mut rng, &mut out);
        let mut ids: Vec<i32> = (0..16).map(|t| (out[t * c] / 100.0).round() as i32).collect();
        ids.sort();
        assert_eq!(ids, (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn box_and_points_prompts() {
        let b = box_mask(32, 32, 4.0, 6.0, 10.0, 3.0);
        assert_eq!(b.bbox(), Some(crate::mask::BBox { x: 4.0, y: 6.0, w: 10.0, h: 3.0 }));
        let p = points_mask(32, 32, &[(10.0, 10.0)]);
        assert_eq!(p.area(), 49);
        assert_eq!(points_mask(32, 32, &[(f32::NAN, 1.0)]).area(), 0);
    }
}
