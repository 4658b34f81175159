//! State shared by the publisher handle, the router and the driver, and the one place
//! that hands messages to rumqttc (so their order can be matched with packet ids).
use super::counters::Counters;
use crate::command::{CommandContext, Request};
use rumqttc::{AsyncClient, ClientError, QoS, Request as MqttRequest};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// Frames/events count in the counters; status and replies do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Data,
    Control,
}

/// Matches rumqttc's `Outgoing::Publish(pkid)` events (emitted in request order) and
/// acks with what we sent, so counters are exact and `flush` knows what is unacked.
#[derive(Default)]
pub(crate) struct Tracking {
    /// Kinds of requests handed to the client whose first write has not been seen yet.
    pub fifo: VecDeque<Kind>,
    /// Written QoS 1/2 publishes awaiting their ack, by packet id.
    pub inflight: HashMap<u16, Kind>,
    /// `fifo` entries that rumqttc moved into its pending list at the last disconnect.
    pub pending_at_error: usize,
}

impl Tracking {
    pub fn unacked_data(&self) -> usize {
        self.fifo.iter().chain(self.inflight.values()).filter(|k| **k == Kind::Data).count()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LinkInfo {
    pub connected: bool,
    pub attempts: u64,
    pub connects: u64,
    pub last_error: Option<String>,
    /// The broker acknowledged our subscription to the commands topic.
    pub commands_subscribed: bool,
}

pub(crate) struct Shared {
    pub counters: Counters,
    pub connected: AtomicBool,
    pub shutting_down: AtomicBool,
    pub info: Mutex<LinkInfo>,
    pub info_changed: Condvar,
    pub tracking: Mutex<Tracking>,
    /// Messages in the input channel (streaming thread -> router).
    pub queued: AtomicU64,
    pub spool_len: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub commands: Mutex<VecDeque<Request>>,
    pub context: Mutex<CommandContext>,
    /// Problems the element should post as warnings (bounded, de-duplicated).
    pub warnings: Mutex<VecDeque<String>>,
    /// Serialized replies not yet taken by the client (bounded: `driver::REPLY_QUEUE`).
    pub replies: Mutex<VecDeque<Vec<u8>>>,
}

impl Shared {
    pub fn new() -> Self {
        Shared {
            counters: Counters::default(),
            connected: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            info: Mutex::new(LinkInfo::default()),
            info_changed: Condvar::new(),
            tracking: Mutex::new(Tracking::default()),
            queued: AtomicU64::new(0),
            spool_len: AtomicU64::new(0),
            spool_bytes: AtomicU64::new(0),
            commands: Mutex::new(VecDeque::new()),
            context: Mutex::new(CommandContext::default()),
            warnings: Mutex::new(VecDeque::new()),
            replies: Mutex::new(VecDeque::new()),
        }
    }

    /// Queues a warning for the element (also logged). A warning already waiting is not
    /// queued twice, and at most `MAX_WARNINGS` wait: a flood of one cause stays one line.
    pub fn warn(&self, msg: String) {
        tracing::warn!(target: "segstream::mqtt", "{msg}");
        let mut w = self.warnings.lock().unwrap();
        if w.len() < MAX_WARNINGS && !w.contains(&msg) {
            w.push_back(msg);
        }
    }

    pub fn update_info(&self, f: impl FnOnce(&mut LinkInfo)) {
        let mut info = self.info.lock().unwrap();
        f(&mut info);
        self.connected.store(info.connected, Ordering::SeqCst);
        self.info_changed.notify_all();
    }
}

/// Most requests we keep queued inside rumqttc before spooling instead (the client's own
/// channel is larger, leaving room for status and replies).
pub(crate) const CLIENT_QUEUE_HIGH_WATER: usize = 64;
pub(crate) const CLIENT_CHANNEL_CAPACITY: usize = 256;

const MAX_WARNINGS: usize = 16;

/// Room for the fixed header (5), topic length (2) and packet id (2) of a PUBLISH.
const PUBLISH_HEADER: usize = 9;

/// Why [`Link::send`] did not take a message.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The client's queue is full or closed: try again later (the payload comes back).
    Busy(Vec<u8>),
    /// The message can never be sent (bad topic, larger than the packet limit): retrying
    /// would only break the connection again, so the caller drops it.
    Invalid(String),
}

pub(crate) struct Link {
    pub client: AsyncClient,
    pub qos: QoS,
    /// The client's outgoing packet limit; rumqttc drops the connection (and resends the
    /// packet after reconnecting) when a publish exceeds it, so bigger ones never reach it.
    pub max_packet: usize,
}

impl Link {
    /// Hands one publish to rumqttc without blocking.
    pub fn send(&self, shared: &Shared, topic: &str, payload: Vec<u8>, retain: bool, kind: Kind) -> Result<(), Refused> {
        if let Some(why) = super::config::topic_error(topic) {
            return Err(Refused::Invalid(format!("topic {topic:?} is not a valid MQTT topic name: {why}")));
        }
        let size = PUBLISH_HEADER + topic.len() + payload.len();
        if size > self.max_packet {
            return Err(Refused::Invalid(format!(
                "a {size}-byte message on {topic:?} exceeds the {}-byte packet limit (max-message-bytes + headers)",
                self.max_packet
            )));
        }
        let qos = if kind == Kind::Control { QoS::AtLeastOnce } else { self.qos };
        let mut t = shared.tracking.lock().unwrap();
        if kind == Kind::Data && t.fifo.len() >= CLIENT_QUEUE_HIGH_WATER {
            return Err(Refused::Busy(payload));
        }
        t.fifo.push_back(kind);
        match self.client.try_publish(topic, qos, retain, payload) {
            Ok(()) => Ok(()),
            Err(e) => {
                t.fifo.pop_back();
                Err(Refused::Busy(match e {
                    ClientError::TryRequest(MqttRequest::Publish(p)) | ClientError::Request(MqttRequest::Publish(p)) => p.payload.to_vec(),
                    _ => Vec::new(),
                }))
            }
        }
    }
}
