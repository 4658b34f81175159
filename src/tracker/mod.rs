//! Online tube tracking with prompts as queries (UniVS section 4.2, streaming case).
//!
//! Per frame: every remembered target is decoded as a prompt query from its memory pool
//! (pinned first-appearance tokens + FIFO of recent frames); every `detect_interval` frames
//! the learnable queries also detect, and detections are associated with targets by
//! bi-softmax + Hungarian; unmatched confident detections that overlap no present target
//! become new targets. Outputs pass a consistency check and per-pixel overlap resolution.
//! Unlike the reference, targets have a lifecycle (tentative -> confirmed -> lost ->
//! removed), the number of targets is capped and every buffer has a fixed capacity, so
//! state is bounded whatever the stream length. Deterministic: the sampler's RNG is seeded.
//!
//! Module map: [`config`] thresholds, [`sampler`] visual sampler, [`memory`] ring
//! buffers, [`detect`] detection filters, [`associate`] bi-softmax / cosine matching,
//! [`hungarian`] assignment, [`overlap`] per-pixel resolution, [`target`] lifecycle,
//! [`text`] text targets, `step` the per-frame procedure, `gap` frames dropped
//! upstream of the tracker (`Tracker::skip`).
pub mod associate;
pub mod config;
pub mod detect;
mod gap;
pub mod hungarian;
pub mod memory;
pub mod overlap;
pub mod parts;
pub mod sampler;
mod step;
pub mod target;
#[cfg(test)]
mod tests;
pub mod text;

pub use config::{MatchedMask, TrackerConfig, TrackerMode, DETECT_INTERVAL_RANGE};

use crate::mask::Mask;
use crate::model::{Features, MaskDecoder, ModelError, PromptBatch};
use crate::vocab::Vocabulary;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use target::Target;

/// Lifecycle of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    /// Born from a detection, not yet seen on `confirm_frames` frames.
    Tentative,
    Confirmed,
    /// Remembered but not found on the last frame(s); can be re-identified.
    Lost,
}

/// One target's result on the current frame.
#[derive(Debug, Clone)]
pub struct Track {
    pub id: u64,
    pub class_id: usize,
    pub score: f32,
    pub state: TrackState,
    /// Binary mask at mask-feature resolution (model input / 4), after overlap resolution.
    pub mask: Mask,
    /// Mask logits at mask-feature resolution, row-major; upsampled by the segmenter.
    /// Pixels lost to another target in overlap resolution are set to -10.
    pub mask_logits: Vec<f32>,
}

/// A user-given target (prompt-specified mode). Coordinates are in model-input pixels;
/// a mask may have any resolution (it is read at cell centres, see the sampler).
#[derive(Debug, Clone)]
pub enum TargetPrompt {
    Mask(Mask),
    Box {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
    /// Each point becomes a box of +-3 px.
    Points(Vec<(f32, f32)>),
}

/// The tracker: bounded state, deterministic for a given input sequence.
pub struct Tracker {
    config: TrackerConfig,
    targets: Vec<Target>,
    tracks: Vec<Track>,
    /// Next id to hand out; never reset, so ids are unique within the tracker's life.
    next_id: u64,
    /// Stream frames since the last reset: processed ones and those given to `skip`.
    frame: u64,
    /// Stream frame of the last detection since the reset (the detection cadence counts
    /// stream frames, so a dropped detection frame moves detection to the next frame).
    last_detect: Option<u64>,
    rng: SmallRng,
    sampler: sampler::Sampler,
    batch: PromptBatch,
    /// Decoder outputs of the last frame; their buffers are reused (no per-frame alloc).
    decoded: crate::model::DecoderOutput,
    owner: Vec<u16>,
    parts: parts::PartSplitter,
    /// Whether the learnable queries ran on the last frame.
    detected: bool,
    timing: StepTiming,
    /// Text targets waiting for a matching detection (see [`text`]).
    text_queries: Vec<text::TextQuery>,
}

/// Wall time of the last `step`: total, and the part spent inside the decoder. The
/// difference is the tracker's own work (sampling, association, overlaps, memory).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepTiming {
    pub total: std::time::Duration,
    pub decode: std::time::Duration,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        let rng = SmallRng::seed_from_u64(config.seed);
        Tracker {
            config,
            targets: Vec::new(),
            tracks: Vec::new(),
            next_id: 1,
            frame: 0,
            last_detect: None,
            rng,
            sampler: Default::default(),
            batch: Default::default(),
            decoded: Default::default(),
            owner: Vec::new(),
            parts: Default::default(),
            detected: false,
            timing: StepTiming::default(),
            text_queries: Vec::new(),
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Prompt tokens as the bundle wants them (contract v2 `prompt_encoding`): `true`
    /// copies the cells of `feat_s8` as they are, `false` adds the v1 sine encoding.
    pub fn set_gather_tokens(&mut self, gather: bool) {
        self.sampler.gather_only = gather;
    }

    /// Changes take effect on the next frame; changing token or memory sizes clears the
    /// affected targets' token memory (their pools are reallocated).
    pub fn config_mut(&mut self) -> &mut TrackerConfig {
        &mut self.config
    }

    /// Processes one encoded frame; returns the targets that have a mask on it.
    pub fn step(&mut self, features: &Features, decoder: &mut dyn MaskDecoder, vocab: &Vocabulary) -> Result<&[Track], ModelError> {
        self.step_frame(features, decoder, vocab)?;
        Ok(&self.tracks)
    }

    /// Adds a user-given target; its prompt is read on the next frame given to `step`
    /// (which outputs the prompt's own mask for that frame) and it is tracked from then on.
    /// Returns its id. At the `max_targets` cap a detection-born target without a mask on
    /// the last frame is evicted (lost first); when none can be, the target is refused
    /// (the cap also bounds the decoder's prompt batch, so it is never exceeded) and
    /// nothing changes. User targets are only removed by `remove_target`.
    pub fn add_target(&mut self, prompt: TargetPrompt) -> Result<u64, String> {
        if self.targets.len() >= self.config.max_targets && !self.evict(3) {
            return Err(format!(
                "the tracker already holds max_targets = {} targets and none can be forgotten (each was given by a \
                 command or is visible); remove one with remove_target first",
                self.config.max_targets
            ));
        }
        let id = self.take_id();
        let mut t = Target::new(id, true, memory::MemoryPool::new(0, 0, 0, 0, 0, 0));
        t.pending = Some(prompt);
        self.targets.push(t);
        Ok(id)
    }

    /// Forgets a target; false when the id is unknown.
    pub fn remove_target(&mut self, id: u64) -> bool {
        let before = self.targets.len();
        self.targets.retain(|t| t.id != id);
        self.tracks.retain(|t| t.id != id);
        let waiting = self.text_queries.len();
        self.text_queries.retain(|q| q.id != id);
        self.targets.len() != before || self.text_queries.len() != waiting
    }

    /// Drops all state (flush, new stream) and reseeds the sampler. IDs keep increasing.
    pub fn reset(&mut self) {
        self.targets.clear();
        self.tracks.clear();
        self.text_queries.clear();
        self.frame = 0;
        self.last_detect = None;
        self.rng = SmallRng::seed_from_u64(self.config.seed);
    }

    /// How many targets the tracker remembers (any state): bounded by `max_targets`.
    pub fn target_count(&self) -> usize {
        self.targets.len()
    }

    /// Ids and states of every remembered target (any state), oldest first.
    pub fn targets(&self) -> Vec<(u64, TrackState)> {
        self.targets.iter().map(|t| (t.id, t.state)).collect()
    }

    /// Whether the learnable queries were decoded on the last frame.
    pub fn detected_last_frame(&self) -> bool {
        self.detected
    }

    /// Timing of the last `step`.
    pub fn last_timing(&self) -> StepTiming {
        self.timing
    }

    /// f32 values held by all memory pools: bounded by max_targets x one pool.
    pub fn memory_footprint(&self) -> usize {
        self.targets.iter().map(|t| t.memory.footprint()).sum()
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Removes the remembered target least worth keeping whose priority rank is below
    /// `max_rank` and that has no mask on the current frame; false when none qualifies.
    fn evict(&mut self, max_rank: u8) -> bool {
        let victim = self
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.keep_priority().0 < max_rank && t.source == target::Source::None)
            .min_by_key(|(i, t)| (t.keep_priority(), *i))
            .map(|(i, _)| i);
        if let Some(i) = victim {
            self.targets.remove(i);
        }
        victim.is_some()
    }
}
