//! `segmqttsink` subclass: BaseSink that starts the publisher in `start` (waiting a bounded,
//! cancellable time for the first connection, as gst-plugins-rs' icecastsink does; `unlock`
//! cancels the wait) and drops it in `stop`.
use super::props::{self, Settings};
use super::STATS_MESSAGE;
use crate::meta;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use segstream::command::{CommandContext, Outcome, COMMAND_EVENT, COMMAND_RESULT_EVENT};
use segstream::mqtt::{CounterSnapshot, Publisher};
use segstream::output::{EventTracker, FrameBuilder, FrameInfo};
use segstream::segmenter::FrameResult;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("segmqttsink", gst::DebugColorFlags::empty(), Some("segstream MQTT results sink")));

/// Frames a track may be missing before its `removed` event.
const REMOVE_AFTER_FRAMES: u32 = 30;
/// Text-target ids remembered for `remove_target` (segment lets 16 wait at a time).
const MAX_RESERVED: usize = 64;

struct State {
    publisher: Publisher,
    builder: FrameBuilder,
    events: Option<EventTracker>,
    /// Ids `segment` reserved for text targets (no frame shows them until a detection
    /// matches), so `remove_target` can cancel one; at most `MAX_RESERVED`, oldest forgotten.
    reserved: std::collections::BTreeSet<u64>,
    /// What the MQTT side checks commands against (last frame's size, number, ids).
    context: CommandContext,
    /// A warning about the broker is outstanding (cleared when connected again).
    warned: bool,
    warned_no_meta: bool,
    last_frame: u64,
    last_stats: Instant,
    stats_interval: Duration,
    flush_timeout: Duration,
}

#[derive(Default)]
pub struct SegMqttSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Counters of the last run, readable after `stop`.
    last_counters: Mutex<CounterSnapshot>,
    cancel: AtomicBool,
}

#[glib::object_subclass]
impl ObjectSubclass for SegMqttSink {
    const NAME: &'static str = "GstSegMqttSink";
    type Type = super::SegMqttSink;
    type ParentType = gst_base::BaseSink;
}

impl ObjectImpl for SegMqttSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(props::specs);
        PROPS.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        // Results are data, not presentation: publish as soon as they are computed.
        self.obj().set_sync(false);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        props::set(&mut s, pspec.name(), value);
        if pspec.name() != "password" {
            gst::debug!(CAT, imp = self, "{} set", pspec.name());
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let c = self.counters();
        match pspec.name() {
            "published" => c.published.to_value(),
            "acknowledged" => c.acknowledged.to_value(),
            "spooled" => c.spooled.to_value(),
            "dropped" => c.dropped.to_value(),
            "reconnects" => c.reconnects.to_value(),
            "replies-dropped" => c.replies_dropped.to_value(),
            name => props::get(&self.settings.lock().unwrap(), name),
        }
    }
}

impl GstObjectImpl for SegMqttSink {}

impl ElementImpl for SegMqttSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "segstream MQTT sink",
                "Sink/Network",
                "Publishes per-frame segmentation results (masks as COCO RLE, track ids) as JSON over MQTT, \
                 with spooling, reconnects and commands",
                "segstream developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &gst::Caps::new_any()).unwrap()]
        });
        T.as_ref()
    }
}

impl BaseSinkImpl for SegMqttSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.cancel.store(false, Ordering::SeqCst);
        let settings = self.settings.lock().unwrap().clone();
        let cfg = settings.mqtt();
        gst::info!(CAT, imp = self, "starting: {:?}", cfg); // Debug of MqttConfig redacts secrets
        let publisher = Publisher::start(&cfg).map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("segmqttsink: {}", e)))?;
        let mut warned = false;
        let wait = Duration::from_millis(settings.connect_timeout as u64);
        if let Err(cause) = publisher.wait_first_attempt(wait, &self.cancel) {
            self.warn_broker(&format!("{cause}; frames are spooled in {} until it is reachable", cfg.spool.dir.display()));
            warned = true;
        }
        *self.state.lock().unwrap() = Some(State {
            builder: FrameBuilder::new(settings.output()),
            events: settings.publish_events.then(|| EventTracker::new(settings.stream_id.clone(), REMOVE_AFTER_FRAMES)),
            publisher,
            warned,
            warned_no_meta: false,
            reserved: Default::default(),
            context: CommandContext::default(),
            last_frame: 0,
            last_stats: Instant::now(),
            stats_interval: Duration::from_millis(settings.stats_interval as u64),
            flush_timeout: Duration::from_millis(settings.flush_timeout as u64),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().take() {
            let c = state.publisher.shutdown(state.flush_timeout);
            *self.last_counters.lock().unwrap() = c;
            gst::info!(CAT, imp = self, "stopped: {:?}", c);
        }
        Ok(())
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.cancel.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.cancel.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else { return Err(gst::FlowError::Flushing) };
        match meta::read(buffer) {
            Some(Ok(result)) => self.publish(state, &result, buffer.pts().map(|t| t.nseconds())),
            Some(Err(e)) => gst::element_imp_warning!(self, gst::StreamError::Decode, ("unreadable segstream results meta: {}", e)),
            None if !state.warned_no_meta => {
                state.warned_no_meta = true;
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("buffer without segstream results meta (is `segment` upstream?); such buffers are skipped")
                );
            }
            None => {}
        }
        self.check_link(state);
        self.apply_commands(state);
        if !state.stats_interval.is_zero() && state.last_stats.elapsed() >= state.stats_interval {
            state.last_stats = Instant::now();
            self.post_stats(&state.publisher);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let Some(s) = event.structure().filter(|s| s.name() == COMMAND_RESULT_EVENT) {
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                self.on_command_result(state, s);
            }
            return true;
        }
        if let Some(s) = event.structure().filter(|s| s.name() == super::SOURCE_EVENT) {
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                self.on_source_event(state, s);
            }
            return true;
        }
        if let gst::EventView::Eos(_) = event.view() {
            // Everything acknowledged (or left in the spool) before EOS reaches the app.
            if let Some(state) = self.state.lock().unwrap().as_ref() {
                let done = state.publisher.flush(state.flush_timeout);
                gst::debug!(CAT, imp = self, "EOS flush complete: {}", done);
                self.post_stats(&state.publisher);
            }
        }
        self.parent_event(event)
    }
}

impl SegMqttSink {
    fn counters(&self) -> CounterSnapshot {
        match self.state.lock().unwrap().as_ref() {
            Some(s) => s.publisher.counters(),
            None => *self.last_counters.lock().unwrap(),
        }
    }

    fn publish(&self, state: &mut State, result: &FrameResult, pts: Option<u64>) {
        state.last_frame = result.frame;
        if let Some(events) = state.events.as_mut() {
            for e in events.update(result, pts) {
                state.publisher.publish_event(serde_json::to_vec(&e).expect("event serializes"));
            }
        }
        let (bytes, detail) = state.builder.build(result, FrameInfo { pts });
        gst::trace!(CAT, imp = self, "frame {} -> {} bytes ({:?})", result.frame, bytes.len(), detail);
        if !state.publisher.publish_frame(bytes) {
            gst::debug!(CAT, imp = self, "input queue full: frame {} dropped", result.frame);
        }
        let mut known_ids: std::collections::BTreeSet<u64> = match &state.events {
            Some(ev) => ev.known_ids().collect(),
            None => result.objects.iter().map(|o| o.track_id).collect(),
        };
        known_ids.extend(&state.reserved);
        state.context = CommandContext { frame_size: Some((result.width, result.height)), frame: Some(result.frame), known_ids };
        state.publisher.set_command_context(state.context.clone());
    }

    /// One WARNING per outage; an INFO message when the broker is back; a WARNING for each
    /// problem the publisher reported (session takeover, spool full, message dropped).
    fn check_link(&self, state: &mut State) {
        for w in state.publisher.take_warnings() {
            gst::element_imp_warning!(self, gst::ResourceError::Write, ("{}", w));
        }
        let st = state.publisher.status();
        if !st.connected && !state.warned && st.failed_attempts > 0 {
            state.warned = true;
            self.warn_broker(&st.last_error.unwrap_or_else(|| "connection lost".into()));
        } else if st.connected && state.warned {
            state.warned = false;
            gst::element_imp_info!(self, gst::ResourceError::Write, ("connected to the MQTT broker again; sending spooled messages"));
        }
    }

    fn warn_broker(&self, cause: &str) {
        gst::element_imp_warning!(
            self,
            gst::ResourceError::OpenWrite,
            ("MQTT broker unavailable: {}", cause),
            ["the pipeline keeps running; messages are spooled"]
        );
    }

    /// Sends validated commands upstream to `segment` asking for their outcome
    /// (`reply=true`): the reply is published when the outcome comes back downstream
    /// ([`Self::on_command_result`]); a command no element takes is answered at once.
    fn apply_commands(&self, state: &mut State) {
        for req in state.publisher.take_commands() {
            let s = gst::Structure::builder(COMMAND_EVENT).field("json", req.to_json()).field("reply", true).build();
            let taken = self.obj().sink_pad().push_event(gst::event::CustomUpstream::new(s));
            gst::debug!(CAT, imp = self, "command {} ({:?}) taken upstream: {}", req.name(), req.id, taken);
            if !taken {
                let error = format!(
                    "the pipeline did not take `{}`: no `segment` element upstream, or it already has {} commands waiting",
                    req.name(),
                    crate::segment::MAX_PENDING
                );
                let frame = Some(state.last_frame);
                let outcome = Outcome { id: req.id.clone(), command: Some(req.name().into()), error: Some(error), frame, track_id: None };
                state.publisher.reply(&outcome);
            }
        }
    }

    /// `segment` applied or refused a command: publish the reply (and the `removed` event
    /// of a target removed by the command).
    fn on_command_result(&self, state: &mut State, s: &gst::StructureRef) {
        let text = |k: &str| s.get::<Option<String>>(k).ok().flatten();
        let outcome = Outcome {
            id: text("id"),
            command: text("command"),
            error: if s.get::<bool>("ok").unwrap_or(false) { None } else { Some(text("error").unwrap_or_else(|| "refused".into())) },
            frame: s.get::<u64>("frame").ok(),
            track_id: s.get::<u64>("track-id").ok(),
        };
        gst::debug!(CAT, imp = self, "command result {:?}", outcome);
        let applied = |name: &str| outcome.track_id.filter(|_| outcome.error.is_none() && outcome.command.as_deref() == Some(name));
        // Known at once, not from the next frame on: a client may cancel it right away.
        if let Some(id) = applied("add_text_target") {
            state.reserved.insert(id);
            if state.reserved.len() > MAX_RESERVED {
                state.reserved.pop_first();
            }
            state.context.known_ids.insert(id);
            state.publisher.set_command_context(state.context.clone());
        }
        let removed = applied("remove_target");
        if let Some(id) = removed {
            state.reserved.remove(&id);
        }
        if let (Some(track_id), Some(ev)) = (removed, state.events.as_mut()) {
            if let Some(e) = ev.remove(track_id, state.last_frame, None) {
                state.publisher.publish_event(serde_json::to_vec(&e).expect("event serializes"));
            }
        }
        state.publisher.reply(&outcome);
    }

    /// The application's source was lost or is back: an event message for consumers.
    fn on_source_event(&self, state: &mut State, s: &gst::StructureRef) {
        use segstream::output::{SourceEventKind, SourceEventPayload};
        let (event, frame) = match s.get::<&str>("state") {
            Ok("lost") => (SourceEventKind::SourceLost, state.last_frame),
            Ok("restored") => (SourceEventKind::SourceRestored, state.last_frame + 1),
            other => {
                gst::warning!(CAT, imp = self, "{} event with state {:?} ignored", super::SOURCE_EVENT, other);
                return;
            }
        };
        let e = SourceEventPayload {
            schema_version: segstream::output::SCHEMA_VERSION,
            stream: self.settings.lock().unwrap().stream_id.clone(),
            frame,
            pts: s.get::<u64>("pts").ok(),
            timestamp: segstream::output::clock::now_rfc3339(),
            event,
            reason: s.get::<String>("reason").ok(),
            outage_ms: s.get::<u64>("outage-ms").ok(),
        };
        gst::info!(CAT, imp = self, "source event {:?}", e);
        state.publisher.publish_event(serde_json::to_vec(&e).expect("event serializes"));
    }

    fn post_stats(&self, p: &Publisher) {
        let c = p.counters();
        let (spool_messages, spool_bytes) = p.spool_usage();
        let s = gst::Structure::builder(STATS_MESSAGE)
            .field("published", c.published)
            .field("acknowledged", c.acknowledged)
            .field("spooled", c.spooled)
            .field("dropped", c.dropped)
            .field("reconnects", c.reconnects)
            .field("replies-dropped", c.replies_dropped)
            .field("connected", p.status().connected)
            .field("spool-messages", spool_messages)
            .field("spool-bytes", spool_bytes)
            .build();
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }
}
