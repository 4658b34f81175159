//! Ground truth of one rendered frame: a label map (which object owns each pixel after
//! occlusion) plus per-object statistics derived from it.
use crate::mask::{BBox, Mask};
use crate::rle::Rle;

/// One object present in the world on this frame (possibly fully hidden or off-frame).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectTruth {
    /// 1-based, unique within a world; a new object entering the frame gets a new id.
    pub track_id: u64,
    /// 0-based index into [`super::CLASS_NAMES`].
    pub class_id: usize,
    pub label: &'static str,
    /// Base RGB colour before shading, illumination and noise.
    pub colour: [u8; 3],
    /// Drawing order: 0 is the farthest object.
    pub depth: usize,
    /// Pixels of the object that are drawn (inside the frame and not occluded).
    pub visible_area: usize,
    /// Pixels the object covers on an unbounded canvas with nothing in front of it.
    pub full_area: usize,
    /// `visible_area / full_area`, in [0, 1]: lowered by occlusion and by leaving the frame.
    pub visible_fraction: f32,
    /// Tight box of the visible pixels; `None` when nothing is visible.
    pub bbox: Option<BBox>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameTruth {
    pub frame: u64,
    pub width: usize,
    pub height: usize,
    /// Sorted by track id.
    pub objects: Vec<ObjectTruth>,
    /// Row-major: 0 = background, `k` = `objects[k - 1]`.
    pub labels: Vec<u16>,
}

impl FrameTruth {
    /// Visible mask of `objects[index]`.
    pub fn mask(&self, index: usize) -> Mask {
        let mut m = Mask::default();
        self.mask_into(index, &mut m);
        m
    }

    /// Writes the visible mask of `objects[index]` into `out`, reusing its allocation.
    pub fn mask_into(&self, index: usize, out: &mut Mask) {
        let want = index as u16 + 1;
        (out.width, out.height) = (self.width, self.height);
        out.data.clear();
        out.data.extend(self.labels.iter().map(|&l| (l == want) as u8));
    }

    /// Visible mask of `objects[index]` as COCO RLE, identical to `rle::encode(&self.mask(index))`
    /// but read straight from the label map and only inside the object's box (the streaming
    /// source encodes every object of every frame).
    pub fn rle(&self, index: usize) -> Rle {
        let (w, h) = (self.width, self.height);
        let mut runs = Runs::default();
        match self.objects[index].bbox {
            None => runs.push(false, w * h),
            Some(b) => {
                let (x0, y0) = (b.x as usize, b.y as usize);
                let (x1, y1) = (x0 + b.w as usize, y0 + b.h as usize);
                let want = index as u16 + 1;
                runs.push(false, x0 * h);
                for x in x0..x1 {
                    runs.push(false, y0);
                    for y in y0..y1 {
                        runs.push(self.labels[y * w + x] == want, 1);
                    }
                    runs.push(false, h - y1);
                }
                runs.push(false, (w - x1) * h);
            }
        }
        Rle { size: [h, w], counts: compress(&runs.finish()) }
    }

    pub fn find_track(&self, track_id: u64) -> Option<&ObjectTruth> {
        self.objects.iter().find(|o| o.track_id == track_id)
    }

    /// Objects with at least one visible pixel.
    pub fn visible(&self) -> impl Iterator<Item = (usize, &ObjectTruth)> {
        self.objects.iter().enumerate().filter(|(_, o)| o.visible_area > 0)
    }

    /// Fills areas, fractions and boxes from the label map (one pass over the pixels).
    pub(crate) fn measure(&mut self) {
        let n = self.objects.len();
        let mut area = vec![0usize; n];
        let mut bounds = vec![(usize::MAX, usize::MAX, 0usize, 0usize); n];
        for (i, &l) in self.labels.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let k = l as usize - 1;
            let (x, y) = (i % self.width, i / self.width);
            area[k] += 1;
            let b = &mut bounds[k];
            *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        }
        for (k, o) in self.objects.iter_mut().enumerate() {
            o.visible_area = area[k];
            o.visible_fraction = if o.full_area == 0 { 0.0 } else { (area[k] as f32 / o.full_area as f32).min(1.0) };
            let (x0, y0, x1, y1) = bounds[k];
            o.bbox = (area[k] > 0).then(|| BBox { x: x0 as f32, y: y0 as f32, w: (x1 - x0 + 1) as f32, h: (y1 - y0 + 1) as f32 });
        }
    }
}

/// Column-major run lengths, starting with a (possibly empty) run of zeros.
#[derive(Default)]
struct Runs {
    counts: Vec<u32>,
    value: bool,
    run: u32,
}

impl Runs {
    #[inline]
    fn push(&mut self, value: bool, n: usize) {
        if n == 0 {
            return;
        }
        if value != self.value {
            self.counts.push(self.run);
            self.run = 0;
            self.value = value;
        }
        self.run += n as u32;
    }

    fn finish(mut self) -> Vec<u32> {
        self.counts.push(self.run);
        self.counts
    }
}

/// COCO's compressed counts string: each count delta-coded against the one two places
/// back (from the fourth on), then 5 bits per char with a continuation bit, offset 48.
fn compress(counts: &[u32]) -> String {
    let mut s = String::with_capacity(counts.len() * 2);
    for (i, &c) in counts.iter().enumerate() {
        let mut x = c as i64 - if i > 2 { counts[i - 2] as i64 } else { 0 };
        loop {
            let mut ch = (x & 0x1f) as u8;
            x >>= 5;
            let more = if ch & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                ch |= 0x20;
            }
            s.push((ch + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}
