//! Serde types of the published messages. Changing a field here means bumping
//! [`SCHEMA_VERSION`] and the JSON Schema files in `docs/schema/`.
use crate::rle::Rle;
use serde::{Deserialize, Serialize};

/// Version of the frame / event / reply payloads. Consumers should reject majors they
/// do not know.
pub const SCHEMA_VERSION: u32 = 1;

/// How much of each object's shape survived the message-size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// Masks at the configured `mask-scale`.
    Full,
    /// Masks downscaled further to fit `max-message-bytes`.
    Coarse,
    /// No masks; polygons (outer contours) and boxes.
    Polygon,
    /// Boxes only.
    Box,
}

/// One message on `segstream/<stream>/frames`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FramePayload {
    pub schema_version: u32,
    pub stream: String,
    /// 0-based frame number within the stream.
    pub frame: u64,
    /// Buffer presentation timestamp in nanoseconds; `null` when the buffer has none.
    pub pts: Option<u64>,
    /// Wall-clock time the message was built, UTC RFC 3339 with milliseconds.
    pub timestamp: String,
    pub width: usize,
    pub height: usize,
    pub model: String,
    pub detail: Detail,
    pub objects: Vec<ObjectPayload>,
}

/// One object on one frame. Coordinates are frame pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectPayload {
    pub track_id: u64,
    pub class_id: usize,
    pub label: String,
    pub score: f32,
    /// `[x, y, w, h]`, COCO convention.
    pub bbox: [f32; 4],
    /// Foreground area in frame pixels (mask pixel count scaled to the frame size).
    pub area: f64,
    /// COCO compressed RLE, decodable with `pycocotools.mask.decode`; its `size` is the
    /// mask resolution `[h, w]`, which may be smaller than the frame.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mask: Option<Rle>,
    /// Outer contour `[x1, y1, x2, y2, ...]` in frame pixels (COCO polygon order).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub polygon: Option<Vec<f32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// First frame a track id appears on.
    Born,
    /// A track seen on the previous frame is missing on this one.
    Lost,
    /// A lost track stayed missing for the configured number of frames (or was removed
    /// by a command): it will not come back under this id.
    Removed,
}

/// What happened to the video source (a camera stream lost and back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceEventKind {
    /// No frames: the source failed, ended or stalled; the pipeline reconnects.
    SourceLost,
    /// Frames flow again after a `source_lost`.
    SourceRestored,
}

/// A source event on `segstream/<stream>/events`: `frame` is the last frame before the
/// outage (`source_lost`) or the first after it (`source_restored`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceEventPayload {
    pub schema_version: u32,
    pub stream: String,
    pub frame: u64,
    pub pts: Option<u64>,
    pub timestamp: String,
    pub event: SourceEventKind,
    /// Why the source was lost (`source_lost` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long frames were missing, in ms (`source_restored` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_ms: Option<u64>,
}

/// One message on `segstream/<stream>/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPayload {
    pub schema_version: u32,
    pub stream: String,
    pub frame: u64,
    pub pts: Option<u64>,
    pub timestamp: String,
    pub event: EventKind,
    pub track_id: u64,
    pub class_id: usize,
    pub label: String,
}
