//! Our metric code against outside judges on the SAME files: this test writes a ground
//! truth (YouTube-VIS JSON) and noisy predictions in the formats `segstream eval` writes
//! (YouTube-VIS results, MOTS text, VOS RLE JSON), scores them with segstream, runs
//! tests/judges/metrics_judge.py (pycocotools, py-motmetrics, a numpy DAVIS J&F) on the
//! files and asserts agreement to 1e-3; the per-frame results (`frame_results.json`: AP,
//! AP50, class accuracy of matched objects, semantic mIoU) are judged by
//! engines/judge_frames.py (pycocotools). Needs python3 with pycocotools, motmetrics, scipy.
use segstream::eval::formats::{self, FrameResult, MotsRow, VisResult, VosResults};
use segstream::eval::frame_scores::frame_scores;
use segstream::eval::score;
use segstream::mask::Mask;
use segstream::rle;
use segstream::world::ytvis::{categories, Annotation, Dataset, Video};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The world's SplitMix64, in f64 / u64 as this file's geometry wants.
struct Rng(segstream::world::rng::Rng);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n as u32) as u64
    }
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A moving disc: centre, velocity, radius; present on frames [start, end).
#[derive(Clone)]
struct Disc {
    x: f64,
    y: f64,
    vx: f64,
    vy: f64,
    r: f64,
    start: usize,
    end: usize,
    class: u64,
}

const W: usize = 48;
const H: usize = 40;
const LEN: usize = 10;

/// Label map with discs drawn in order (later ones in front): masks never overlap.
fn render(discs: &[Option<(f64, f64, f64)>]) -> Vec<Mask> {
    let mut label = vec![usize::MAX; W * H];
    for (k, d) in discs.iter().enumerate() {
        let Some((cx, cy, r)) = d else { continue };
        for y in 0..H {
            for x in 0..W {
                let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                if dx * dx + dy * dy <= r * r {
                    label[y * W + x] = k;
                }
            }
        }
    }
    (0..discs.len()).map(|k| Mask { width: W, height: H, data: label.iter().map(|&l| (l == k) as u8).collect() }).collect()
}

fn pos(d: &Disc, f: usize) -> Option<(f64, f64, f64)> {
    (d.start..d.end).contains(&f).then_some((d.x + d.vx * f as f64, d.y + d.vy * f as f64, d.r))
}

struct Data {
    gt: Dataset,
    vis: Vec<VisResult>,
    mots: BTreeMap<u64, Vec<MotsRow>>,
    vos: VosResults,
    frames: Vec<FrameResult>,
}

fn some_mask(m: Mask) -> Option<Mask> {
    (m.area() > 0).then_some(m)
}

/// Ground truth and predictions for `videos` videos: predictions jitter the discs, miss
/// frames, switch identities, confuse classes and add false-positive tracks. `clean`:
/// still discs on a grid, no false positive -- no two pairs compete for a match.
fn make(seed: u64, videos: u64, clean: bool) -> Data {
    let mut rng = Rng(segstream::world::rng::Rng::new(seed));
    let mut d = Data {
        gt: Dataset { videos: vec![], categories: categories(), annotations: vec![] },
        vis: vec![],
        mots: BTreeMap::new(),
        vos: BTreeMap::new(),
        frames: vec![],
    };
    let mut next_ann = 1;
    for vid in 1..=videos {
        d.gt.videos.push(Video { id: vid, width: W, height: H, length: LEN, file_names: vec![], seed: vid, difficulty: String::new() });
        let n = 2 + rng.below(3) as usize;
        let discs: Vec<Disc> = (0..n)
            .map(|k| {
                let start = if rng.below(3) == 0 { rng.below(4) as usize } else { 0 };
                let (x, y) = if clean {
                    (12.0 + 24.0 * (k % 2) as f64, 10.0 + 20.0 * (k / 2) as f64)
                } else {
                    (6.0 + rng.unit() * 36.0, 6.0 + rng.unit() * 28.0)
                };
                let v = if clean { 0.0 } else { 1.0 };
                Disc {
                    x,
                    y,
                    vx: v * (rng.unit() * 2.0 - 1.0),
                    vy: v * (rng.unit() * 2.0 - 1.0),
                    r: if clean { 3.0 + rng.unit() * 3.0 } else { 3.0 + rng.unit() * 5.0 },
                    start,
                    end: if rng.below(3) == 0 { LEN - rng.below(4) as usize } else { LEN },
                    class: 1 + rng.below(3),
                }
            })
            .collect();
        // Predicted discs: jittered copies (+ one false positive), drawn in another order.
        let mut pd: Vec<Disc> = discs
            .iter()
            .map(|g| Disc {
                x: g.x + rng.unit() * 2.0 - 1.0,
                y: g.y + rng.unit() * 2.0 - 1.0,
                r: g.r * (0.9 + 0.2 * rng.unit()),
                ..g.clone()
            })
            .collect();
        if !clean {
            pd.push(Disc { x: 24.0, y: 20.0, vx: 0.5, vy: 0.0, r: 4.0, start: 2, end: 7, class: 1 });
        }
        let miss: Vec<Vec<bool>> = pd.iter().map(|_| (0..LEN).map(|_| rng.below(8) == 0).collect()).collect();
        let switch_at: Vec<Option<usize>> = pd.iter().map(|_| (rng.below(3) == 0).then(|| 2 + rng.below(6) as usize)).collect();
        let mut gt_tubes = vec![vec![None; LEN]; n];
        let mut pr_tubes = vec![vec![None; LEN]; pd.len()];
        for f in 0..LEN {
            let g = render(&discs.iter().map(|x| pos(x, f)).collect::<Vec<_>>());
            let order: Vec<usize> = (0..pd.len()).rev().collect(); // predictions layered in reverse
            let p = render(&order.iter().map(|&k| if miss[k][f] { None } else { pos(&pd[k], f) }).collect::<Vec<_>>());
            for k in 0..n {
                gt_tubes[k][f] = some_mask(g[k].clone());
            }
            for (slot, &k) in order.iter().enumerate() {
                pr_tubes[k][f] = some_mask(p[slot].clone());
            }
        }
        for (k, t) in gt_tubes.iter().enumerate() {
            if t.iter().all(|m| m.is_none()) {
                continue;
            }
            d.gt.annotations.push(Annotation {
                id: next_ann,
                video_id: vid,
                category_id: discs[k].class,
                iscrowd: 0,
                track_id: k as u64 + 1,
                segmentations: t.iter().map(|m| m.as_ref().map(rle::encode)).collect(),
                areas: t.iter().map(|m| m.as_ref().map(|m| m.area() as u64)).collect(),
                bboxes: t.iter().map(|m| m.as_ref().and_then(|m| m.bbox()).map(|b| [b.x, b.y, b.w, b.h])).collect(),
                visible_fractions: vec![1.0; LEN],
            });
            // VOS: the prediction of the object given on its first frame (FP track excluded).
            d.vos.entry(vid).or_default().insert(next_ann, pr_tubes[k].iter().map(|m| m.as_ref().map(rle::encode)).collect());
            next_ann += 1;
        }
        let rows = d.mots.entry(vid).or_default();
        for (k, t) in pr_tubes.iter().enumerate() {
            let class = if rng.below(4) == 0 { 1 + (pd[k].class % 3) } else { pd[k].class };
            let id = |f: usize| if switch_at[k].is_some_and(|s| f >= s) { 100 + k as u64 } else { k as u64 + 1 };
            for (f, m) in t.iter().enumerate() {
                if let Some(m) = m {
                    rows.push(MotsRow { frame: f, track_id: id(f), category_id: class, rle: rle::encode(m) });
                    // Per frame: the class flips on one frame in five, scores vary per frame.
                    let category_id = if rng.below(5) == 0 { 1 + (class % 3) } else { class };
                    let (track_id, score) = (id(f), 0.2 + 0.8 * rng.unit());
                    d.frames.push(FrameResult { video_id: vid, frame: f, track_id, category_id, score, segmentation: rle::encode(m) });
                }
            }
            if t.iter().any(|m| m.is_some()) {
                d.vis.push(VisResult {
                    video_id: vid,
                    category_id: class,
                    score: 0.3 + 0.7 * rng.unit(),
                    segmentations: t.iter().map(|m| m.as_ref().map(rle::encode)).collect(),
                });
            }
        }
        rows.sort_by_key(|r| (r.frame, r.track_id));
    }
    d
}

/// Writes the files, reads them back and scores them with segstream.
fn ours(dir: &Path, d: &Data) -> BTreeMap<&'static str, f64> {
    formats::write_json(&dir.join("gt.json"), &d.gt).unwrap();
    formats::write_json(&dir.join("vis.json"), &d.vis).unwrap();
    formats::write_json(&dir.join("vos.json"), &d.vos).unwrap();
    formats::write_json(&dir.join("frame_results.json"), &d.frames).unwrap();
    std::fs::create_dir_all(dir.join("mots")).unwrap();
    for (vid, rows) in &d.mots {
        formats::write_mots(&dir.join(format!("mots/{vid}.txt")), rows).unwrap();
    }
    let gt: Dataset = formats::read_json(&dir.join("gt.json")).unwrap();
    let vis: Vec<VisResult> = formats::read_json(&dir.join("vis.json")).unwrap();
    let vos: VosResults = formats::read_json(&dir.join("vos.json")).unwrap();
    let mots: BTreeMap<u64, Vec<MotsRow>> =
        gt.videos.iter().map(|v| (v.id, formats::read_mots(&dir.join(format!("mots/{}.txt", v.id))).unwrap())).collect();
    let m = score::mot_scores(&gt, &mots).unwrap();
    let h = m.hota.summary();
    let jf = score::vos_jf(&gt, &vos, 0.0).unwrap(); // the judge gives objects on their first visible frame
    let frames: Vec<FrameResult> = formats::read_json(&dir.join("frame_results.json")).unwrap();
    let online = frame_scores(&gt, &frames).unwrap();
    BTreeMap::from([
        ("online_ap", online.ap.map),
        ("online_ap50", online.ap.ap50),
        ("online_class_acc", online.class_acc),
        ("online_miou", online.miou),
        ("vis_map", score::vis_map(&gt, &vis).unwrap().map),
        ("frame_map", score::frame_map(&gt, &vis).unwrap().map),
        ("idf1", m.id.idf1()),
        ("idtp", m.id.idtp as f64),
        ("idsw", m.clear.num_switches as f64),
        ("mota", m.clear.mota()),
        ("motp", m.clear.motp()),
        ("hota", h.hota),
        ("deta", h.deta),
        ("assa", h.assa),
        ("loca", h.loca),
        ("deta_05", h.deta_alpha[9]),
        ("loca_05", h.loca_alpha[9]),
        ("j", jf.j),
        ("f", jf.f),
        ("jf", jf.jf),
    ])
}

fn judge(dir: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/judges/metrics_judge.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["gt.json", "vis.json", "mots", "vos.json"].map(|f| dir.join(f)))
        .output()
        .expect("python3 must be installed for the judge");
    assert!(out.status.success(), "judge failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("judge prints JSON");
    let frames = judge_frames(dir);
    let inst = &frames["instance"];
    for (ours, theirs) in [("online_ap", &inst["AP"]), ("online_ap50", &inst["AP50"]), ("online_class_acc", &inst["class_acc_matched"])] {
        v[ours] = theirs.clone();
    }
    v["online_miou"] = frames["semantic_mIoU"].clone();
    v
}

/// engines/judge_frames.py (pycocotools) on gt.json + frame_results.json.
fn judge_frames(dir: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("engines/judge_frames.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("--annotations")
        .arg(dir.join("gt.json"))
        .arg("--results")
        .arg(dir.join("frame_results.json"))
        .arg("--out")
        .arg(dir.join("judge_frames.json"))
        .output()
        .expect("python3 must be installed for the judge");
    assert!(out.status.success(), "judge_frames failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(dir.join("judge_frames.json")).unwrap()).expect("judge_frames writes JSON")
}

#[test]
fn metrics_agree_with_outside_judges() {
    for (seed, clean) in [(1u64, false), (2, false), (3, false), (4, true), (5, true)] {
        let dir = tempfile::tempdir().unwrap();
        let d = make(seed, 4, clean);
        let ours = ours(dir.path(), &d);
        let theirs = judge(dir.path());
        for (k, v) in &ours {
            // motmetrics' view of HOTA at alpha .5 holds only when no pairs compete.
            if !clean && (*k == "deta_05" || *k == "loca_05") {
                continue;
            }
            let j = theirs[k].as_f64().unwrap_or_else(|| panic!("judge has no {k}"));
            assert!((v - j).abs() < 1e-3, "seed {seed} {k}: ours {v} judge {j}");
        }
        eprintln!("seed {seed}: {ours:?}");
        // The data must exercise the metrics: imperfect but far from zero, with switches.
        assert!(ours["vis_map"] > 0.05 && ours["vis_map"] < 0.95, "{ours:?}");
        assert!(ours["idsw"] >= 1.0 && ours["idf1"] < 1.0, "{ours:?}");
        assert!(ours["jf"] > 0.3 && ours["jf"] < 0.99, "{ours:?}");
        assert!(ours["online_class_acc"] > 0.5 && ours["online_class_acc"] < 0.99, "{ours:?}");
        assert!(ours["online_ap50"] > 0.2 && ours["online_ap50"] < 0.99 && ours["online_miou"] < 0.99, "{ours:?}");
    }
}
