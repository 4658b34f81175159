//! CLEAR MOT (MOTA, MOTP, ID switches) and identity metrics (IDF1), computed the way
//! py-motmetrics 1.4 does, on per-frame similarity (mask IoU) matrices.
use crate::tracker::hungarian::assign;
use std::collections::HashMap;

/// One frame: ground-truth and hypothesis ids, and their IoU [gt, hyp] row-major.
#[derive(Debug, Clone, Default)]
pub struct FrameSim {
    pub gt: Vec<u64>,
    pub hyp: Vec<u64>,
    pub iou: Vec<f64>,
}

impl FrameSim {
    pub fn sim(&self, g: usize, h: usize) -> f64 {
        self.iou[g * self.hyp.len() + h]
    }
}

/// CLEAR MOT counts (sum them over videos with [`ClearMot::add`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClearMot {
    pub num_objects: usize,
    pub num_predictions: usize,
    /// Matches including switches (motmetrics `num_detections`).
    pub num_detections: usize,
    pub num_switches: usize,
    pub num_misses: usize,
    pub num_false_positives: usize,
    /// Sum of distances (1 - IoU) over matches.
    pub dist_sum: f64,
}

impl ClearMot {
    pub fn add(&mut self, o: &ClearMot) {
        self.num_objects += o.num_objects;
        self.num_predictions += o.num_predictions;
        self.num_detections += o.num_detections;
        self.num_switches += o.num_switches;
        self.num_misses += o.num_misses;
        self.num_false_positives += o.num_false_positives;
        self.dist_sum += o.dist_sum;
    }

    pub fn mota(&self) -> f64 {
        1.0 - (self.num_misses + self.num_false_positives + self.num_switches) as f64 / self.num_objects.max(1) as f64
    }

    /// Mean distance (1 - IoU) of matches, motmetrics' MOTP.
    pub fn motp(&self) -> f64 {
        if self.num_detections == 0 {
            f64::NAN
        } else {
            self.dist_sum / self.num_detections as f64
        }
    }
}

/// A pair may match when 1 - IoU <= 1 - threshold (motmetrics `iou_matrix(max_iou)`).
fn pairable(iou: f64, threshold: f64) -> bool {
    1.0 - iou <= 1.0 - threshold
}

/// CLEAR MOT over one video (motmetrics `MOTAccumulator.update` per frame): keep last
/// frame's correspondences that are still pairable, Hungarian on the rest (minimum
/// distance), a switch when an object is matched to another hypothesis than its last.
pub fn clear_mot(frames: &[FrameSim], threshold: f64) -> ClearMot {
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut r = ClearMot::default();
    for f in frames {
        let (ng, nh) = (f.gt.len(), f.hyp.len());
        r.num_objects += ng;
        r.num_predictions += nh;
        let (mut gm, mut hm) = (vec![false; ng], vec![false; nh]);
        let mut matches = 0;
        for (g, gm_g) in gm.iter_mut().enumerate() {
            let Some(&hprev) = last.get(&f.gt[g]) else { continue };
            if let Some(h) = (0..nh).find(|&h| !hm[h] && f.hyp[h] == hprev) {
                if pairable(f.sim(g, h), threshold) {
                    *gm_g = true;
                    hm[h] = true;
                    matches += 1;
                    r.dist_sum += 1.0 - f.sim(g, h);
                }
            }
        }
        let (rows, cols): (Vec<usize>, Vec<usize>) = ((0..ng).filter(|&g| !gm[g]).collect(), (0..nh).filter(|&h| !hm[h]).collect());
        let big = 1e6f32; // forbidden pairs: never cheaper than a real one, filtered below
        let cost: Vec<f32> = rows
            .iter()
            .flat_map(|&g| cols.iter().map(move |&h| (g, h)))
            .map(|(g, h)| if pairable(f.sim(g, h), threshold) { (1.0 - f.sim(g, h)) as f32 } else { big })
            .collect();
        for (a, b) in assign(&cost, rows.len(), cols.len()).into_iter().enumerate() {
            let Some(b) = b else { continue };
            let (g, h) = (rows[a], cols[b]);
            if !pairable(f.sim(g, h), threshold) {
                continue;
            }
            if last.get(&f.gt[g]).is_some_and(|&p| p != f.hyp[h]) {
                r.num_switches += 1;
            }
            last.insert(f.gt[g], f.hyp[h]);
            gm[g] = true;
            hm[h] = true;
            matches += 1;
            r.dist_sum += 1.0 - f.sim(g, h);
        }
        r.num_detections += matches;
        r.num_misses += ng - matches;
        r.num_false_positives += nh - matches;
    }
    r
}

/// Identity counts (sum over videos).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdCounts {
    pub idtp: usize,
    pub num_objects: usize,
    pub num_predictions: usize,
}

impl IdCounts {
    pub fn add(&mut self, o: &IdCounts) {
        self.idtp += o.idtp;
        self.num_objects += o.num_objects;
        self.num_predictions += o.num_predictions;
    }

    pub fn idf1(&self) -> f64 {
        let d = self.num_objects + self.num_predictions;
        if d == 0 {
            0.0
        } else {
            2.0 * self.idtp as f64 / d as f64
        }
    }
    pub fn idp(&self) -> f64 {
        self.idtp as f64 / self.num_predictions.max(1) as f64
    }
    pub fn idr(&self) -> f64 {
        self.idtp as f64 / self.num_objects.max(1) as f64
    }
}

/// IDF1 of one video: the one-to-one gt-id <-> hyp-id mapping maximising the number of
/// frames where the pair is pairable (IoU >= threshold); IDTP is that number.
pub fn identity(frames: &[FrameSim], threshold: f64) -> IdCounts {
    let (mut gi, mut hi) = (HashMap::new(), HashMap::new());
    let mut pairs: HashMap<(usize, usize), usize> = HashMap::new();
    let mut c = IdCounts::default();
    for f in frames {
        c.num_objects += f.gt.len();
        c.num_predictions += f.hyp.len();
        for g in 0..f.gt.len() {
            let n = gi.len();
            let a = *gi.entry(f.gt[g]).or_insert(n);
            for h in 0..f.hyp.len() {
                let n = hi.len();
                let b = *hi.entry(f.hyp[h]).or_insert(n);
                if pairable(f.sim(g, h), threshold) {
                    *pairs.entry((a, b)).or_default() += 1;
                }
            }
        }
        for &h in &f.hyp {
            let n = hi.len();
            hi.entry(h).or_insert(n);
        }
    }
    let (n, m) = (gi.len(), hi.len());
    let max = pairs.values().copied().max().unwrap_or(0) as f32;
    let mut cost = vec![max; n * m];
    for (&(a, b), &k) in &pairs {
        cost[a * m + b] = max - k as f32; // maximise co-occurrences
    }
    for (a, b) in assign(&cost, n, m).into_iter().enumerate() {
        if let Some(b) = b {
            c.idtp += pairs.get(&(a, b)).copied().unwrap_or(0);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(gt: &[u64], hyp: &[u64], iou: &[f64]) -> FrameSim {
        FrameSim { gt: gt.to_vec(), hyp: hyp.to_vec(), iou: iou.to_vec() }
    }

    #[test]
    fn switch_counted_once_and_idf1_by_hand() {
        // One object; hypothesis 1 on frames 0-1, hypothesis 2 on frames 2-3 (all IoU .9).
        let fr = [frame(&[1], &[1], &[0.9]), frame(&[1], &[1], &[0.9]), frame(&[1], &[2], &[0.9]), frame(&[1], &[2], &[0.9])];
        let m = clear_mot(&fr, 0.5);
        assert_eq!((m.num_switches, m.num_detections, m.num_misses, m.num_false_positives), (1, 4, 0, 0));
        assert!((m.mota() - 0.75).abs() < 1e-12);
        assert!((m.motp() - 0.1).abs() < 1e-9);
        let id = identity(&fr, 0.5);
        // Best mapping 1<->1 (2 frames): IDF1 = 2*2 / (4 + 4) = .5
        assert_eq!(id.idtp, 2);
        assert!((id.idf1() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn previous_match_is_kept_even_if_another_is_closer() {
        // Frame 1: gt 1 keeps hyp 1 (IoU .6) although hyp 2 overlaps it more (.9).
        let fr = [frame(&[1], &[1], &[0.9]), frame(&[1], &[1, 2], &[0.6, 0.9])];
        let m = clear_mot(&fr, 0.5);
        assert_eq!((m.num_switches, m.num_false_positives), (0, 1));
    }

    #[test]
    fn below_threshold_is_a_miss_and_a_false_positive() {
        let m = clear_mot(&[frame(&[1], &[1], &[0.4])], 0.5);
        assert_eq!((m.num_misses, m.num_false_positives, m.num_detections), (1, 1, 0));
        assert_eq!(identity(&[frame(&[1], &[1], &[0.4])], 0.5).idtp, 0);
    }
}
