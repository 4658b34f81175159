//! Evaluation metrics, each checked against an outside judge on the same files
//! (tests/metrics_judges.rs runs tests/metrics_judge.py: pycocotools, py-motmetrics).
//!
//! - [`vos`]: DAVIS J (IoU), F (boundary F-measure, tolerance 0.008 x diagonal), J&F.
//! - [`ap`]: COCO AP@[.5:.95] (per-frame mask AP; YouTube-VIS video mAP with video IoU).
//! - [`mot`]: CLEAR MOT (MOTA, ID switches) and IDF1, as py-motmetrics computes them.
//! - [`hota`]: HOTA / DetA / AssA / LocA as TrackEval computes them.
//! - [`bootstrap`]: 95 % intervals of a mean, resampling whole videos.
//!
//! Metrics work on masks or on per-frame IoU matrices; `video_iou` and `frame_sims`
//! build those from masks.
pub mod ap;
pub mod bootstrap;
pub mod hota;
pub mod mot;
pub mod vos;

use crate::mask::Mask;

/// YouTube-VIS video IoU: summed intersections over summed unions across frames (`None`
/// = absent on that frame). 0 when both tubes are empty everywhere.
pub fn video_iou(a: &[Option<&Mask>], b: &[Option<&Mask>]) -> f64 {
    let (mut i, mut u) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Some(x), Some(y)) => {
                let (ii, uu) = x.inter_union(y);
                i += ii;
                u += uu;
            }
            (Some(m), None) | (None, Some(m)) => u += m.area(),
            (None, None) => {}
        }
    }
    if u == 0 {
        0.0
    } else {
        i as f64 / u as f64
    }
}

/// Per-frame IoU matrix between ground-truth and hypothesis masks.
pub fn frame_sim(gt: &[(u64, &Mask)], hyp: &[(u64, &Mask)]) -> mot::FrameSim {
    let mut iou = Vec::with_capacity(gt.len() * hyp.len());
    for (_, g) in gt {
        for (_, h) in hyp {
            let (i, u) = g.inter_union(h);
            iou.push(if u == 0 { 0.0 } else { i as f64 / u as f64 });
        }
    }
    mot::FrameSim { gt: gt.iter().map(|x| x.0).collect(), hyp: hyp.iter().map(|x| x.0).collect(), iou }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_iou_sums_over_frames() {
        let mut a = Mask::new(4, 1);
        a.data = vec![1, 1, 0, 0];
        let mut b = Mask::new(4, 1);
        b.data = vec![0, 1, 1, 0];
        // frame 0: i 1 u 3; frame 1: only a (u += 2); frame 2: none.
        let v = video_iou(&[Some(&a), Some(&a), None], &[Some(&b), None, None]);
        assert!((v - 1.0 / 5.0).abs() < 1e-12);
    }
}
