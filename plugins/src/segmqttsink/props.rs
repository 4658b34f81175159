//! Settings and property specifications of `segmqttsink`.
use gst::glib;
use gst::prelude::*;
use segstream::mqtt::{MqttConfig, SpoolConfig, TlsFiles};
use segstream::output::OutputConfig;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone)]
pub struct Settings {
    pub host: String,
    pub port: u32,
    pub topic: Option<String>,
    pub stream_id: String,
    pub client_id: Option<String>,
    pub qos: u32,
    pub spool_dir: Option<String>,
    pub spool_max_bytes: u64,
    pub spool_max_age: u32,
    pub max_message_bytes: u32,
    pub mask_scale: f64,
    pub polygons: bool,
    pub publish_events: bool,
    pub tls: bool,
    pub tls_ca_file: Option<String>,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub connect_timeout: u32,
    pub flush_timeout: u32,
    pub stats_interval: u32,
    pub accept_commands: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: "127.0.0.1".into(),
            port: 1883,
            topic: None,
            stream_id: "default".into(),
            client_id: None,
            qos: 1,
            spool_dir: None,
            spool_max_bytes: 64 * 1024 * 1024,
            spool_max_age: 3600,
            max_message_bytes: 256 * 1024,
            mask_scale: 1.0,
            polygons: false,
            publish_events: true,
            tls: false,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            username: None,
            password: None,
            connect_timeout: 3000,
            flush_timeout: 5000,
            stats_interval: 1000,
            accept_commands: false,
        }
    }
}

impl Settings {
    pub fn client_id(&self) -> String {
        self.client_id.clone().unwrap_or_else(|| format!("segstream-{}", self.stream_id))
    }

    pub fn mqtt(&self) -> MqttConfig {
        let spool_dir = self.spool_dir.as_ref().map(PathBuf::from).unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
            base.join("segstream-spool").join(self.client_id())
        });
        let path = |p: &Option<String>| p.as_ref().filter(|s| !s.is_empty()).map(PathBuf::from);
        MqttConfig {
            host: self.host.clone(),
            port: self.port as u16,
            client_id: self.client_id(),
            stream: self.stream_id.clone(),
            frames_topic: self.topic.clone().filter(|t| !t.is_empty()),
            qos: self.qos as u8,
            spool: SpoolConfig { dir: spool_dir, max_bytes: self.spool_max_bytes, max_age: Duration::from_secs(self.spool_max_age as u64) },
            max_message_bytes: self.max_message_bytes as usize,
            tls: TlsFiles {
                enabled: self.tls,
                ca_file: path(&self.tls_ca_file),
                cert_file: path(&self.tls_cert_file),
                key_file: path(&self.tls_key_file),
            },
            username: self.username.clone().filter(|u| !u.is_empty()),
            password: self.password.clone(),
            accept_commands: self.accept_commands,
            ..Default::default()
        }
    }

    pub fn output(&self) -> OutputConfig {
        OutputConfig {
            stream: self.stream_id.clone(),
            mask_scale: self.mask_scale as f32,
            max_message_bytes: self.max_message_bytes as usize,
            polygons: self.polygons,
            ..Default::default()
        }
    }
}

fn string(name: &str, nick: &str, blurb: &str, default: Option<&str>) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name).nick(nick).blurb(blurb).default_value(default).mutable_ready().build()
}

fn counter(name: &str, nick: &str, blurb: &str) -> glib::ParamSpec {
    glib::ParamSpecUInt64::builder(name).nick(nick).blurb(blurb).read_only().build()
}

pub fn specs() -> Vec<glib::ParamSpec> {
    let d = Settings::default();
    vec![
        string("host", "Broker host", "MQTT broker host name or address", Some(&d.host)),
        glib::ParamSpecUInt::builder("port").nick("Broker port").blurb("MQTT broker port (1883 plain, usually 8883 with TLS)")
            .minimum(1).maximum(65535).default_value(d.port).mutable_ready().build(),
        string("topic", "Frames topic", "Topic of the per-frame messages; unset: segstream/<stream-id>/frames", None),
        string("stream-id", "Stream id", "Stream name in payloads and topics (segstream/<stream-id>/{frames,events,status,commands,responses})", Some(&d.stream_id)),
        string("client-id", "Client id", "MQTT client id, keep it stable so the broker keeps the session, and unique: a second client with the same id takes the session over (warned); unset: segstream-<stream-id>", None),
        glib::ParamSpecUInt::builder("qos").nick("QoS").blurb("MQTT quality of service of frame and event messages: 0, 1 or 2")
            .maximum(2).default_value(d.qos).mutable_ready().build(),
        string("spool-dir", "Spool directory", "Where messages wait on disk while the broker is unreachable; unset: $XDG_CACHE_HOME (or the temp dir)/segstream-spool/<client-id>", None),
        glib::ParamSpecUInt64::builder("spool-max-bytes").nick("Spool size limit").blurb("Most bytes kept in the spool; the oldest messages are dropped (and counted) first")
            .minimum(1024).default_value(d.spool_max_bytes).mutable_ready().build(),
        glib::ParamSpecUInt::builder("spool-max-age").nick("Spool age limit").blurb("Seconds a spooled message is kept before it is dropped (and counted)")
            .minimum(1).default_value(d.spool_max_age).mutable_ready().build(),
        glib::ParamSpecUInt::builder("max-message-bytes").nick("Message size limit").blurb("Largest message; bigger frames degrade: coarser masks, then polygons, then boxes. Also sets the client's packet limit")
            .minimum(1024).maximum(128 << 20).default_value(d.max_message_bytes).mutable_ready().build(),
        glib::ParamSpecDouble::builder("mask-scale").nick("Mask scale").blurb("Resolution of published masks relative to the meta's masks (0 < s <= 1)")
            .minimum(0.01).maximum(1.0).default_value(d.mask_scale).mutable_ready().build(),
        glib::ParamSpecBoolean::builder("polygons").nick("Polygons").blurb("Also publish each object's outer contour as a polygon")
            .default_value(d.polygons).mutable_ready().build(),
        glib::ParamSpecBoolean::builder("publish-events").nick("Publish events").blurb("Publish track born/lost/removed events on segstream/<stream-id>/events")
            .default_value(d.publish_events).mutable_ready().build(),
        glib::ParamSpecBoolean::builder("tls").nick("TLS").blurb("Connect with TLS (implied by tls-ca-file or tls-cert-file); without tls-ca-file the system roots are trusted")
            .default_value(d.tls).mutable_ready().build(),
        string("tls-ca-file", "TLS CA file", "PEM file of the CA that signed the broker's certificate", None),
        string("tls-cert-file", "TLS client certificate", "PEM client certificate chain for mutual TLS (with tls-key-file)", None),
        string("tls-key-file", "TLS client key", "PEM private key of tls-cert-file", None),
        string("username", "User name", "MQTT user name", None),
        glib::ParamSpecString::builder("password").nick("Password").blurb("MQTT password (write-only, never logged)").write_only().mutable_ready().build(),
        glib::ParamSpecUInt::builder("connect-timeout").nick("Connect timeout").blurb("Milliseconds start waits for the first connection before warning and continuing (messages are spooled)")
            .default_value(d.connect_timeout).mutable_ready().build(),
        glib::ParamSpecUInt::builder("flush-timeout").nick("Flush timeout").blurb("Milliseconds EOS and stop wait for outstanding messages to be acknowledged; the rest stays in the spool")
            .default_value(d.flush_timeout).mutable_ready().build(),
        glib::ParamSpecUInt::builder("stats-interval").nick("Statistics interval").blurb("Milliseconds between segmqttsink-stats element messages; 0: never")
            .default_value(d.stats_interval).mutable_ready().build(),
        glib::ParamSpecBoolean::builder("accept-commands").nick("Accept commands")
            .blurb("Subscribe to segstream/<stream-id>/commands and apply them; off by default. Who may publish there is the broker's ACL to decide (docs/PAYLOAD.md)")
            .default_value(d.accept_commands).mutable_ready().build(),
        counter("published", "Published", "Frame and event messages handed to the broker connection"),
        counter("acknowledged", "Acknowledged", "Messages the broker acknowledged (QoS 0: written)"),
        counter("spooled", "Spooled", "Messages written to the on-disk spool"),
        counter("dropped", "Dropped", "Messages given up (spool full or too old, queue full)"),
        counter("reconnects", "Reconnects", "Successful reconnections to the broker"),
        counter("replies-dropped", "Replies dropped", "Command replies given up because 256 were already waiting to be sent"),
    ]
}

/// Applies one property write.
pub fn set(s: &mut Settings, name: &str, v: &glib::Value) {
    let opt = |v: &glib::Value| v.get::<Option<String>>().unwrap();
    match name {
        "host" => s.host = opt(v).unwrap_or_default(),
        "port" => s.port = v.get().unwrap(),
        "topic" => s.topic = opt(v),
        "stream-id" => s.stream_id = opt(v).filter(|x| !x.is_empty()).unwrap_or_else(|| "default".into()),
        "client-id" => s.client_id = opt(v).filter(|x| !x.is_empty()),
        "qos" => s.qos = v.get().unwrap(),
        "spool-dir" => s.spool_dir = opt(v).filter(|x| !x.is_empty()),
        "spool-max-bytes" => s.spool_max_bytes = v.get().unwrap(),
        "spool-max-age" => s.spool_max_age = v.get().unwrap(),
        "max-message-bytes" => s.max_message_bytes = v.get().unwrap(),
        "mask-scale" => s.mask_scale = v.get().unwrap(),
        "polygons" => s.polygons = v.get().unwrap(),
        "publish-events" => s.publish_events = v.get().unwrap(),
        "tls" => s.tls = v.get().unwrap(),
        "tls-ca-file" => s.tls_ca_file = opt(v),
        "tls-cert-file" => s.tls_cert_file = opt(v),
        "tls-key-file" => s.tls_key_file = opt(v),
        "username" => s.username = opt(v),
        "password" => s.password = opt(v),
        "connect-timeout" => s.connect_timeout = v.get().unwrap(),
        "flush-timeout" => s.flush_timeout = v.get().unwrap(),
        "stats-interval" => s.stats_interval = v.get().unwrap(),
        "accept-commands" => s.accept_commands = v.get().unwrap(),
        _ => unimplemented!("property {name}"),
    }
}

/// Reads one (non-counter) property.
pub fn get(s: &Settings, name: &str) -> glib::Value {
    match name {
        "host" => s.host.to_value(),
        "port" => s.port.to_value(),
        "topic" => s.topic.clone().unwrap_or_else(|| format!("segstream/{}/frames", s.stream_id)).to_value(),
        "stream-id" => s.stream_id.to_value(),
        "client-id" => s.client_id().to_value(),
        "qos" => s.qos.to_value(),
        "spool-dir" => s.mqtt().spool.dir.display().to_string().to_value(),
        "spool-max-bytes" => s.spool_max_bytes.to_value(),
        "spool-max-age" => s.spool_max_age.to_value(),
        "max-message-bytes" => s.max_message_bytes.to_value(),
        "mask-scale" => s.mask_scale.to_value(),
        "polygons" => s.polygons.to_value(),
        "publish-events" => s.publish_events.to_value(),
        "tls" => s.tls.to_value(),
        "tls-ca-file" => s.tls_ca_file.to_value(),
        "tls-cert-file" => s.tls_cert_file.to_value(),
        "tls-key-file" => s.tls_key_file.to_value(),
        "username" => s.username.to_value(),
        "connect-timeout" => s.connect_timeout.to_value(),
        "flush-timeout" => s.flush_timeout.to_value(),
        "stats-interval" => s.stats_interval.to_value(),
        "accept-commands" => s.accept_commands.to_value(),
        _ => unimplemented!("property {name}"),
    }
}
