//! Routes messages from the streaming thread: straight to the client when connected and
//! nothing older is waiting, otherwise to the on-disk spool; drains the spool in order.
use super::counters::Counters;
use super::link::{Kind, Link, Refused, Shared};
use super::spool::Spool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One frame or event message.
pub(crate) struct Msg {
    pub topic: Arc<str>,
    pub payload: Vec<u8>,
}

pub(crate) struct Router {
    pub rx: mpsc::Receiver<Msg>,
    pub link: Arc<Link>,
    pub shared: Arc<Shared>,
    pub spool: Spool,
    /// The disk was found full and not since: one warning per episode.
    pub disk_full: bool,
}

impl Router {
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                m = self.rx.recv() => match m {
                    Some(m) => {
                        self.route(m);
                        // Counted as queued until it is in flight or spooled: `flush` must
                        // never see it nowhere.
                        self.publish_spool_size();
                        self.shared.queued.fetch_sub(1, Ordering::SeqCst);
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    let expired = self.spool.expire();
                    self.count_dropped(expired);
                    self.drain();
                    self.publish_spool_size();
                }
            }
        }
    }

    fn route(&mut self, m: Msg) {
        self.drain();
        let direct = self.shared.connected.load(Ordering::SeqCst) && self.spool.is_empty();
        let payload = if direct {
            match self.link.send(&self.shared, &m.topic, m.payload, false, Kind::Data) {
                Ok(()) => return Counters::add(&self.shared.counters.published, 1),
                Err(Refused::Busy(p)) => p,
                Err(Refused::Invalid(why)) => {
                    self.shared.warn(format!("MQTT: message dropped: {why}"));
                    return self.count_dropped(1);
                }
            }
        } else {
            m.payload
        };
        self.spool_message(&m.topic, &payload);
    }

    fn spool_message(&mut self, topic: &str, payload: &[u8]) {
        match self.spool.push(topic, payload) {
            Ok(p) => {
                if p.stored {
                    Counters::add(&self.shared.counters.spooled, 1);
                }
                self.count_dropped(p.evicted + !p.stored as usize);
                if p.disk_full && !self.disk_full {
                    self.shared.warn(format!(
                        "MQTT spool: the disk holding {} is full; the oldest spooled messages are dropped (and counted) to make room",
                        self.spool.dir().display()
                    ));
                }
                self.disk_full = p.disk_full;
            }
            Err(e) => {
                self.shared.warn(format!("MQTT spool: writing to {} failed: {e}; message dropped", self.spool.dir().display()));
                self.count_dropped(1);
            }
        }
    }

    /// Sends spooled messages, oldest first, while connected and the client has room.
    fn drain(&mut self) {
        while self.shared.connected.load(Ordering::SeqCst) && !self.spool.is_empty() {
            let (item, bad) = self.spool.front();
            self.count_dropped(bad);
            let Some(item) = item else { break };
            match self.link.send(&self.shared, &item.topic, item.payload, false, Kind::Data) {
                Ok(()) => {
                    self.spool.pop_front();
                    Counters::add(&self.shared.counters.published, 1);
                }
                Err(Refused::Busy(_)) => break, // client busy: retry on the next tick
                Err(Refused::Invalid(why)) => {
                    // Left by a run with other settings: it would block the spool forever.
                    self.shared.warn(format!("MQTT spool: a spooled message was dropped: {why}"));
                    self.spool.pop_front();
                    self.count_dropped(1);
                }
            }
        }
    }

    fn count_dropped(&self, n: usize) {
        if n > 0 {
            Counters::add(&self.shared.counters.dropped, n as u64);
        }
    }

    pub fn publish_spool_size(&self) {
        self.shared.spool_len.store(self.spool.len() as u64, Ordering::SeqCst);
        self.shared.spool_bytes.store(self.spool.bytes(), Ordering::SeqCst);
    }
}
