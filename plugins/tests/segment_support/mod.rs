//! Shared by the plugin's integration tests: GStreamer set-up, test frames, paths.
#![allow(dead_code)]
use gst::prelude::*;
use std::path::PathBuf;
use std::sync::Once;

#[path = "../../../tests/support/world_frames.rs"]
mod core_world_frames;

/// Initialises GStreamer and registers the plugin (statically, as the CLI does).
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstsegstream::plugin_register_static().unwrap();
    });
}

/// The bundled default model (random weights until the trained one lands).
pub fn bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engines/tiny")
}

pub fn caps(format: gst_video::VideoFormat, width: u32, height: u32) -> gst::Caps {
    init();
    gst_video::VideoInfo::builder(format, width, height).fps(gst::Fraction::new(30, 1)).build().unwrap().to_caps().unwrap()
}

/// A frame with a deterministic texture (so inference sees something).
pub fn frame(format: gst_video::VideoFormat, width: u32, height: u32, seed: u8) -> gst::Buffer {
    init();
    let info = gst_video::VideoInfo::builder(format, width, height).build().unwrap();
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    {
        let b = buffer.get_mut().unwrap();
        let mut map = b.map_writable().unwrap();
        for (i, v) in map.iter_mut().enumerate() {
            *v = ((i * 7 + seed as usize * 13) % 251) as u8;
        }
    }
    buffer
}

/// Frames 0..n of a synthetic world video (RGB, `width` a multiple of 4 so rows are
/// unpadded) with the box of its largest visible object on each frame: in-distribution
/// input for a box prompt, unlike a texture.
pub fn world_frames(seed: u64, width: u32, height: u32, n: u64) -> Vec<(gst::Buffer, segstream::mask::BBox)> {
    world_frames_with_truth(seed, width, height, n)
        .into_iter()
        .map(|(buf, truth)| {
            let largest = truth.objects.iter().max_by_key(|o| o.visible_area).and_then(|o| o.bbox).expect("a visible object");
            (buf, largest)
        })
        .collect()
}

/// Frames 0..n of a synthetic world video (as [`world_frames`]) with their full ground truth.
pub fn world_frames_with_truth(seed: u64, width: u32, height: u32, n: u64) -> Vec<(gst::Buffer, segstream::world::FrameTruth)> {
    use segstream::world::{Difficulty, World, WorldConfig};
    init();
    let mut world = World::new(WorldConfig::new(seed, Difficulty::Normal, width as usize, height as usize)).unwrap();
    core_world_frames::frames(&mut world, n).into_iter().map(|(rgb, truth)| (gst::Buffer::from_mut_slice(rgb), truth)).collect()
}

/// A frame filled with one byte value.
pub fn flat(format: gst_video::VideoFormat, width: u32, height: u32, value: u8) -> gst::Buffer {
    let info = gst_video::VideoInfo::builder(format, width, height).build().unwrap();
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    buffer.get_mut().unwrap().map_writable().unwrap().fill(value);
    buffer
}

/// A harness around `segment` with the bundled model, set to `caps`, playing.
pub fn segment_harness(caps: &gst::Caps, props: &[(&str, &str)]) -> gst_check::Harness {
    init();
    let element = gst::ElementFactory::make("segment").property("model", bundle().to_str().unwrap()).build().unwrap();
    for (k, v) in props {
        element.set_property_from_str(k, v);
    }
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps(caps.clone());
    h.play();
    h
}

/// Directory of the built plugin (`target/<profile>`), from this test binary's path
/// (`target/<profile>/deps/<test>`).
pub fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    assert!(dir.join("libgstsegstream.so").exists(), "libgstsegstream.so not in {}", dir.display());
    dir
}
