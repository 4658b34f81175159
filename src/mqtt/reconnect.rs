//! Reconnect pacing: exponential backoff that starts again from the minimum only after a
//! connection stayed up for a while, and detection of connections the broker keeps
//! dropping right after accepting them (another client with our client id, a message we
//! cannot read). Resetting on every ConnAck would make such a broker a tight loop.
use std::time::{Duration, Instant};

/// Short-lived connections in a row before they are reported.
const FLAP_LIMIT: u32 = 3;

pub(crate) struct Reconnect {
    min: Duration,
    max: Duration,
    /// A connection that lasted this long restarts the backoff: 2 x `max`, so two clients
    /// taking one session from each other (each connection lasts about the other's
    /// backoff) never look stable.
    stable_after: Duration,
    next: Duration,
    connected_at: Option<Instant>,
    short: u32,
    reported: bool,
}

impl Reconnect {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Reconnect { min, max, stable_after: max * 2, next: min, connected_at: None, short: 0, reported: false }
    }

    pub fn connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
    }

    /// A failed poll at `now`: the delay before the next attempt (jitter is the caller's),
    /// and, once per episode, the number of short-lived connections in a row to report.
    pub fn failed(&mut self, now: Instant) -> (Duration, Option<u32>) {
        let mut report = None;
        match self.connected_at.take() {
            Some(t) if now.saturating_duration_since(t) >= self.stable_after => {
                self.next = self.min;
                self.short = 0;
                self.reported = false;
            }
            Some(_) => {
                self.short += 1;
                if self.short >= FLAP_LIMIT && !self.reported {
                    self.reported = true;
                    report = Some(self.short);
                }
            }
            None => {}
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        (delay, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn short_connections_keep_backing_off_and_are_reported_once() {
        let mut r = Reconnect::new(100 * MS, 1000 * MS);
        let mut now = Instant::now();
        let mut delays = Vec::new();
        let mut reports = Vec::new();
        for _ in 0..6 {
            r.connected(now);
            now += 50 * MS; // dropped right after the ConnAck
            let (d, rep) = r.failed(now);
            delays.push(d.as_millis());
            reports.push(rep);
            now += d;
        }
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(reports, [None, None, Some(3), None, None, None]);
    }

    #[test]
    fn a_stable_connection_restarts_the_backoff_and_the_count() {
        let mut r = Reconnect::new(100 * MS, 1000 * MS);
        let mut now = Instant::now();
        for _ in 0..2 {
            r.connected(now);
            now += 10 * MS;
            r.failed(now);
        }
        r.connected(now);
        now += 2000 * MS; // 2 x max
        assert_eq!(r.failed(now), (100 * MS, None));
        // Failed attempts without a connection (broker down) back off but are not flaps.
        assert_eq!(r.failed(now), (200 * MS, None));
        let reports: Vec<_> = (0..3)
            .map(|_| {
                r.connected(now);
                now += 10 * MS;
                r.failed(now).1
            })
            .collect();
        assert_eq!(reports, [None, None, Some(3)], "counted afresh after the stable connection");
    }
}
