//! COCO-style average precision (what pycocotools' COCOeval computes for area "all"):
//! IoU thresholds .50:.05:.95, 101-point interpolated precision, at most `max_dets`
//! detections per image and category. Used for per-frame mask AP (image = frame) and for
//! YouTube-VIS video mAP (image = video, IoU = video IoU).
use std::collections::BTreeMap;

/// One image (or video): its ground-truth categories, its detections (category, score) in
/// the order of the results file, and the IoU of every detection with every ground truth.
#[derive(Debug, Clone, Default)]
pub struct ApImage {
    pub gt: Vec<u64>,
    pub dt: Vec<(u64, f64)>,
    /// Row-major [dt, gt].
    pub iou: Vec<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApSummary {
    /// Mean over IoU thresholds and categories with ground truth.
    pub map: f64,
    pub ap50: f64,
    pub ap75: f64,
    /// AP@[.5:.95] per category with ground truth.
    pub per_category: BTreeMap<u64, f64>,
}

/// `numpy.linspace(start, stop, num)` bit for bit (i * step + start, last = stop): the
/// thresholds are compared with exact ratios, so the last bit matters.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// IoU thresholds .50:.05:.95 exactly as COCOeval builds them.
pub fn iou_thresholds() -> Vec<f64> {
    linspace(0.5, 0.95, 10)
}

/// Evaluates `images` (given in image-id order, as COCOeval sorts them).
pub fn coco_ap(images: &[ApImage], max_dets: usize) -> ApSummary {
    let thr = iou_thresholds();
    let mut cats: Vec<u64> = images.iter().flat_map(|im| im.gt.iter().chain(im.dt.iter().map(|d| &d.0))).copied().collect();
    cats.sort();
    cats.dedup();
    let mut prec = Vec::new(); // (category, threshold index, ap)
    for &cat in &cats {
        let mut scored: Vec<(f64, Vec<bool>)> = Vec::new(); // per detection: score, matched per threshold
        let mut n_gt = 0usize;
        for im in images {
            n_gt += im.gt.iter().filter(|&&c| c == cat).count();
            scored.extend(match_image(im, cat, max_dets, &thr));
        }
        if n_gt == 0 {
            continue; // COCOeval leaves such categories at -1 and skips them
        }
        // Stable sort by score, descending (numpy mergesort on -score).
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        for t in 0..thr.len() {
            let flags: Vec<bool> = scored.iter().map(|s| s.1[t]).collect();
            prec.push((cat, t, interpolated_ap(&flags, n_gt)));
        }
    }
    summarise(&prec)
}

/// Greedy COCO matching of one image's detections of `cat`: returns (score, matched per threshold).
fn match_image(im: &ApImage, cat: u64, max_dets: usize, thr: &[f64]) -> Vec<(f64, Vec<bool>)> {
    let gts: Vec<usize> = (0..im.gt.len()).filter(|&g| im.gt[g] == cat).collect();
    let mut dts: Vec<usize> = (0..im.dt.len()).filter(|&d| im.dt[d].0 == cat).collect();
    dts.sort_by(|&a, &b| im.dt[b].1.total_cmp(&im.dt[a].1));
    dts.truncate(max_dets);
    let mut out: Vec<(f64, Vec<bool>)> = dts.iter().map(|&d| (im.dt[d].1, vec![false; thr.len()])).collect();
    for (t, &th) in thr.iter().enumerate() {
        let mut taken = vec![false; gts.len()];
        for (k, &d) in dts.iter().enumerate() {
            let mut best = th.min(1.0 - 1e-10);
            let mut m = None;
            for (gi, &g) in gts.iter().enumerate() {
                let iou = im.iou[d * im.gt.len() + g];
                // `>=`: like pycocotools, a later ground truth with an equal IoU wins.
                if !taken[gi] && iou >= best {
                    best = iou;
                    m = Some(gi);
                }
            }
            if let Some(gi) = m {
                taken[gi] = true;
                out[k].1[t] = true;
            }
        }
    }
    out
}

/// 101-point interpolated AP of a ranked list of true/false positives.
fn interpolated_ap(tp: &[bool], n_gt: usize) -> f64 {
    let (mut ctp, mut cfp) = (0f64, 0f64);
    let mut rc = Vec::with_capacity(tp.len());
    let mut pr = Vec::with_capacity(tp.len());
    for &t in tp {
        if t {
            ctp += 1.0
        } else {
            cfp += 1.0
        }
        rc.push(ctp / n_gt as f64);
        pr.push(ctp / (ctp + cfp + f64::EPSILON));
    }
    for i in (1..pr.len()).rev() {
        if pr[i] > pr[i - 1] {
            pr[i - 1] = pr[i];
        }
    }
    let mut sum = 0.0;
    for rt in linspace(0.0, 1.0, 101) {
        let i = rc.partition_point(|&x| x < rt); // searchsorted side="left"
        sum += pr.get(i).copied().unwrap_or(0.0);
    }
    sum / 101.0
}

fn summarise(prec: &[(u64, usize, f64)]) -> ApSummary {
    let mean = |f: &dyn Fn(&&(u64, usize, f64)) -> bool| {
        let v: Vec<f64> = prec.iter().filter(f).map(|p| p.2).collect();
        if v.is_empty() {
            -1.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let mut per_category = BTreeMap::new();
    for &(c, _, _) in prec {
        per_category.entry(c).or_insert_with(|| mean(&|p| p.0 == c));
    }
    ApSummary { map: mean(&|_| true), ap50: mean(&|p| p.1 == 0), ap75: mean(&|p| p.1 == 5), per_category }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_detections_score_one() {
        let im = ApImage { gt: vec![1, 2], dt: vec![(1, 0.9), (2, 0.8)], iou: vec![1.0, 0.0, 0.0, 1.0] };
        let s = coco_ap(&[im], 100);
        assert!((s.map - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hand_worked_precision_recall() {
        // 2 ground truths of one class; detections ranked: TP (iou .9), FP, TP (iou .6).
        // At thresholds <= .6: recall .5 at precision 1, recall 1 at precision 2/3 ->
        // interpolated: 51 points at 1, 50 points at 2/3. Above .6 (.65-.85, 5 thresholds):
        // only the first is a TP: 51 points at 1. At .9 the first still matches (.9 >= .9);
        // at .95 nothing does.
        let im = ApImage { gt: vec![7, 7], dt: vec![(7, 0.9), (7, 0.8), (7, 0.7)], iou: vec![0.9, 0.0, 0.0, 0.1, 0.0, 0.6] };
        let s = coco_ap(&[im], 100);
        let low = (51.0 + 50.0 * 2.0 / 3.0) / 101.0;
        let high = 51.0 / 101.0;
        // thresholds .5 .55 .6 -> low; .65 .7 .75 .8 .85 .9 -> high; .95 -> 0
        let want = (3.0 * low + 6.0 * high) / 10.0;
        assert!((s.map - want).abs() < 1e-9, "{} vs {want}", s.map);
        assert!((s.ap50 - low).abs() < 1e-9);
        assert!((s.ap75 - high).abs() < 1e-9);
    }

    #[test]
    fn max_dets_keeps_the_best_scored() {
        let im = ApImage { gt: vec![1], dt: vec![(1, 0.1), (1, 0.9)], iou: vec![1.0, 0.0] };
        assert_eq!(coco_ap(std::slice::from_ref(&im), 1).map, 0.0);
        assert!(coco_ap(&[im], 2).map > 0.4);
    }
}
