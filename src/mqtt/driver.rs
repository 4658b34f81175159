//! Drives the rumqttc event loop: connection state, reconnect backoff with jitter,
//! packet-id tracking for acks, retained status, and command intake.
use super::counters::Counters;
use super::link::{Kind, Link, Shared};
use crate::command::{self, Outcome};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use rumqttc::{ConnectionError, Event, EventLoop, Incoming, Outgoing, QoS};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

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
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Driver {
    pub async fn run(mut self) {
        let mut backoff = self.backoff_min;
        let mut rng = SmallRng::from_entropy();
        loop {
            match self.eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) if self.shared.shutting_down.load(Ordering::SeqCst) => break,
                Ok(ev) => {
                    if let Event::Incoming(Incoming::ConnAck(ack)) = &ev {
                        backoff = self.backoff_min;
                        self.on_connected(ack.session_present);
                    }
                    self.on_event(ev);
                }
                Err(e) => {
                    self.on_error(&e);
                    if self.shared.shutting_down.load(Ordering::SeqCst) {
                        break;
                    }
                    // rumqttc retries immediately on the next poll: the backoff is ours.
                    let jitter = rng.gen_range(0.75..1.25);
                    tokio::time::sleep(backoff.mul_f64(jitter)).await;
                    backoff = (backoff * 2).min(self.backoff_max);
                }
            }
        }
        self.shared.update_info(|i| i.connected = false);
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
        let _ = self.link.client.try_subscribe(self.commands_topic.clone(), QoS::AtLeastOnce);
    }

    fn on_error(&self, e: &ConnectionError) {
        // Publishes still without a packet id came from the client channel: they are the
        // oldest `fifo` entries (written ones keep their id and sit in `inflight`).
        let pending = self.eventloop.pending.iter().filter(|r| matches!(r, rumqttc::Request::Publish(p) if p.pkid == 0)).count();
        self.shared.tracking.lock().unwrap().pending_at_error = pending;
        let msg = describe(e, &self.broker);
        tracing::warn!(target: "segstream::mqtt", "{msg}");
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
            Event::Incoming(Incoming::Publish(p)) if p.topic == self.commands_topic => self.on_command(&p.payload),
            Event::Incoming(Incoming::SubAck(_)) => self.shared.update_info(|i| i.commands_subscribed = true),
            _ => {}
        }
        // Every event may have made room in the client's queue.
        drain_replies(&self.link, &self.shared, &self.responses_topic);
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
        if let Err(body) = link.send(shared, topic, body, false, Kind::Control) {
            // An empty body back means the client is closed (shutting down): keep nothing.
            if !body.is_empty() {
                q.push_front(body);
            }
            break;
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
    } else {
        ""
    };
    format!("MQTT broker {broker}: {cause}{hint}")
}
