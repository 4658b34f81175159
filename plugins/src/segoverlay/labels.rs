//! Per-pixel object labels at frame resolution, painted straight from the meta's COCO RLE.
//!
//! `segstream::rle::decode` returns a new `Mask` per object; the overlay instead walks the
//! runs and writes into one label buffer it keeps across frames, so drawing allocates
//! nothing per frame. Later objects overwrite earlier ones where masks overlap.
use segstream::rle::for_each_run;

/// Object index + 1 per frame pixel (0 = background).
#[derive(Default)]
pub struct LabelMap {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u16>,
}

impl LabelMap {
    /// Clears the map for a frame of `width` x `height` (reallocates only on a size change).
    pub fn reset(&mut self, width: usize, height: usize) {
        self.width = width;
        self.height = height;
        self.data.clear();
        self.data.resize(width * height, 0);
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> u16 {
        self.data[y * self.width + x]
    }

    /// Paints the "on" pixels of a `mw` x `mh` COCO RLE mask (scaled to the map by nearest
    /// neighbour) with `label`. Errors name the problem; nothing is painted then.
    pub fn paint_rle(&mut self, counts: &str, mw: usize, mh: usize, label: u16) -> Result<(), String> {
        let total = (mw as u64) * (mh as u64);
        let mut sum = 0u64;
        for_each_run(counts, |n| sum += n).map_err(|e| e.to_string())?;
        if sum != total {
            return Err(format!("RLE runs add up to {sum} pixels, the mask is {mw}x{mh}"));
        }
        let (mut idx, mut on) = (0u64, false);
        for_each_run(counts, |n| {
            if on {
                self.fill_run(idx as usize, n as usize, mw, mh, label);
            }
            idx += n;
            on = !on;
        })
        .map_err(|e| e.to_string())
    }

    /// Fills a column-major run of `len` mask pixels starting at mask index `start`.
    fn fill_run(&mut self, start: usize, len: usize, mw: usize, mh: usize, label: u16) {
        let (mut idx, end) = (start, start + len);
        while idx < end {
            let (mx, my) = (idx / mh, idx % mh);
            let seg = (end - idx).min(mh - my);
            // Frame pixel x samples mask column floor(x * mw / W) (as `Mask::resize_nearest`),
            // so column mx covers x in [ceil(mx * W / mw), ceil((mx + 1) * W / mw)).
            let x0 = (mx * self.width).div_ceil(mw);
            let x1 = ((mx + 1) * self.width).div_ceil(mw);
            let y0 = (my * self.height).div_ceil(mh);
            let y1 = ((my + seg) * self.height).div_ceil(mh);
            for y in y0..y1 {
                self.data[y * self.width + x0..y * self.width + x1].fill(label);
            }
            idx += seg;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstream::mask::Mask;

    fn disc(w: usize, h: usize) -> Mask {
        let mut m = Mask::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 3.0);
                m.set(x, y, dx * dx + dy * dy < (h * h / 9) as f32);
            }
        }
        m
    }

    #[test]
    fn same_size_paint_equals_decoded_mask() {
        let m = disc(37, 23);
        let counts = segstream::rle::encode(&m).counts;
        let mut map = LabelMap::default();
        map.reset(37, 23);
        map.paint_rle(&counts, 37, 23, 5).unwrap();
        let painted: Vec<u8> = map.data.iter().map(|&l| (l == 5) as u8).collect();
        assert_eq!(painted, m.data);
    }

    #[test]
    fn scaled_paint_equals_nearest_resize() {
        let m = disc(20, 10);
        let counts = segstream::rle::encode(&m).counts;
        let mut map = LabelMap::default();
        for (w, h) in [(60, 30), (33, 17), (7, 5), (20, 3)] {
            map.reset(w, h);
            map.paint_rle(&counts, 20, 10, 1).unwrap();
            let resized = m.resize_nearest(w, h);
            let painted: Vec<u8> = map.data.iter().map(|&l| l as u8).collect();
            assert_eq!(painted, resized.data, "{w}x{h}");
        }
    }

    #[test]
    fn malformed_rle_is_an_error_and_paints_nothing() {
        let mut map = LabelMap::default();
        map.reset(4, 4);
        let err = map.paint_rle("0:", 5, 5, 1).unwrap_err();
        assert!(err.contains("5x5"), "{err}");
        assert!(map.paint_rle("0\u{7f}", 4, 4, 1).unwrap_err().contains("invalid"));
        assert!(map.data.iter().all(|&l| l == 0));
    }
}
