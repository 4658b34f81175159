//! Reliable MQTT publishing (rumqttc): see `Publisher`.
