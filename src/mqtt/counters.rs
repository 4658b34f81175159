//! Delivery counters, shared lock-free between the streaming thread and the tasks.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Counters {
    /// Frame/event messages handed to the MQTT client (live or from the spool).
    pub published: AtomicU64,
    /// Of those, acknowledged by the broker (QoS 1 PUBACK / QoS 2 PUBCOMP; QoS 0: written).
    pub acknowledged: AtomicU64,
    /// Messages written to the on-disk spool (broker unavailable or client queue full).
    pub spooled: AtomicU64,
    /// Messages given up: spool full or too old, input queue full, or lost with a broker
    /// session that did not survive.
    pub dropped: AtomicU64,
    /// Successful connections after the first.
    pub reconnects: AtomicU64,
    /// Command replies given up because `driver::REPLY_QUEUE` replies were already waiting.
    pub replies_dropped: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub published: u64,
    pub acknowledged: u64,
    pub spooled: u64,
    pub dropped: u64,
    pub reconnects: u64,
    pub replies_dropped: u64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            published: self.published.load(Relaxed),
            acknowledged: self.acknowledged.load(Relaxed),
            spooled: self.spooled.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            replies_dropped: self.replies_dropped.load(Relaxed),
        }
    }
}
