//! Bilinear sampling tables (half-pixel centres, as `align_corners=False` in PyTorch and
//! the CUDA kernels): output index -> two source indices and the weight of the second.
//! Built once per (source, destination) size pair and reused for every frame.

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Axis {
    pub src: usize,
    pub dst: usize,
    pub i0: Vec<u32>,
    pub i1: Vec<u32>,
    /// Weight of `i1`; `i0` gets `1 - w`.
    pub w: Vec<f32>,
}

impl Axis {
    pub fn new(src: usize, dst: usize) -> Axis {
        let mut a = Axis::default();
        a.rebuild(src, dst);
        a
    }

    /// Recomputes the table when the sizes change (no-op otherwise).
    pub fn rebuild(&mut self, src: usize, dst: usize) {
        if self.src == src && self.dst == dst && self.i0.len() == dst {
            return;
        }
        self.src = src;
        self.dst = dst;
        self.i0.clear();
        self.i1.clear();
        self.w.clear();
        let scale = src as f32 / dst as f32;
        let last = src.saturating_sub(1) as f32;
        for d in 0..dst {
            let s = ((d as f32 + 0.5) * scale - 0.5).clamp(0.0, last);
            let lo = s.floor();
            self.i0.push(lo as u32);
            self.i1.push((lo as usize + 1).min(src - 1) as u32);
            self.w.push(s - lo);
        }
    }
}

/// Source coordinate of destination index `d`: the formula of [`Axis`] and of the CUDA
/// kernels' `src_coord` (scale `src / dst` rounded first, then applied).
pub fn source_coord(d: usize, src: usize, dst: usize) -> f32 {
    ((d as f32 + 0.5) * (src as f32 / dst as f32) - 0.5).clamp(0.0, src.saturating_sub(1) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_downscale_tables() {
        let a = Axis::new(4, 4);
        assert_eq!(a.i0, vec![0, 1, 2, 3]);
        assert!(a.w.iter().all(|&w| w == 0.0));
        // 4 -> 2: centres 1.5 and 3.5 of the source -> between pixels 0/1 and 2/3.
        let b = Axis::new(4, 2);
        assert_eq!((b.i0.clone(), b.i1.clone()), (vec![0, 2], vec![1, 3]));
        assert_eq!(b.w, vec![0.5, 0.5]);
        assert_eq!(source_coord(1, 4, 2), 2.5);
    }

    #[test]
    fn upscale_clamps_at_borders() {
        let a = Axis::new(2, 4);
        // d=0 -> -0.25 clamps to 0; d=3 -> 1.25 clamps to 1.
        assert_eq!((a.i0[0], a.w[0]), (0, 0.0));
        assert_eq!((a.i0[3], a.i1[3], a.w[3]), (1, 1, 0.0));
        assert_eq!((a.i0[1], a.i1[1], a.w[1]), (0, 1, 0.25));
    }
}
