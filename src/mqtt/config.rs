//! Publisher settings. `Debug` never prints the password.
use super::spool::SpoolConfig;
use rumqttc::QoS;
use std::path::PathBuf;
use std::time::Duration;

/// PEM files for TLS; TLS is on when `enabled` (set automatically when a file is given).
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub enabled: bool,
    /// CA that signed the broker's certificate; `None`: the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain and key for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Clone)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// Stable client id: the broker keeps our session (unacked QoS 1/2) under it.
    pub client_id: String,
    pub stream: String,
    /// Frames topic; `None`: `segstream/<stream>/frames`.
    pub frames_topic: Option<String>,
    pub qos: u8,
    pub keep_alive: Duration,
    pub spool: SpoolConfig,
    /// Largest message we publish; the client's packet limit is derived from it.
    pub max_message_bytes: usize,
    /// Messages the streaming thread may queue ahead of the publisher task.
    pub queue_len: usize,
    pub tls: TlsFiles,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Reconnect backoff: first delay and cap (doubles each failure, +-25% jitter).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Subscribe to `segstream/<stream>/commands` and apply what arrives there. Off by
    /// default: who may command a pipeline is decided by the broker's ACL (docs/PAYLOAD.md).
    pub accept_commands: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: String::new(),
            stream: "default".into(),
            frames_topic: None,
            qos: 1,
            keep_alive: Duration::from_secs(10),
            spool: SpoolConfig::default(),
            max_message_bytes: 256 * 1024,
            queue_len: 256,
            tls: TlsFiles::default(),
            username: None,
            password: None,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            accept_commands: false,
        }
    }
}

impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("stream", &self.stream)
            .field("frames_topic", &self.frames_topic())
            .field("qos", &self.qos)
            .field("spool", &self.spool)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("tls", &self.tls)
            .field("username", &self.username.as_ref().map(|_| "<set>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("accept_commands", &self.accept_commands)
            .finish()
    }
}

impl MqttConfig {
    pub fn frames_topic(&self) -> String {
        self.frames_topic.clone().unwrap_or_else(|| format!("segstream/{}/frames", self.stream))
    }
    pub fn events_topic(&self) -> String {
        format!("segstream/{}/events", self.stream)
    }
    pub fn status_topic(&self) -> String {
        format!("segstream/{}/status", self.stream)
    }
    pub fn commands_topic(&self) -> String {
        format!("segstream/{}/commands", self.stream)
    }
    pub fn responses_topic(&self) -> String {
        format!("segstream/{}/responses", self.stream)
    }

    /// Client id used on the wire: the configured one, else derived from the stream so
    /// that a restarted pipeline resumes the same broker session.
    pub fn effective_client_id(&self) -> String {
        if self.client_id.is_empty() {
            format!("segstream-{}", self.stream)
        } else {
            self.client_id.clone()
        }
    }

    pub fn qos(&self) -> Result<QoS, String> {
        match self.qos {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            q => Err(format!("qos must be 0, 1 or 2, got {q}")),
        }
    }

    /// Checks what ends up in topic names, so a bad `topic` or `stream-id` fails at start
    /// instead of every publish being refused (and spooled) later. Errors name the setting.
    pub fn validate_topics(&self) -> Result<(), String> {
        check_topic_part("stream-id", &self.stream)?;
        if let Some(t) = &self.frames_topic {
            check_topic_part("topic", t)?;
        }
        Ok(())
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.enabled || self.tls.ca_file.is_some() || self.tls.cert_file.is_some()
    }
}

/// MQTT topic-name rules (3.1.1, 4.7): not empty, at most 65535 bytes, no wildcard (`+`,
/// `#`: allowed in filters only) and no U+0000. Brokers drop the connection of a client
/// that publishes to a name breaking them.
pub fn topic_error(topic: &str) -> Option<&'static str> {
    if topic.is_empty() {
        Some("it is empty")
    } else if topic.len() > 65535 {
        Some("it is longer than 65535 bytes")
    } else if !rumqttc::valid_topic(topic) {
        Some("a topic name may not contain the wildcards '+' or '#'")
    } else if topic.contains('\0') {
        Some("a topic name may not contain the NUL character")
    } else {
        None
    }
}

fn check_topic_part(setting: &str, value: &str) -> Result<(), String> {
    match topic_error(value) {
        Some(why) => Err(format!("{setting} {value:?} cannot be used in an MQTT topic: {why}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_empty_names_are_refused_naming_the_setting() {
        let bad_topic = MqttConfig { frames_topic: Some("bad/#".into()), ..Default::default() };
        let e = bad_topic.validate_topics().unwrap_err();
        assert!(e.starts_with("topic \"bad/#\"") && e.contains("wildcards"), "{e}");
        let bad_stream = MqttConfig { stream: "cam+1".into(), ..Default::default() };
        let e = bad_stream.validate_topics().unwrap_err();
        assert!(e.starts_with("stream-id \"cam+1\"") && e.contains("wildcards"), "{e}");
        let nul = MqttConfig { frames_topic: Some("a\0b".into()), ..Default::default() };
        assert!(nul.validate_topics().unwrap_err().contains("NUL"));
        assert_eq!(topic_error(""), Some("it is empty"));
        let ok = MqttConfig { stream: "site1/cam1".into(), frames_topic: Some("x/y".into()), ..Default::default() };
        assert_eq!(ok.validate_topics(), Ok(()));
    }
}
