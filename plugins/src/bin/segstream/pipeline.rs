//! Shared by `run` and `demo`: GStreamer setup, output branches, the bus loop and the
//! per-frame observer that feeds the progress line.
use anyhow::{anyhow, Context, Result};
use gst::prelude::*;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Initialises GStreamer and registers the plugin statically (no GST_PLUGIN_PATH needed).
pub fn init() -> Result<()> {
    gst::init().context("initialising GStreamer")?;
    gstsegstream::plugin_register_static().context("registering the segstream plugin")?;
    Ok(())
}

/// Makes an element, naming the missing plugin package when the factory is absent.
pub fn make(factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| anyhow!("GStreamer element '{factory}' is missing (install the plugin package that provides it)"))
}

pub fn has(factory: &str) -> bool {
    gst::ElementFactory::find(factory).is_some()
}

pub use crate::config::Output;

/// Display when there is one, else nothing.
pub fn default_output() -> Output {
    let display = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if display {
        Output::Display
    } else {
        Output::None
    }
}

/// The first H.264/MPEG-4 encoder available, with its parser.
///
/// x264enc runs with `tune=zerolatency`: by default it holds ~20 frames (lookahead,
/// B-frames) before its first output, so the file sink cannot preroll while the MQTT
/// branch of the tee already waits in preroll with a full queue (1 s of video): the
/// pipeline deadlocked on real clips. openh264enc (no lookahead) prints one harmless
/// `[OpenH264] ... EncodeFrame(), cmInitParaError` at end of stream (GStreamer 1.22 drains
/// it with an empty frame), hence x264enc first.
fn encoder() -> Result<&'static str> {
    let options = [
        ("x264enc", "x264enc speed-preset=veryfast tune=zerolatency ! h264parse"),
        ("openh264enc", "openh264enc ! h264parse"),
        ("avenc_mpeg4", "avenc_mpeg4 bitrate=2000000 ! mpeg4videoparse"),
    ];
    options
        .iter()
        .find(|(f, _)| has(f))
        .map(|(_, d)| *d)
        .ok_or_else(|| anyhow!("no video encoder (x264enc, openh264enc or avenc_mpeg4): install gstreamer1.0-plugins-ugly, -bad or -libav, or write PNG frames to a directory"))
}

/// A bin with a `sink` ghost pad that writes `output`.
pub fn sink_bin(output: &Output) -> Result<gst::Element> {
    let (desc, location) = match output {
        Output::Display => ("videoconvert ! autovideosink".to_string(), None),
        Output::None => ("fakesink sync=false".to_string(), None),
        Output::Video(path) => {
            let mux = output.muxer().ok_or_else(|| anyhow!("{}: no container for this extension", path.display()))?;
            create_parent(path)?;
            (format!("videoconvert ! {} ! {mux} ! filesink name=out sync=false", encoder()?), Some(path.clone()))
        }
        Output::Frames(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating output directory {}", dir.display()))?;
            ("videoconvert ! pngenc ! multifilesink name=out sync=false".to_string(), Some(dir.join("%05d.png")))
        }
    };
    let bin = gst::parse::bin_from_description(&desc, true).with_context(|| format!("building '{desc}'"))?;
    if let Some(loc) = location {
        let out = bin.by_name("out").expect("named in the description");
        out.set_property("location", loc.to_str().ok_or_else(|| anyhow!("output path is not UTF-8"))?);
    }
    Ok(bin.upcast())
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display())),
        None => Ok(()),
    }
}

/// The MQTT options of `segstream run`.
pub struct MqttArgs<'a> {
    pub addr: &'a str,
    pub topic: Option<&'a str>,
    pub stream_id: Option<&'a str>,
    pub accept_commands: bool,
}

/// Adds an MQTT branch: `tee ! queue ! segmqttsink host=.. port=..` (looked up by name so
/// the CLI does not depend on the sink's Rust code).
pub fn mqtt_sink(m: &MqttArgs) -> Result<gst::Element> {
    let addr = m.addr;
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| anyhow!("--mqtt must be host:port, got '{addr}'"))?;
    port.parse::<u16>().map_err(|_| anyhow!("--mqtt port '{port}' is not a number in 1..65535"))?;
    let sink = make("segmqttsink")?;
    sink.set_property_from_str("host", host);
    sink.set_property_from_str("port", port);
    if let Some(t) = m.topic {
        sink.set_property_from_str("topic", t);
    }
    if let Some(id) = m.stream_id {
        sink.set_property_from_str("stream-id", id);
    }
    sink.set_property("accept-commands", m.accept_commands);
    Ok(sink)
}

/// Frame counts seen by the observer probe.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames: u64,
    pub objects_last: usize,
    pub objects_total: u64,
    pub started: Option<Instant>,
    /// The camera's `segment`, asked for the frames it dropped as late.
    pub segment: Option<gst::Element>,
}

impl Stats {
    pub fn fps(&self) -> f64 {
        let secs = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        if secs > 0.0 {
            self.frames as f64 / secs
        } else {
            0.0
        }
    }

    /// Frames `segment` dropped before the model because they were already late (a live
    /// source outpacing it); their numbers are missing from the MQTT messages.
    pub fn late(&self) -> u64 {
        self.segment.as_ref().map_or(0, |s| s.property::<u64>("frames-dropped"))
    }

    /// The end-of-run line: frames, frame rate, objects, late frames.
    pub fn summary(&self, fps: f64) -> String {
        format!("{} frames, {fps:.1} fps, {} objects in total, {} late frames dropped", self.frames, self.objects_total, self.late())
    }

    pub fn line(&self) -> String {
        format!("frames {}  fps {:.1}  objects {}", self.frames, self.fps(), self.objects_last)
    }
}

/// Installs a probe on `pad` that counts frames and objects and calls `each` with the
/// meta summary of every buffer.
pub fn observe(pad: &gst::Pad, each: impl Fn(&gstsegstream::meta::Brief) + Send + Sync + 'static) -> Arc<Mutex<Stats>> {
    let stats = Arc::new(Mutex::new(Stats::default()));
    let s = stats.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            let brief = gstsegstream::meta::brief(buffer);
            let mut st = s.lock().unwrap();
            st.started.get_or_insert_with(Instant::now);
            st.frames += 1;
            match brief {
                Some(Ok(b)) => {
                    st.objects_last = b.objects.len();
                    st.objects_total += b.objects.len() as u64;
                    drop(st);
                    each(&b);
                }
                Some(Err(e)) => tracing::warn!("frame without a readable meta: {e}"),
                None => tracing::warn!("frame without a segstream meta"),
            }
        }
        gst::PadProbeReturn::Ok
    });
    stats
}

/// Ctrl-C (SIGINT) and SIGTERM set the returned flag; a second one while the flag is set
/// exits at once (status 130), for a pipeline that does not drain.
pub fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the shutdown check must see the flag before this signal sets it.
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone()).context("installing the signal handler")?;
        signal_hook::flag::register(sig, flag.clone()).context("installing the signal handler")?;
    }
    Ok(flag)
}

/// Plays `pipeline` to EOS; prints the progress line every second when `progress`.
/// Ctrl-C sends EOS instead of killing the process, so an MP4 gets its index and the
/// MQTT sink its last messages. Errors carry the element's message and debug info.
///
/// With a `live` source, its errors are outages it handles (the run goes on) and the end
/// goes through [`crate::source::Reconnecting::finish`].
pub fn play(pipeline: &gst::Pipeline, stats: &Arc<Mutex<Stats>>, progress: bool, live: Option<&crate::source::Reconnecting>) -> Result<()> {
    let interrupted = interrupt_flag()?;
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let result = drive(pipeline, live, &interrupted, || {
        if progress && last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            print_progress(&stats.lock().unwrap().line(), tty);
        }
    });
    if progress {
        // The final state always gets a line: a run shorter than a second would log none.
        print_progress(&stats.lock().unwrap().line(), tty);
        if tty {
            eprintln!();
        }
    }
    result
}

/// The bus loop of [`play`] without the progress line: plays `pipeline` to EOS (or its
/// first error), sends EOS once `interrupted` is set, calls `tick` about every 200 ms, and
/// leaves the pipeline in NULL. `segstream run` with several cameras runs one per camera.
pub fn drive(
    pipeline: &gst::Pipeline,
    live: Option<&crate::source::Reconnecting>,
    interrupted: &AtomicBool,
    mut tick: impl FnMut(),
) -> Result<()> {
    let mut eos_sent = false;
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The error first: going to NULL flushes the bus.
        let e = bus_error(pipeline).unwrap_or_else(|| anyhow!("pipeline failed to start"));
        let _ = pipeline.set_state(gst::State::Null);
        return Err(e);
    }
    let bus = pipeline.bus().expect("pipelines have a bus");
    let result = loop {
        if interrupted.load(Ordering::Relaxed) && !eos_sent {
            eos_sent = true;
            eprintln!("interrupted: finishing the output (press Ctrl-C again to quit at once)");
            match live {
                Some(l) => l.finish(),
                None => {
                    pipeline.send_event(gst::event::Eos::new());
                }
            }
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(_) if live.is_some_and(|l| l.handle_error(&msg)) => (),
                gst::MessageView::Error(e) => break Err(error_of(e)),
                gst::MessageView::Warning(w) => tracing::warn!("{}: {}", src_name(&msg), w.error()),
                // An element's latency changed (segment: its processing time grew).
                gst::MessageView::Latency(_) => {
                    let _ = pipeline.recalculate_latency();
                }
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure() {
                        tracing::info!("{}: {}", src_name(&msg), s);
                    }
                }
                _ => (),
            }
        }
        tick();
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

pub fn print_progress(line: &str, tty: bool) {
    let mut err = std::io::stderr();
    if tty {
        let _ = write!(err, "\r{line}   ");
        let _ = err.flush();
    } else {
        let _ = writeln!(err, "{line}");
    }
}

fn src_name(msg: &gst::Message) -> String {
    msg.src().map(|s| s.path_string().to_string()).unwrap_or_else(|| "pipeline".into())
}

fn error_of(e: &gst::message::Error) -> anyhow::Error {
    let debug = e.debug().map(|d| format!(" ({d})")).unwrap_or_default();
    let src = e.src().map(|s| s.name().to_string()).unwrap_or_default();
    anyhow!("{src}: {}{debug}", e.error())
}

/// The first error already on the bus (a failed state change posts it before returning).
fn bus_error(pipeline: &gst::Pipeline) -> Option<anyhow::Error> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(error_of(e));
        }
    }
    None
}

/// What a buffer probe returns to discard the buffer. Not `Drop`: gstreamer-rs takes the
/// buffer out of the probe info (and frees it) and leaves the info's data NULL, which
/// GStreamer 1.22 then unrefs again (`gst_mini_object_unref: assertion 'mini_object !=
/// NULL' failed` on every dropped buffer). `Handled` means "consumed by the probe": the
/// same discard without the second unref, on every GStreamer version.
pub const DISCARD_BUFFER: gst::PadProbeReturn = gst::PadProbeReturn::Handled;

/// Gives `segment` user targets (boxes in frame pixels) before its first frame: on the
/// first buffer a `segstream-command` event goes up from segment's src pad (pads only
/// take events once the pipeline runs, so this cannot happen earlier). A box outside the
/// frame is an error on the bus (the frame size is only known now, from the caps).
pub fn add_targets_at_start(seg: &gst::Element, boxes: Vec<[f32; 4]>) {
    if boxes.is_empty() {
        return;
    }
    let src = seg.static_pad("src").expect("segment has a src pad");
    let weak = seg.downgrade();
    seg.static_pad("sink").expect("segment has a sink pad").add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        if let Some(msg) = frame_size(pad).and_then(|(fw, fh)| outside_frame(&boxes, fw, fh)) {
            if let Some(seg) = weak.upgrade() {
                gst::element_error!(seg, gst::StreamError::Failed, ["{}", msg]);
            }
            return DISCARD_BUFFER;
        }
        for [x, y, w, h] in &boxes {
            let s = gst::Structure::builder("segstream-command")
                .field("action", "add-box")
                .field("x", *x)
                .field("y", *y)
                .field("w", *w)
                .field("h", *h)
                .build();
            if !src.send_event(gst::event::CustomUpstream::new(s)) {
                tracing::warn!("segment refused target {x},{y},{w},{h}");
            }
        }
        gst::PadProbeReturn::Remove
    });
}

/// Width and height of the pad's negotiated video caps.
fn frame_size(pad: &gst::Pad) -> Option<(u32, u32)> {
    let caps = pad.current_caps()?;
    let s = caps.structure(0)?;
    Some((u32::try_from(s.get::<i32>("width").ok()?).ok()?, u32::try_from(s.get::<i32>("height").ok()?).ok()?))
}

/// The error for the first box not inside a `w` x `h` frame.
fn outside_frame(boxes: &[[f32; 4]], w: u32, h: u32) -> Option<String> {
    let b = boxes.iter().find(|b| !crate::config::box_in_frame(**b, w, h))?;
    Some(format!("--target {},{},{},{} is outside the {w}x{h} frame (x,y,w,h in frame pixels)", b[0], b[1], b[2], b[3]))
}
