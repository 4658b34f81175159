//! `segstream::eval` end to end on the tiny bundle (real ONNX Runtime) over two held-out
//! world videos: the files are written in the standard formats, parse back, re-score to
//! the reported numbers, and the VOS protocol hands every object's mask to the tracker on
//! its first visible frame (checked through the result file, whatever the weights).
use segstream::eval::formats::{read_json, read_mots, FrameResult, VisResult, VosResults};
use segstream::eval::frame_scores::frame_scores;
use segstream::eval::{evaluate, score, variants};
use segstream::segmenter::{Segmenter, SegmenterSettings};
use segstream::world::ytvis::{categories, frame_path, Dataset, Video, VideoRecorder};
use segstream::world::{Difficulty, World, WorldConfig};
use std::path::PathBuf;

const LEN: usize = 6;
const SIZE: usize = 96;

fn dataset() -> Dataset {
    let mut d = Dataset { videos: vec![], categories: categories(), annotations: vec![] };
    for (i, seed) in [1_000_000u64, 1_000_001].into_iter().enumerate() {
        let id = i as u64 + 1;
        let mut world = World::new(WorldConfig::new(seed, Difficulty::Normal, SIZE, SIZE)).unwrap();
        let mut rec = VideoRecorder::new(id, LEN);
        let mut rgb = vec![0; SIZE * SIZE * 3];
        for f in 0..LEN {
            rec.add(f, &world.render(f as u64, &mut rgb).unwrap());
        }
        let first = d.annotations.len() as u64 + 1;
        d.annotations.extend(rec.finish(first));
        let file_names = (0..LEN).map(|f| frame_path(i, f)).collect();
        d.videos.push(Video { id, width: SIZE, height: SIZE, length: LEN, file_names, seed, difficulty: "normal".into() });
    }
    d
}

#[test]
fn eval_writes_rescorable_standard_files() {
    let gt = dataset();
    assert!(gt.annotations.len() >= 2, "the videos must contain objects");
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("engines/tiny");
    let mut seg = Segmenter::open(&SegmenterSettings { model: Some(model), ..Default::default() }).unwrap();
    let out = tempfile::tempdir().unwrap();
    let vs: Vec<_> = variants::default_variants()
        .into_iter()
        .filter(|v| ["prompt-query/i3", "similarity", "prompt-query/i0"].contains(&v.name.as_str()))
        .collect();
    let mut frames = |v: &Video, i: usize| {
        let mut w = World::new(WorldConfig::new(v.seed, Difficulty::Normal, SIZE, SIZE)).map_err(|e| e.to_string())?;
        let mut rgb = vec![0; SIZE * SIZE * 3];
        w.render(i as u64, &mut rgb).map_err(|e| e.to_string())?;
        Ok(rgb)
    };
    let rows = evaluate(&mut seg, &gt, &vs, &Default::default(), out.path(), &mut frames, true).unwrap();
    assert_eq!(rows.iter().map(|r| r.variant.as_str()).collect::<Vec<_>>(), ["prompt-query/i3", "similarity", "prompt-query/i0"]);
    assert!(rows[1].jf.is_none(), "the similarity tracker cannot follow prompts");
    // Detection off: scored on VOS only, from its own result file; no category files.
    let i0 = &rows[2];
    let vos0: VosResults = read_json(&out.path().join("prompt-query-i0/vos.json")).unwrap();
    assert!(i0.prompt_only && !out.path().join("prompt-query-i0/vis_results.json").exists());
    assert_eq!(Some(score::vos_jf(&gt, &vos0, score::VOS_MIN_AREA).unwrap().jf), i0.jf);
    assert!(i0.frame_ms > 0.0, "{i0:?}");
    assert!(std::fs::read_to_string(out.path().join("table.md")).unwrap().contains("| prompt-query/i3 |"));

    let dir = out.path().join("prompt-query-i3");
    let vis: Vec<VisResult> = read_json(&dir.join("vis_results.json")).unwrap();
    let mots = gt.videos.iter().map(|v| (v.id, read_mots(&dir.join(format!("mots/{}.txt", v.id))).unwrap())).collect();
    let vos: VosResults = read_json(&dir.join("vos.json")).unwrap();
    let r = &rows[0];
    assert_eq!(score::vis_map(&gt, &vis).unwrap().map, r.vis_map);
    let m = score::mot_scores(&gt, &mots).unwrap();
    assert_eq!((m.id.idf1(), m.clear.num_switches), (r.idf1, r.idsw));
    let rescored = score::vos_jf(&gt, &vos, score::VOS_MIN_AREA).unwrap();
    assert_eq!((Some(rescored.jf), rescored.jf_ci95), (r.jf, r.jf_ci95));
    let (lo, hi) = r.jf_ci95.expect("an interval for a scored variant");
    assert!(lo <= rescored.jf && rescored.jf <= hi, "{lo} {} {hi}", rescored.jf);
    let vos1: VosResults = read_json(&dir.join("vos_first_pixel.json")).unwrap();
    assert_eq!(Some(score::vos_jf(&gt, &vos1, 0.0).unwrap().jf), r.jf_first_pixel);
    assert!(r.frame_ms > 0.0 && r.tracker_ms >= 0.0 && r.tracker_share < 1.0, "{r:?}");
    // The per-frame output as emitted, rescored from its file; the next-frame IoU of the VOS run.
    let emitted: Vec<FrameResult> = read_json(&dir.join("frame_results.json")).unwrap();
    let online = frame_scores(&gt, &emitted).unwrap();
    assert_eq!(
        (online.ap.map, online.ap.ap50, online.class_acc, online.miou),
        (r.online_ap, r.online_ap50, r.online_class_acc, r.online_miou)
    );
    assert_eq!(emitted.len(), mots.values().map(Vec::len).sum::<usize>(), "one per-frame result per MOTS row");
    assert!(online.matched > 0 && r.online_miou > 0.0, "{r:?}");
    let next = score::next_frame_iou(&gt, &vos, score::VOS_MIN_AREA).unwrap();
    assert_eq!((Some(next.0), next.2), (r.next_iou, r.next_iou_ci95));
    assert!(next.1 > 0, "objects scored on the frame after their prompt frame");

    // VOS plumbing: each object's given mask comes back on its prompt frame (the tracker
    // outputs a mask prompt as the target's mask on that frame), which is its first frame
    // of at least VOS_MIN_AREA of the picture.
    let mut ious = Vec::new();
    for a in &gt.annotations {
        let v = gt.videos.iter().find(|v| v.id == a.video_id).unwrap();
        let Some(f) = score::prompt_frame(a, v.width, v.height, score::VOS_MIN_AREA) else { continue };
        let min = (score::VOS_MIN_AREA * (v.width * v.height) as f64).ceil() as u64;
        assert!(a.areas[f].unwrap() >= min && a.areas[..f].iter().all(|x| x.is_none_or(|x| x < min)));
        let want = segstream::rle::decode(a.segmentations[f].as_ref().unwrap()).unwrap();
        // An object too small for the 1/4-resolution grid has no mask, so no entry.
        let got = vos.get(&a.video_id).and_then(|o| o.get(&a.id)).and_then(|t| t[f].as_ref()).map(|r| segstream::rle::decode(r).unwrap());
        ious.push(got.map_or(0.0, |g| g.iou(&want)));
    }
    let mean = ious.iter().sum::<f32>() / ious.len() as f32;
    // Masks go through the 1/4-resolution mask grid and back: small objects lose detail.
    assert!(mean > 0.6, "prompt masks on their first frame: {ious:?}");
}
