//! `segoverlay`: draws the `segment` results meta onto the frames: translucent masks
//! coloured by track id, contours, boxes and `id:label score` captions.
//!
//! In-place video filter for RGB, RGBA, BGRx, I420 and NV12 at any size. Frames without a
//! results meta pass unchanged; a malformed meta is reported once as a warning.
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=30 ! videoconvert ! segment ! segoverlay \
//!     ! videoconvert ! autovideosink
//! ```
use gst::glib;
use gst::prelude::*;

mod canvas;
mod draw;
mod font;
mod imp;
mod labels;

glib::wrapper! {
    pub struct SegOverlay(ObjectSubclass<imp::SegOverlay>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "segoverlay", gst::Rank::NONE, SegOverlay::static_type())
}
