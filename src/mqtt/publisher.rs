//! The handle used from the streaming thread. `publish_*` never block and never fail
//! because of the broker; everything network-related runs on the publisher's own tokio
//! runtime (one worker thread).
use super::config::MqttConfig;
use super::counters::{CounterSnapshot, Counters};
use super::driver::Driver;
use super::link::{Kind, Link, Shared, CLIENT_CHANNEL_CAPACITY};
use super::reconnect::Reconnect;
use super::router::{Msg, Router};
use super::spool::Spool;
use crate::command::{CommandContext, Outcome, Request};
use rumqttc::{AsyncClient, LastWill, MqttOptions, QoS, Transport};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Room for the MQTT fixed header, topic and properties on top of the payload bound.
const PACKET_OVERHEAD: usize = 4096;
/// Incoming limit. Commands up to this size are checked against the 64 KiB command limit
/// by us, with a clear reply; a bigger packet makes rumqttc drop the connection (the
/// command subscription is QoS 0, so the broker does not send it again). Kept small so a
/// hostile command costs little memory.
pub const MAX_INCOMING: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    #[error("invalid MQTT setting: {0}")]
    Config(String),
    #[error("{0}")]
    Tls(String),
    #[error("spool: {0}")]
    Spool(#[from] std::io::Error),
}

/// Connection state as the element reports it.
#[derive(Debug, Clone, Default)]
pub struct LinkStatus {
    pub connected: bool,
    /// Connection attempts that failed so far.
    pub failed_attempts: u64,
    pub last_error: Option<String>,
    /// Commands are being received (the broker acknowledged the subscription).
    pub commands_subscribed: bool,
}

pub struct Publisher {
    runtime: Option<tokio::runtime::Runtime>,
    tx: Option<mpsc::Sender<Msg>>,
    link: Arc<Link>,
    shared: Arc<Shared>,
    frames_topic: Arc<str>,
    events_topic: Arc<str>,
    status_topic: String,
    responses_topic: String,
    stream: String,
    driver: Option<tokio::task::JoinHandle<()>>,
}

impl Publisher {
    /// Validates the settings, opens the spool and starts connecting in the background.
    pub fn start(cfg: &MqttConfig) -> Result<Publisher, PublisherError> {
        let qos = cfg.qos().map_err(PublisherError::Config)?;
        if cfg.host.is_empty() || cfg.port == 0 {
            return Err(PublisherError::Config(format!("broker address {}:{} is not valid", cfg.host, cfg.port)));
        }
        cfg.validate_topics().map_err(PublisherError::Config)?;
        let options = mqtt_options(cfg)?;
        let spool = Spool::open(cfg.spool.clone())?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("segstream-mqtt").enable_all().build()?;
        let shared = Arc::new(Shared::new());
        let (client, eventloop) = AsyncClient::new(options, CLIENT_CHANNEL_CAPACITY);
        let link = Arc::new(Link { client, qos, max_packet: cfg.max_message_bytes + PACKET_OVERHEAD });
        let (tx, rx) = mpsc::channel(cfg.queue_len.max(1));
        let driver = Driver {
            eventloop,
            link: link.clone(),
            shared: shared.clone(),
            status_topic: cfg.status_topic(),
            commands_topic: cfg.commands_topic(),
            responses_topic: cfg.responses_topic(),
            stream: cfg.stream.clone(),
            broker: format!("{}:{}", cfg.host, cfg.port),
            reconnect: Reconnect::new(cfg.backoff_min, cfg.backoff_max),
            client_id: cfg.effective_client_id(),
            accept_commands: cfg.accept_commands,
            kept: None,
        };
        let router = Router { rx, link: link.clone(), shared: shared.clone(), spool, disk_full: false };
        // A spool left by an earlier run counts as outstanding from the start (`flush`).
        router.publish_spool_size();
        let driver = runtime.spawn(driver.run());
        runtime.spawn(router.run());
        Ok(Publisher {
            runtime: Some(runtime),
            tx: Some(tx),
            link,
            shared,
            frames_topic: cfg.frames_topic().into(),
            events_topic: cfg.events_topic().into(),
            status_topic: cfg.status_topic(),
            responses_topic: cfg.responses_topic(),
            stream: cfg.stream.clone(),
            driver: Some(driver),
        })
    }

    /// Queues one frame message; `false` when the input queue was full (counted as dropped).
    pub fn publish_frame(&self, payload: Vec<u8>) -> bool {
        self.enqueue(self.frames_topic.clone(), payload)
    }

    /// Queues one event message (same delivery path and guarantees as frames).
    pub fn publish_event(&self, payload: Vec<u8>) -> bool {
        self.enqueue(self.events_topic.clone(), payload)
    }

    fn enqueue(&self, topic: Arc<str>, payload: Vec<u8>) -> bool {
        let Some(tx) = &self.tx else { return false };
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        if tx.try_send(Msg { topic, payload }).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            Counters::add(&self.shared.counters.dropped, 1);
            return false;
        }
        true
    }

    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters.snapshot()
    }

    pub fn status(&self) -> LinkStatus {
        let i = self.shared.info.lock().unwrap();
        LinkStatus {
            connected: i.connected,
            failed_attempts: i.attempts,
            last_error: i.last_error.clone(),
            commands_subscribed: i.commands_subscribed,
        }
    }

    /// Messages currently in the spool and its size on disk.
    pub fn spool_usage(&self) -> (u64, u64) {
        (self.shared.spool_len.load(Ordering::SeqCst), self.shared.spool_bytes.load(Ordering::SeqCst))
    }

    /// Waits until the first connection attempt succeeded or failed (or `timeout`, or
    /// `cancel` is set). `Ok` when connected, `Err(cause)` otherwise.
    pub fn wait_first_attempt(&self, timeout: Duration, cancel: &AtomicBool) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut info = self.shared.info.lock().unwrap();
        while !info.connected && info.attempts == 0 && !cancel.load(Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no answer from the broker within {} ms", timeout.as_millis()));
            }
            info = self.shared.info_changed.wait_timeout(info, left.min(Duration::from_millis(50))).unwrap().0;
        }
        if info.connected {
            Ok(())
        } else {
            Err(info.last_error.clone().unwrap_or_else(|| "cancelled".into()))
        }
    }

    /// Problems found since the last call (connection dropped over and over, spool full,
    /// undeliverable spooled message, ...), each one line naming the cause; for the
    /// element to post as warnings.
    pub fn take_warnings(&self) -> Vec<String> {
        self.shared.warnings.lock().unwrap().drain(..).collect()
    }

    /// Validated commands received since the last call, oldest first.
    pub fn take_commands(&self) -> Vec<Request> {
        self.shared.commands.lock().unwrap().drain(..).collect()
    }

    /// Answers a command taken with [`Publisher::take_commands`] once the pipeline applied
    /// or refused it. Replies wait in a bounded queue while the client is busy or the
    /// broker away; overflow is counted in `replies_dropped`.
    pub fn reply(&self, outcome: &Outcome) {
        super::driver::queue_reply(&self.link, &self.shared, &self.stream, &self.responses_topic, outcome);
    }

    /// What command validation checks against (frame size, frame number, live ids).
    pub fn set_command_context(&self, ctx: CommandContext) {
        *self.shared.context.lock().unwrap() = ctx;
    }

    /// Messages not yet acknowledged: queued, spooled, or in flight.
    pub fn outstanding(&self) -> u64 {
        let t = self.shared.tracking.lock().unwrap().unacked_data() as u64;
        self.shared.queued.load(Ordering::SeqCst) + self.shared.spool_len.load(Ordering::SeqCst) + t
    }

    /// Waits up to `timeout` for every message to be acknowledged; `true` when done.
    /// What is left stays in the spool (on disk) for the next run.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.outstanding() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Flushes (up to `timeout`), publishes the `offline` status and disconnects.
    pub fn shutdown(mut self, timeout: Duration) -> CounterSnapshot {
        self.flush(timeout);
        self.stop();
        self.counters()
    }

    fn stop(&mut self) {
        let Some(rt) = self.runtime.take() else { return };
        self.tx = None; // ends the router once the queue is empty
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        if self.shared.connected.load(Ordering::SeqCst) {
            let _ = self.link.send(&self.shared, &self.status_topic, b"offline".to_vec(), true, Kind::Control);
            let _ = self.link.client.try_disconnect();
        }
        // block_on panics inside another runtime (an async application stopping the
        // pipeline): then skip the wait; the disconnect request is already queued.
        if let (Some(driver), Err(_)) = (self.driver.take(), tokio::runtime::Handle::try_current()) {
            let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(1), driver).await });
        }
        rt.shutdown_background();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn mqtt_options(cfg: &MqttConfig) -> Result<MqttOptions, PublisherError> {
    let mut o = MqttOptions::new(cfg.effective_client_id(), cfg.host.clone(), cfg.port);
    // Persistent session: the broker keeps unacked QoS 1/2 messages and our subscription.
    o.set_clean_session(false);
    o.set_keep_alive(cfg.keep_alive.max(Duration::from_secs(1)));
    o.set_max_packet_size(MAX_INCOMING, cfg.max_message_bytes + PACKET_OVERHEAD);
    o.set_last_will(LastWill::new(cfg.status_topic(), "offline", QoS::AtLeastOnce, true));
    o.set_inflight(100);
    if let Some(user) = &cfg.username {
        o.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    if cfg.tls_enabled() {
        let tls = super::tls::client_config(&cfg.tls).map_err(PublisherError::Tls)?;
        o.set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(tls))));
    }
    Ok(o)
}
