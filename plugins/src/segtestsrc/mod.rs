//! `segtestsrc`: a video test source (like `videotestsrc`) showing the procedural world of
//! `segstream::world`, with the exact ground truth of every frame attached to its buffer
//! as a `GstCustomMeta` named `SegstreamGroundTruthMeta` (see [`truth`]), so pipelines can
//! score themselves online.
//!
//! Output: RGB, RGBA or BGRx at any size (default 320x240) and frame rate (default 30/1),
//! chosen by caps negotiation; not live; timestamps from the frame rate. The same `seed`,
//! `num-objects`, `difficulty` and size give bit-identical frames and truth.
//!
//! ```text
//! gst-launch-1.0 segtestsrc seed=7 difficulty=hard num-buffers=300 ! videoconvert ! autovideosink
//! ```
use gst::glib;
use gst::prelude::*;

mod imp;
pub mod truth;

pub use truth::{read_ground_truth, GroundTruth, GroundTruthObject};

/// Matches `segstream::world::Difficulty` as a GObject enum property.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSegTestSrcDifficulty")]
pub enum Difficulty {
    #[default]
    #[enum_value(name = "Normal: 1-8 objects, light occlusion", nick = "normal")]
    Normal = 0,
    #[enum_value(name = "Hard: 6-12 larger objects, crossing paths, look-alike twins", nick = "hard")]
    Hard = 1,
}

impl From<Difficulty> for segstream::world::Difficulty {
    fn from(d: Difficulty) -> Self {
        match d {
            Difficulty::Normal => segstream::world::Difficulty::Normal,
            Difficulty::Hard => segstream::world::Difficulty::Hard,
        }
    }
}

glib::wrapper! {
    pub struct SegTestSrc(ObjectSubclass<imp::SegTestSrc>)
        @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    truth::register();
    gst::Element::register(Some(plugin), "segtestsrc", gst::Rank::NONE, SegTestSrc::static_type())
}
