//! `segstream run cams.toml`: several cameras in one process, each with its own
//! `segment`, outputs and MQTT stream id; one camera failing does not stop the others.
//!
//! One GStreamer pipeline per camera (each with its own bus, watched by a thread of its
//! own), not one pipeline with a branch per camera. In a single pipeline any element's
//! error ends the whole run unless every branch is wrapped in a bin that intercepts its
//! errors (or `message-forward`) and the failed branch is then blocked, unlinked and
//! removed while the others play; the branches would also share preroll, latency and
//! state changes (a camera slow to preroll holds back every other one, an async state
//! change of one branch moves the whole pipeline). Separate pipelines fail separately by
//! construction: an error stops its own pipeline only, and the rest of the code is the
//! single-camera code, already tested. The `segment` elements still live in one process,
//! so whatever they share in it (a loaded engine per bundle) is shared.
//!
//! Network inputs reconnect as with one camera (source.rs): they are retried, never failed.
use crate::config::{CameraConfig, CamerasConfig};
use crate::exit::Exit;
use crate::run::{self, relative, relative_output, RunArgs};
use crate::{metrics, pipeline};
use anyhow::{anyhow, Result};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A camera as the run goes: its progress counters, and how it ended.
struct Cam {
    id: String,
    stats: Option<Arc<Mutex<pipeline::Stats>>>,
    /// Its error once it failed, or its frame rate once it ended.
    end: Arc<Mutex<Option<End>>>,
}

enum End {
    Failed(String),
    /// Frames per second from its first frame to its end (the progress line's figure
    /// would keep falling while the other cameras run).
    Fps(f64),
}

pub fn run(cli: RunArgs, path: &Path, cfg: CamerasConfig) -> Result<()> {
    refuse_single_camera_options(&cli)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mqtt = cli.mqtt.clone().or(cfg.mqtt.clone());
    let metrics_addr = cli.metrics.clone().or(cfg.metrics.clone());
    let health = cli.health_timeout.or(cfg.health_timeout).unwrap_or(10.0);
    let metrics = metrics_addr.as_ref().map(|_| metrics::Metrics::new(Duration::from_secs_f64(health)));
    let mut cams = Vec::new();
    let mut built = Vec::new();
    for c in &cfg.camera {
        let args = camera_args(&cli, c, base, mqtt.clone());
        tracing::info!(camera = %c.id, input = %args.input, "camera");
        let end = Arc::new(Mutex::new(None));
        match run::build(&args, metrics.as_ref()) {
            Ok(b) => {
                cams.push(Cam { id: c.id.clone(), stats: Some(b.stats.clone()), end: end.clone() });
                built.push((c.id.clone(), b, end));
            }
            Err(e) => {
                let why = format!("{e:#}");
                tracing::error!("camera {}: {why}", c.id);
                if let Some(m) = &metrics {
                    m.add_failed(&c.id, &why);
                }
                *end.lock().unwrap() = Some(End::Failed(why));
                cams.push(Cam { id: c.id.clone(), stats: None, end });
            }
        }
    }
    if let (Some(addr), Some(m)) = (metrics_addr.as_deref(), metrics.clone()) {
        metrics::serve(addr, m)?;
    }
    let interrupted = pipeline::interrupt_flag()?;
    let threads: Vec<_> = built.into_iter().map(|(id, b, end)| play_camera(id, b, end, metrics.clone(), interrupted.clone())).collect();
    watch(&cams, &threads, !cli.quiet);
    for t in threads {
        let _ = t.join();
    }
    summary(&cams)
}

/// Options that name one camera's stream or file cannot apply to every camera.
fn refuse_single_camera_options(cli: &RunArgs) -> Result<()> {
    let one_file = cli.output.as_deref().is_some_and(|o| !matches!(o, "display" | "screen" | "none"));
    let given = [
        (cli.stream_id.is_some(), "--stream-id (each [[camera]] has its own id)"),
        (cli.topic.is_some(), "--topic (set topic in a [[camera]] table)"),
        (!cli.targets.is_empty(), "--target (set targets in a [[camera]] table)"),
        (one_file, "--output FILE (set output in each [[camera]] table)"),
    ];
    match given.iter().find(|(g, _)| *g) {
        Some((_, what)) => Err(Exit::usage(format!("{what} does not apply to a cameras file")).into()),
        None => Ok(()),
    }
}

/// One camera's options: its table, relative to the file, under the command line's.
fn camera_args(cli: &RunArgs, c: &CameraConfig, base: &Path, mqtt: Option<String>) -> RunArgs {
    RunArgs {
        input: relative(base, &c.input),
        output: cli.output.clone().or(c.output.clone().map(|o| relative_output(base, o))),
        mqtt,
        topic: c.topic.clone(),
        accept_commands: cli.accept_commands || c.accept_commands.unwrap_or(false),
        model: cli.model.clone().or(c.model.as_ref().map(|m| base.join(m))),
        provider: cli.provider.clone().or(c.provider.clone()),
        detect_interval: cli.detect_interval.or(c.detect_interval),
        score_threshold: cli.score_threshold.or(c.score_threshold),
        vocabulary: cli.vocabulary.clone().or(c.vocabulary.as_ref().map(|v| v.join(","))),
        targets: c.targets.clone().unwrap_or_default(),
        stream_id: Some(c.id.clone()),
        metrics: None,
        health_timeout: None,
        stall_timeout: cli.stall_timeout.or(c.stall_timeout),
        max_frames: cli.max_frames.or(c.max_frames),
        quiet: true,
    }
}

/// Plays one camera on a thread of its own until its end of stream or its first error.
fn play_camera(
    id: String,
    b: run::Built,
    end: Arc<Mutex<Option<End>>>,
    metrics: Option<Arc<metrics::Metrics>>,
    interrupted: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let name: String = format!("cam-{id}").chars().take(15).collect(); // Linux thread names: 15 bytes
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let result = pipeline::drive(&b.pipe, b.live.as_deref(), &interrupted, || ());
        if let Some(l) = &b.live {
            l.stop();
        }
        match result {
            Ok(()) => {
                tracing::info!("camera {id}: end of stream");
                if let Some(m) = &metrics {
                    m.ended(&id);
                }
                *end.lock().unwrap() = Some(End::Fps(b.stats.lock().unwrap().fps()));
            }
            Err(e) => {
                let why = format!("{e:#}");
                tracing::error!("camera {id} failed: {why}");
                if let Some(m) = &metrics {
                    m.failed(&id, &why);
                }
                *end.lock().unwrap() = Some(End::Failed(why));
            }
        }
    });
    spawned.expect("spawning a camera thread")
}

/// Prints one progress line for all cameras every second until every camera stopped.
fn watch(cams: &[Cam], threads: &[std::thread::JoinHandle<()>], progress: bool) {
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    while threads.iter().any(|t| !t.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        if progress && last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            pipeline::print_progress(&progress_line(cams), tty);
        }
    }
    if progress {
        pipeline::print_progress(&progress_line(cams), tty);
        if tty {
            eprintln!();
        }
    }
}

fn progress_line(cams: &[Cam]) -> String {
    let each = cams.iter().map(|c| match (&*c.end.lock().unwrap(), &c.stats) {
        (None | Some(End::Fps(_)), Some(s)) => format!("{}: {}", c.id, s.lock().unwrap().line()),
        _ => format!("{}: failed", c.id),
    });
    each.collect::<Vec<_>>().join("  |  ")
}

/// One line per camera; the error says which cameras failed.
fn summary(cams: &[Cam]) -> Result<()> {
    let mut failed = Vec::new();
    for c in cams {
        match (&*c.end.lock().unwrap(), &c.stats) {
            (Some(End::Fps(fps)), Some(s)) => {
                let st = s.lock().unwrap();
                eprintln!("done: {}: {}", c.id, st.summary(*fps));
            }
            (end, _) => {
                let why = match end {
                    Some(End::Failed(why)) => why.as_str(),
                    _ => "stopped without a result",
                };
                eprintln!("failed: {}: {why}", c.id);
                failed.push(c.id.as_str());
            }
        }
    }
    match failed.len() {
        0 => Ok(()),
        n if n == cams.len() => Err(anyhow!("every camera failed ({})", failed.join(", "))),
        n => {
            Err(Exit::some_failed(format!("{n} of {} cameras failed ({}); the others ran to their end", cams.len(), failed.join(", ")))
                .into())
        }
    }
}
