//! The ground-truth meta `segtestsrc` attaches to each buffer.
//!
//! A `GstCustomMeta` (GStreamer >= 1.20) whose structure is readable from any language:
//!
//! ```text
//! SegstreamGroundTruthMeta, frame=(guint64)12, width=(uint)320, height=(uint)240,
//!     seed=(guint64)7, objects=(GstValueArray)< object, track-id=(guint64)3,
//!     class-id=(uint)1, label=(string)square, visible-fraction=(float)0.8,
//!     depth=(uint)2, x=(float)10, y=(float)12, w=(float)30, h=(float)28,
//!     mask=(string)"<COCO compressed RLE, size [height, width]>", ... >
//! ```
//!
//! Every object alive in the world is listed, including hidden ones (visible-fraction 0,
//! empty box and mask), ordered by track id. Class ids are 0-based in
//! `segstream::world::CLASS_NAMES` order. `pycocotools.mask.decode({"size": [height,
//! width], "counts": mask})` recovers a mask.
use gst::glib;
use segstream::mask::{BBox, Mask};
use segstream::rle::{self, Rle};
use segstream::world::FrameTruth;
use std::sync::Once;

pub const META_NAME: &str = "SegstreamGroundTruthMeta";
pub const OBJECT_NAME: &str = "object";

/// One object of the ground truth, with its visible mask decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruthObject {
    pub track_id: u64,
    pub class_id: usize,
    pub label: String,
    pub visible_fraction: f32,
    /// 0 is the farthest object.
    pub depth: u32,
    /// Box of the visible pixels (all zero when nothing is visible).
    pub bbox: BBox,
    pub mask: Mask,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    pub frame: u64,
    pub width: usize,
    pub height: usize,
    pub seed: u64,
    pub objects: Vec<GroundTruthObject>,
}

static REGISTER: Once = Once::new();

/// Registers the custom meta (idempotent; GStreamer must be initialised).
pub fn register() {
    REGISTER.call_once(|| {
        if !gst::meta::CustomMeta::is_registered(META_NAME) {
            gst::meta::CustomMeta::register(META_NAME, &[]);
        }
    });
}

/// Attaches one frame's truth to `buffer`.
pub fn attach(buffer: &mut gst::BufferRef, truth: &FrameTruth, seed: u64) {
    register();
    let objects = gst::Array::new(truth.objects.iter().enumerate().map(|(k, o)| {
        let b = o.bbox.unwrap_or_default();
        gst::Structure::builder(OBJECT_NAME)
            .field("track-id", o.track_id)
            .field("class-id", o.class_id as u32)
            .field("label", o.label)
            .field("visible-fraction", o.visible_fraction)
            .field("depth", o.depth as u32)
            .field("x", b.x)
            .field("y", b.y)
            .field("w", b.w)
            .field("h", b.h)
            .field("mask", truth.rle(k).counts)
            .build()
    }));
    let mut meta = gst::meta::CustomMeta::add(buffer, META_NAME).expect("custom meta is registered just above");
    let s = meta.mut_structure();
    s.set("frame", truth.frame);
    s.set("width", truth.width as u32);
    s.set("height", truth.height as u32);
    s.set("seed", seed);
    s.set("objects", objects);
}

/// Reads the ground truth of a buffer produced by `segtestsrc`: `None` when the buffer
/// carries none, `Err` naming the bad field when it is malformed.
pub fn read_ground_truth(buffer: &gst::BufferRef) -> Option<Result<GroundTruth, String>> {
    if !gst::meta::CustomMeta::is_registered(META_NAME) {
        return None;
    }
    let meta = gst::meta::CustomMeta::from_buffer(buffer, META_NAME).ok()?;
    Some(parse(meta.structure()))
}

fn parse(s: &gst::StructureRef) -> Result<GroundTruth, String> {
    let (width, height) = (get::<u32>(s, "width")? as usize, get::<u32>(s, "height")? as usize);
    let array = get::<gst::ArrayRef>(s, "objects")?;
    let mut objects = Vec::with_capacity(array.len());
    for (i, v) in array.iter().enumerate() {
        let o = v.get::<&gst::StructureRef>().map_err(|e| format!("{META_NAME}: objects[{i}]: {e}"))?;
        objects.push(parse_object(o, width, height).map_err(|e| format!("objects[{i}]: {e}"))?);
    }
    Ok(GroundTruth { frame: get(s, "frame")?, width, height, seed: get(s, "seed")?, objects })
}

fn parse_object(o: &gst::StructureRef, width: usize, height: usize) -> Result<GroundTruthObject, String> {
    let counts = get::<String>(o, "mask")?;
    let mask = rle::decode(&Rle { size: [height, width], counts }).map_err(|e| format!("field 'mask': {e}"))?;
    Ok(GroundTruthObject {
        track_id: get(o, "track-id")?,
        class_id: get::<u32>(o, "class-id")? as usize,
        label: get(o, "label")?,
        visible_fraction: get(o, "visible-fraction")?,
        depth: get(o, "depth")?,
        bbox: BBox { x: get(o, "x")?, y: get(o, "y")?, w: get(o, "w")?, h: get(o, "h")? },
        mask,
    })
}

fn get<'a, T: glib::value::FromValue<'a>>(s: &'a gst::StructureRef, field: &str) -> Result<T, String> {
    s.get::<T>(field).map_err(|e| format!("{}: field '{field}': {e}", s.name()))
}
