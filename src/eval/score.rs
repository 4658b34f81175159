//! Scores of predictions (in the standard formats) against a YouTube-VIS ground truth.
//! Every metric here is checked against an outside judge (tests/metrics_judges.rs).
use super::formats::{decode, MotsRow, VisResult, VosResults};
use crate::mask::Mask;
use crate::metrics::ap::{coco_ap, ApImage, ApSummary};
use crate::metrics::hota::{hota, HotaCounts};
use crate::metrics::mot::{clear_mot, identity, ClearMot, IdCounts};
use crate::metrics::vos::JfAccumulator;
use crate::metrics::{frame_sim, video_iou, vos::JfSummary};
use crate::world::ytvis::{Annotation, Dataset};
use std::collections::BTreeMap;

/// COCOeval's default detections per image.
pub const MAX_DETS: usize = 100;

type Tube = Vec<Option<Mask>>;

fn tube(segs: &[Option<crate::rle::Rle>], len: usize, what: &str) -> Result<Tube, String> {
    if segs.len() != len {
        return Err(format!("{what}: {} segmentations for a video of {len} frames", segs.len()));
    }
    segs.iter().map(decode).collect::<Result<_, _>>().map_err(|e| format!("{what}: {e}"))
}

pub(super) fn gt_tubes(gt: &Dataset, video: u64, len: usize) -> Result<Vec<(&Annotation, Tube)>, String> {
    gt.annotations
        .iter()
        .filter(|a| a.video_id == video)
        .map(|a| Ok((a, tube(&a.segmentations, len, &format!("annotation {}", a.id))?)))
        .collect()
}

fn refs(t: &Tube) -> Vec<Option<&Mask>> {
    t.iter().map(|m| m.as_ref()).collect()
}

/// YouTube-VIS video mAP: COCO AP where an image is a video and IoU is the video IoU.
pub fn vis_map(gt: &Dataset, results: &[VisResult]) -> Result<ApSummary, String> {
    let mut images = Vec::new();
    for v in sorted_videos(gt) {
        let gts = gt_tubes(gt, v.id, v.length)?;
        let dts = result_tubes(results, v)?;
        let mut im = ApImage { gt: gts.iter().map(|g| g.0.category_id).collect(), ..Default::default() };
        for (r, t) in &dts {
            im.dt.push((r.category_id, r.score));
            im.iou.extend(gts.iter().map(|(_, g)| video_iou(&refs(t), &refs(g))));
        }
        images.push(im);
    }
    Ok(coco_ap(&images, MAX_DETS))
}

/// The decoded mask tubes of every result for video `v`.
fn result_tubes<'r>(results: &'r [VisResult], v: &crate::world::ytvis::Video) -> Result<Vec<(&'r VisResult, Tube)>, String> {
    results
        .iter()
        .filter(|r| r.video_id == v.id)
        .map(|r| Ok((r, tube(&r.segmentations, v.length, &format!("result for video {}", v.id))?)))
        .collect()
}

pub(super) fn sorted_videos(gt: &Dataset) -> Vec<&crate::world::ytvis::Video> {
    let mut v: Vec<_> = gt.videos.iter().collect();
    v.sort_by_key(|v| v.id);
    v
}

/// Per-frame mask AP: COCO AP where an image is one frame; each result's mask on a frame
/// is a detection with the track's score.
pub fn frame_map(gt: &Dataset, results: &[VisResult]) -> Result<ApSummary, String> {
    let mut images = Vec::new();
    for v in sorted_videos(gt) {
        let gts = gt_tubes(gt, v.id, v.length)?;
        let dts = result_tubes(results, v)?;
        for f in 0..v.length {
            let g: Vec<(u64, &Mask)> = gts.iter().filter_map(|(a, t)| t[f].as_ref().map(|m| (a.category_id, m))).collect();
            let mut im = ApImage { gt: g.iter().map(|x| x.0).collect(), ..Default::default() };
            for (r, t) in &dts {
                if let Some(m) = &t[f] {
                    im.dt.push((r.category_id, r.score));
                    im.iou.extend(g.iter().map(|(_, gm)| {
                        let (i, u) = m.inter_union(gm);
                        if u == 0 {
                            0.0
                        } else {
                            i as f64 / u as f64
                        }
                    }));
                }
            }
            images.push(im);
        }
    }
    Ok(coco_ap(&images, MAX_DETS))
}

/// Tracking scores summed over videos (class-agnostic, mask IoU, match at IoU >= 0.5).
#[derive(Debug, Clone, Default)]
pub struct MotScores {
    pub clear: ClearMot,
    pub id: IdCounts,
    pub hota: HotaCounts,
}

/// CLEAR MOT, IDF1 and HOTA of MOTS rows per video (`tracks[video id]`).
pub fn mot_scores(gt: &Dataset, tracks: &BTreeMap<u64, Vec<MotsRow>>) -> Result<MotScores, String> {
    let mut s = MotScores::default();
    for v in sorted_videos(gt) {
        let gts = gt_tubes(gt, v.id, v.length)?;
        let mut per_frame: Vec<Vec<(u64, Mask)>> = vec![Vec::new(); v.length];
        for r in tracks.get(&v.id).map(|v| v.as_slice()).unwrap_or(&[]) {
            if r.frame >= v.length {
                return Err(format!("video {}: MOTS frame {} beyond its {} frames", v.id, r.frame + 1, v.length));
            }
            let m = crate::rle::decode(&r.rle).map_err(|e| format!("video {} frame {}: {e}", v.id, r.frame + 1))?;
            per_frame[r.frame].push((r.track_id, m));
        }
        let frames: Vec<_> = (0..v.length)
            .map(|f| {
                let g: Vec<(u64, &Mask)> = gts.iter().filter_map(|(a, t)| t[f].as_ref().map(|m| (a.id, m))).collect();
                let h: Vec<(u64, &Mask)> = per_frame[f].iter().map(|(id, m)| (*id, m)).collect();
                frame_sim(&g, &h)
            })
            .collect();
        s.clear.add(&clear_mot(&frames, 0.5));
        s.id.add(&identity(&frames, 0.5));
        s.hota.add(&hota(&frames));
    }
    Ok(s)
}

/// VOS protocol: an object is given on the first frame where its visible area reaches this
/// fraction of the frame (0.1 %: 66 px at 256x256, an 8x8 patch). The world's objects enter
/// through the frame edge, so their first visible frame often shows 1-4 pixels: no user
/// would annotate that, and a prompt of one pixel carries neither shape nor appearance.
/// `segstream eval` also reports the strict protocol (first visible pixel, fraction 0).
pub const VOS_MIN_AREA: f64 = 0.001;

/// The frame an object is given on under the VOS protocol with `min_area_fraction`.
pub fn prompt_frame(a: &Annotation, width: usize, height: usize, min_area_fraction: f64) -> Option<usize> {
    let min = ((min_area_fraction * (width * height) as f64).ceil() as u64).max(1);
    // A dataset without areas (written by hand) falls back to the first visible frame.
    (0..a.segmentations.len()).find(|&f| a.segmentations[f].is_some() && a.areas.get(f).copied().flatten().is_none_or(|x| x >= min))
}

/// Semi-supervised VOS J&F: each ground-truth object is given on its prompt frame
/// ([`prompt_frame`]); scored on the following frames, the video's last frame excluded
/// (DAVIS excludes the first and last). A missing prediction counts as an empty mask.
pub fn vos_jf(gt: &Dataset, pred: &VosResults, min_area_fraction: f64) -> Result<JfSummary, String> {
    let mut acc = JfAccumulator::default();
    for v in sorted_videos(gt) {
        let empty = Mask::new(v.width, v.height);
        for (a, t) in gt_tubes(gt, v.id, v.length)? {
            let Some(first) = prompt_frame(a, v.width, v.height, min_area_fraction) else { continue };
            let p = match pred.get(&v.id).and_then(|o| o.get(&a.id)) {
                Some(segs) => tube(segs, v.length, &format!("VOS object {}", a.id))?,
                None => vec![None; v.length],
            };
            let frames = (first + 1)..v.length.saturating_sub(1);
            acc.add_object(v.id, frames.map(|f| (p[f].as_ref().unwrap_or(&empty), t[f].as_ref().unwrap_or(&empty))));
        }
    }
    Ok(acc.summary())
}

/// A mean IoU, the number of objects it is over, and its 95 % interval.
pub type IouSummary = (f64, usize, Option<(f64, f64)>);

/// The prompt-guided figure on the VOS run: each object given as a mask on its prompt
/// frame ([`prompt_frame`]), the IoU of the prediction on the next frame (objects present
/// there; a missing prediction counts as empty). Returns (mean, objects, 95 % interval
/// resampling whole videos).
pub fn next_frame_iou(gt: &Dataset, pred: &VosResults, min_area_fraction: f64) -> Result<IouSummary, String> {
    let (mut ious, mut groups) = (Vec::new(), Vec::new());
    for v in sorted_videos(gt) {
        for (a, t) in gt_tubes(gt, v.id, v.length)? {
            let Some(first) = prompt_frame(a, v.width, v.height, min_area_fraction) else { continue };
            let Some(Some(g)) = t.get(first + 1) else { continue };
            let p = match pred.get(&v.id).and_then(|o| o.get(&a.id)).and_then(|segs| segs.get(first + 1)) {
                Some(r) => decode(r).map_err(|e| format!("VOS object {}: {e}", a.id))?,
                None => None,
            };
            let p = p.unwrap_or_else(|| Mask::new(v.width, v.height));
            ious.push(crate::metrics::vos::j_measure(&p, g));
            groups.push(v.id);
        }
    }
    let mean = if ious.is_empty() { 0.0 } else { ious.iter().sum::<f64>() / ious.len() as f64 };
    Ok((mean, ious.len(), crate::metrics::bootstrap::mean_ci95(&ious, &groups, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rle::encode;
    use crate::world::ytvis::{categories, Video};

    fn row(bits: &[u8]) -> Mask {
        Mask { width: bits.len(), height: 1, data: bits.to_vec() }
    }

    fn ann(id: u64, frames: &[Option<Mask>]) -> Annotation {
        Annotation {
            id,
            video_id: 1,
            category_id: 1,
            iscrowd: 0,
            track_id: id,
            segmentations: frames.iter().map(|m| m.as_ref().map(encode)).collect(),
            areas: vec![None; frames.len()],
            bboxes: vec![None; frames.len()],
            visible_fractions: vec![1.0; frames.len()],
        }
    }

    #[test]
    fn next_frame_iou_scores_the_frame_after_the_prompt_frame() {
        let video = Video { id: 1, width: 4, height: 1, length: 3, file_names: vec![], seed: 0, difficulty: String::new() };
        let on = |b: &[u8]| Some(row(b));
        let gt = Dataset {
            videos: vec![video],
            categories: categories(),
            annotations: vec![
                ann(1, &[on(&[1, 1, 0, 0]), on(&[1, 1, 0, 0]), on(&[1, 1, 0, 0])]),
                ann(2, &[None, on(&[0, 0, 1, 1]), on(&[0, 0, 1, 1])]), // given on frame 1
                ann(3, &[on(&[0, 0, 0, 1]), None, None]),              // gone on frame 1: not scored
            ],
        };
        // Object 1 at frame 1: predicted [1,0,0,0] -> IoU 1/2; object 2 at frame 2: no prediction -> 0.
        let pred: VosResults = BTreeMap::from([(1, BTreeMap::from([(1, vec![None, Some(encode(&row(&[1, 0, 0, 0]))), None])]))]);
        let (mean, n, ci) = next_frame_iou(&gt, &pred, 0.0).unwrap();
        assert_eq!((mean, n), (0.25, 2));
        assert_eq!(ci, Some((0.25, 0.25)), "one video: nothing to resample between");
    }
}
