//! Drives the rumqttc event loop: connection state, reconnect backoff with jitter
//! ([`super::reconnect`]), packet-id tracking for acks, retained status, and command intake.
//!
//! A connection that broke on a packet we could not read (over the incoming limit,
//! malformed) is followed by ONE clean-session connection: mosquitto keeps a half-sent
//! packet in the session and resumes it on the next connection, which would break that one
//! too, forever. Our own unacknowledged publishes are kept and resent all the same.
use super::counters::Counters;
use super::link::{Kind, Link, Refused, Shared};
use super::reconnect::Reconnect;
use crate::command::{self, Outcome};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use rumqttc::{ConnectionError, Event, EventLoop, Incoming, Outgoing, QoS, StateError, SubscribeReasonCode};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Most validated commands waiting for the video thread.
pub const COMMAND_QUEUE: usize = 64;

pub(crate) struct Driver {
    pub eventloop: EventLoop,
    pub link: Arc<Link>,
    pub shared: Arc<Shared>,
    pub status_topic: String,
    pub commands_topic: String,
    pub responses_topic: String,
    pub stream: String,
    pub broker: String,
    pub reconnect: Reconnect,
    pub client_id: String,
    pub accept_commands: bool,
    /// Requests rumqttc would resend, kept aside across a clean-session connection.
    pub kept: Option<VecDeque<rumqttc::Request>>,
}

impl Driver {
    pub async fn run(mut self) {
        let mut rng = SmallRng::from_entropy();
        loop {
            match self.eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) if self.shared.shutting_down.load(Ordering::SeqCst) => break,
                Ok(ev) => {
                    if let Event::Incoming(Incoming::ConnAck(ack)) = &ev {
                        self.reconnect.connected(Instant::now());
                        let resumed = self.restore_kept().unwrap_or(ack.session_present);
                        self.on_connected(resumed);
                    }
                    self.on_event(ev);
                }
                Err(e) => {
                    self.on_error(&e);
                    if self.shared.shutting_down.load(Ordering::SeqCst) {
                        break;
                    }
                    if matches!(e, ConnectionError::MqttState(StateError::Deserialization(_))) {
                        self.clean_next_session();
                    }
                    let (delay, flaps) = self.reconnect.failed(Instant::now());
                    if let Some(n) = flaps {
                        self.shared.warn(self.flap_warning(&e, n));
                    }
                    // rumqttc retries immediately on the next poll: the backoff is ours.
                    tokio::time::sleep(delay.mul_f64(rng.gen_range(0.75..1.25))).await;
                }
            }
        }
        self.shared.update_info(|i| i.connected = false);
    }

    /// The next connection starts a clean session (the broker forgets what it was sending
    /// us); our own requests awaiting a resend are kept aside, since rumqttc drops them
    /// when the broker reports no session.
    fn clean_next_session(&mut self) {
        if self.kept.is_none() {
            self.kept = Some(std::mem::take(&mut self.eventloop.pending));
            self.eventloop.mqtt_options.set_clean_session(true);
        }
    }

    /// After the clean-session ConnAck: hands the kept requests back and returns to the
    /// persistent session. `Some(true)`: nothing of ours was lost.
    fn restore_kept(&mut self) -> Option<bool> {
        let pending = self.kept.take()?;
        self.eventloop.pending = pending;
        self.eventloop.mqtt_options.set_clean_session(false);
        Some(true)
    }

    fn flap_warning(&self, e: &ConnectionError, n: u32) -> String {
        let cause = describe(e, &self.broker);
        let closed_by_broker =
            matches!(e, ConnectionError::MqttState(StateError::ConnectionAborted | StateError::Io(_)) | ConnectionError::Io(_));
        if closed_by_broker {
            format!(
                "{cause}: the broker closed the connection {n} times right after accepting it; most likely another client with the \
                 same client id ({:?}) is connected: the broker keeps one connection per client id and drops the older one, so \
                 the two take the session from each other. Give each pipeline its own client-id (or stream-id)",
                self.client_id
            )
        } else {
            format!("{cause}: the connection dropped {n} times right after connecting")
        }
    }

    fn on_connected(&self, session_present: bool) {
        let lost = {
            let mut t = self.shared.tracking.lock().unwrap();
            let n = std::mem::take(&mut t.pending_at_error);
            if session_present {
                0
            } else {
                // rumqttc cleared its pending list: the broker forgot our session.
                let n = n.min(t.fifo.len());
                let from_fifo = t.fifo.drain(..n).filter(|k| *k == Kind::Data).count();
                let from_inflight = t.inflight.drain().filter(|(_, k)| *k == Kind::Data).count();
                from_fifo + from_inflight
            }
        };
        Counters::add(&self.shared.counters.dropped, lost as u64);
        let first = self.shared.info.lock().unwrap().connects == 0;
        if !first {
            Counters::add(&self.shared.counters.reconnects, 1);
        }
        self.shared.update_info(|i| {
            i.connected = true;
            i.connects += 1;
            i.last_error = None;
        });
        let _ = self.link.send(&self.shared, &self.status_topic, b"online".to_vec(), true, Kind::Control);
        // QoS 0: a command is delivered at most once. At QoS 1 the persistent session makes
        // the broker redeliver a command we could not take (e.g. one over the incoming
        // packet limit, which costs the connection) after every reconnect, forever.
        // Unsubscribing when commands are off also ends a subscription an earlier run left
        // in our persistent session.
        let _ = if self.accept_commands {
            self.link.client.try_subscribe(self.commands_topic.clone(), QoS::AtMostOnce)
        } else {
            self.link.client.try_unsubscribe(self.commands_topic.clone())
        };
    }

    fn on_error(&self, e: &ConnectionError) {
        // Publishes still without a packet id came from the client channel: they are the
        // oldest `fifo` entries (written ones keep their id and sit in `inflight`).
        let pending = self.eventloop.pending.iter().filter(|r| matches!(r, rumqttc::Request::Publish(p) if p.pkid == 0)).count();
        self.shared.tracking.lock().unwrap().pending_at_error = pending;
        let msg = describe(e, &self.broker);
        if is_oversized_incoming(e) {
            // Discarded by the broker for us at QoS 0: reported once, not redelivered.
            self.shared.warn(msg.clone());
        } else {
            tracing::warn!(target: "segstream::mqtt", "{msg}");
        }
        self.shared.update_info(|i| {
            i.connected = false;
            i.commands_subscribed = false;
            i.attempts += 1;
            i.last_error = Some(msg);
        });
    }

    fn on_event(&self, ev: Event) {
        match ev {
            Event::Outgoing(Outgoing::Publish(pkid)) => self.on_written(pkid),
            Event::Incoming(Incoming::PubAck(a)) => self.on_acked(a.pkid),
            Event::Incoming(Incoming::PubComp(c)) => self.on_acked(c.pkid),
            Event::Incoming(Incoming::Publish(p)) if self.accept_commands && p.topic == self.commands_topic => self.on_command(&p.payload),
            Event::Incoming(Incoming::SubAck(ack)) => self.on_suback(&ack.return_codes),
            _ => {}
        }
        // Every event may have made room in the client's queue.
        drain_replies(&self.link, &self.shared, &self.responses_topic);
    }

    /// The only subscription is the commands topic; a broker ACL may refuse it.
    fn on_suback(&self, codes: &[SubscribeReasonCode]) {
        let ok = !codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure));
        if !ok {
            self.shared.warn(format!(
                "MQTT broker {}: subscription to {} refused (the broker's ACL does not let client {:?} read it); no commands will arrive",
                self.broker, self.commands_topic, self.client_id
            ));
        }
        self.shared.update_info(|i| i.commands_subscribed = ok);
    }

    fn on_written(&self, pkid: u16) {
        let mut t = self.shared.tracking.lock().unwrap();
        if pkid != 0 && t.inflight.contains_key(&pkid) {
            return; // a resend after reconnect
        }
        let kind = t.fifo.pop_front().unwrap_or(Kind::Control);
        if pkid == 0 {
            if kind == Kind::Data {
                Counters::add(&self.shared.counters.acknowledged, 1);
            }
        } else {
            t.inflight.insert(pkid, kind);
        }
    }

    fn on_acked(&self, pkid: u16) {
        if self.shared.tracking.lock().unwrap().inflight.remove(&pkid) == Some(Kind::Data) {
            Counters::add(&self.shared.counters.acknowledged, 1);
        }
    }

    /// Invalid commands are answered here; valid ones are answered once the pipeline
    /// applied or refused them (`Publisher::reply`).
    fn on_command(&self, raw: &[u8]) {
        let ctx = self.shared.context.lock().unwrap().clone();
        let error = match command::validate(raw, &ctx) {
            Ok(req) => {
                let mut q = self.shared.commands.lock().unwrap();
                if q.len() < COMMAND_QUEUE {
                    q.push_back(req);
                    return;
                }
                req.error(format!("{COMMAND_QUEUE} commands are already waiting for the pipeline, try again later"))
            }
            Err(e) => e,
        };
        let outcome = Outcome { id: error.id, command: error.command, error: Some(error.message), frame: ctx.frame, track_id: None };
        queue_reply(&self.link, &self.shared, &self.stream, &self.responses_topic, &outcome);
    }
}

/// Replies waiting for room in the client's queue; beyond this they are dropped and
/// counted (`replies_dropped`): a flood of commands cannot grow memory without bound.
pub const REPLY_QUEUE: usize = 256;

/// Queues the reply to one command and sends what the client has room for.
pub(crate) fn queue_reply(link: &Link, shared: &Shared, stream: &str, topic: &str, outcome: &Outcome) {
    let body = serde_json::to_vec(&command::Reply::new(stream, outcome)).expect("reply serializes");
    {
        let mut q = shared.replies.lock().unwrap();
        if q.len() >= REPLY_QUEUE {
            Counters::add(&shared.counters.replies_dropped, 1);
        } else {
            q.push_back(body);
        }
    }
    drain_replies(link, shared, topic);
}

/// Hands queued replies to the client, oldest first, while it takes them.
pub(crate) fn drain_replies(link: &Link, shared: &Shared, topic: &str) {
    let mut q = shared.replies.lock().unwrap();
    while let Some(body) = q.pop_front() {
        match link.send(shared, topic, body, false, Kind::Control) {
            Ok(()) => {}
            // An empty body back means the client is closed (shutting down): keep nothing.
            Err(Refused::Busy(body)) => {
                if !body.is_empty() {
                    q.push_front(body);
                }
                break;
            }
            Err(Refused::Invalid(why)) => {
                Counters::add(&shared.counters.replies_dropped, 1);
                shared.warn(format!("a command reply was dropped: {why}"));
            }
        }
    }
}

/// One line naming the broker and the cause; adds a hint for certificate problems.
/// Never includes credentials (rumqttc errors do not carry them).
pub fn describe(e: &ConnectionError, broker: &str) -> String {
    let cause = e.to_string();
    let hint = if cause.contains("certificate") || cause.contains("UnknownIssuer") {
        " (TLS: the broker's certificate is not trusted; set tls-ca-file to the CA that signed it)"
    } else if matches!(e, ConnectionError::ConnectionRefused(_)) {
        " (the broker refused the connection: check username/password and client id)"
    } else if is_oversized_incoming(e) {
        " (the broker sent a message over the client's incoming limit, so the connection was closed and the message \
         discarded; commands are at most 64 KiB)"
    } else {
        ""
    };
    format!("MQTT broker {broker}: {cause}{hint}")
}

fn is_oversized_incoming(e: &ConnectionError) -> bool {
    matches!(e, ConnectionError::MqttState(StateError::Deserialization(rumqttc::Error::PayloadSizeLimitExceeded(_))))
}
