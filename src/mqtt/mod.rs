//! Reliable MQTT publishing on rumqttc, on a tokio runtime owned by the [`Publisher`].
//!
//! - [`config`]: settings and topic names (`segstream/<stream>/{frames,events,status,commands,responses}`).
//! - [`spool`]: bounded on-disk store-and-forward queue (max bytes, max age, oldest dropped first).
//! - [`counters`]: published / acknowledged / spooled / dropped / reconnects.
//! - [`tls`]: rustls client configuration (ring provider) from PEM files.
//! - [`driver`]: the rumqttc event loop: reconnect with backoff + jitter, acks, status, commands.
//! - [`reconnect`]: the backoff (restarts only after a stable connection) and flap detection.
//! - [`router`]: live messages -> broker, or -> spool while disconnected; drains the spool in order.
//! - [`publisher`]: the handle the streaming thread uses; never blocks, never fails because of the broker.
pub mod config;
pub mod counters;
pub mod driver;
mod link;
pub mod publisher;
mod reconnect;
pub mod router;
pub mod spool;
pub mod tls;

pub use config::{MqttConfig, TlsFiles};
pub use counters::CounterSnapshot;
pub use publisher::{LinkStatus, Publisher, PublisherError};
pub use spool::SpoolConfig;
