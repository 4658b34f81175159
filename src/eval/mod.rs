//! `segstream eval`: runs tracker variants over annotated videos, writes results in
//! standard formats and scores them (the CLI in `plugins/src/bin/segstream/eval.rs` only
//! parses arguments and decodes PNG frames).
//!
//! Layout of the output directory, per variant `<name>` (slashes become `-`):
//! `<name>/vis_results.json` (YouTube-VIS), `<name>/mots/<video id>.txt` (MOTS),
//! `<name>/vos.json` (per-object RLE; `vos_first_pixel.json` for the strict protocol, see
//! `score::VOS_MIN_AREA`), `<name>/frame_results.json` (every frame's objects as emitted,
//! see `frame_scores`); plus `summary.json` and `table.md`.
pub mod bench;
pub mod formats;
pub mod frame_scores;
pub mod run;
pub mod score;
pub mod soak;
pub mod variants;

use crate::metrics::vos::JfSummary;
use crate::segmenter::Segmenter;
use crate::tracker::{TrackerConfig, TrackerMode};
use crate::world::ytvis::{Annotation, Dataset, Video};
use formats::{write_json, write_mots, VosResults};
use run::{run_video, Protocol, Timing};
use std::collections::BTreeMap;
use std::path::Path;
use variants::{Row, Variant};

/// Supplies frame `i` of `video` as packed RGB8.
pub type Frames<'a> = dyn FnMut(&Video, usize) -> Result<Vec<u8>, String> + 'a;

/// Runs and scores every variant; writes the files under `out`. Returns the table rows.
/// `vos = false` skips the two VOS passes of the category variants (quick comparisons).
pub fn evaluate(
    seg: &mut Segmenter,
    gt: &Dataset,
    variants: &[Variant],
    base: &TrackerConfig,
    out: &Path,
    frames: &mut Frames,
    vos: bool,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for v in variants {
        *seg.tracker_mut().config_mut() = v.apply(base);
        let dir = out.join(v.name.replace('/', "-"));
        let mut row = if v.prompt_only() {
            Row { variant: v.name.clone(), prompt_only: true, ..Default::default() }
        } else {
            run_category(seg, gt, &v.name, &dir, frames)?
        };
        if v.mode == TrackerMode::PromptQuery && (vos || v.prompt_only()) {
            let (jf, next, timing) = run_vos(seg, gt, score::VOS_MIN_AREA, &dir.join("vos.json"), frames)?;
            (row.jf, row.jf_ci95) = (Some(jf.jf), jf.jf_ci95);
            (row.next_iou, row.next_iou_ci95) = (Some(next.0), next.2);
            row.jf_first_pixel = Some(run_vos(seg, gt, 0.0, &dir.join("vos_first_pixel.json"), frames)?.0.jf);
            if v.prompt_only() {
                (row.frame_ms, row.tracker_ms, row.tracker_share) = (timing.frame_ms(), timing.tracker_ms(), timing.tracker_share());
            }
        }
        tracing::info!(variant = %v.name, "evaluated");
        rows.push(row);
    }
    write_json(&out.join("summary.json"), &rows).map_err(|e| e.to_string())?;
    std::fs::write(out.join("table.md"), variants::table(&rows)).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(rows)
}

/// The category protocol: writes the VIS and MOTS files under `dir` and scores them.
fn run_category(seg: &mut Segmenter, gt: &Dataset, name: &str, dir: &Path, frames: &mut Frames) -> Result<Row, String> {
    std::fs::create_dir_all(dir.join("mots")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (mut vis, mots, timing) = run_all(seg, gt, Protocol::Category, frames)?;
    write_json(&dir.join("vis_results.json"), &vis.iter().flat_map(|o| o.vis.iter()).collect::<Vec<_>>()).map_err(|e| e.to_string())?;
    for (vid, rows) in &mots {
        write_mots(&dir.join(format!("mots/{vid}.txt")), rows).map_err(|e| e.to_string())?;
    }
    let frames: Vec<_> = vis.iter_mut().flat_map(|o| std::mem::take(&mut o.frames)).collect();
    write_json(&dir.join("frame_results.json"), &frames).map_err(|e| e.to_string())?;
    let all_vis: Vec<_> = vis.into_iter().flat_map(|o| o.vis).collect();
    score_row(name, gt, &all_vis, &mots, &frames, &timing)
}

/// The VOS protocol with objects given at `min_area` (fraction of the frame); writes the
/// per-object results to `path` and returns J&F, the next-frame IoU and the run's timing.
fn run_vos(
    seg: &mut Segmenter,
    gt: &Dataset,
    min_area: f64,
    path: &Path,
    frames: &mut Frames,
) -> Result<(JfSummary, NextIou, Timing), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let (vos_out, _, timing) = run_all(seg, gt, Protocol::Prompt(min_area), frames)?;
    let vos: VosResults = vos_out.into_iter().zip(sorted(gt)).map(|(o, video)| (video.id, o.vos)).collect();
    write_json(path, &vos).map_err(|e| e.to_string())?;
    let next = score::next_frame_iou(gt, &vos, min_area)?;
    Ok((score::vos_jf(gt, &vos, min_area)?, next, timing))
}

fn sorted(gt: &Dataset) -> Vec<&Video> {
    let mut v: Vec<&Video> = gt.videos.iter().collect();
    v.sort_by_key(|v| v.id);
    v
}

/// (mean, objects, 95 % interval) of `score::next_frame_iou`.
type NextIou = (f64, usize, Option<(f64, f64)>);

type RunAll = (Vec<run::VideoOutput>, BTreeMap<u64, Vec<formats::MotsRow>>, Timing);

/// One protocol over every video (in id order).
fn run_all(seg: &mut Segmenter, gt: &Dataset, protocol: Protocol, frames: &mut Frames) -> Result<RunAll, String> {
    let (mut outs, mut mots, mut timing) = (Vec::new(), BTreeMap::new(), Timing::default());
    for video in sorted(gt) {
        let anns: Vec<&Annotation> = gt.annotations.iter().filter(|a| a.video_id == video.id).collect();
        let mut src = |i: usize| frames(video, i);
        let mut o = run_video(seg, video, &anns, protocol, &mut src)?;
        timing.add(&o.timing);
        mots.insert(video.id, std::mem::take(&mut o.mots));
        outs.push(o);
    }
    Ok((outs, mots, timing))
}

fn score_row(
    name: &str,
    gt: &Dataset,
    vis: &[formats::VisResult],
    mots: &BTreeMap<u64, Vec<formats::MotsRow>>,
    frames: &[formats::FrameResult],
    timing: &Timing,
) -> Result<Row, String> {
    let m = score::mot_scores(gt, mots)?;
    let h = m.hota.summary();
    let online = frame_scores::frame_scores(gt, frames)?;
    Ok(Row {
        variant: name.to_string(),
        prompt_only: false,
        vis_map: score::vis_map(gt, vis)?.map,
        frame_map: score::frame_map(gt, vis)?.map,
        online_ap: online.ap.map,
        online_ap50: online.ap.ap50,
        online_class_acc: online.class_acc,
        online_miou: online.miou,
        hota: h.hota,
        deta: h.deta,
        assa: h.assa,
        idf1: m.id.idf1(),
        idsw: m.clear.num_switches,
        mota: m.clear.mota(),
        jf: None,
        jf_ci95: None,
        jf_first_pixel: None,
        next_iou: None,
        next_iou_ci95: None,
        frame_ms: timing.frame_ms(),
        tracker_ms: timing.tracker_ms(),
        tracker_share: timing.tracker_share(),
    })
}
