//! Runs the segmenter over annotated videos under two protocols and collects results in
//! the standard formats, with the time split between model inference and the tracker.
//!
//! - Category-specified (VIS / MOT): the tracker finds and follows every object itself.
//! - Prompt-specified (VOS, semi-supervised): each ground-truth object is given as a mask
//!   prompt on its prompt frame (`score::prompt_frame`); the variant's detect interval
//!   still applies (other objects found by detection take part in overlap resolution);
//!   at interval 0 (detection off) only the given objects are decoded, as in UniVS's
//!   prompt-specified inference.
use super::formats::{FrameResult, MotsRow, VisResult};
use super::score::prompt_frame;
use crate::rle::{self, Rle};
use crate::segmenter::{FrameRef, PixelFormat, Segmenter};
use crate::tracker::TargetPrompt;
use crate::world::ytvis::{Annotation, Video};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Supplies frame `i` of the current video as packed RGB8 (width * height * 3 bytes).
pub type FrameSource<'a> = dyn FnMut(usize) -> Result<Vec<u8>, String> + 'a;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    /// The tracker finds everything itself.
    Category,
    /// VOS: each object is given as a mask on its prompt frame (`score::prompt_frame` with
    /// this minimum area fraction).
    Prompt(f64),
}

/// Wall-clock split over the frames of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub frames: usize,
    /// `Segmenter::process` (preprocess + encoder + tracker step + mask upsampling).
    pub frame: Duration,
    /// Tracker step total and the decoder inside it; tracker own work = step - decode.
    pub step: Duration,
    pub decode: Duration,
}

impl Timing {
    pub fn add(&mut self, o: &Timing) {
        self.frames += o.frames;
        self.frame += o.frame;
        self.step += o.step;
        self.decode += o.decode;
    }

    fn per_frame_ms(&self, d: Duration) -> f64 {
        d.as_secs_f64() * 1e3 / self.frames.max(1) as f64
    }
    pub fn frame_ms(&self) -> f64 {
        self.per_frame_ms(self.frame)
    }
    pub fn tracker_ms(&self) -> f64 {
        self.per_frame_ms(self.step.saturating_sub(self.decode))
    }
    /// Tracker's own work as a fraction of the frame time.
    pub fn tracker_share(&self) -> f64 {
        self.tracker_ms() / self.frame_ms().max(1e-12)
    }
}

/// Results of one video.
#[derive(Debug, Default)]
pub struct VideoOutput {
    pub vis: Vec<VisResult>,
    pub mots: Vec<MotsRow>,
    /// Every emitted object of every frame, with that frame's class and score.
    pub frames: Vec<FrameResult>,
    /// Ground-truth annotation id -> per-frame predicted mask (prompt protocol).
    pub vos: BTreeMap<u64, Vec<Option<Rle>>>,
    pub timing: Timing,
}

/// Per-track accumulation over a video.
struct TrackAcc {
    tube: Vec<Option<Rle>>,
    score: f64,
    n: usize,
    votes: BTreeMap<usize, usize>,
}

/// Runs one video. `anns` are the video's ground-truth annotations (used for prompts only).
pub fn run_video(
    seg: &mut Segmenter,
    video: &Video,
    anns: &[&Annotation],
    protocol: Protocol,
    frames: &mut FrameSource,
) -> Result<VideoOutput, String> {
    seg.reset();
    seg.set_mask_size(None);
    let mut out = VideoOutput::default();
    let mut tracks: BTreeMap<u64, TrackAcc> = BTreeMap::new();
    let mut prompted: BTreeMap<u64, u64> = BTreeMap::new(); // track id -> annotation id
                                                            // Per annotation, the frame it is given on (VOS only), found once per video.
    let given: Vec<Option<usize>> = match protocol {
        Protocol::Prompt(min_area) => anns.iter().map(|a| prompt_frame(a, video.width, video.height, min_area)).collect(),
        Protocol::Category => vec![None; anns.len()],
    };
    for f in 0..video.length {
        let rgb = frames(f)?;
        if rgb.len() != video.width * video.height * 3 {
            return Err(format!("video {} frame {f}: {} bytes, expected {}x{}x3", video.id, rgb.len(), video.width, video.height));
        }
        add_prompts(seg, anns, &given, f, &mut prompted)?;
        let frame = FrameRef {
            format: PixelFormat::Rgb,
            width: video.width,
            height: video.height,
            planes: [&rgb, &[], &[]],
            strides: [video.width * 3, 0, 0],
        };
        let t0 = Instant::now();
        let res = seg.process(&frame, f as u64).map_err(|e| format!("video {} frame {f}: {e}", video.id))?;
        out.timing.frame += t0.elapsed();
        for o in &res.objects {
            let acc = tracks.entry(o.track_id).or_insert_with(|| TrackAcc {
                tube: vec![None; video.length],
                score: 0.0,
                n: 0,
                votes: BTreeMap::new(),
            });
            let r = rle::encode(&o.mask);
            let category_id = o.class_id as u64 + 1;
            out.mots.push(MotsRow { frame: f, track_id: o.track_id, category_id, rle: r.clone() });
            out.frames.push(FrameResult {
                video_id: video.id,
                frame: f,
                track_id: o.track_id,
                category_id,
                score: o.score as f64,
                segmentation: r.clone(),
            });
            acc.tube[f] = Some(r);
            acc.score += o.score as f64;
            acc.n += 1;
            *acc.votes.entry(o.class_id).or_default() += 1;
        }
        let t = seg.tracker_mut().last_timing();
        out.timing.step += t.total;
        out.timing.decode += t.decode;
        out.timing.frames += 1;
    }
    for (id, acc) in tracks {
        if let Some(&ann) = prompted.get(&id) {
            out.vos.insert(ann, acc.tube.clone());
        }
        // Majority class over the frames the track was seen on (ties: lowest class id).
        let class = acc.votes.iter().max_by_key(|(k, v)| (**v, std::cmp::Reverse(**k))).map_or(0, |(k, _)| *k);
        out.vis.push(VisResult {
            video_id: video.id,
            category_id: class as u64 + 1,
            score: acc.score / acc.n.max(1) as f64,
            segmentations: acc.tube,
        });
    }
    Ok(out)
}

/// Gives the tracker every object whose prompt frame (`given`, per annotation) is `f`.
fn add_prompts(
    seg: &mut Segmenter,
    anns: &[&Annotation],
    given: &[Option<usize>],
    f: usize,
    prompted: &mut BTreeMap<u64, u64>,
) -> Result<(), String> {
    for (a, _) in anns.iter().zip(given).filter(|(_, g)| **g == Some(f)) {
        let Some(r) = &a.segmentations[f] else { continue };
        let mask = rle::decode(r).map_err(|e| format!("annotation {}: {e}", a.id))?;
        let id = seg.tracker_mut().add_target(TargetPrompt::Mask(mask)).map_err(|e| format!("annotation {}: {e}", a.id))?;
        prompted.insert(id, a.id);
    }
    Ok(())
}
