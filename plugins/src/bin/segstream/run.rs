//! `segstream run`: a file, URI or config through decode -> segment -> segoverlay -> output
//! (+ optional MQTT), with a progress line.
use crate::config::{self, ConfigFile, Output};
use crate::exit::Exit;
use crate::{cams, metrics, pipeline, source};
use anyhow::{anyhow, Context, Result};
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Run the pipeline on a video.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(after_help = "CONFIG FILE (TOML; every key optional except input; paths are relative to the file;\n\
command-line options override it):\n  input = \"video.mp4\"            # path or URI\n  output = \"none\"                # display | none | out.mp4 (.mov, .mkv, .avi) | frames-dir\n  model = \"../engines/tiny\"\n  provider = \"cpu\"\n  detect_interval = 1\n  score_threshold = 0.25\n  vocabulary = [\"disc\", \"star\"]\n  mqtt = \"127.0.0.1:1883\"\n  topic = \"segstream/cam1\"\n  accept_commands = false\n  max_frames = 300\n  targets = [[100, 60, 80, 80]]     # boxes x,y,w,h to track from the first frame\n  stream_id = \"cam1\"             # MQTT topics segstream/cam1/... and the metrics' camera label\n  metrics = \"127.0.0.1:9090\"      # /metrics and /healthz\n  health_timeout = 10\n\n\
CAMERAS FILE (several cameras in one process: one pipeline, segment and MQTT stream per camera):\n  \
mqtt = \"127.0.0.1:1883\"            # shared: broker, metrics, health_timeout\n  \
metrics = \"127.0.0.1:9090\"\n  \
[[camera]]                         # 1 to 64 of these\n  \
id = \"front\"                       # unique; letters, digits, - and _: stream id and metrics label\n  \
input = \"front.mp4\"                # then any per-camera key above: output, model, provider,\n  \
detect_interval = 3                #   detect_interval, score_threshold, vocabulary, topic,\n  \
[[camera]]                         #   accept_commands, max_frames, targets, stall_timeout\n  \
id = \"gate\"\n  \
input = \"rtsp://10.0.0.7/stream\"\n\
A camera that fails (missing file, decode or model error) stops alone; the others go on.\n\
Options given on the command line apply to every camera (not --output FILE, --topic, --stream-id, --target).\n\
Exit status: 0 every camera reached its end (or Ctrl-C), 3 some failed and the others ended,\n\
1 every camera failed, 2 a bad option or config file. See docs/OPERATIONS.md, \"Several cameras\".\n\n\
EXAMPLES:\n  segstream run video.mp4 --output out.mp4\n  segstream run rtsp://camera/stream --mqtt 127.0.0.1:1883 --output none\n  segstream run configs/cam1.toml\n  segstream run configs/cams.example.toml --metrics 127.0.0.1:9090\n  segstream run video.mp4 --detect-interval 0 --target 100,60,80,80   # follow one given object")]
pub struct RunArgs {
    /// Input: a video file, a URI (file://, rtsp://, http://...) or a config file (.toml: one
    /// camera, or several as [[camera]] tables)
    pub input: String,
    /// Where annotated frames go: `display`, `none`, a video file whose extension picks the
    /// container (.mp4, .mov, .mkv, .avi; any other extension is an error), or a directory
    /// for numbered PNG frames (no extension, or ending in /) [default: display when there
    /// is one, else none]
    #[arg(short, long)]
    pub output: Option<String>,
    /// Also publish one JSON message per frame to the MQTT broker at host:port (segmqttsink)
    #[arg(long, value_name = "HOST:PORT")]
    pub mqtt: Option<String>,
    /// MQTT topic [default: the segmqttsink default]
    #[arg(long, requires = "mqtt")]
    pub topic: Option<String>,
    /// Apply commands received on segstream/<stream-id>/commands (segmqttsink
    /// accept-commands); restrict who may publish there with the broker's ACL
    #[arg(long, requires = "mqtt")]
    pub accept_commands: bool,
    /// Model bundle directory [default: $SEGSTREAM_MODEL, then the bundled engines/tiny]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Execution provider: cpu, cuda, tensorrt (ONNX Runtime providers) or tensorrt-native
    #[arg(long)]
    pub provider: Option<String>,
    /// Run detection every N frames, 0..=10000 (0: only user-given targets)
    #[arg(long, value_parser = |s: &str| s.parse::<u32>().map_err(|e| e.to_string()).and_then(config::check_detect_interval))]
    pub detect_interval: Option<u32>,
    /// Minimum score for a detection to start a track, 0..1
    #[arg(long, value_parser = |s: &str| s.parse::<f32>().map_err(|e| e.to_string()).and_then(config::check_score_threshold))]
    pub score_threshold: Option<f32>,
    /// Comma-separated class names (open-vocabulary bundles)
    #[arg(long)]
    pub vocabulary: Option<String>,
    /// Track a user-given target from the first frame: a box x,y,w,h in frame pixels, inside
    /// the frame (repeatable)
    #[arg(long = "target", value_name = "X,Y,W,H", value_parser = config::parse_box)]
    pub targets: Vec<[f32; 4]>,
    /// Stream id: the MQTT topics `segstream/<id>/...` (segmqttsink stream-id) and the
    /// `camera` label of the metrics [default: default]
    #[arg(long)]
    pub stream_id: Option<String>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics and camera health at /healthz
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
    /// /healthz reports a camera as not flowing (HTTP 503) after this many seconds without a frame
    #[arg(long, value_name = "SECONDS", value_parser = |s: &str| s.parse::<f64>().map_err(|e| e.to_string()).and_then(config::check_health_timeout))]
    pub health_timeout: Option<f64>,
    /// Network inputs (any URI but file://): reconnect when no frame came for this many
    /// seconds (a camera that stops sending without closing the connection) [default: 10]
    #[arg(long, value_name = "SECONDS", value_parser = |s: &str| s.parse::<f64>().map_err(|e| e.to_string()).and_then(config::check_health_timeout))]
    pub stall_timeout: Option<f64>,
    /// Stop after this many frames
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// No progress line
    #[arg(short, long)]
    pub quiet: bool,
}

/// What `segstream run` was given: one camera, or a cameras file.
enum Resolved {
    One(RunArgs),
    Cameras(RunArgs, PathBuf, config::CamerasConfig),
}

/// A path or URI of a config file, relative to the file's directory `base`.
pub fn relative(base: &Path, p: &str) -> String {
    if p.contains("://") || Path::new(p).is_absolute() {
        p.to_string()
    } else {
        base.join(p).display().to_string()
    }
}

/// An `output` value of a config file: a path relative to `base`, or a keyword.
pub fn relative_output(base: &Path, o: String) -> String {
    if matches!(o.as_str(), "display" | "screen" | "none" | "") {
        o
    } else {
        relative(base, &o)
    }
}

/// Merges a config file (when `input` is one) under the command-line options.
fn resolve(mut args: RunArgs) -> Result<Resolved> {
    if !args.input.ends_with(".toml") {
        return Ok(Resolved::One(args));
    }
    let path = PathBuf::from(&args.input);
    let text = std::fs::read_to_string(&path).map_err(|e| Exit::usage(format!("reading config {}: {e}", path.display())))?;
    let c = match ConfigFile::parse(&text).map_err(|e| Exit::usage(format!("config {}: {e}", path.display())))? {
        ConfigFile::One(c) => *c,
        ConfigFile::Cameras(c) => return Ok(Resolved::Cameras(args, path, c)),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    args.input = relative(base, c.input.as_deref().unwrap_or_default());
    args.output = args.output.or(c.output.map(|o| relative_output(base, o)));
    args.model = args.model.or(c.model.map(|m| base.join(m)));
    args.provider = args.provider.or(c.provider);
    args.detect_interval = args.detect_interval.or(c.detect_interval);
    args.score_threshold = args.score_threshold.or(c.score_threshold);
    args.vocabulary = args.vocabulary.or(c.vocabulary.map(|v| v.join(",")));
    args.mqtt = args.mqtt.or(c.mqtt);
    args.topic = args.topic.or(c.topic);
    args.accept_commands |= c.accept_commands.unwrap_or(false);
    args.max_frames = args.max_frames.or(c.max_frames);
    args.stream_id = args.stream_id.or(c.stream_id);
    args.metrics = args.metrics.or(c.metrics);
    args.health_timeout = args.health_timeout.or(c.health_timeout);
    args.stall_timeout = args.stall_timeout.or(c.stall_timeout);
    if args.targets.is_empty() {
        args.targets = c.targets.unwrap_or_default();
    }
    Ok(Resolved::One(args))
}

/// A URI for a path or URI argument; a missing file is an error naming it.
fn uri_of(input: &str) -> Result<String> {
    if input.contains("://") {
        return Ok(input.to_string());
    }
    let path = Path::new(input);
    let abs = path.canonicalize().with_context(|| format!("input file {} not found", path.display()))?;
    gst::glib::filename_to_uri(&abs, None).map(|u| u.to_string()).map_err(|e| anyhow!("{}: {e}", abs.display()))
}

/// The `segment` element configured from the options.
pub fn segment(
    model: Option<&Path>,
    provider: Option<&str>,
    interval: Option<u32>,
    threshold: Option<f32>,
    vocab: Option<&str>,
) -> Result<gst::Element> {
    let seg = pipeline::make("segment")?;
    if let Some(m) = model {
        seg.set_property("model", m.to_str().ok_or_else(|| anyhow!("model path is not UTF-8"))?);
    }
    if let Some(p) = provider {
        seg.set_property("provider", p);
    }
    // Checked again here (not only by clap and the config file): an out-of-range GObject
    // property value panics inside glib.
    if let Some(n) = interval {
        let n = config::check_detect_interval(n).map_err(|e| anyhow!("--detect-interval: {e}"))?;
        debug_assert_eq!(
            seg.find_property("detect-interval").and_then(|p| p.downcast::<gst::glib::ParamSpecUInt>().ok()).map(|p| p.maximum()),
            Some(*segstream::tracker::DETECT_INTERVAL_RANGE.end())
        );
        seg.set_property("detect-interval", n);
    }
    if let Some(t) = threshold {
        let t = config::check_score_threshold(t).map_err(|e| anyhow!("--score-threshold: {e}"))?;
        seg.set_property("score-threshold", t);
    }
    if let Some(v) = vocab {
        seg.set_property("vocabulary", v);
    }
    Ok(seg)
}

pub fn run(args: RunArgs) -> Result<()> {
    pipeline::init()?;
    let args = match resolve(args)? {
        Resolved::One(a) => a,
        Resolved::Cameras(cli, path, c) => return cams::run(cli, &path, c),
    };
    let metrics = args.metrics.as_ref().map(|_| metrics::Metrics::new(Duration::from_secs_f64(args.health_timeout.unwrap_or(10.0))));
    let built = build(&args, metrics.as_ref())?;
    if built.live.is_some() {
        spare_core_for_the_encoder(&built);
    }
    if let (Some(addr), Some(m)) = (args.metrics.as_deref(), metrics) {
        metrics::serve(addr, m)?;
    }
    pipeline::play(&built.pipe, &built.stats, !args.quiet, built.live.as_deref())?;
    let st = built.stats.lock().unwrap();
    eprintln!("done: {}", st.summary(st.fps()));
    Ok(())
}

/// One live camera alone in the process: its frames are not encoded ahead (that would hold
/// each frame back by one), so the image encoder takes a second core when there is one:
/// lower latency, fewer late frames (the evidence: `segstream::runtime::Threads`). Several
/// cameras keep one thread each (N cameras on N cores).
fn spare_core_for_the_encoder(built: &Built) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        return;
    }
    if let Some(seg) = built.stats.lock().unwrap().segment.as_ref() {
        seg.set_property("encoder-threads", 2i32);
        tracing::info!("one live camera on {cores} cores: the image encoder runs 2 threads");
    }
}

/// One camera's pipeline, built and not playing yet.
pub struct Built {
    pub pipe: gst::Pipeline,
    /// The reconnecting source of a network input.
    pub live: Option<Arc<source::Reconnecting>>,
    pub stats: Arc<Mutex<pipeline::Stats>>,
}

/// Builds the pipeline of one camera: source -> videoconvert -> segment -> segoverlay ->
/// outputs; with `metrics`, its series are counted under its stream id.
pub fn build(args: &RunArgs, metrics: Option<&Arc<metrics::Metrics>>) -> Result<Built> {
    let uri = uri_of(&args.input)?;
    let output = match args.output.as_deref() {
        Some(o) => Output::parse(o).map_err(|e| anyhow!("--output {e}"))?,
        None => pipeline::default_output(),
    };
    tracing::info!(%uri, ?output, "run");
    let pipe = gst::Pipeline::new();
    let convert = pipeline::make("videoconvert")?;
    let seg =
        segment(args.model.as_deref(), args.provider.as_deref(), args.detect_interval, args.score_threshold, args.vocabulary.as_deref())?;
    let overlay = pipeline::make("segoverlay")?;
    pipe.add_many([&convert, &seg, &overlay])?;
    gst::Element::link_many([&convert, &seg, &overlay])?;
    let camera = args.stream_id.clone().unwrap_or_else(|| "default".into());
    let (live, leaky) = if uri.starts_with("file://") {
        let src = pipeline::make("uridecodebin")?;
        src.set_property("uri", &uri);
        pipe.add(&src)?;
        link_video_pads(&src, &convert);
        (None, None)
    } else {
        // A camera does not wait for us: while segment is busy, newer frames replace older
        // ones in a one-frame queue (counted as dropped) instead of piling up.
        let leaky = pipeline::make("queue")?;
        leaky.set_property("max-size-buffers", 1u32);
        leaky.set_property("max-size-bytes", 0u32);
        leaky.set_property("max-size-time", 0u64);
        leaky.set_property_from_str("leaky", "downstream");
        pipe.add(&leaky)?;
        leaky.link(&convert)?;
        let stall = Duration::from_secs_f64(args.stall_timeout.unwrap_or(10.0));
        let (m, id) = (metrics.cloned(), camera.clone());
        let on_restored = move || {
            if let Some(m) = &m {
                m.outage(&id);
            }
        };
        (Some(source::Reconnecting::start(&pipe, &uri, leaky.static_pad("sink").unwrap(), stall, on_restored)?), Some(leaky))
    };
    let mqtt = args.mqtt.as_deref().map(|addr| pipeline::MqttArgs {
        addr,
        topic: args.topic.as_deref(),
        stream_id: args.stream_id.as_deref(),
        accept_commands: args.accept_commands,
    });
    let mqtt_sink = attach_outputs(&pipe, &overlay, &output, mqtt)?;
    if let Some(n) = args.max_frames {
        limit_frames(&seg, &pipe, n, live.clone());
    }
    if let Some(m) = metrics {
        m.add_camera(&camera, &seg, mqtt_sink.as_ref(), leaky.as_ref());
    }
    pipeline::add_targets_at_start(&seg, args.targets.clone());
    let stats = pipeline::observe(&overlay.static_pad("src").unwrap(), |_| ());
    stats.lock().unwrap().segment = Some(seg);
    Ok(Built { pipe, live, stats })
}

/// Links the first video pad uridecodebin exposes; other streams (audio) stay unlinked.
fn link_video_pads(src: &gst::Element, convert: &gst::Element) {
    let sink = convert.static_pad("sink").unwrap();
    src.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps.structure(0).is_some_and(|s| s.name().starts_with("video/"));
        if is_video && !sink.is_linked() {
            if let Err(e) = pad.link(&sink) {
                tracing::error!("linking decoded video: {e:?}");
            }
        }
    });
}

/// segoverlay ! [tee !] queue ! output  (+ tee ! queue ! segmqttsink); returns the MQTT sink.
pub fn attach_outputs(
    pipe: &gst::Pipeline,
    last: &gst::Element,
    output: &Output,
    mqtt: Option<pipeline::MqttArgs>,
) -> Result<Option<gst::Element>> {
    let out = pipeline::sink_bin(output)?;
    let Some(mqtt) = mqtt else {
        pipe.add(&out)?;
        last.link(&out).context("linking the output")?;
        return Ok(None);
    };
    let mqtt_sink = pipeline::mqtt_sink(&mqtt)?;
    let tee = pipeline::make("tee")?;
    let (q1, q2) = (pipeline::make("queue")?, pipeline::make("queue")?);
    pipe.add_many([&tee, &q1, &q2, &out, &mqtt_sink])?;
    last.link(&tee)?;
    gst::Element::link_many([&tee, &q1, &out])?;
    gst::Element::link_many([&tee, &q2, &mqtt_sink])?;
    Ok(Some(mqtt_sink))
}

/// Lets `n` frames into `seg`, drops the rest and ends the stream.
fn limit_frames(seg: &gst::Element, pipe: &gst::Pipeline, n: u64, live: Option<Arc<source::Reconnecting>>) {
    let seen = std::sync::atomic::AtomicU64::new(0);
    let weak = pipe.downgrade();
    seg.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let k = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if k < n {
            return gst::PadProbeReturn::Ok;
        }
        if k == n {
            // EOS from another thread: sending it from the streaming thread could block.
            match (&live, weak.upgrade()) {
                (Some(l), _) => {
                    let l = l.clone();
                    std::thread::spawn(move || l.finish());
                }
                (None, Some(p)) => {
                    std::thread::spawn(move || p.send_event(gst::event::Eos::new()));
                }
                (None, None) => (),
            }
        }
        pipeline::DISCARD_BUFFER
    });
}
