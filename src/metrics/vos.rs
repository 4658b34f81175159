//! DAVIS-2017 region (J) and boundary (F) measures.
//!
//! J = IoU (1 when both masks are empty). F = F-measure between the two masks' boundary
//! maps, a boundary pixel counting as matched when the other boundary lies within
//! ceil(0.008 x image diagonal) pixels (a disk), as in the DAVIS evaluation code.
use crate::mask::Mask;

/// Region similarity: IoU, defined as 1 when both masks are empty (DAVIS).
pub fn j_measure(pred: &Mask, gt: &Mask) -> f64 {
    let (i, u) = pred.inter_union(gt);
    if u == 0 {
        1.0
    } else {
        i as f64 / u as f64
    }
}

/// Boundary tolerance in pixels for an image: ceil(0.008 x diagonal).
pub fn boundary_tolerance(width: usize, height: usize) -> usize {
    (0.008 * ((width * width + height * height) as f64).sqrt()).ceil() as usize
}

/// Boundary map (DAVIS `seg2bmap` at the mask's own size): a pixel is on the boundary when
/// it differs from its right, lower or lower-right neighbour (last row / column: from the
/// right / lower neighbour only; the bottom-right pixel never).
pub fn boundary_map(m: &Mask) -> Vec<bool> {
    let (w, h) = (m.width, m.height);
    let at = |x: usize, y: usize| x < w && y < h && m.get(x, y);
    let mut b = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let s = at(x, y);
            let (e, so, se) = (at(x + 1, y), at(x, y + 1), at(x + 1, y + 1));
            b[y * w + x] = if y == h - 1 && x == w - 1 {
                false
            } else if y == h - 1 {
                s ^ e
            } else if x == w - 1 {
                s ^ so
            } else {
                (s ^ e) | (s ^ so) | (s ^ se)
            };
        }
    }
    b
}

/// Dilates a boolean map by a disk of radius r (offsets with dx^2 + dy^2 <= r^2).
fn dilate(b: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let r = r as isize;
    let offsets: Vec<(isize, isize)> =
        (-r..=r).flat_map(|dy| (-r..=r).map(move |dx| (dx, dy))).filter(|(dx, dy)| dx * dx + dy * dy <= r * r).collect();
    let mut out = vec![false; w * h];
    for y in 0..h as isize {
        for x in 0..w as isize {
            if !b[(y * w as isize + x) as usize] {
                continue;
            }
            for &(dx, dy) in &offsets {
                let (nx, ny) = (x + dx, y + dy);
                if nx >= 0 && ny >= 0 && (nx as usize) < w && (ny as usize) < h {
                    out[ny as usize * w + nx as usize] = true;
                }
            }
        }
    }
    out
}

/// Boundary F-measure with the DAVIS conventions for empty boundaries.
pub fn f_measure(pred: &Mask, gt: &Mask) -> f64 {
    let (w, h) = (gt.width, gt.height);
    let r = boundary_tolerance(w, h);
    let (bp, bg) = (boundary_map(pred), boundary_map(gt));
    let (np, ng) = (bp.iter().filter(|&&v| v).count(), bg.iter().filter(|&&v| v).count());
    let (precision, recall) = match (np, ng) {
        (0, 0) => (1.0, 1.0),
        (0, _) => (1.0, 0.0),
        (_, 0) => (0.0, 1.0),
        _ => {
            let (dp, dg) = (dilate(&bp, w, h, r), dilate(&bg, w, h, r));
            let pm = bp.iter().zip(&dg).filter(|(a, b)| **a && **b).count();
            let gm = bg.iter().zip(&dp).filter(|(a, b)| **a && **b).count();
            (pm as f64 / np as f64, gm as f64 / ng as f64)
        }
    };
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// Per-object means and the dataset J&F (DAVIS: mean over objects of each object's mean).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JfSummary {
    pub j: f64,
    pub f: f64,
    pub jf: f64,
    pub objects: usize,
    /// 95 % interval of `jf`, resampling whole videos (`bootstrap::mean_ci95`).
    pub jf_ci95: Option<(f64, f64)>,
}

/// Accumulates per-object J and F means.
#[derive(Debug, Default)]
pub struct JfAccumulator {
    j: Vec<f64>,
    f: Vec<f64>,
    /// Video of each object, for the interval.
    video: Vec<u64>,
}

impl JfAccumulator {
    /// Adds one object of `video`: its frames' (pred, gt) pairs; an object with no frame is
    /// ignored.
    pub fn add_object<'a>(&mut self, video: u64, frames: impl IntoIterator<Item = (&'a Mask, &'a Mask)>) {
        let (mut sj, mut sf, mut n) = (0.0, 0.0, 0usize);
        for (p, g) in frames {
            sj += j_measure(p, g);
            sf += f_measure(p, g);
            n += 1;
        }
        if n > 0 {
            self.j.push(sj / n as f64);
            self.f.push(sf / n as f64);
            self.video.push(video);
        }
    }

    pub fn summary(&self) -> JfSummary {
        let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
        let (j, f) = (mean(&self.j), mean(&self.f));
        let jf: Vec<f64> = self.j.iter().zip(&self.f).map(|(j, f)| (j + f) / 2.0).collect();
        let jf_ci95 = super::bootstrap::mean_ci95(&jf, &self.video, 0);
        JfSummary { j, f, jf: (j + f) / 2.0, objects: self.j.len(), jf_ci95 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::rect;

    #[test]
    fn tolerance_is_ceil_of_diagonal_fraction() {
        assert_eq!(boundary_tolerance(128, 128), 2); // 181.02 * .008 = 1.448
        assert_eq!(boundary_tolerance(640, 480), 7); // 800 * .008 = 6.4
    }

    #[test]
    fn boundary_of_a_square_is_its_xor_edge() {
        // 3x3 square at (1..4, 1..4) in 6x6: boundary = pixels differing from E/S/SE neighbours.
        let m = rect(6, 6, 1, 1, 4, 4);
        let b = boundary_map(&m);
        let on: Vec<(usize, usize)> = (0..36).filter(|&i| b[i]).map(|i| (i % 6, i / 6)).collect();
        // Row 0: (0,0) sees SE=(1,1) on; (1,0),(2,0),(3,0) see S on. Column 0 similarly.
        let want = vec![(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (3, 1), (0, 2), (3, 2), (0, 3), (1, 3), (2, 3), (3, 3)];
        assert_eq!(on, want);
    }

    #[test]
    fn f_is_one_for_identical_and_drops_with_distance() {
        let a = rect(64, 64, 10, 10, 30, 30);
        assert_eq!(f_measure(&a, &a), 1.0);
        // Tolerance for 64x64 is ceil(90.5 * .008) = 1: a 1-px shift keeps F = 1, 5 px does not.
        assert_eq!(f_measure(&rect(64, 64, 11, 10, 31, 30), &a), 1.0);
        let far = f_measure(&rect(64, 64, 15, 10, 35, 30), &a);
        assert!(far < 0.6 && far > 0.0, "{far}");
        assert_eq!(f_measure(&Mask::new(64, 64), &Mask::new(64, 64)), 1.0);
        assert_eq!(f_measure(&Mask::new(64, 64), &a), 0.0);
        assert_eq!(j_measure(&Mask::new(4, 4), &Mask::new(4, 4)), 1.0);
    }

    #[test]
    fn summary_averages_objects_then_measures() {
        let a = rect(16, 16, 2, 2, 10, 10);
        let e = Mask::new(16, 16);
        let mut acc = JfAccumulator::default();
        acc.add_object(1, [(&a, &a), (&e, &a)]); // J: 1, 0 -> .5; F: 1, 0 -> .5
        acc.add_object(2, [(&a, &a)]); // 1, 1
        let s = acc.summary();
        assert_eq!((s.j, s.f, s.jf, s.objects), (0.75, 0.75, 0.75, 2));
        // Two videos of one object each: a resample is {.5, .5}, {1, 1} or a mix.
        assert_eq!(s.jf_ci95, Some((0.5, 1.0)));
    }
}
