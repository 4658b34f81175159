//! `segtestsrc` subclass: renders the world into each buffer and attaches its truth.
use super::{truth, Difficulty};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use segstream::world::{FrameTruth, World, WorldConfig, MAX_OBJECTS};
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("segtestsrc", gst::DebugColorFlags::empty(), Some("segstream world test source")));

const FORMATS: [gst_video::VideoFormat; 3] = [gst_video::VideoFormat::Rgb, gst_video::VideoFormat::Rgba, gst_video::VideoFormat::Bgrx];

#[derive(Debug, Clone, Copy, Default)]
struct Settings {
    seed: u64,
    /// 0: random per seed within the difficulty's range.
    num_objects: u32,
    difficulty: Difficulty,
}

/// Per-run state: created by `set_caps` (the world needs the negotiated size), dropped
/// in `stop`. `rgb` and `truth` are reused for every frame.
struct State {
    info: gst_video::VideoInfo,
    world: World,
    rgb: Vec<u8>,
    truth: FrameTruth,
    frame: u64,
    seed: u64,
}

#[derive(Default)]
pub struct SegTestSrc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for SegTestSrc {
    const NAME: &'static str = "GstSegTestSrc";
    type Type = super::SegTestSrc;
    type ParentType = gst_base::PushSrc;
}

impl ObjectImpl for SegTestSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("World seed: same seed, settings and size give identical video and truth")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("num-objects")
                    .nick("Number of objects")
                    .blurb("Objects alive at once (1-12); 0 picks a count from the seed and difficulty")
                    .maximum(MAX_OBJECTS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder::<Difficulty>("difficulty")
                    .nick("Difficulty")
                    .blurb("normal, or hard: more occlusion and look-alike objects")
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "seed" => s.seed = value.get().expect("type checked upstream"),
            "num-objects" => s.num_objects = value.get().expect("type checked upstream"),
            "difficulty" => s.difficulty = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "seed" => s.seed.to_value(),
            "num-objects" => s.num_objects.to_value(),
            "difficulty" => s.difficulty.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_live(false);
        obj.set_format(gst::Format::Time);
    }
}

impl GstObjectImpl for SegTestSrc {}

impl ElementImpl for SegTestSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Segmentation world test source",
                "Source/Video",
                "Procedural video of moving, occluding shapes with exact per-frame ground truth \
                 (instance masks, classes, track ids) attached as SegstreamGroundTruthMeta",
                "segstream developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // 4096 px at most: the world keeps float canvases of the frame size.
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(FORMATS)
                .width_range(8..=4096)
                .height_range(8..=4096)
                .framerate_range(gst::Fraction::new(1, 1)..=gst::Fraction::new(1000, 1))
                .build();
            vec![gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap()]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseSrcImpl for SegTestSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        gst::info!(CAT, imp = self, "started with {:?}", *self.settings.lock().unwrap());
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        false
    }

    /// Defaults for whatever downstream leaves open: 320x240 at 30/1.
    fn fixate(&self, mut caps: gst::Caps) -> gst::Caps {
        caps.truncate();
        {
            let caps = caps.make_mut();
            if let Some(s) = caps.structure_mut(0) {
                s.fixate_field_nearest_int("width", 320);
                s.fixate_field_nearest_int("height", 240);
                s.fixate_field_nearest_fraction("framerate", gst::Fraction::new(30, 1));
            }
        }
        self.parent_fixate(caps)
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|_| gst::loggable_error!(CAT, "cannot parse caps {caps}"))?;
        if info.fps().numer() <= 0 {
            return Err(gst::loggable_error!(CAT, "frame rate must be positive, got {}", info.fps()));
        }
        let settings = *self.settings.lock().unwrap();
        let (w, h) = (info.width() as usize, info.height() as usize);
        let mut config = WorldConfig::new(settings.seed, settings.difficulty.into(), w, h);
        if settings.num_objects > 0 {
            config.num_objects = settings.num_objects..=settings.num_objects;
        }
        let world = World::new(config).map_err(|e| gst::loggable_error!(CAT, "cannot build the world: {e}"))?;
        gst::debug!(CAT, imp = self, "negotiated {caps}");
        self.obj().set_blocksize(info.size() as u32);
        let mut state = self.state.lock().unwrap();
        // A renegotiation mid-stream keeps counting frames so timestamps stay monotonic.
        let frame = state.as_ref().map_or(0, |s| s.frame);
        *state = Some(State { info, world, rgb: vec![0; w * h * 3], truth: FrameTruth::default(), frame, seed: settings.seed });
        Ok(())
    }
}

impl PushSrcImpl for SegTestSrc {
    /// PushSrc's C class has no default `alloc`/`create` for the bindings to chain up to,
    /// so buffers come from the negotiated pool here (a plain allocation without one).
    fn create(&self, buffer: Option<&mut gst::BufferRef>) -> Result<CreateSuccess, gst::FlowError> {
        if let Some(buffer) = buffer {
            self.render(buffer)?;
            return Ok(CreateSuccess::FilledBuffer);
        }
        let size = self.state.lock().unwrap().as_ref().map(|s| s.info.size()).ok_or(gst::FlowError::NotNegotiated)?;
        let mut buffer = match self.obj().buffer_pool() {
            Some(pool) => pool.acquire_buffer(None)?,
            None => gst::Buffer::with_size(size).map_err(|_| gst::FlowError::Error)?,
        };
        if buffer.size() < size {
            buffer = gst::Buffer::with_size(size).map_err(|_| gst::FlowError::Error)?;
        }
        self.render(buffer.get_mut().expect("fresh buffer is writable"))?;
        Ok(CreateSuccess::NewBuffer(buffer))
    }

    fn fill(&self, buffer: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.render(buffer)
    }
}

impl SegTestSrc {
    /// Renders the next frame into `buffer`, stamps its timestamps and attaches the truth.
    fn render(&self, buffer: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["no caps negotiated before the first buffer"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        let n = state.frame;
        state.world.render_into(n, &mut state.rgb, &mut state.truth).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ["rendering frame {n}: {e}"]);
            gst::FlowError::Error
        })?;
        {
            let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &state.info).map_err(|_| {
                gst::element_imp_error!(self, gst::CoreError::Failed, ["cannot map the output buffer"]);
                gst::FlowError::Error
            })?;
            let format = frame.format();
            let stride = frame.plane_stride()[0] as usize;
            let data = frame.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?;
            pack(&state.rgb, state.info.width() as usize, format, data, stride);
        }
        let fps = state.info.fps();
        let time = |k: u64| gst::ClockTime::SECOND.mul_div_floor(k * fps.denom() as u64, fps.numer() as u64).expect("no overflow");
        buffer.set_pts(time(n));
        buffer.set_duration(time(n + 1) - time(n));
        buffer.set_offset(n);
        buffer.set_offset_end(n + 1);
        truth::attach(buffer, &state.truth, state.seed);
        gst::trace!(CAT, imp = self, "frame {n}: {} objects", state.truth.objects.len());
        state.frame += 1;
        Ok(gst::FlowSuccess::Ok)
    }
}

/// Copies packed RGB rows into the output format (rows may be padded to `stride`).
fn pack(rgb: &[u8], width: usize, format: gst_video::VideoFormat, dst: &mut [u8], stride: usize) {
    for (src, out) in rgb.chunks_exact(width * 3).zip(dst.chunks_mut(stride)) {
        match format {
            gst_video::VideoFormat::Rgb => out[..width * 3].copy_from_slice(src),
            gst_video::VideoFormat::Rgba => {
                for (p, o) in src.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
                    o.copy_from_slice(&[p[0], p[1], p[2], 255]);
                }
            }
            _ => {
                for (p, o) in src.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
                    o.copy_from_slice(&[p[2], p[1], p[0], 255]);
                }
            }
        }
    }
}
