//! Custom buffer meta carrying one frame's segmentation results.
//!
//! Built on `GstCustomMeta` (GStreamer >= 1.20) rather than a Rust-defined meta type, so
//! that applications in any language (C, Python via `buffer.get_custom_meta(...)`) can read
//! it: the payload is a plain `GstStructure` named [`META_NAME`]:
//!
//! ```text
//! SegstreamObjectsMeta, frame=(guint64)12, width=(uint)320, height=(uint)240,
//!     model=(string)tiny, objects=(GstValueArray)< object, track-id=(guint64)3,
//!     class-id=(uint)1, label=(string)disc, score=(float)0.9, x=(float)10, y=(float)12,
//!     w=(float)30, h=(float)28, mask-width=(uint)320, mask-height=(uint)240,
//!     mask=(string)"<COCO compressed RLE counts, column-major>" , ... >
//! ```
//!
//! The mask is the COCO compressed RLE string (`segstream::rle`), byte-for-byte what
//! pycocotools produces, so `pycocotools.mask.decode({"size": [mh, mw], "counts": mask})`
//! recovers it. The meta has no tags, so it survives elements that copy untagged metas.
use gst::glib;
use segstream::mask::BBox;
use segstream::rle::{self, Rle};
use segstream::segmenter::{FrameResult, ObjectResult};
use std::sync::Once;

/// Name of the registered custom meta and of its structure.
pub const META_NAME: &str = "SegstreamObjectsMeta";
/// Name of each per-object structure inside the `objects` array.
pub const OBJECT_NAME: &str = "object";

static REGISTER: Once = Once::new();

/// Registers the custom meta (idempotent; GStreamer must be initialised).
pub fn register() {
    REGISTER.call_once(|| {
        if !gst::meta::CustomMeta::is_registered(META_NAME) {
            gst::meta::CustomMeta::register(META_NAME, &[]);
        }
    });
}

/// Attaches `result` to `buffer`, replacing a results meta already there (a second
/// `segment` in the pipeline overwrites rather than stacking ambiguous metas).
pub fn attach(buffer: &mut gst::BufferRef, result: &FrameResult) {
    register();
    remove(buffer);
    let mut meta = gst::meta::CustomMeta::add(buffer, META_NAME).expect("custom meta is registered just above");
    fill(meta.mut_structure(), result);
}

/// Writes `result`'s fields into `s` (the meta's own structure: no intermediate copy).
fn fill(s: &mut gst::StructureRef, result: &FrameResult) {
    s.set("frame", result.frame);
    s.set("width", result.width as u32);
    s.set("height", result.height as u32);
    s.set("model", result.model.as_str());
    s.set("objects", gst::Array::new(result.objects.iter().map(object_structure)));
}

/// Removes the results meta if present; true when one was removed.
pub fn remove(buffer: &mut gst::BufferRef) -> bool {
    if !gst::meta::CustomMeta::is_registered(META_NAME) {
        return false;
    }
    match gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME) {
        Ok(meta) => meta.remove().is_ok(),
        Err(_) => false,
    }
}

/// Reads the results meta: `None` when the buffer has none, `Err` naming the bad field
/// when it is malformed (e.g. written by another program).
pub fn read(buffer: &gst::BufferRef) -> Option<Result<FrameResult, String>> {
    find(buffer).map(|meta| from_structure(meta.structure()))
}

/// The raw meta, for readers that walk the structure themselves (segoverlay paints the
/// RLE runs directly instead of decoding every mask into a new buffer).
pub fn find(buffer: &gst::BufferRef) -> Option<gst::MetaRef<'_, gst::meta::CustomMeta>> {
    if !gst::meta::CustomMeta::is_registered(META_NAME) {
        return None;
    }
    gst::meta::CustomMeta::from_buffer(buffer, META_NAME).ok()
}

/// What a log line needs: the frame number and each object's (track id, label, score).
#[derive(Debug, Clone, PartialEq)]
pub struct Brief {
    pub frame: u64,
    pub objects: Vec<(u64, String, f32)>,
}

/// Reads the meta without decoding masks (cheap enough for per-frame progress output).
pub fn brief(buffer: &gst::BufferRef) -> Option<Result<Brief, String>> {
    let meta = find(buffer)?;
    let s = meta.structure();
    let parse = || -> Result<Brief, String> {
        let objects = get::<gst::ArrayRef>(s, "objects")?;
        let mut out = Vec::with_capacity(objects.len());
        for (i, v) in objects.iter().enumerate() {
            let o = v.get::<&gst::StructureRef>().map_err(|e| format!("{META_NAME}: objects[{i}] is not a structure: {e}"))?;
            out.push((get::<u64>(o, "track-id")?, get::<String>(o, "label")?, get::<f32>(o, "score")?));
        }
        Ok(Brief { frame: get::<u64>(s, "frame")?, objects: out })
    };
    Some(parse())
}

/// The structure the meta carries (also handy for messages and logs).
pub fn to_structure(result: &FrameResult) -> gst::Structure {
    let mut s = gst::Structure::new_empty(META_NAME);
    fill(&mut s, result);
    s
}

fn object_structure(o: &ObjectResult) -> gst::Structure {
    let rle = rle::encode(&o.mask);
    gst::Structure::builder(OBJECT_NAME)
        .field("track-id", o.track_id)
        .field("class-id", o.class_id as u32)
        .field("label", o.label.as_str())
        .field("score", o.score)
        .field("x", o.bbox.x)
        .field("y", o.bbox.y)
        .field("w", o.bbox.w)
        .field("h", o.bbox.h)
        .field("mask-width", o.mask.width as u32)
        .field("mask-height", o.mask.height as u32)
        .field("mask", rle.counts)
        .build()
}

/// Parses the structure written by [`to_structure`].
pub fn from_structure(s: &gst::StructureRef) -> Result<FrameResult, String> {
    let objects = get::<gst::ArrayRef>(s, "objects")?;
    let mut out = Vec::with_capacity(objects.len());
    for (i, value) in objects.iter().enumerate() {
        let o = value.get::<gst::Structure>().map_err(|e| format!("{META_NAME}: objects[{i}] is not a structure: {e}"))?;
        out.push(parse_object(&o).map_err(|e| format!("objects[{i}]: {e}"))?);
    }
    Ok(FrameResult {
        frame: get::<u64>(s, "frame")?,
        width: get::<u32>(s, "width")? as usize,
        height: get::<u32>(s, "height")? as usize,
        model: get::<String>(s, "model")?,
        objects: out,
    })
}

/// Largest mask side the reader decodes (the MQTT `add_target` mask limit): the meta may
/// come from another program, and decoding allocates width x height bytes.
pub const MAX_MASK_SIDE: u32 = 8192;

fn parse_object(s: &gst::StructureRef) -> Result<ObjectResult, String> {
    let (mw, mh) = (get::<u32>(s, "mask-width")?, get::<u32>(s, "mask-height")?);
    if mw > MAX_MASK_SIDE || mh > MAX_MASK_SIDE {
        return Err(format!("{META_NAME}: mask of {mw}x{mh} exceeds the {MAX_MASK_SIDE}x{MAX_MASK_SIDE} limit"));
    }
    let (mw, mh) = (mw as usize, mh as usize);
    let counts = get::<String>(s, "mask")?;
    let mask = rle::decode(&Rle { size: [mh, mw], counts }).map_err(|e| format!("{META_NAME}: field 'mask': {e}"))?;
    Ok(ObjectResult {
        track_id: get::<u64>(s, "track-id")?,
        class_id: get::<u32>(s, "class-id")? as usize,
        label: get::<String>(s, "label")?,
        score: get::<f32>(s, "score")?,
        bbox: BBox { x: get(s, "x")?, y: get(s, "y")?, w: get(s, "w")?, h: get(s, "h")? },
        mask,
    })
}

fn get<'a, T: glib::value::FromValue<'a>>(s: &'a gst::StructureRef, field: &str) -> Result<T, String> {
    s.get::<T>(field).map_err(|e| format!("{}: field '{field}': {e}", s.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstream::mask::Mask;

    fn sample() -> FrameResult {
        let mut mask = Mask::new(16, 8);
        for y in 2..6 {
            for x in 3..9 {
                mask.set(x, y, true);
            }
        }
        let object = ObjectResult {
            track_id: 7,
            class_id: 2,
            label: "triangle".into(),
            score: 0.75,
            bbox: BBox { x: 3.0, y: 2.0, w: 6.0, h: 4.0 },
            mask,
        };
        let mut second = object.clone();
        second.track_id = 9;
        second.mask = Mask::new(16, 8);
        FrameResult { frame: 41, width: 16, height: 8, model: "tiny".into(), objects: vec![object, second] }
    }

    fn assert_same(a: &FrameResult, b: &FrameResult) {
        assert_eq!((a.frame, a.width, a.height, &a.model), (b.frame, b.width, b.height, &b.model));
        assert_eq!(a.objects.len(), b.objects.len());
        for (x, y) in a.objects.iter().zip(&b.objects) {
            assert_eq!((x.track_id, x.class_id, &x.label, x.score), (y.track_id, y.class_id, &y.label, y.score));
            assert_eq!(x.bbox, y.bbox);
            assert_eq!(x.mask, y.mask);
        }
    }

    #[test]
    fn round_trip_through_buffer() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::with_size(4).unwrap();
        assert!(read(&buffer).is_none());
        let result = sample();
        attach(buffer.get_mut().unwrap(), &result);
        let back = read(&buffer).expect("meta present").expect("meta parses");
        assert_same(&result, &back);
        assert_eq!(back.objects[0].mask.area(), 24);
        let b = brief(&buffer).unwrap().unwrap();
        assert_eq!(b.frame, 41);
        assert_eq!(b.objects, vec![(7, "triangle".to_string(), 0.75), (9, "triangle".to_string(), 0.75)]);
    }

    #[test]
    fn attach_replaces_previous_meta_and_copies_with_buffer() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::with_size(4).unwrap();
        let mut result = sample();
        attach(buffer.get_mut().unwrap(), &result);
        result.frame = 42;
        result.objects.pop();
        attach(buffer.get_mut().unwrap(), &result);
        let n = buffer.iter_meta::<gst::Meta>().count();
        assert_eq!(n, 1, "exactly one meta after two attaches");
        let copy = buffer.copy();
        let back = read(&copy).unwrap().unwrap();
        assert_same(&result, &back);
    }

    #[test]
    fn malformed_meta_names_the_field() {
        gst::init().unwrap();
        register();
        let mut buffer = gst::Buffer::with_size(4).unwrap();
        let mut s = to_structure(&sample());
        s.set("frame", "not a number");
        {
            let b = buffer.get_mut().unwrap();
            let mut meta = gst::meta::CustomMeta::add(b, META_NAME).unwrap();
            for (name, value) in s.iter() {
                meta.mut_structure().set_value(name, value.clone());
            }
        }
        let err = read(&buffer).unwrap().unwrap_err();
        assert!(err.contains("frame"), "{err}");
    }

    /// The text form (what `gst-launch`, logs and the fuzz corpus use) reads back as is.
    #[test]
    fn text_form_round_trips() {
        gst::init().unwrap();
        let text = to_structure(&sample()).to_string();
        let back = from_structure(&text.parse::<gst::Structure>().unwrap()).unwrap();
        assert_same(&sample(), &back);
        println!("{text}");
    }

    /// A mask size beyond the limit is refused before anything is allocated: this 13-character
    /// RLE is one run of 9e18 pixels, which adds up for 3e9 x 3e9 (the decoder would
    /// allocate 9 EB).
    #[test]
    fn oversized_mask_is_refused_before_decoding() {
        gst::init().unwrap();
        let mut s = to_structure(&sample());
        let objects = s.get::<gst::Array>("objects").unwrap();
        let mut o = objects.as_slice()[0].get::<gst::Structure>().unwrap();
        o.set("mask-width", 3_000_000_000u32);
        o.set("mask-height", 3_000_000_000u32);
        o.set("mask", r"PPPXXaSZ\cii7");
        s.set("objects", gst::Array::new([o]));
        let e = from_structure(&s).unwrap_err();
        assert_eq!(e, "objects[0]: SegstreamObjectsMeta: mask of 3000000000x3000000000 exceeds the 8192x8192 limit");
    }
}
