//! Keeps the parts of a prompt query's mask that continue the target's last mask.
//!
//! With look-alike objects (same shape and texture) a target's prompt query can segment its
//! own object and a twin elsewhere in the frame; the twin then has no target of its own and
//! is missed on every frame (docs/TRACKING.md). Objects move little from one frame to the
//! next, so a connected part of the new mask that comes nowhere near the last mask is the
//! twin, not the target. Written by hand: a 4-connected flood fill on the 1/4-resolution
//! grid (a few thousand cells); an image-processing crate would be a large dependency for it.
use crate::mask::Mask;

/// Reusable buffers (no allocation per frame once grown).
#[derive(Debug, Default, Clone)]
pub struct PartFilter {
    near: Vec<bool>,
    label: Vec<u32>,
    stack: Vec<usize>,
    parts: Vec<bool>,
}

impl PartFilter {
    /// Sets to `off` the logits of each connected part (cells with logit > 0, 4-connected)
    /// with no cell within `reach` cells (Chebyshev distance) of a cell of `last`. When no
    /// part is near `last`, nothing is removed: the target moved far or came back elsewhere,
    /// and the consistency check decides. Returns the number of cells removed.
    pub fn keep_continuing(&mut self, logits: &mut [f32], w: usize, h: usize, last: &Mask, reach: usize, off: f32) -> usize {
        if last.width != w || last.height != h || logits.len() != w * h {
            return 0;
        }
        self.dilate(last, reach);
        let n = self.label_parts(logits, w, h);
        if n < 2 {
            return 0;
        }
        self.parts.clear();
        self.parts.resize(n, false);
        for (c, &l) in self.label.iter().enumerate() {
            if l > 0 && self.near[c] {
                self.parts[l as usize - 1] = true;
            }
        }
        if !self.parts.iter().any(|&p| p) {
            return 0;
        }
        let mut removed = 0;
        for (v, &l) in logits.iter_mut().zip(&self.label) {
            if l > 0 && !self.parts[l as usize - 1] {
                *v = off;
                removed += 1;
            }
        }
        removed
    }

    /// The connected parts of `mask` with at least `min_cells` cells each, as separate masks,
    /// when there are two or more of them (else empty: the mask is one object).
    pub fn split(&mut self, mask: &Mask, min_cells: usize) -> Vec<Mask> {
        let (w, h) = (mask.width, mask.height);
        let on: Vec<f32> = mask.data.iter().map(|&v| if v != 0 { 1.0 } else { -1.0 }).collect();
        let n = self.label_parts(&on, w, h);
        let mut sizes = vec![0usize; n];
        self.label.iter().filter(|&&l| l > 0).for_each(|&l| sizes[l as usize - 1] += 1);
        let big: Vec<u32> = (0..n).filter(|&k| sizes[k] >= min_cells).map(|k| k as u32 + 1).collect();
        if big.len() < 2 {
            return Vec::new();
        }
        big.iter()
            .map(|&l| {
                let mut m = Mask::new(w, h);
                m.data.iter_mut().zip(&self.label).for_each(|(v, &lab)| *v = (lab == l) as u8);
                m
            })
            .collect()
    }

    /// `near[c]`: some cell of `last` lies within `reach` cells of c (box dilation).
    fn dilate(&mut self, last: &Mask, reach: usize) {
        let (w, h) = (last.width, last.height);
        self.near.clear();
        self.near.resize(w * h, false);
        for y in 0..h {
            for x in 0..w {
                if last.data[y * w + x] == 0 {
                    continue;
                }
                for yy in y.saturating_sub(reach)..(y + reach + 1).min(h) {
                    self.near[yy * w + x.saturating_sub(reach)..yy * w + (x + reach + 1).min(w)].fill(true);
                }
            }
        }
    }

    /// Labels the 4-connected parts of logit > 0 with 1..=n; returns n.
    fn label_parts(&mut self, logits: &[f32], w: usize, h: usize) -> usize {
        self.label.clear();
        self.label.resize(w * h, 0);
        let mut n = 0u32;
        for start in 0..w * h {
            if logits[start] <= 0.0 || self.label[start] != 0 {
                continue;
            }
            n += 1;
            self.label[start] = n;
            self.stack.push(start);
            while let Some(c) = self.stack.pop() {
                let (x, y) = (c % w, c / w);
                let neighbours = [(x > 0).then(|| c - 1), (x + 1 < w).then(|| c + 1), (y > 0).then(|| c - w), (y + 1 < h).then(|| c + w)];
                for nb in neighbours.into_iter().flatten() {
                    if logits[nb] > 0.0 && self.label[nb] == 0 {
                        self.label[nb] = n;
                        self.stack.push(nb);
                    }
                }
            }
        }
        n as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8 x 4 grid: logits > 0 where `rows` has '#'.
    fn grid(rows: &[&str]) -> Vec<f32> {
        rows.iter().flat_map(|r| r.chars().map(|c| if c == '#' { 1.0 } else { -1.0 })).collect()
    }

    fn mask(rows: &[&str]) -> Mask {
        let mut m = Mask::new(rows[0].len(), rows.len());
        for (y, r) in rows.iter().enumerate() {
            for (x, c) in r.chars().enumerate() {
                m.set(x, y, c == '#');
            }
        }
        m
    }

    #[test]
    fn a_part_far_from_the_last_mask_is_removed_and_the_near_one_kept() {
        let mut logits = grid(&["##....##", "##....##", "........", "........"]);
        let last = mask(&["#.......", "........", "........", "........"]);
        let removed = PartFilter::default().keep_continuing(&mut logits, 8, 4, &last, 1, -10.0);
        assert_eq!(removed, 4);
        let mut want = grid(&["##......", "##......", "........", "........"]);
        for c in [6, 7, 14, 15] {
            want[c] = -10.0;
        }
        assert_eq!(logits, want);
    }

    #[test]
    fn reach_counts_cells_near_the_last_mask_and_nothing_goes_when_no_part_is_near() {
        // The last mask's cell at x = 2 is 1 cell from the left part, 3 from the right one.
        let last = mask(&["..#.....", "........", "........", "........"]);
        let parts = ["##...##.", "........", "........", "........"];
        let mut logits = grid(&parts);
        assert_eq!(PartFilter::default().keep_continuing(&mut logits, 8, 4, &last, 3, -10.0), 0, "both parts within 3 cells");
        let mut logits = grid(&parts);
        assert_eq!(PartFilter::default().keep_continuing(&mut logits, 8, 4, &last, 1, -10.0), 2, "reach 1: only the left part is near");
        let far = mask(&["........", "........", "........", "...#...."]);
        let mut logits = grid(&parts);
        assert_eq!(PartFilter::default().keep_continuing(&mut logits, 8, 4, &far, 1, -10.0), 0, "no part near: keep all");
        assert_eq!(logits, grid(&parts));
    }

    #[test]
    fn split_gives_each_large_part_and_ignores_specks() {
        let m = mask(&["##.....#", "##......", "......##", "......##"]);
        let parts = PartFilter::default().split(&m, 2);
        assert_eq!(parts.len(), 2, "the 1-cell speck is not a part");
        assert_eq!((parts[0].area(), parts[1].area()), (4, 4));
        assert!(parts[0].data[0] == 1 && parts[1].data[31] == 1);
        assert!(PartFilter::default().split(&m, 5).is_empty(), "no part of 5 cells");
        assert!(PartFilter::default().split(&mask(&["##..", "##.."]), 1).is_empty(), "one part");
    }

    #[test]
    fn one_part_or_a_mask_of_another_size_is_left_alone() {
        let last = mask(&["#......."]);
        let mut logits = grid(&["........", ".......#", "........", "........"]);
        assert_eq!(PartFilter::default().keep_continuing(&mut logits, 8, 4, &last, 1, -10.0), 0);
        let mut logits = grid(&["#......#", "........", "........", "........"]);
        assert_eq!(PartFilter::default().keep_continuing(&mut logits, 8, 4, &last, 1, -10.0), 0, "size mismatch");
    }
}
