//! `segment`: runs the segmenter (image encoder, mask decoder, tracker) on every frame and
//! attaches the frame's objects as a [`crate::meta`] results meta.
//!
//! In-place video filter for RGB, RGBA, BGRx, I420 and NV12 at any size; pixels pass
//! through untouched. The model bundle is opened when the element goes READY -> PAUSED, so a
//! missing or broken bundle fails the state change with an error message naming the cause.
//! The frame counter (0-based, the meta's `frame`) and the tracker restart on `stream-start`
//! and `flush-stop`.
//!
//! # Late frames and latency
//! `segment` enables the base class's `qos` property. A frame is dropped before the model
//! runs when downstream's QoS events say it is already late (a synchronising sink with
//! `qos=true`), or, with a live upstream, when it reaches `segment` more than `max-lateness`
//! (default 40 ms; -1: never) after its running time + upstream's latency. A dropped frame
//! is counted in `frames-dropped`, announced by a QoS message, keeps its frame number (the
//! next meta's `frame` skips it) and advances the tracker's frame clock
//! (`segstream::tracker::Tracker::skip`); no buffer, meta or MQTT message exists for it.
//! The latency query answers upstream's latency + `processing-latency` (95th percentile of
//! the last 32 frames' processing time, at most 2 s); a latency message is posted when that
//! grows by more than a quarter, so the application re-configures the pipeline latency
//! (`gst_bin_recalculate_latency`, as gst-launch and `segstream run` do).
//!
//! # Encoding ahead
//! With `encode-ahead=auto` (default) and an upstream that is not live, `segment` runs the
//! image encoder of each frame on a thread of its own while the tracker, decoder and masks
//! finish the frame before it (`segstream::segmenter::Segmenter::process_ahead`): the same
//! metas, in the same order, from two cores. Each frame then leaves `segment` when the next
//! one arrives (or at any serialized event: EOS, caps, segment, gap), so `auto` keeps it off
//! for live sources, where that wait would be latency; it is also off when the process has
//! fewer than two cores per stream using the same loaded model (`engine-users`), and on GPU
//! providers (their encoder stays on its thread). `on` forces it wherever it can run, `off`
//! never. `encoding-ahead` tells which way the last frame went. Holding a frame keeps one
//! more upstream buffer out of its pool: an upstream whose pool has a single buffer would
//! stall, and needs `encode-ahead=off`.
//!
//! # Commands
//! A custom event named `segstream-command` (upstream, e.g. from `segmqttsink`, or
//! downstream, e.g. from the application via `gst_element_send_event`) carries one
//! `segstream::command::Request`, as `json=(string)...` or in gst-launch form:
//! - `segstream-command, action=add-box, x=(float)10, y=(float)20, w=(float)50, h=(float)40`
//! - `segstream-command, action=remove, id=(guint64)3`
//! - `segstream-command, action=set-vocabulary, names="disc, ring"` (empty: the bundle's)
//! - `segstream-command, action=add-text, text="a red disc"`
//! - `segstream-command, action=set-detect-interval, interval=5`
//!
//! It is checked and applied before the next frame. With `reply=true` the outcome goes
//! downstream, ahead of that frame, as a `segstream-command-result` event (docs/PAYLOAD.md).
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=30 ! videoconvert ! segment model=engines/tiny \
//!     ! segoverlay ! videoconvert ! autovideosink
//! ```
use gst::glib;
use gst::prelude::*;

// Public for the fuzz target `command_event` (fuzz/) and its corpus replay.
pub mod command;
mod imp;
mod props;

/// When `segment` runs the image encoder one frame ahead (property `encode-ahead`).
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSegmentEncodeAhead")]
pub enum EncodeAhead {
    #[default]
    #[enum_value(name = "Auto: with an upstream that is not live and two cores per stream of the loaded model", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "On: whenever the encoder can run on a thread of its own (CPU provider)", nick = "on")]
    On = 1,
    #[enum_value(name = "Off: every frame is finished before the next one starts", nick = "off")]
    Off = 2,
}

glib::wrapper! {
    pub struct Segment(ObjectSubclass<imp::Segment>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

impl Segment {
    /// The loaded model this element shares with the process's other streams, while it is
    /// started on provider `cpu` (`None` when stopped or on a GPU provider). Tells whether two
    /// elements use the very same model and when it is freed (tests, monitoring).
    pub fn engine_watch(&self) -> Option<segstream::runtime::EngineWatch> {
        use glib::subclass::prelude::ObjectSubclassIsExt;
        self.imp().engine_watch()
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    EncodeAhead::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "segment", gst::Rank::NONE, Segment::static_type())
}

/// The `segstream-command` event parser (both forms), for tests and fuzzing.
pub use command::parse as parse_command_event;
/// Commands `segment` holds for its next frame; more are refused.
pub use command::MAX_PENDING;
pub use segstream::command::{COMMAND_EVENT, COMMAND_RESULT_EVENT};
