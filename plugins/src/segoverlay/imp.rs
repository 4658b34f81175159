//! `segoverlay` subclass: reads the results meta and draws it in place.
use super::canvas::{Canvas, Color};
use super::draw::{self, Drawn, Style};
use super::labels::LabelMap;
use crate::meta;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("segoverlay", gst::DebugColorFlags::empty(), Some("segstream overlay")));

const DEFAULT_ALPHA: f64 = 0.45;

#[derive(Debug, Clone, Copy)]
struct Settings {
    alpha: f64,
    contours: bool,
    boxes: bool,
    labels: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { alpha: DEFAULT_ALPHA, contours: true, boxes: true, labels: true }
    }
}

impl Settings {
    fn style(&self) -> Style {
        let alpha = (self.alpha * 255.0).round().clamp(0.0, 255.0) as u32;
        Style { alpha, contours: self.contours, boxes: self.boxes, labels: self.labels }
    }
}

/// Buffers kept across frames so drawing allocates nothing large per frame.
#[derive(Default)]
struct Scratch {
    labels: LabelMap,
    objects: Vec<Drawn>,
}

#[derive(Default)]
pub struct SegOverlay {
    settings: Mutex<Settings>,
    scratch: Mutex<Scratch>,
    /// A malformed meta is reported once per run, not on every frame.
    warned: AtomicBool,
}

/// Reads the objects of a results meta into `scratch` (label map + draw list).
fn collect(s: &gst::StructureRef, fw: usize, fh: usize, scratch: &mut Scratch) -> Result<(), String> {
    let field = |e: &dyn std::fmt::Display| format!("{}: {e}", meta::META_NAME);
    let objects = s.get::<gst::ArrayRef>("objects").map_err(|e| field(&e))?;
    // Boxes are in the meta's frame size; rescale if something resized the video since.
    let mw = s.get::<u32>("width").ok().filter(|w| *w > 0).unwrap_or(fw as u32) as f32;
    let mh = s.get::<u32>("height").ok().filter(|h| *h > 0).unwrap_or(fh as u32) as f32;
    let (sx, sy) = (fw as f32 / mw, fh as f32 / mh);
    for (i, v) in objects.iter().enumerate().take(u16::MAX as usize - 1) {
        let o = v.get::<&gst::StructureRef>().map_err(|e| field(&e))?;
        let g = |k: &str| o.get::<f32>(k).map_err(|e| field(&e));
        let (id, label) = (o.get::<u64>("track-id").map_err(|e| field(&e))?, o.get::<&str>("label").unwrap_or("?"));
        let (x, y, w, h, score) = (g("x")?, g("y")?, g("w")?, g("h")?, g("score")?);
        let mask_w = o.get::<u32>("mask-width").map_err(|e| field(&e))? as usize;
        let mask_h = o.get::<u32>("mask-height").map_err(|e| field(&e))? as usize;
        let counts = o.get::<&str>("mask").map_err(|e| field(&e))?;
        scratch.labels.paint_rle(counts, mask_w, mask_h, i as u16 + 1).map_err(|e| format!("object {id}: {e}"))?;
        let bbox = [(x * sx) as i64, (y * sy) as i64, ((x + w) * sx).ceil() as i64, ((y + h) * sy).ceil() as i64];
        scratch.objects.push(Drawn { color: Color::for_track(id), bbox, caption: format!("{id}:{label} {score:.2}") });
    }
    Ok(())
}

#[glib::object_subclass]
impl ObjectSubclass for SegOverlay {
    const NAME: &'static str = "GstSegstreamOverlay";
    type Type = super::SegOverlay;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for SegOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let flag = |name: &str, nick: &str, blurb: &str| {
                glib::ParamSpecBoolean::builder(name).nick(nick).blurb(blurb).default_value(true).mutable_playing().build()
            };
            vec![
                glib::ParamSpecDouble::builder("alpha")
                    .nick("Mask opacity")
                    .blurb("Opacity of the mask fill: 0 = invisible, 1 = opaque")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_ALPHA)
                    .mutable_playing()
                    .build(),
                flag("draw-contours", "Draw contours", "Draw each mask's outline opaquely"),
                flag("draw-boxes", "Draw boxes", "Draw each object's bounding box"),
                flag("draw-labels", "Draw labels", "Draw an 'id:label score' caption per object"),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "alpha" => s.alpha = value.get().unwrap(),
            "draw-contours" => s.contours = value.get().unwrap(),
            "draw-boxes" => s.boxes = value.get().unwrap(),
            "draw-labels" => s.labels = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "alpha" => s.alpha.to_value(),
            "draw-contours" => s.contours.to_value(),
            "draw-boxes" => s.boxes.to_value(),
            "draw-labels" => s.labels.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for SegOverlay {}

impl ElementImpl for SegOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Segmentation overlay",
                "Filter/Effect/Video",
                "Draws SegstreamObjectsMeta: translucent masks coloured by track id, contours, \
                 boxes and 'id:label score' captions",
                "segstream developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = crate::frame::caps();
            vec![
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for SegOverlay {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.warned.store(false, Ordering::Relaxed);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.scratch.lock().unwrap() = Scratch::default();
        Ok(())
    }
}

impl VideoFilterImpl for SegOverlay {
    fn transform_frame_ip(&self, frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let style = self.settings.lock().unwrap().style();
        let mut guard = self.scratch.lock().unwrap();
        let scratch = &mut *guard;
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        scratch.labels.reset(w, h);
        scratch.objects.clear();
        let collected = match meta::find(frame.buffer()) {
            None => return Ok(gst::FlowSuccess::Ok),
            Some(m) => collect(m.structure(), w, h, scratch),
        };
        if let Err(e) = collected {
            if !self.warned.swap(true, Ordering::Relaxed) {
                gst::element_imp_warning!(self, gst::StreamError::Decode, ("segoverlay: malformed meta: {}", e));
            }
            return Ok(gst::FlowSuccess::Ok);
        }
        let Some(mut canvas) = Canvas::new(frame) else {
            return Err(gst::FlowError::NotNegotiated);
        };
        draw::frame(&mut canvas, &scratch.labels, &scratch.objects, &style);
        gst::trace!(CAT, imp = self, "drew {} objects", scratch.objects.len());
        Ok(gst::FlowSuccess::Ok)
    }
}
