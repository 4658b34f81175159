//! Online tube tracking with prompts as queries (UniVS section 4.2).
//!
//! API STUB written by the lead so other modules compile; the tracker owner replaces the
//! body (keeping these public names, or updating their callers in `segmenter`).
use crate::mask::Mask;
use crate::model::{Features, MaskDecoder, ModelError};
use crate::vocab::Vocabulary;

/// Every threshold of the procedure, defaults from the reference code.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// Run learnable-query detection every N frames (always when there are no targets).
    pub detect_interval: u32,
    /// A detection may start a new target only above this score.
    pub score_threshold: f32,
    /// Hard cap on live targets.
    pub max_targets: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig { detect_interval: 1, score_threshold: 0.25, max_targets: 32 }
    }
}

/// Lifecycle of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    Tentative,
    Confirmed,
    Lost,
}

/// One target's result on the current frame.
#[derive(Debug, Clone)]
pub struct Track {
    pub id: u64,
    pub class_id: usize,
    pub score: f32,
    pub state: TrackState,
    /// Binary mask at mask-feature resolution (model input / 4).
    pub mask: Mask,
    /// Mask logits at mask-feature resolution, row-major; upsampled by the segmenter.
    pub mask_logits: Vec<f32>,
}

/// A user-given target (prompt-specified mode). Coordinates are in model-input pixels.
#[derive(Debug, Clone)]
pub enum TargetPrompt {
    Mask(Mask),
    Box { x: f32, y: f32, w: f32, h: f32 },
    Points(Vec<(f32, f32)>),
}

/// The tracker: bounded state, deterministic for a given input sequence.
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Tracker { config, tracks: Vec::new() }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut TrackerConfig {
        &mut self.config
    }

    /// Processes one encoded frame; returns the targets that have a mask on it.
    pub fn step(
        &mut self,
        features: &Features,
        decoder: &mut dyn MaskDecoder,
        vocab: &Vocabulary,
    ) -> Result<&[Track], ModelError> {
        let _ = (features, decoder, vocab);
        Ok(&self.tracks)
    }

    /// Adds a user-given target, decoded from the next frame on; returns its id.
    pub fn add_target(&mut self, prompt: TargetPrompt) -> u64 {
        let _ = prompt;
        0
    }

    /// Forgets a target; false when the id is unknown.
    pub fn remove_target(&mut self, id: u64) -> bool {
        let _ = id;
        false
    }

    /// Drops all state (flush, new stream). IDs keep increasing.
    pub fn reset(&mut self) {
        self.tracks.clear();
    }
}
