//! Binary instance masks and the boxes and overlaps derived from them.

/// A binary mask, row-major, one byte per pixel (0 or 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mask {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// An axis-aligned box in pixels, COCO convention: top-left corner, width, height.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BBox {
    /// The box covering cells `x0..=x1` and `y0..=y1`.
    pub fn spanning(x0: usize, y0: usize, x1: usize, y1: usize) -> BBox {
        BBox { x: x0 as f32, y: y0 as f32, w: (x1 - x0 + 1) as f32, h: (y1 - y0 + 1) as f32 }
    }

    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Intersection over union of two boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.w).min(other.x + other.w);
        let y1 = (self.y + self.h).min(other.y + other.h);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

impl Mask {
    pub fn new(width: usize, height: usize) -> Self {
        Mask { width, height, data: vec![0; width * height] }
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.data[y * self.width + x] != 0
    }

    #[inline]
    pub fn set(&mut self, x: usize, y: usize, on: bool) {
        self.data[y * self.width + x] = on as u8;
    }

    /// Number of foreground pixels.
    pub fn area(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0).count()
    }

    /// Tight bounding box of the foreground, `None` when the mask is empty.
    pub fn bbox(&self) -> Option<BBox> {
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..self.height {
            let row = &self.data[y * self.width..(y + 1) * self.width];
            if let (Some(a), Some(b)) = (row.iter().position(|&v| v != 0), row.iter().rposition(|&v| v != 0)) {
                x0 = x0.min(a);
                x1 = x1.max(b);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        (x0 != usize::MAX).then(|| BBox::spanning(x0, y0, x1, y1))
    }

    /// Intersection and union pixel counts with a mask of the same size.
    pub fn inter_union(&self, other: &Mask) -> (usize, usize) {
        assert_eq!((self.width, self.height), (other.width, other.height), "mask sizes differ");
        let mut inter = 0;
        let mut union = 0;
        for (&a, &b) in self.data.iter().zip(&other.data) {
            let (a, b) = (a != 0, b != 0);
            inter += (a && b) as usize;
            union += (a || b) as usize;
        }
        (inter, union)
    }

    /// Intersection over union; two empty masks have IoU 0.
    pub fn iou(&self, other: &Mask) -> f32 {
        let (i, u) = self.inter_union(other);
        if u == 0 {
            0.0
        } else {
            i as f32 / u as f32
        }
    }

    /// Nearest-neighbour resize (used to move masks between model and frame resolution).
    pub fn resize_nearest(&self, width: usize, height: usize) -> Mask {
        let mut out = Mask::new(width, height);
        for y in 0..height {
            let sy = (y * self.height) / height.max(1);
            for x in 0..width {
                let sx = (x * self.width) / width.max(1);
                out.data[y * width + x] = self.data[sy * self.width + sx];
            }
        }
        out
    }
}

/// A `w` x `h` mask with the rectangle [x0, x1) x [y0, y1) set (test fixture).
#[cfg(test)]
pub(crate) fn rect(w: usize, h: usize, x0: usize, y0: usize, x1: usize, y1: usize) -> Mask {
    let mut m = Mask::new(w, h);
    for y in y0..y1 {
        for x in x0..x1 {
            m.set(x, y, true);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_is_tight() {
        let m = rect(10, 8, 2, 3, 6, 5);
        assert_eq!(m.bbox(), Some(BBox { x: 2.0, y: 3.0, w: 4.0, h: 2.0 }));
        assert_eq!(Mask::new(4, 4).bbox(), None);
    }

    #[test]
    fn iou_of_half_overlap() {
        let a = rect(10, 10, 0, 0, 4, 4);
        let b = rect(10, 10, 2, 0, 6, 4);
        assert!((a.iou(&b) - 8.0 / 24.0).abs() < 1e-6);
        let ba = a.bbox().unwrap();
        let bb = b.bbox().unwrap();
        assert!((ba.iou(&bb) - 8.0 / 24.0).abs() < 1e-6);
    }

    #[test]
    fn resize_nearest_doubles() {
        let a = rect(4, 4, 1, 1, 3, 3);
        let b = a.resize_nearest(8, 8);
        assert_eq!(b.area(), 16);
        assert_eq!(b.bbox(), Some(BBox { x: 2.0, y: 2.0, w: 4.0, h: 4.0 }));
    }
}
