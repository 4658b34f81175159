//! HOTA (Luiten et al., IJCV 2021) as TrackEval computes it: for each alpha in
//! 0.05:0.05:0.95, per-frame Hungarian matching maximising global-alignment-weighted
//! similarity, then DetA = TP / (TP + FN + FP), AssA = mean over TPs of the Jaccard of
//! their (gt id, hyp id) pair's matches, HOTA_alpha = sqrt(DetA * AssA); reported values
//! are means over alpha. Videos combine by summing TP/FN/FP and TP-weighting AssA and LocA.
use super::mot::FrameSim;
use crate::tracker::hungarian::assign;
use std::collections::HashMap;

/// Number of alpha thresholds.
pub const ALPHAS: usize = 19;

/// `numpy.arange(0.05, 0.99, 0.05)` bit for bit (i * 0.05 + 0.05).
pub fn alphas() -> [f64; ALPHAS] {
    std::array::from_fn(|i| 0.05 + i as f64 * 0.05)
}

/// Per-alpha sums of one or more videos.
#[derive(Debug, Clone, PartialEq)]
pub struct HotaCounts {
    pub tp: [f64; ALPHAS],
    pub fn_: [f64; ALPHAS],
    pub fp: [f64; ALPHAS],
    /// AssA and LocA times TP (so videos add up).
    pub ass_tp: [f64; ALPHAS],
    pub loc_tp: [f64; ALPHAS],
}

impl Default for HotaCounts {
    fn default() -> Self {
        HotaCounts { tp: [0.0; ALPHAS], fn_: [0.0; ALPHAS], fp: [0.0; ALPHAS], ass_tp: [0.0; ALPHAS], loc_tp: [0.0; ALPHAS] }
    }
}

/// Final scores (means over alpha) and HOTA per alpha.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HotaSummary {
    pub hota: f64,
    pub deta: f64,
    pub assa: f64,
    pub loca: f64,
    pub hota_alpha: Vec<f64>,
    pub deta_alpha: Vec<f64>,
    pub loca_alpha: Vec<f64>,
}

impl HotaCounts {
    pub fn add(&mut self, o: &HotaCounts) {
        for a in 0..ALPHAS {
            self.tp[a] += o.tp[a];
            self.fn_[a] += o.fn_[a];
            self.fp[a] += o.fp[a];
            self.ass_tp[a] += o.ass_tp[a];
            self.loc_tp[a] += o.loc_tp[a];
        }
    }

    pub fn summary(&self) -> HotaSummary {
        let mut s = HotaSummary::default();
        for a in 0..ALPHAS {
            let deta = self.tp[a] / (self.tp[a] + self.fn_[a] + self.fp[a]).max(1.0);
            let assa = self.ass_tp[a] / self.tp[a].max(1.0);
            // TrackEval: max(1e-10, sum) / max(1e-10, TP), so an alpha without TP has LocA 1.
            let loca = self.loc_tp[a].max(1e-10) / self.tp[a].max(1e-10);
            s.hota_alpha.push((deta * assa).sqrt());
            s.deta_alpha.push(deta);
            s.loca_alpha.push(loca);
            s.assa += assa / ALPHAS as f64;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / ALPHAS as f64;
        s.hota = mean(&s.hota_alpha);
        s.deta = mean(&s.deta_alpha);
        s.loca = mean(&s.loca_alpha);
        s
    }
}

/// Dense indices of the ids of one video.
fn index_ids(frames: &[FrameSim]) -> (HashMap<u64, usize>, HashMap<u64, usize>) {
    let (mut g, mut h) = (HashMap::new(), HashMap::new());
    for f in frames {
        for &id in &f.gt {
            let n = g.len();
            g.entry(id).or_insert(n);
        }
        for &id in &f.hyp {
            let n = h.len();
            h.entry(id).or_insert(n);
        }
    }
    (g, h)
}

/// HOTA counts of one video.
pub fn hota(frames: &[FrameSim]) -> HotaCounts {
    let (gi, hi) = index_ids(frames);
    let (n, m) = (gi.len(), hi.len());
    // Global alignment: potential matches from per-frame similarity-IoU, per id pair.
    let (mut pot, mut gc, mut hc) = (vec![0.0f64; n * m], vec![0.0f64; n], vec![0.0f64; m]);
    for f in frames {
        let (ng, nh) = (f.gt.len(), f.hyp.len());
        let rs: Vec<f64> = (0..ng).map(|g| (0..nh).map(|h| f.sim(g, h)).sum()).collect();
        let cs: Vec<f64> = (0..nh).map(|h| (0..ng).map(|g| f.sim(g, h)).sum()).collect();
        for g in 0..ng {
            for h in 0..nh {
                let denom = rs[g] + cs[h] - f.sim(g, h);
                if denom > f64::EPSILON {
                    pot[gi[&f.gt[g]] * m + hi[&f.hyp[h]]] += f.sim(g, h) / denom;
                }
            }
        }
        f.gt.iter().for_each(|id| gc[gi[id]] += 1.0);
        f.hyp.iter().for_each(|id| hc[hi[id]] += 1.0);
    }
    let gas: Vec<f64> = (0..n * m).map(|k| pot[k] / (gc[k / m] + hc[k % m] - pot[k])).collect();
    let alphas = alphas();
    let mut c = HotaCounts::default();
    let mut mc = vec![vec![0.0f64; n * m]; ALPHAS];
    for f in frames {
        let (ng, nh) = (f.gt.len(), f.hyp.len());
        if ng == 0 || nh == 0 {
            for a in 0..ALPHAS {
                c.fp[a] += nh as f64;
                c.fn_[a] += ng as f64;
            }
            continue;
        }
        let ids = |g: usize, h: usize| gi[&f.gt[g]] * m + hi[&f.hyp[h]];
        let cost: Vec<f32> =
            (0..ng).flat_map(|g| (0..nh).map(move |h| (g, h))).map(|(g, h)| -(gas[ids(g, h)] * f.sim(g, h)) as f32).collect();
        let matched: Vec<(usize, usize)> = assign(&cost, ng, nh).into_iter().enumerate().filter_map(|(g, h)| h.map(|h| (g, h))).collect();
        for (a, &alpha) in alphas.iter().enumerate() {
            let ok: Vec<&(usize, usize)> = matched.iter().filter(|&&(g, h)| f.sim(g, h) >= alpha - f64::EPSILON).collect();
            c.tp[a] += ok.len() as f64;
            c.fn_[a] += (ng - ok.len()) as f64;
            c.fp[a] += (nh - ok.len()) as f64;
            for &&(g, h) in &ok {
                c.loc_tp[a] += f.sim(g, h);
                mc[a][ids(g, h)] += 1.0;
            }
        }
    }
    for (a, mc_a) in mc.iter().enumerate() {
        let mut s = 0.0;
        for (k, &x) in mc_a.iter().enumerate().take(n * m) {
            if x > 0.0 {
                s += x * x / (gc[k / m] + hc[k % m] - x).max(1.0);
            }
        }
        // TrackEval: AssA = sum(matches * ass_iou) / max(1, TP); stored times TP to add up.
        c.ass_tp[a] = s;
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
    fn perfect_tracking_is_one() {
        let fr: Vec<_> = (0..3).map(|_| frame(&[1, 2], &[5, 6], &[1.0, 0.0, 0.0, 1.0])).collect();
        let s = hota(&fr).summary();
        assert!((s.hota - 1.0).abs() < 1e-12 && (s.assa - 1.0).abs() < 1e-12);
    }

    #[test]
    fn identity_split_in_half_gives_sqrt_half() {
        // Paper's basic case: perfect detection, the track switches id half-way:
        // AssA = (2 * 2/4 + 2 * 2/4) / 4 = .5, DetA = 1, HOTA = sqrt(.5).
        let fr = [frame(&[1], &[1], &[1.0]), frame(&[1], &[1], &[1.0]), frame(&[1], &[2], &[1.0]), frame(&[1], &[2], &[1.0])];
        let s = hota(&fr).summary();
        assert!((s.deta - 1.0).abs() < 1e-12);
        assert!((s.assa - 0.5).abs() < 1e-12);
        assert!((s.hota - 0.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn localisation_cuts_alphas_above_the_iou() {
        // IoU .6 everywhere, perfect association: alphas .05-.60 (12 of 19) have HOTA 1,
        // the other 7 have no TP -> HOTA = 12/19; LocA = (12 * .6 + 7 * 1) / 19 (TrackEval
        // gives an alpha without TP a LocA of 1).
        let fr: Vec<_> = (0..5).map(|_| frame(&[1], &[1], &[0.6])).collect();
        let s = hota(&fr).summary();
        assert!((s.hota - 12.0 / 19.0).abs() < 1e-12, "{}", s.hota);
        assert!((s.loca - (12.0 * 0.6 + 7.0) / 19.0).abs() < 1e-12);
    }

    #[test]
    fn missed_half_of_the_frames() {
        // Detected on 2 of 4 frames with IoU 1: DetA = 2 / (2 + 2) = .5; the pair (1,1):
        // matches 2, gt count 4, hyp count 2 -> Jaccard 2/4 -> AssA .5; HOTA .5.
        let fr = [frame(&[1], &[1], &[1.0]), frame(&[1], &[1], &[1.0]), frame(&[1], &[], &[]), frame(&[1], &[], &[])];
        let s = hota(&fr).summary();
        assert!((s.hota - 0.5).abs() < 1e-12 && (s.deta - 0.5).abs() < 1e-12 && (s.assa - 0.5).abs() < 1e-12);
    }

    #[test]
    fn videos_combine_by_tp_weighting() {
        let a = hota(&[frame(&[1], &[1], &[1.0])]);
        let b = hota(&[frame(&[1], &[1], &[1.0]), frame(&[1], &[2], &[1.0])]);
        let mut sum = a.clone();
        sum.add(&b);
        // TP 3; AssA = (1 * 1 + 2 * .5) / 3 = 2/3.
        assert!((sum.summary().assa - 2.0 / 3.0).abs() < 1e-12);
    }
}
