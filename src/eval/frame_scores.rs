//! Per-frame scores of what the pipeline emits frame by frame (`FrameResult`: each
//! object with the class and score the tracker gave it on that frame, from past frames
//! only). These are the per-frame accuracy figures measured on the product's own output:
//! COCO mask AP / AP50 (image = frame), class accuracy of matched objects and semantic
//! mIoU. `engines/judge_frames.py` computes the same figures with pycocotools from the
//! same files (`tests/metrics_judges.rs` requires agreement).
use super::formats::FrameResult;
use super::score::{gt_tubes, sorted_videos, MAX_DETS};
use crate::mask::Mask;
use crate::metrics::ap::{coco_ap, ApImage, ApSummary};
use crate::world::ytvis::{Dataset, Video};
use std::collections::BTreeMap;

/// Semantic paint takes outputs scored above this, as the per-frame eval.py does (its
/// Python twin: `PAINT_MIN_SCORE` in engines/segmodel/cocometrics.py, used by eval.py and
/// judge_frames.py): a dying track's near-zero-score mask can cover the whole frame and
/// is not drawn as a class.
pub const PAINT_MIN_SCORE: f64 = 0.3;

/// The per-frame figures; `class_acc` over `matched` objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameScores {
    pub ap: ApSummary,
    /// Of the ground-truth objects whose best-IoU output (any class) has IoU >= 0.5, the
    /// fraction where that output has the object's class (as `engines/eval.py`).
    pub class_acc: f64,
    pub matched: usize,
    /// Semantic mIoU over the classes present in the ground truth, background included:
    /// each frame painted with its objects' classes, lowest score first, outputs scored
    /// above `PAINT_MIN_SCORE` only.
    pub miou: f64,
}

/// Scores `results` against `gt` (every video of `gt`, frames in order).
pub fn frame_scores(gt: &Dataset, results: &[FrameResult]) -> Result<FrameScores, String> {
    let ncls = gt.categories.iter().map(|c| c.id as usize).max().unwrap_or(0) + 1;
    let mut conf = vec![0u64; ncls * ncls];
    let (mut images, mut right, mut matched) = (Vec::new(), 0usize, 0usize);
    let mut by_frame: BTreeMap<(u64, usize), Vec<&FrameResult>> = BTreeMap::new();
    for r in results {
        by_frame.entry((r.video_id, r.frame)).or_default().push(r);
    }
    for v in sorted_videos(gt) {
        let tubes = gt_tubes(gt, v.id, v.length)?;
        for f in 0..v.length {
            let g: Vec<(u64, &Mask)> = tubes.iter().filter_map(|(a, t)| t[f].as_ref().map(|m| (a.category_id, m))).collect();
            let dets = frame_dets(by_frame.get(&(v.id, f)).map_or(&[][..], |d| d.as_slice()), v)?;
            let im = ap_image(&g, &dets);
            let (r, m) = class_hits(&im, &g);
            (right, matched) = (right + r, matched + m);
            paint_confusion(&g, &dets, v, ncls, &mut conf);
            images.push(im);
        }
    }
    Ok(FrameScores {
        ap: coco_ap(&images, MAX_DETS),
        class_acc: if matched == 0 { 0.0 } else { right as f64 / matched as f64 },
        matched,
        miou: miou(&conf, ncls),
    })
}

/// (category, score, mask) of one frame's results, checked against the video's size.
fn frame_dets(rs: &[&FrameResult], v: &Video) -> Result<Vec<(u64, f64, Mask)>, String> {
    rs.iter()
        .map(|r| {
            let m = crate::rle::decode(&r.segmentation).map_err(|e| format!("video {} frame {}: {e}", v.id, r.frame))?;
            if (m.width, m.height) != (v.width, v.height) {
                return Err(format!("video {} frame {}: mask {}x{}, video {}x{}", v.id, r.frame, m.width, m.height, v.width, v.height));
            }
            Ok((r.category_id, r.score, m))
        })
        .collect()
}

fn ap_image(g: &[(u64, &Mask)], dets: &[(u64, f64, Mask)]) -> ApImage {
    let mut im = ApImage { gt: g.iter().map(|x| x.0).collect(), ..Default::default() };
    for (c, s, m) in dets {
        im.dt.push((*c, *s));
        im.iou.extend(g.iter().map(|(_, gm)| iou(m, gm)));
    }
    im
}

fn iou(a: &Mask, b: &Mask) -> f64 {
    let (i, u) = a.inter_union(b);
    if u == 0 {
        0.0
    } else {
        i as f64 / u as f64
    }
}

/// (right, matched) for one frame: each GT's best-IoU detection, first on ties.
fn class_hits(im: &ApImage, g: &[(u64, &Mask)]) -> (usize, usize) {
    let (mut right, mut matched) = (0, 0);
    for (j, (cat, _)) in g.iter().enumerate() {
        let best = (0..im.dt.len()).map(|d| (d, im.iou[d * g.len() + j])).fold(None, |b: Option<(usize, f64)>, x| match b {
            Some(b) if b.1 >= x.1 => Some(b),
            _ => Some(x),
        });
        if let Some((d, _)) = best.filter(|b| b.1 >= 0.5) {
            matched += 1;
            right += usize::from(im.dt[d].0 == *cat);
        }
    }
    (right, matched)
}

/// Adds one frame to the confusion matrix `conf[gt * ncls + pred]` (0 = background).
fn paint_confusion(g: &[(u64, &Mask)], dets: &[(u64, f64, Mask)], v: &Video, ncls: usize, conf: &mut [u64]) {
    let n = v.width * v.height;
    let (mut gt_sem, mut pred) = (vec![0usize; n], vec![0usize; n]);
    for (c, m) in g {
        paint(&mut gt_sem, m, *c as usize);
    }
    let mut order: Vec<&(u64, f64, Mask)> = dets.iter().collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1)); // stable: ties keep the emitted order
    for (c, _, m) in order.into_iter().filter(|d| d.1 > PAINT_MIN_SCORE) {
        paint(&mut pred, m, *c as usize);
    }
    for (gi, pi) in gt_sem.iter().zip(&pred) {
        if *gi < ncls && *pi < ncls {
            conf[gi * ncls + pi] += 1;
        }
    }
}

fn paint(sem: &mut [usize], m: &Mask, class: usize) {
    for (s, &on) in sem.iter_mut().zip(&m.data) {
        if on != 0 {
            *s = class;
        }
    }
}

/// Mean IoU over the classes that occur in the ground truth (rows with any pixel).
fn miou(conf: &[u64], ncls: usize) -> f64 {
    let mut ious = Vec::new();
    for c in 0..ncls {
        let row: u64 = (0..ncls).map(|p| conf[c * ncls + p]).sum();
        if row == 0 {
            continue;
        }
        let col: u64 = (0..ncls).map(|g| conf[g * ncls + c]).sum();
        let inter = conf[c * ncls + c];
        ious.push(inter as f64 / (row + col - inter).max(1) as f64);
    }
    if ious.is_empty() {
        0.0
    } else {
        ious.iter().sum::<f64>() / ious.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(x0: usize, y0: usize, s: usize) -> Mask {
        let mut m = Mask::new(8, 8);
        for y in y0..y0 + s {
            for x in x0..x0 + s {
                m.set(x, y, true);
            }
        }
        m
    }

    #[test]
    fn class_hits_take_the_best_iou_output_of_any_class() {
        let (a, b) = (sq(0, 0, 4), sq(4, 4, 4));
        let g = vec![(1, &a), (2, &b)];
        // Output 0 overlaps GT 0 fully with the wrong class; output 1 half-covers GT 1.
        let dets = vec![(2, 0.9, sq(0, 0, 4)), (2, 0.8, sq(4, 4, 2)), (1, 0.1, sq(4, 4, 3))];
        let im = ap_image(&g, &dets);
        // GT 0: best is output 0 (IoU 1, wrong class); GT 1: best is output 2 (9/16, class 1 != 2).
        assert_eq!(class_hits(&im, &g), (0, 2));
        let dets = vec![(1, 0.9, sq(0, 0, 4)), (2, 0.8, sq(4, 4, 3))];
        assert_eq!(class_hits(&ap_image(&g, &dets), &g), (2, 2));
        let dets = vec![(1, 0.9, sq(0, 0, 2))]; // IoU 4/16 < 0.5: not matched
        assert_eq!(class_hits(&ap_image(&g, &dets), &g), (0, 0));
    }

    #[test]
    fn paint_skips_outputs_at_or_below_the_paint_score() {
        let v = Video { id: 1, width: 8, height: 8, length: 1, file_names: vec![], seed: 0, difficulty: String::new() };
        let a = sq(0, 0, 4);
        let g = vec![(1, &a)];
        // A whole-frame output of class 2 at score 0.01 under the right one at 0.9.
        let dets = vec![(2, 0.01, sq(0, 0, 8)), (1, 0.9, sq(0, 0, 4))];
        let mut conf = vec![0u64; 9];
        paint_confusion(&g, &dets, &v, 3, &mut conf);
        assert_eq!(conf[0], 48, "background stays background");
        assert_eq!(conf[3 + 1], 16);
        assert_eq!(conf[2], 0, "the 0.01 output paints nothing");
        // At 0.5 the same output is painted (below the class-1 one).
        let dets = vec![(2, 0.5, sq(0, 0, 8)), (1, 0.9, sq(0, 0, 4))];
        let mut conf = vec![0u64; 9];
        paint_confusion(&g, &dets, &v, 3, &mut conf);
        assert_eq!((conf[0], conf[2], conf[3 + 1]), (0, 48, 16));
    }

    #[test]
    fn miou_counts_ground_truth_classes_only() {
        // 3 classes; GT: 6 background, 2 of class 1; prediction paints 1 of them + 1 bg as 2.
        let mut conf = vec![0u64; 9];
        conf[0] = 5; // bg -> bg
        conf[2] = 1; // bg -> 2
        conf[3 + 1] = 1; // 1 -> 1
        conf[3] = 1; // 1 -> bg
        let bg = 5.0 / (6.0 + 6.0 - 5.0);
        let c1 = 1.0 / (2.0 + 1.0 - 1.0);
        assert!((miou(&conf, 3) - (bg + c1) / 2.0).abs() < 1e-12);
    }
}
