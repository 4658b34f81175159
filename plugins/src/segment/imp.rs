//! `segment` subclass: settings, segmenter lifecycle, per-frame inference; encoding one
//! frame ahead in [`ahead`], commands in [`apply`], late frames and latency in [`qos`].
mod ahead;
mod apply;
pub(super) mod qos;

use crate::frame;
use crate::meta;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;
use segstream::command::{Command, COMMAND_EVENT};
use segstream::runtime::{EngineWatch, Threads};
use segstream::segmenter::{Segmenter, SegmenterSettings};
use segstream::tracker::TrackerConfig;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("segment", gst::DebugColorFlags::empty(), Some("segstream segmentation")));

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    provider: String,
    detect_interval: u32,
    score_threshold: f32,
    max_targets: u32,
    vocabulary: String,
    mask_width: u32,
    mask_height: u32,
    threads: Threads,
    /// ns; -1: no lateness check against a live upstream.
    max_lateness: i64,
    encode_ahead: super::EncodeAhead,
}

impl Default for Settings {
    fn default() -> Self {
        let t = TrackerConfig::default();
        Settings {
            model: None,
            provider: "cpu".into(),
            detect_interval: t.detect_interval,
            score_threshold: t.score_threshold,
            max_targets: t.max_targets as u32,
            vocabulary: String::new(),
            mask_width: 0,
            mask_height: 0,
            threads: Threads::default(),
            max_lateness: qos::DEFAULT_MAX_LATENESS,
            encode_ahead: super::EncodeAhead::default(),
        }
    }
}

impl Settings {
    fn tracker_config(&self) -> TrackerConfig {
        let mut t = TrackerConfig::default();
        self.apply_tracker(&mut t);
        t
    }

    /// Copies the properties that may change while playing into a tracker config.
    fn apply_tracker(&self, t: &mut TrackerConfig) {
        t.detect_interval = self.detect_interval;
        t.score_threshold = self.score_threshold;
        t.max_targets = self.max_targets as usize;
    }

    fn segmenter_settings(&self) -> SegmenterSettings {
        let mask_size = (self.mask_width > 0 && self.mask_height > 0).then_some((self.mask_width as usize, self.mask_height as usize));
        SegmenterSettings {
            model: self.model.as_ref().map(Into::into),
            provider: self.provider.clone(),
            tracker: self.tracker_config(),
            mask_size,
            vocabulary: self.vocabulary.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
            threads: self.threads,
            ..Default::default()
        }
    }
}

struct State {
    segmenter: Segmenter,
    info: Option<gst_video::VideoInfo>,
    /// Number of the next frame (0-based) since the last stream-start / flush.
    frame: u64,
    /// Encoding ahead: the frame the encoder thread has, and the one finished for
    /// `generate_output` (see [`ahead`]).
    held: Option<ahead::Held>,
    ready: Option<gst::Buffer>,
    /// Whether upstream is live (asked once per stream, when encoding ahead is `auto`).
    upstream_live: Option<bool>,
}

#[derive(Default)]
pub struct Segment {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    commands: Mutex<VecDeque<apply::Queued>>,
    /// A live-changeable property changed: copy it into the tracker before the next frame.
    tracker_dirty: AtomicBool,
    /// What the loaded bundle can embed (set in `start`): read when a command arrives, so
    /// impossible vocabulary / text commands are refused at once (the MQTT reply says so)
    /// without waiting for the state lock that inference holds.
    text: Mutex<Option<TextSupport>>,
    /// The tracker's target count after the last frame (read without the state lock, which
    /// inference holds).
    targets: std::sync::atomic::AtomicU32,
    /// Counts the streams sharing the loaded model (set in `start`; `None` when stopped).
    engine: Mutex<Option<EngineUsers>>,
    qos: Mutex<qos::Qos>,
    /// Whether the last frame was encoded ahead (property `encoding-ahead`).
    ahead: AtomicBool,
}

/// Who uses this element's loaded model.
enum EngineUsers {
    /// Shared with other streams of the process (CPU provider).
    Shared(EngineWatch),
    /// This element's own (GPU providers).
    Own,
}

impl EngineUsers {
    fn count(&self) -> u32 {
        match self {
            EngineUsers::Shared(w) => w.users() as u32,
            EngineUsers::Own => 1,
        }
    }
}

impl Segment {
    /// The shared model this element uses while started (`super::Segment::engine_watch`).
    pub(super) fn engine_watch(&self) -> Option<EngineWatch> {
        match self.engine.lock().unwrap().as_ref()? {
            EngineUsers::Shared(w) => Some(w.clone()),
            EngineUsers::Own => None,
        }
    }
}

struct TextSupport {
    has_encoder: bool,
    bundle_names: Vec<String>,
}

impl TextSupport {
    /// Why the bundle cannot apply `cmd`, if it cannot.
    fn refusal(&self, cmd: &Command) -> Option<String> {
        let new_name = match cmd {
            Command::SetVocabulary { names } => names.iter().find(|n| !self.bundle_names.contains(n)),
            Command::AddTextTarget { .. } => {
                return (!self.has_encoder).then(|| "add_text_target needs a text encoder, and the model bundle has none".into())
            }
            _ => None,
        };
        new_name
            .filter(|_| !self.has_encoder)
            .map(|n| format!("set_vocabulary: class `{n}` is not in the bundle's vocabulary and the bundle has no text encoder"))
    }
}

impl Segment {
    fn open(&self) -> Result<Segmenter, gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        // The core parses provider names, so the element accepts exactly what it runs.
        if let Err(e) = settings.provider.parse::<segstream::runtime::Provider>() {
            return Err(gst::error_msg!(gst::ResourceError::Settings, ("segment: {}", e)));
        }
        gst::info!(CAT, imp = self, "opening model {:?} on {}", settings.model, settings.provider);
        Segmenter::open(&settings.segmenter_settings())
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("segment: cannot load the model: {}", e)))
    }

    fn reset_stream(&self, why: &str) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            gst::debug!(CAT, imp = self, "{}: frame counter and tracker reset", why);
            state.frame = 0;
            state.upstream_live = None;
            state.segmenter.reset();
        }
        self.qos.lock().unwrap().reset_stream();
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Segment {
    const NAME: &'static str = "GstSegstreamSegment";
    type Type = super::Segment;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for Segment {
    fn constructed(&self) {
        self.parent_constructed();
        // Late frames are dropped before the model runs (see `qos`); `qos=false` keeps every frame.
        self.obj().set_qos(true);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(super::props::specs);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model = value.get::<Option<String>>().unwrap().filter(|m| !m.is_empty()),
            "provider" => s.provider = value.get::<Option<String>>().unwrap().unwrap_or_else(|| "cpu".into()),
            "vocabulary" => s.vocabulary = value.get::<Option<String>>().unwrap().unwrap_or_default(),
            "mask-width" => s.mask_width = value.get().unwrap(),
            "mask-height" => s.mask_height = value.get().unwrap(),
            "detect-interval" => s.detect_interval = value.get().unwrap(),
            "score-threshold" => s.score_threshold = value.get().unwrap(),
            "max-targets" => s.max_targets = value.get().unwrap(),
            "threads" => s.threads.intra = value.get::<u32>().unwrap() as usize,
            "spin" => s.threads.spin = value.get().unwrap(),
            "encoder-threads" => s.threads.encoder = usize::try_from(value.get::<i32>().unwrap()).ok(),
            "max-lateness" => s.max_lateness = value.get().unwrap(),
            "encode-ahead" => s.encode_ahead = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
        if matches!(pspec.name(), "detect-interval" | "score-threshold" | "max-targets") {
            self.tracker_dirty.store(true, Ordering::Release);
        }
        gst::debug!(CAT, imp = self, "{} set", pspec.name());
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model.to_value(),
            "provider" => s.provider.to_value(),
            "vocabulary" => s.vocabulary.to_value(),
            "mask-width" => s.mask_width.to_value(),
            "mask-height" => s.mask_height.to_value(),
            "detect-interval" => s.detect_interval.to_value(),
            "score-threshold" => s.score_threshold.to_value(),
            "max-targets" => s.max_targets.to_value(),
            "threads" => (s.threads.intra as u32).to_value(),
            "spin" => s.threads.spin.to_value(),
            "encoder-threads" => s.threads.encoder.map_or(-1, |n| n as i32).to_value(),
            "targets" => self.targets.load(Ordering::Relaxed).to_value(),
            "engine-users" => self.engine.lock().unwrap().as_ref().map_or(0, EngineUsers::count).to_value(),
            "max-lateness" => s.max_lateness.to_value(),
            "encode-ahead" => s.encode_ahead.to_value(),
            "encoding-ahead" => self.ahead.load(Ordering::Relaxed).to_value(),
            "frames-dropped" => self.qos.lock().unwrap().dropped().to_value(),
            "processing-latency" => self.qos.lock().unwrap().estimate().nseconds().to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for Segment {}

impl ElementImpl for Segment {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Instance segmentation and tracking",
                "Filter/Analyzer/Video",
                "Finds object instances (mask, box, class, stable track id) on every frame and \
                 attaches them as SegstreamObjectsMeta",
                "segstream developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = frame::caps();
            vec![
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for Segment {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let mut segmenter = self.open()?;
        if let Some(why) = segmenter.gpu_warning() {
            gst::element_imp_warning!(self, gst::ResourceError::Settings, ("segment: {}", why));
        }
        // The first run of a session is slow (memory planning): paid here, not on a live frame.
        let warm = segmenter.warm_up().map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("segment: {}", e)))?;
        gst::info!(CAT, imp = self, "warm-up run {:?}; model shared by {} stream(s)", warm, segmenter.engine_users());
        *self.engine.lock().unwrap() = Some(segmenter.engine_watch().map_or(EngineUsers::Own, EngineUsers::Shared));
        self.tracker_dirty.store(false, Ordering::Release);
        let bundle_names = segmenter.bundle_vocabulary().names.clone();
        *self.text.lock().unwrap() = Some(TextSupport { has_encoder: segmenter.has_text_encoder(), bundle_names });
        *self.state.lock().unwrap() = Some(State { segmenter, info: None, frame: 0, held: None, ready: None, upstream_live: None });
        *self.qos.lock().unwrap() = qos::Qos::default();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        *self.engine.lock().unwrap() = None;
        *self.text.lock().unwrap() = None;
        self.commands.lock().unwrap().clear();
        gst::info!(CAT, imp = self, "stopped");
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => {
                self.discard_ahead();
                self.reset_stream("flush-stop");
                return self.parent_sink_event(event);
            }
            gst::EventView::CustomDownstream(_) | gst::EventView::CustomDownstreamOob(_) | gst::EventView::CustomBoth(_) => {
                if let Some(s) = event.structure().filter(|s| s.name() == COMMAND_EVENT) {
                    return self.queue_command(s);
                }
            }
            _ => (),
        }
        // No event overtakes a frame held for encoding ahead.
        if event.is_serialized() {
            let _ = self.drain_ahead(event.type_().name());
        }
        if let gst::EventView::StreamStart(_) = event.view() {
            self.reset_stream("stream-start");
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Qos(q) = event.view() {
            // Not given to the base class: it would drop late frames itself, uncounted and
            // unknown to the tracker. `submit_input_buffer` drops them instead.
            self.on_qos_event(q);
            return self.obj().sink_pad().push_event(event);
        }
        if matches!(event.type_(), gst::EventType::CustomUpstream | gst::EventType::CustomBoth | gst::EventType::CustomBothOob) {
            if let Some(s) = event.structure().filter(|s| s.name() == COMMAND_EVENT) {
                return self.queue_command(s);
            }
        }
        self.parent_src_event(event)
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let is_latency = direction == gst::PadDirection::Src && query.type_() == gst::QueryType::Latency;
        let ok = BaseTransformImplExt::parent_query(self, direction, query);
        if ok && is_latency {
            self.answer_latency(query);
        }
        ok
    }

    /// Drops a late frame before the model runs (see `qos`); encodes ahead when it should
    /// (see `ahead`), else hands the frame to `transform_ip` through the base class.
    fn submit_input_buffer(&self, is_discont: bool, inbuf: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.obj().is_qos() {
            if let Some((rt, jitter)) = self.late(&inbuf) {
                // The tracker must see the held frame before it skips this one.
                self.drain_ahead("late frame")?;
                self.drop_late(&inbuf, rt, jitter);
                return Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED);
            }
        }
        let ahead = match self.state.lock().unwrap().as_mut() {
            Some(state) => self.ahead_wanted(state),
            None => false,
        };
        if ahead {
            return self.submit_ahead(inbuf);
        }
        self.drain_ahead("encoding ahead off")?;
        self.ahead.store(false, Ordering::Relaxed);
        self.parent_submit_input_buffer(is_discont, inbuf)
    }

    /// The frame encoded ahead that `submit_ahead` finished, else the base class's output
    /// (`transform_ip` on the submitted frame; nothing when it was held for encoding ahead).
    fn generate_output(&self) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        if let Some(buf) = self.take_ready() {
            return Ok(gst_base::subclass::base_transform::GenerateOutputSuccess::Buffer(buf));
        }
        self.parent_generate_output()
    }

    /// Overrides the video filter's in-place path: the pixels are only read (mapping them
    /// writable could force a copy), the meta is attached after the frame is unmapped.
    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let t0 = std::time::Instant::now();
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("segment: no state (not started)"));
            return Err(gst::FlowError::NotNegotiated);
        };
        let (info, index) = self.begin_frame(state)?;
        let mapped = self.map(buf, &info, index)?;
        let frame_ref = frame::frame_ref(&mapped).ok_or(gst::FlowError::NotSupported)?;
        let result = match state.segmenter.process(&frame_ref, index) {
            Ok(r) => r,
            Err(e) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("segment: frame {}: {}", index, e));
                return Err(gst::FlowError::Error);
            }
        };
        drop(mapped);
        let n = result.objects.len();
        meta::attach(buf, result);
        let t = state.segmenter.last_timing();
        gst::trace!(
            CAT,
            imp = self,
            "frame {}: {} objects; ms: preprocess {:.2} encoder {:.2} decoder {:.2} tracker+postprocess {:.2}, in segment {:.2}",
            index,
            n,
            t.preprocess.as_secs_f64() * 1e3,
            t.encode.as_secs_f64() * 1e3,
            t.decode.as_secs_f64() * 1e3,
            (t.track + t.postprocess - t.decode).as_secs_f64() * 1e3,
            t0.elapsed().as_secs_f64() * 1e3
        );
        self.targets.store(state.segmenter.tracker_mut().target_count() as u32, Ordering::Relaxed);
        state.frame += 1;
        drop(guard);
        self.processed(t0.elapsed());
        Ok(gst::FlowSuccess::Ok)
    }
}

impl Segment {
    /// Before a frame: the caps it has, commands applied, its number.
    fn begin_frame(&self, state: &mut State) -> Result<(gst_video::VideoInfo, u64), gst::FlowError> {
        let Some(info) = state.info.clone() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("segment: buffer before caps"));
            return Err(gst::FlowError::NotNegotiated);
        };
        let applied = self.apply_pending(state);
        self.report(applied);
        Ok((info, state.frame))
    }

    /// Maps a frame for reading (an error message names it when it cannot be).
    fn map<'a>(
        &self,
        buf: &'a gst::BufferRef,
        info: &gst_video::VideoInfo,
        index: u64,
    ) -> Result<gst_video::VideoFrameRef<&'a gst::BufferRef>, gst::FlowError> {
        gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).map_err(|_| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("segment: cannot map frame {}", index));
            gst::FlowError::Error
        })
    }
}

impl VideoFilterImpl for Segment {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        _out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        gst::debug!(CAT, imp = self, "caps {}", incaps);
        if frame::pixel_format(in_info.format()).is_none() {
            return Err(gst::loggable_error!(CAT, "unsupported format {:?}", in_info.format()));
        }
        match self.state.lock().unwrap().as_mut() {
            Some(state) => state.info = Some(in_info.clone()),
            None => return Err(gst::loggable_error!(CAT, "caps before start")),
        }
        Ok(())
    }
}
