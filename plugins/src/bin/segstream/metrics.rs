//! `segstream run --metrics HOST:PORT`: Prometheus metrics (OpenMetrics text, the
//! `prometheus-client` crate) at `/metrics` and per-camera liveness at `/healthz` (HTTP
//! 200 when every camera delivered a frame within the health timeout or reached its end of
//! stream, else 503; a failed camera's line names the cause), served by `tiny_http` on a
//! thread of its own. With several cameras (`segstream run cams.toml`) every series has
//! one `camera` label per camera.
//!
//! Per-frame values come from pad probes around `segment` and are updated under one lock
//! that the scrape also takes, so one scrape is a consistent snapshot (the latency
//! histogram's count equals `segstream_frames_total`, `segstream_objects` belongs to the
//! last counted frame). The MQTT counters are read from `segmqttsink`'s properties at
//! scrape time.
use anyhow::{anyhow, Result};
use gst::prelude::*;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Labels = Vec<(String, String)>;
type F64Gauge = Gauge<f64, AtomicU64>;

/// The segmqttsink counters exported, as (property, metric name, help).
const MQTT_COUNTERS: [(&str, &str, &str); 5] = [
    ("published", "segstream_mqtt_published", "Messages handed to the MQTT client"),
    ("acknowledged", "segstream_mqtt_acknowledged", "Messages the broker acknowledged"),
    ("spooled", "segstream_mqtt_spooled", "Messages written to the disk spool while the broker was away"),
    ("dropped", "segstream_mqtt_dropped", "Messages lost (spool limits, full disk, unsendable)"),
    ("reconnects", "segstream_mqtt_reconnects", "Reconnections to the broker"),
];

/// Every metric family; one label set (`camera`) per camera.
struct Families {
    frames: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
    late: Family<Labels, Counter>,
    fps: Family<Labels, F64Gauge>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    objects: Family<Labels, Gauge>,
    targets: Family<Labels, Gauge>,
    flowing: Family<Labels, Gauge>,
    outages: Family<Labels, Counter>,
    failed: Family<Labels, Gauge>,
    mqtt: Vec<(&'static str, Family<Labels, Counter>)>,
}

fn latency_histogram() -> Histogram {
    // 5 ms .. ~10 s: a GPU frame to a slow CPU frame.
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

impl Families {
    fn new(registry: &mut Registry) -> Families {
        let f = Families {
            frames: Family::default(),
            dropped: Family::default(),
            late: Family::default(),
            fps: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            objects: Family::default(),
            targets: Family::default(),
            flowing: Family::default(),
            outages: Family::default(),
            failed: Family::default(),
            mqtt: MQTT_COUNTERS.iter().map(|(prop, _, _)| (*prop, Family::default())).collect(),
        };
        registry.register("segstream_frames", "Frames segmented", f.frames.clone());
        registry.register(
            "segstream_dropped_frames",
            "Frames of a live source dropped by the one-frame queue in front of segment because segment was still busy with an earlier one",
            f.dropped.clone(),
        );
        registry.register(
            "segstream_late_frames",
            "Frames segment dropped before the model because they were already late (QoS, max-lateness); their frame numbers are missing from the MQTT messages",
            f.late.clone(),
        );
        registry.register("segstream_fps", "Frames segmented per second over the last second or more", f.fps.clone());
        registry.register("segstream_processing_seconds", "Time segment spent on a frame", f.latency.clone());
        registry.register("segstream_objects", "Objects on the last frame", f.objects.clone());
        registry.register("segstream_tracker_targets", "Targets the tracker remembers", f.targets.clone());
        registry.register("segstream_flowing", "1 when the camera delivered a frame within the health timeout", f.flowing.clone());
        registry.register("segstream_source_outages", "Times the source was lost and reconnected", f.outages.clone());
        registry.register(
            "segstream_camera_failed",
            "1 when the camera stopped on an error (cause in /healthz and the log); the other cameras go on",
            f.failed.clone(),
        );
        for ((_, name, help), (_, family)) in MQTT_COUNTERS.iter().zip(&f.mqtt) {
            registry.register(*name, *help, family.clone());
        }
        f
    }
}

/// What the probes of one camera record between scrapes.
#[derive(Default)]
struct Live {
    last_frame: Option<Instant>,
    window_start: Option<Instant>,
    window_frames: u64,
    /// The frames inside `segment` (PTS, when each entered), oldest first: one, or two
    /// while it encodes ahead; a frame it drops as late never leaves, so the oldest are
    /// forgotten past [`MAX_INSIDE`].
    entered: std::collections::VecDeque<(Option<gst::ClockTime>, Instant)>,
}

/// Frames `Live::entered` remembers.
const MAX_INSIDE: usize = 8;

impl Live {
    fn enter(&mut self, pts: Option<gst::ClockTime>) {
        if self.entered.len() == MAX_INSIDE {
            self.entered.pop_front();
        }
        self.entered.push_back((pts, Instant::now()));
    }

    /// When the leaving frame entered: the entry with its PTS (older ones were dropped
    /// inside), else the oldest.
    fn leave(&mut self, pts: Option<gst::ClockTime>) -> Option<Instant> {
        if self.entered.is_empty() {
            return None;
        }
        let at = self.entered.iter().position(|e| pts.is_some() && e.0 == pts).unwrap_or(0);
        self.entered.drain(..=at).next_back().map(|(_, t)| t)
    }
}

/// How a camera's run ended.
#[derive(Clone, Debug)]
enum End {
    Eos,
    Failed(String),
}

/// One camera: its label, its elements (none when it failed before it had any), its
/// probe state, and how it ended (`None`: still running).
pub struct Camera {
    labels: Labels,
    id: String,
    segment: Option<gst::Element>,
    mqtt: Option<gst::Element>,
    live: Mutex<Live>,
    end: Mutex<Option<End>>,
}

/// The registry, the cameras, and the lock that makes a scrape a snapshot.
pub struct Metrics {
    registry: Registry,
    families: Families,
    cameras: Mutex<Vec<Arc<Camera>>>,
    snapshot: Mutex<()>,
    health_timeout: Duration,
}

impl Metrics {
    pub fn new(health_timeout: Duration) -> Arc<Metrics> {
        let mut registry = Registry::default();
        let families = Families::new(&mut registry);
        Arc::new(Metrics { registry, families, cameras: Mutex::default(), snapshot: Mutex::default(), health_timeout })
    }

    /// Starts counting for camera `id`. `leaky` is the queue that drops frames in front of
    /// `segment` on a live source (each `overrun` of a `leaky=downstream` queue drops
    /// exactly one buffer).
    pub fn add_camera(self: &Arc<Self>, id: &str, segment: &gst::Element, mqtt: Option<&gst::Element>, leaky: Option<&gst::Element>) {
        let cam = self.register(id, Some(segment), mqtt);
        if let Some(q) = leaky {
            let (m, c) = (self.clone(), cam.clone());
            q.connect("overrun", false, move |_| {
                let _snap = m.snapshot.lock().unwrap();
                m.families.dropped.get_or_create(&c.labels).inc();
                None
            });
        }
        let c = cam.clone();
        segment.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            c.live.lock().unwrap().enter(info.buffer().and_then(|b| b.pts()));
            gst::PadProbeReturn::Ok
        });
        let (m, c) = (self.clone(), cam.clone());
        segment.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let objects = info.buffer().and_then(|b| gstsegstream::meta::brief(b)).and_then(|b| b.ok()).map_or(0, |b| b.objects.len());
            m.frame_done(&c, info.buffer().and_then(|b| b.pts()), objects);
            gst::PadProbeReturn::Ok
        });
        self.cameras.lock().unwrap().push(cam);
    }

    /// Adds camera `id` with every series at zero, so a scrape before its first frame (or of
    /// a camera that failed at start) shows zeros.
    fn register(&self, id: &str, segment: Option<&gst::Element>, mqtt: Option<&gst::Element>) -> Arc<Camera> {
        let labels = vec![("camera".to_string(), id.to_string())];
        let cam = Arc::new(Camera {
            labels,
            id: id.into(),
            segment: segment.cloned(),
            mqtt: mqtt.cloned(),
            live: Mutex::default(),
            end: Mutex::default(),
        });
        let f = &self.families;
        for c in [&f.frames, &f.dropped, &f.late, &f.outages] {
            let _ = c.get_or_create(&cam.labels);
        }
        let _ = f.latency.get_or_create(&cam.labels);
        f.failed.get_or_create(&cam.labels).set(0);
        cam
    }

    /// Camera `id` could not start (its pipeline could not be built or started).
    pub fn add_failed(&self, id: &str, reason: &str) {
        let cam = self.register(id, None, None);
        self.cameras.lock().unwrap().push(cam);
        self.failed(id, reason);
    }

    /// Camera `id` stopped on an error: `segstream_camera_failed` 1, `/healthz` names the cause.
    pub fn failed(&self, id: &str, reason: &str) {
        self.set_end(id, End::Failed(reason.split_whitespace().collect::<Vec<_>>().join(" ")));
    }

    /// Camera `id` reached the end of its stream.
    pub fn ended(&self, id: &str) {
        self.set_end(id, End::Eos);
    }

    fn set_end(&self, id: &str, end: End) {
        let _snap = self.snapshot.lock().unwrap();
        if let Some(c) = self.cameras.lock().unwrap().iter().find(|c| c.id == id) {
            self.families.failed.get_or_create(&c.labels).set(matches!(end, End::Failed(_)) as i64);
            *c.end.lock().unwrap() = Some(end);
        }
    }

    /// A source outage of camera `id` ended (counted for `segstream_source_outages_total`).
    pub fn outage(&self, id: &str) {
        if let Some(c) = self.cameras.lock().unwrap().iter().find(|c| c.id == id) {
            self.families.outages.get_or_create(&c.labels).inc();
        }
    }

    fn frame_done(&self, cam: &Camera, pts: Option<gst::ClockTime>, objects: usize) {
        let now = Instant::now();
        let _snap = self.snapshot.lock().unwrap();
        let mut live = cam.live.lock().unwrap();
        let f = &self.families;
        if let Some(t) = live.leave(pts) {
            f.latency.get_or_create(&cam.labels).observe(now.duration_since(t).as_secs_f64());
        }
        f.frames.get_or_create(&cam.labels).inc();
        f.objects.get_or_create(&cam.labels).set(objects as i64);
        live.last_frame = Some(now);
        let start = *live.window_start.get_or_insert(now);
        live.window_frames += 1;
        let secs = now.duration_since(start).as_secs_f64();
        if secs >= 1.0 {
            f.fps.get_or_create(&cam.labels).set(live.window_frames as f64 / secs);
            live.window_start = Some(now);
            live.window_frames = 0;
        }
    }

    /// Whether camera `cam` delivered a frame within the health timeout, and the age of its
    /// last frame.
    fn flowing(&self, cam: &Camera) -> (bool, Option<Duration>) {
        let age = cam.live.lock().unwrap().last_frame.map(|t| t.elapsed());
        (age.is_some_and(|a| a <= self.health_timeout), age)
    }

    /// The OpenMetrics text of one consistent snapshot.
    pub fn render(&self) -> String {
        let cameras = self.cameras.lock().unwrap().clone();
        let _snap = self.snapshot.lock().unwrap();
        let f = &self.families;
        for cam in &cameras {
            let (flowing, _) = self.flowing(cam);
            f.flowing.get_or_create(&cam.labels).set(flowing as i64);
            if !flowing {
                f.fps.get_or_create(&cam.labels).set(0.0);
            }
            if let Some(seg) = &cam.segment {
                f.targets.get_or_create(&cam.labels).set(seg.property::<u32>("targets") as i64);
                raise(&f.late.get_or_create(&cam.labels), seg.property::<u64>("frames-dropped"));
            }
            if let Some(sink) = &cam.mqtt {
                for (prop, family) in &f.mqtt {
                    raise(&family.get_or_create(&cam.labels), sink.property::<u64>(prop));
                }
            }
        }
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// `/healthz`: (every camera flowing or ended at its end of stream, none failed; one
    /// line per camera).
    pub fn health(&self) -> (bool, String) {
        let cameras = self.cameras.lock().unwrap().clone();
        let mut all = !cameras.is_empty();
        let mut body = String::new();
        for cam in &cameras {
            let (ok, age) = self.flowing(cam);
            let end = cam.end.lock().unwrap().clone();
            all &= ok || matches!(end, Some(End::Eos));
            let state = match (end, age) {
                (Some(End::Failed(why)), _) => format!("failed: {why}"),
                (Some(End::Eos), _) => "ended: end of stream".to_string(),
                (None, age) => Self::flow_state(ok, age),
            };
            body.push_str(&format!("{}: {state}\n", cam.id));
        }
        (all, body)
    }

    fn flow_state(ok: bool, age: Option<Duration>) -> String {
        match age {
            None => "not flowing: no frame yet".to_string(),
            Some(a) if ok => format!("flowing: last frame {:.1} s ago", a.as_secs_f64()),
            Some(a) => format!("not flowing: last frame {:.1} s ago", a.as_secs_f64()),
        }
    }
}

/// Sets a counter mirroring an outside monotonic count (never lowers it).
fn raise(c: &Counter, to: u64) {
    c.inner().fetch_max(to, std::sync::atomic::Ordering::Relaxed);
}

/// Serves `/metrics` and `/healthz` on `addr` from a background thread.
pub fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<()> {
    let server = tiny_http::Server::http(addr).map_err(|e| anyhow!("--metrics {addr}: cannot listen: {e}"))?;
    tracing::info!("metrics on http://{addr}/metrics, health on http://{addr}/healthz");
    std::thread::Builder::new().name("segstream-metrics".into()).spawn(move || {
        for req in server.incoming_requests() {
            let (status, body, kind) = match req.url() {
                "/metrics" => (200, metrics.render(), "application/openmetrics-text; version=1.0.0; charset=utf-8"),
                "/healthz" => {
                    let (ok, body) = metrics.health();
                    (if ok { 200 } else { 503 }, body, "text/plain; charset=utf-8")
                }
                _ => (404, "not found: try /metrics or /healthz\n".into(), "text/plain; charset=utf-8"),
            };
            let header = tiny_http::Header::from_bytes("Content-Type", kind).expect("a valid header");
            let _ = req.respond(tiny_http::Response::from_string(body).with_status_code(status).with_header(header));
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(ms: u64) -> Option<gst::ClockTime> {
        Some(gst::ClockTime::from_mseconds(ms))
    }

    fn entry(live: &Live, ms: u64) -> Instant {
        live.entered.iter().find(|e| e.0 == pts(ms)).unwrap().1
    }

    #[test]
    fn a_leaving_frame_finds_its_own_entry_and_forgets_the_frames_dropped_before_it() {
        let mut live = Live::default();
        assert_eq!(live.leave(pts(0)), None, "nothing inside");
        live.enter(pts(0));
        live.enter(pts(33));
        let (t0, t33) = (entry(&live, 0), entry(&live, 33));
        // Encoding ahead: frame 0 leaves after frame 33 entered.
        assert_eq!(live.leave(pts(0)), Some(t0));
        live.enter(pts(66)); // dropped inside as late: never leaves
        live.enter(pts(100));
        let t100 = entry(&live, 100);
        assert_eq!(live.leave(pts(33)), Some(t33));
        assert_eq!(live.leave(pts(100)), Some(t100), "frame 66 is skipped and forgotten");
        assert!(live.entered.is_empty());
        // No PTS: the oldest; at most MAX_INSIDE remembered.
        for k in 0..MAX_INSIDE as u64 + 3 {
            live.enter(pts(k));
        }
        assert_eq!(live.entered.len(), MAX_INSIDE);
        let oldest = live.entered[0].1;
        assert_eq!(live.leave(None), Some(oldest));
        assert_eq!(live.entered.front().unwrap().0, pts(4));
    }
}
