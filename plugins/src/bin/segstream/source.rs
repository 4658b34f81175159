//! The input of `segstream run` for network streams (any URI that is not `file://`): a
//! `uridecodebin` that is replaced when it fails, ends or stalls, so a camera that goes
//! away for a while does not end the run.
//!
//! - Failure: an error from inside the current `uridecodebin`, an end of stream from it, or
//!   no frame for `stall` (a source that stops sending without closing the connection).
//! - Reconnect: the old `uridecodebin` is set to NULL and removed, a new one is added after
//!   a backoff of 0.5 s doubling to 8 s (reset by the first frame of a working source).
//!   The memory the old one freed goes back to the system (see [`release_freed_memory`]).
//! - One continuous stream downstream: the new source's stream-start and segment never
//!   leave this module (so `segment`'s frame counter continues and its tracker keeps its
//!   targets), buffer timestamps are made running time of one TIME segment and kept
//!   strictly increasing across sources.
//! - Consumers see the outage: a `segstream-source` event (`lost` out of band when it
//!   starts, `restored` out of band as the first new frame arrives) that segmqttsink publishes on
//!   `segstream/<stream>/events`; `on_restored` is called for the metrics.
//!
//! Written here because GStreamer 1.22 has no reconnecting source in Debian's packages
//! (gst-plugins-rs' `fallbacksrc` is not packaged).
use crate::pipeline;
use anyhow::Result;
use gst::prelude::*;
use gstsegstream::segmqttsink::SOURCE_EVENT;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Name prefix of each generation's `uridecodebin` (followed by the generation number).
const SOURCE_PREFIX: &str = "segstream-source-";
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// What the streaming threads and the bus tell the reconnect thread.
enum Signal {
    Failed { generation: u64, reason: String },
    Flowing { generation: u64 },
}

/// Timestamp and stream bookkeeping shared by the pad probes of every source generation.
#[derive(Default)]
struct Flow {
    generation: u64,
    /// The segment of the current source's stream, to turn its PTS into running time.
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    /// Added to the running time of the current source so PTS keep increasing.
    offset: u64,
    last_pts: Option<u64>,
    last_buffer: Option<Instant>,
    /// Set when a source was lost: when, and whether `restored` is still to be sent.
    outage: Option<Instant>,
    started_downstream: bool,
    flowing_sent: bool,
}

pub struct Reconnecting {
    pipe: gst::Pipeline,
    uri: String,
    /// Where every generation's video pad links (`queue` or `videoconvert` sink).
    target: gst::Pad,
    current: Mutex<Option<gst::Element>>,
    flow: Mutex<Flow>,
    tx: Mutex<Sender<Signal>>,
    stall: Duration,
    on_restored: Box<dyn Fn() + Send + Sync>,
    /// The run is ending: an end of stream is the end, not an outage.
    finishing: std::sync::atomic::AtomicBool,
}

impl Reconnecting {
    /// Adds the first source to `pipe`, linked to `target`, and starts the reconnect thread.
    pub fn start(
        pipe: &gst::Pipeline,
        uri: &str,
        target: gst::Pad,
        stall: Duration,
        on_restored: impl Fn() + Send + Sync + 'static,
    ) -> Result<Arc<Reconnecting>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let me = Arc::new(Reconnecting {
            pipe: pipe.clone(),
            uri: uri.into(),
            target,
            current: Mutex::new(None),
            flow: Mutex::default(),
            tx: Mutex::new(tx),
            stall,
            on_restored: Box::new(on_restored),
            finishing: Default::default(),
        });
        me.add_source(0, false)?;
        let worker = me.clone();
        std::thread::Builder::new().name("segstream-reconnect".into()).spawn(move || worker.run(rx))?;
        Ok(me)
    }

    /// Ends the run: end of stream into the pipeline behind the source (the source itself
    /// may be gone), and from now on an end of stream is not an outage.
    pub fn finish(&self) {
        self.finishing.store(true, std::sync::atomic::Ordering::SeqCst);
        if !self.flow.lock().unwrap().started_downstream {
            // No source ever delivered (an unreachable camera): nothing to drain, and the
            // sinks, never prerolled, would keep an end of stream to themselves in PAUSED
            // (no EOS message: Ctrl-C hung). The run ends at once.
            let _ = self.pipe.post_message(gst::message::Eos::builder().src(&self.pipe).build());
            return;
        }
        self.target.send_event(gst::event::Eos::new());
    }

    /// Stops reconnecting (the pipeline is stopping for good).
    pub fn stop(&self) {
        self.finishing.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Called from the bus loop: an error from inside the current source is an outage, one
    /// from a source already removed is stale (both handled: `true`); any other error is
    /// the pipeline's.
    pub fn handle_error(&self, msg: &gst::Message) -> bool {
        let gst::MessageView::Error(e) = msg.view() else { return false };
        let Some(src) = msg.src() else { return false };
        // Which generation posted it: the uridecodebin it comes from is named after it.
        let mut o = Some(src.clone());
        let from = std::iter::from_fn(|| {
            let x = o.take()?;
            o = x.parent();
            Some(x)
        })
        .find_map(|x| x.name().strip_prefix(SOURCE_PREFIX).and_then(|g| g.parse::<u64>().ok()));
        // uridecodebin drops its source element when it stops: an error from an element in
        // no pipeline is from a source already replaced.
        let Some(from) = from else { return !src.has_as_ancestor(&self.pipe) };
        if from != self.flow.lock().unwrap().generation {
            tracing::debug!("error from replaced source {from} ignored: {}", e.error());
            return true;
        }
        let generation = self.flow.lock().unwrap().generation;
        self.signal(Signal::Failed { generation, reason: format!("{}", e.error()) });
        true
    }

    fn signal(&self, s: Signal) {
        let _ = self.tx.lock().unwrap().send(s);
    }

    /// The reconnect loop: waits for failures (and checks for stalls), replaces the source.
    fn run(self: Arc<Self>, rx: Receiver<Signal>) {
        let mut backoff = BACKOFF_MIN;
        // After `finish` or `stop` there is nothing left to reconnect.
        while !self.finishing.load(std::sync::atomic::Ordering::SeqCst) {
            let signal = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(s) => Some(s),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => self.stalled(),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let generation = self.flow.lock().unwrap().generation;
            match signal {
                Some(Signal::Flowing { generation: g }) if g == generation => backoff = BACKOFF_MIN,
                Some(Signal::Failed { generation: g, reason }) if g == generation => {
                    tracing::warn!("source {} lost ({reason}); reconnecting in {:.1} s", self.uri, backoff.as_secs_f64());
                    self.lost(&reason);
                    std::thread::sleep(backoff);
                    release_freed_memory();
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    if let Err(e) = self.add_source(generation + 1, true) {
                        tracing::error!("reconnecting {}: {e:#}", self.uri);
                    }
                }
                _ => (),
            }
        }
    }

    /// A failure when no frame came for `stall` (counted from the source's start too, so a
    /// source that never delivers is retried).
    fn stalled(&self) -> Option<Signal> {
        let f = self.flow.lock().unwrap();
        let since = f.last_buffer?;
        (since.elapsed() > self.stall)
            .then(|| Signal::Failed { generation: f.generation, reason: format!("no frame for {:.1} s", self.stall.as_secs_f64()) })
    }

    /// Removes the failed source; the first loss of an outage tells consumers.
    fn lost(&self, reason: &str) {
        if let Some(old) = self.current.lock().unwrap().take() {
            // Out of the pipeline first, then stopped on a thread of its own: rtspsrc's
            // teardown can block for good when the server dies before the pipeline reached
            // PLAYING (its internal task waits for a stream lock of its RTP session while we
            // wait for its state lock), and the reconnect must not wait with it.
            let _ = self.pipe.remove(&old);
            // Visible with RUST_LOG=debug: a replaced generation must not stay alive.
            let name = old.name();
            old.add_weak_ref_notify(move || tracing::debug!("{name} freed"));
            let stop = move || {
                if old.set_state(gst::State::Null).is_err() {
                    tracing::debug!("{} did not stop cleanly", old.name());
                }
            };
            if let Err(e) = std::thread::Builder::new().name("segstream-stop".into()).spawn(stop) {
                tracing::error!("stopping a replaced source: {e}");
            }
        }
        let mut f = self.flow.lock().unwrap();
        f.last_buffer = None;
        if f.outage.is_none() && f.started_downstream {
            f.outage = Some(Instant::now());
            let s = gst::Structure::builder(SOURCE_EVENT)
                .field("state", "lost")
                .field("reason", reason)
                .field_if_some("pts", f.last_pts)
                .build();
            drop(f);
            self.target.send_event(gst::event::CustomDownstreamOob::new(s));
        }
    }

    /// Adds generation `generation` of the source and links its video pad when it appears.
    fn add_source(self: &Arc<Self>, generation: u64, running: bool) -> Result<()> {
        let src = gst::ElementFactory::make("uridecodebin")
            .name(format!("{SOURCE_PREFIX}{generation}"))
            .build()
            .map_err(|_| anyhow::anyhow!("GStreamer element 'uridecodebin' is missing (gstreamer1.0-plugins-base)"))?;
        src.set_property("uri", &self.uri);
        // Its preroll is its own business: otherwise a source added to the playing pipeline
        // posts async-start, the pipeline falls back to PAUSED to wait for it, and rtspsrc,
        // which only sends PLAY when set to PLAYING, never delivers a frame.
        src.set_property("async-handling", true);
        // rtspsrc: give up on a dead server within seconds, not the default 20 s per step.
        src.connect("source-setup", false, |v| {
            let source = v[1].get::<gst::Element>().ok()?;
            if source.find_property("tcp-timeout").is_some() {
                source.set_property("tcp-timeout", 3_000_000u64);
            }
            if source.find_property("timeout").is_some() && source.find_property("tcp-timeout").is_some() {
                source.set_property("timeout", 3_000_000u64);
            }
            None
        });
        let me = Arc::downgrade(self);
        src.connect_pad_added(move |_, pad| {
            let Some(me) = me.upgrade() else { return };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            if !caps.structure(0).is_some_and(|s| s.name().starts_with("video/")) || me.target.is_linked() {
                return;
            }
            tracing::debug!("source generation {generation}: video pad {}", pad.name());
            me.watch(pad, generation);
            if let Err(e) = pad.link(&me.target) {
                tracing::error!("linking decoded video: {e:?}");
            }
        });
        {
            let mut f = self.flow.lock().unwrap();
            f.generation = generation;
            f.segment = None;
            f.flowing_sent = false;
            // Counts as "last frame" for the stall timer: a source that never delivers is retried.
            f.last_buffer = Some(Instant::now());
        }
        self.pipe.add(&src)?;
        *self.current.lock().unwrap() = Some(src.clone());
        if running {
            src.sync_state_with_parent()?;
        }
        Ok(())
    }

    /// The probe that makes every generation one stream downstream.
    fn watch(self: &Arc<Self>, pad: &gst::Pad, generation: u64) {
        let me = Arc::downgrade(self);
        pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            let Some(me) = me.upgrade() else { return gst::PadProbeReturn::Remove };
            if me.flow.lock().unwrap().generation != generation {
                return pipeline::DISCARD_BUFFER; // a removed source's last data
            }
            match &mut info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => me.on_buffer(buffer.make_mut(), generation),
                Some(gst::PadProbeData::Event(event)) => me.on_event(event, generation),
                _ => gst::PadProbeReturn::Ok,
            }
        });
    }

    fn on_event(&self, event: &gst::Event, generation: u64) -> gst::PadProbeReturn {
        tracing::debug!("source generation {generation}: {:?} event", event.type_());
        let mut f = self.flow.lock().unwrap();
        match event.view() {
            gst::EventView::Segment(s) => {
                f.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned();
                if f.started_downstream {
                    return pipeline::DISCARD_BUFFER;
                }
                // Downstream gets one TIME segment from 0: buffers carry running time.
                f.started_downstream = true;
                drop(f);
                let _ = self.target.send_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
                pipeline::DISCARD_BUFFER
            }
            gst::EventView::StreamStart(_) if f.started_downstream => pipeline::DISCARD_BUFFER,
            gst::EventView::Eos(_) if self.finishing.load(std::sync::atomic::Ordering::SeqCst) => gst::PadProbeReturn::Ok,
            gst::EventView::Eos(_) => {
                drop(f);
                self.signal(Signal::Failed { generation, reason: "end of stream from the source".into() });
                pipeline::DISCARD_BUFFER
            }
            _ => gst::PadProbeReturn::Ok,
        }
    }

    fn on_buffer(&self, buf: &mut gst::BufferRef, generation: u64) -> gst::PadProbeReturn {
        let mut f = self.flow.lock().unwrap();
        let running = match (&f.segment, buf.pts()) {
            (Some(seg), Some(pts)) => seg.to_running_time(pts).map(|t| t.nseconds()),
            _ => None,
        };
        if let Some(rt) = running {
            let mut pts = rt + f.offset;
            if let Some(last) = f.last_pts.filter(|l| pts <= *l) {
                // A new source starting its clock again: shift it after the last frame.
                f.offset += last + 1 - pts;
                pts = last + 1;
            }
            buf.set_pts(gst::ClockTime::from_nseconds(pts));
            buf.set_dts(gst::ClockTime::NONE);
            f.last_pts = Some(pts);
        }
        f.last_buffer = Some(Instant::now());
        let restored = f.outage.take();
        let first = !f.flowing_sent;
        f.flowing_sent = true;
        let pts = f.last_pts;
        drop(f);
        if first {
            self.signal(Signal::Flowing { generation });
        }
        if let Some(since) = restored {
            let ms = since.elapsed().as_millis() as u64;
            tracing::warn!("source {} back after {ms} ms", self.uri);
            let s =
                gst::Structure::builder(SOURCE_EVENT).field("state", "restored").field("outage-ms", ms).field_if_some("pts", pts).build();
            // Out of band, like `lost`: a serialized custom event would queue behind frames
            // in the leaky live queue, which drops non-sticky events with the frames it
            // drops (a 30-minute RTSP run lost one of two `restored` events that way).
            // Nothing of the old connection is queued any more, so it still precedes the
            // first new frame.
            self.target.send_event(gst::event::CustomDownstreamOob::new(s));
            (self.on_restored)();
        }
        gst::PadProbeReturn::Ok
    }
}

/// Hands the memory a replaced source freed back to the system. Its streaming threads
/// allocated in glibc's per-thread arenas, which keep freed memory for reuse and do not
/// shrink on their own; each new connection's threads may use another arena, so without
/// this RSS grew by about 3 MiB per reconnect although every generation was freed.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages to the kernel; no pointer involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
