//! `segmqttsink`: publishes each frame's results (the `segment` meta) as one JSON message
//! over MQTT, with the reliability of [`segstream::mqtt::Publisher`]: QoS 0/1/2 (default
//! 1), persistent session, reconnect with backoff, on-disk spool while the broker is away,
//! retained `segstream/<stream-id>/status` (`online` / last will `offline`), TLS.
//!
//! The streaming thread never blocks on the network and never fails because of the broker:
//! an unreachable broker is an element WARNING and the pipeline keeps running.
//!
//! With `accept-commands=true` (off by default; the broker's ACL decides who may publish
//! there), commands received on `segstream/<stream-id>/commands` are validated (replies on
//! `.../responses`), then sent UPSTREAM as a custom event named `segstream-command` whose
//! field `json` holds the canonical [`segstream::command::Request`] and `reply=true`;
//! `segment` applies it before its next frame and sends the outcome back downstream in a
//! `segstream-command-result` event, which becomes the reply (`applied` or `rejected`).
//!
//! Counters (`published`, `acknowledged`, `spooled`, `dropped`, `reconnects`,
//! `replies-dropped`) are read-only
//! properties and are posted every `stats-interval` ms as an element message named
//! `segmqttsink-stats`.
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 ! videoconvert \
//!     ! segment ! segmqttsink host=127.0.0.1 port=1883 stream-id=cam1
//! ```
use gst::glib;
use gst::prelude::*;

mod imp;
mod props;

glib::wrapper! {
    pub struct SegMqttSink(ObjectSubclass<imp::SegMqttSink>)
        @extends gst_base::BaseSink, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "segmqttsink", gst::Rank::NONE, SegMqttSink::static_type())
}

/// Custom downstream event (serialized or out-of-band) an application sends when its
/// source is lost or back: fields `state` ("lost" / "restored"), `reason` (string, lost),
/// `outage-ms` (u64, restored). The sink publishes it on `segstream/<stream>/events`.
pub const SOURCE_EVENT: &str = "segstream-source";

/// Name of the element message carrying the counters.
pub const STATS_MESSAGE: &str = "segmqttsink-stats";
