//! GStreamer plugin `segstream`: the elements that put the core library in a pipeline.
//!
//! One folder per element (gst-plugins-rs layout): `mod.rs` holds the wrapper type and
//! `register`, `imp.rs` the subclass.
use gst::glib;

pub mod frame;
pub mod meta;
pub mod segment;
pub mod segmqttsink;
pub mod segoverlay;
pub mod segtestsrc;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    meta::register();
    segment::register(plugin)?;
    segoverlay::register(plugin)?;
    segmqttsink::register(plugin)?;
    segtestsrc::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    segstream,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    // The crate is `MIT OR Apache-2.0` (LICENSE-MIT, LICENSE-APACHE). GStreamer accepts only
    // the licence names it knows (gstplugin.c `valid_licenses`) and has none for a dual licence
    // or Apache-2.0; "MIT/X11" is its name for MIT, one of the two licences on offer.
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    // Origin: GStreamer warns on an empty one, and the project has no public URL to give.
    "segstream",
    env!("BUILD_REL_DATE")
);
