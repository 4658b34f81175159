//! `segment`: runs the segmenter (image encoder, mask decoder, tracker) on every frame and
//! attaches the frame's objects as a [`crate::meta`] results meta.
//!
//! In-place video filter for RGB, RGBA, BGRx, I420 and NV12 at any size; pixels pass
//! through untouched. The model bundle is opened when the element goes READY -> PAUSED, so a
//! missing or broken bundle fails the state change with an error message naming the cause.
//! The frame counter (0-based, the meta's `frame`) and the tracker restart on `stream-start`
//! and `flush-stop`.
//!
//! # Commands
//! A custom event named `segstream-command` (upstream, e.g. from a sink, or downstream, e.g.
//! from the application via `gst_element_send_event`) changes the tracked targets; it is
//! applied before the next frame:
//! - `segstream-command, action=add-box, x=(float)10, y=(float)20, w=(float)50, h=(float)40`
//!   adds a target from a box in frame pixels;
//! - `segstream-command, action=remove, id=(guint64)3` forgets a target;
//! - `segstream-command, json=(string)...` carries a validated `segstream::command::Request`
//!   (add_target with a box, remove_target, set_detect_interval).
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

glib::wrapper! {
    pub struct Segment(ObjectSubclass<imp::Segment>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "segment", gst::Rank::NONE, Segment::static_type())
}

pub use command::COMMAND_EVENT;
