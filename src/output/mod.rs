//! The versioned JSON payload published per frame (and per track event).
//!
//! - [`payload`]: the serde types; `docs/schema/*.schema.json` describe the same shapes.
//! - [`build`]: `FrameResult` -> bounded-size JSON (degrades masks when over the limit).
//! - [`events`]: track born / lost / removed events derived from consecutive frames.
//! - [`polygon`]: outer contour of a mask (optional polygon, and the fallback when masks
//!   do not fit).
//! - [`clock`]: UTC RFC 3339 timestamps without a date-time dependency.
pub mod build;
pub mod clock;
pub mod events;
pub mod payload;
pub mod polygon;

pub use build::{FrameBuilder, FrameInfo, OutputConfig};
pub use events::EventTracker;
pub use payload::{Detail, EventKind, EventPayload, FramePayload, ObjectPayload, SourceEventKind, SourceEventPayload, SCHEMA_VERSION};
