//! What one frame produced: the tracked objects in frame coordinates.
//!
//! At the bottom of the crate: the segmenter fills it, `output` serialises it and the
//! plugins' meta carries it, so `output` does not depend on the segmenter.
use crate::mask::{BBox, Mask};

/// One object on one frame, in frame (or `mask_size`) coordinates.
#[derive(Debug, Clone)]
pub struct ObjectResult {
    pub track_id: u64,
    pub class_id: usize,
    pub label: String,
    pub score: f32,
    pub bbox: BBox,
    pub mask: Mask,
}

/// Everything found on one frame: what the meta carries and what MQTT publishes.
#[derive(Debug, Clone, Default)]
pub struct FrameResult {
    /// 0-based frame number within the stream.
    pub frame: u64,
    /// Frame size in pixels (masks may be at another size: see each mask's width/height).
    pub width: usize,
    pub height: usize,
    /// Bundle name of the model that produced the result.
    pub model: String,
    pub objects: Vec<ObjectResult>,
}
