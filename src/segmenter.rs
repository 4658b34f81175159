//! One frame in, tracked objects out: preprocessing, encoder, tracker, postprocessing.
//!
//! API STUB written by the lead; the runtime owner fills it in. The GStreamer `segment`
//! element and the CLI only use this API.
use crate::mask::{BBox, Mask};

/// A video frame in one of the supported raw formats, borrowed from the caller.
pub struct FrameRef<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// One slice per plane (1 for packed RGB formats, 3 for I420, 2 for NV12).
    pub planes: [&'a [u8]; 3],
    /// Row stride in bytes of each plane.
    pub strides: [usize; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Rgba,
    Bgrx,
    I420,
    Nv12,
}

/// Settings chosen by the user (element properties, CLI flags, config files).
#[derive(Debug, Clone)]
pub struct SegmenterSettings {
    /// Bundle directory; `None`: `SEGSTREAM_MODEL`, then the bundled default.
    pub model: Option<std::path::PathBuf>,
    /// `cpu` (default), `cuda`, `tensorrt`.
    pub provider: String,
    pub tracker: crate::tracker::TrackerConfig,
    /// Output mask size; `None`: the frame's size.
    pub mask_size: Option<(usize, usize)>,
    /// Class names for open-vocabulary models; empty: the bundle's vocabulary.
    pub vocabulary: Vec<String>,
}

impl Default for SegmenterSettings {
    fn default() -> Self {
        SegmenterSettings {
            model: None,
            provider: "cpu".into(),
            tracker: Default::default(),
            mask_size: None,
            vocabulary: Vec::new(),
        }
    }
}

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

/// Errors opening or running a segmenter; messages name the file and the cause.
#[derive(Debug, thiserror::Error)]
pub enum SegmenterError {
    #[error("{0}")]
    Load(String),
    #[error("{0}")]
    Run(String),
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
