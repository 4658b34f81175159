//! Splits a detection's mask into its connected parts.
//!
//! The detector sometimes segments two look-alike objects (same shape and texture) with one
//! query. Born as one target, the second object is never found: its own detections overlap
//! the target or match it by embedding (docs/TRACKING.md). The world's objects, like most
//! real ones, are one connected region, so separate parts of a detection's mask are taken
//! for separate objects and each starts a target of its own. Written by hand: a 4-connected
//! flood fill on the 1/4-resolution grid (a few thousand cells); an image-processing crate
//! would be a large dependency for it.
use crate::mask::{BBox, Mask};

/// Reusable buffers (no allocation per frame once grown).
#[derive(Debug, Default, Clone)]
pub struct PartSplitter {
    label: Vec<u32>,
    stack: Vec<usize>,
}

impl PartSplitter {
    /// The connected parts of `mask` with at least `min_cells` cells each, as separate masks,
    /// when there are two or more of them and the boxes of every two are at least `min_gap`
    /// cells apart (else empty: the mask is taken for one object, e.g. split by an occluder).
    pub fn split(&mut self, mask: &Mask, min_cells: usize, min_gap: usize) -> Vec<Mask> {
        let (w, h) = (mask.width, mask.height);
        let n = self.label_parts(&mask.data, w, h);
        let (sizes, boxes) = self.part_sizes_and_boxes(n, w);
        let big: Vec<usize> = (0..n).filter(|&k| sizes[k] >= min_cells).collect();
        // The gap is checked on the labels' boxes, so a rejected split builds no masks.
        let far = big.iter().enumerate().all(|(i, &a)| big[i + 1..].iter().all(|&b| gap(&boxes[a], &boxes[b]) >= min_gap as f32));
        if big.len() < 2 || !far {
            return Vec::new();
        }
        big.iter()
            .map(|&k| {
                let mut m = Mask::new(w, h);
                m.data.iter_mut().zip(&self.label).for_each(|(v, &lab)| *v = (lab as usize == k + 1) as u8);
                m
            })
            .collect()
    }

    /// Cell count and bounding box of each labelled part (index = label - 1).
    fn part_sizes_and_boxes(&self, n: usize, w: usize) -> (Vec<usize>, Vec<BBox>) {
        let mut sizes = vec![0usize; n];
        let mut ext = vec![(usize::MAX, usize::MAX, 0usize, 0usize); n];
        for (c, &l) in self.label.iter().enumerate().filter(|(_, &l)| l > 0) {
            let k = l as usize - 1;
            let (x, y) = (c % w, c / w);
            sizes[k] += 1;
            let e = &mut ext[k];
            *e = (e.0.min(x), e.1.min(y), e.2.max(x), e.3.max(y));
        }
        let boxes = ext.iter().map(|&(x0, y0, x1, y1)| BBox::spanning(x0, y0, x1, y1)).collect();
        (sizes, boxes)
    }

    /// Labels the 4-connected parts of the set cells with 1..=n; returns n.
    fn label_parts(&mut self, on: &[u8], w: usize, h: usize) -> usize {
        self.label.clear();
        self.label.resize(w * h, 0);
        let mut n = 0u32;
        for start in 0..w * h {
            if on[start] == 0 || self.label[start] != 0 {
                continue;
            }
            n += 1;
            self.label[start] = n;
            self.stack.push(start);
            while let Some(c) = self.stack.pop() {
                let (x, y) = (c % w, c / w);
                let neighbours = [(x > 0).then(|| c - 1), (x + 1 < w).then(|| c + 1), (y > 0).then(|| c - w), (y + 1 < h).then(|| c + w)];
                for nb in neighbours.into_iter().flatten() {
                    if on[nb] != 0 && self.label[nb] == 0 {
                        self.label[nb] = n;
                        self.stack.push(nb);
                    }
                }
            }
        }
        n as usize
    }
}

/// Empty cells between two boxes along the axis where they are furthest apart (0 when
/// they touch or overlap).
fn gap(a: &BBox, b: &BBox) -> f32 {
    let dx = (b.x - (a.x + a.w)).max(a.x - (b.x + b.w));
    let dy = (b.y - (a.y + a.h)).max(a.y - (b.y + b.h));
    dx.max(dy).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn split_gives_each_large_part_and_ignores_specks() {
        let m = mask(&["##.....#", "##......", "......##", "......##"]);
        let parts = PartSplitter::default().split(&m, 2, 0);
        assert_eq!(parts.len(), 2, "the 1-cell speck is not a part");
        assert_eq!((parts[0].area(), parts[1].area()), (4, 4));
        assert!(parts[0].data[0] == 1 && parts[1].data[31] == 1);
        assert!(PartSplitter::default().split(&m, 5, 0).is_empty(), "no part of 5 cells");
        assert!(PartSplitter::default().split(&mask(&["##..", "##.."]), 1, 0).is_empty(), "one part");
        // The two parts' boxes are 4 cells apart (columns 2-5 empty between them).
        assert_eq!(PartSplitter::default().split(&m, 2, 4).len(), 2);
        assert!(PartSplitter::default().split(&m, 2, 5).is_empty(), "closer than 5 cells: one object");
    }
}
