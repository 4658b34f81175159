//! What `segstream run` is asked to do, checked before any pipeline exists: the config
//! file (TOML: one camera, or several as `[[camera]]` tables), the `--output` kind and
//! `--target` boxes.
//!
//! No GStreamer here: the fuzz target `run_config` (fuzz/) and its corpus replay include
//! this file as it is.
use serde::Deserialize;
use std::path::PathBuf;

/// Video files `--output` can write: extension, muxer. Each takes H.264 or MPEG-4 part 2
/// (whichever encoder is installed).
pub const CONTAINERS: [(&str, &str); 4] = [("mp4", "mp4mux"), ("mov", "qtmux"), ("mkv", "matroskamux"), ("avi", "avimux")];

/// The config file: the same settings as the options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub input: Option<String>,
    pub output: Option<String>,
    pub model: Option<PathBuf>,
    pub provider: Option<String>,
    pub detect_interval: Option<u32>,
    pub score_threshold: Option<f32>,
    pub vocabulary: Option<Vec<String>>,
    pub mqtt: Option<String>,
    pub topic: Option<String>,
    pub accept_commands: Option<bool>,
    pub max_frames: Option<u64>,
    pub targets: Option<Vec<[f32; 4]>>,
    pub stream_id: Option<String>,
    pub metrics: Option<String>,
    pub health_timeout: Option<f64>,
    pub stall_timeout: Option<f64>,
}

impl RunConfig {
    /// Parses and checks a config file's text; errors name the key and the value.
    pub fn parse(text: &str) -> Result<RunConfig, String> {
        let c: RunConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        if self.input.as_deref().is_none_or(|i| i.trim().is_empty()) {
            return Err("missing key 'input'".into());
        }
        if let Some(n) = self.detect_interval {
            check_detect_interval(n).map_err(|e| format!("detect_interval: {e}"))?;
        }
        if let Some(t) = self.score_threshold {
            check_score_threshold(t).map_err(|e| format!("score_threshold: {e}"))?;
        }
        if let Some(names) = &self.vocabulary {
            if names.iter().any(|n| n.trim().is_empty() || n.contains(',')) {
                return Err(format!("vocabulary: names must be non-empty and without commas, got {names:?}"));
            }
        }
        for b in self.targets.iter().flatten() {
            check_box(*b).map_err(|e| format!("targets: [{}, {}, {}, {}]: {e}", b[0], b[1], b[2], b[3]))?;
        }
        if let Some(t) = self.health_timeout {
            check_health_timeout(t).map_err(|e| format!("health_timeout: {e}"))?;
        }
        if let Some(t) = self.stall_timeout {
            check_health_timeout(t).map_err(|e| format!("stall_timeout: {e}"))?;
        }
        if let Some(o) = &self.output {
            Output::parse(o).map_err(|e| format!("output: {e}"))?;
        }
        Ok(())
    }
}

/// Most cameras one process runs: each has its own pipeline, threads and MQTT client.
pub const MAX_CAMERAS: usize = 64;
/// Longest camera id (it is a metrics label and part of MQTT topics and client ids).
pub const MAX_ID_LEN: usize = 64;

/// A config file: one camera (the keys of [`RunConfig`]) or several (`[[camera]]` tables).
#[derive(Debug)]
pub enum ConfigFile {
    One(Box<RunConfig>),
    Cameras(CamerasConfig),
}

impl ConfigFile {
    /// A file with a `camera` key is a cameras file; any other is a one-camera file.
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        if table.contains_key("camera") {
            CamerasConfig::parse(text).map(ConfigFile::Cameras)
        } else {
            RunConfig::parse(text).map(|c| ConfigFile::One(Box::new(c)))
        }
    }
}

/// Several cameras in one process: what they share, and one `[[camera]]` table each.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CamerasConfig {
    /// The MQTT broker every camera publishes to (each under its own stream id).
    pub mqtt: Option<String>,
    pub metrics: Option<String>,
    pub health_timeout: Option<f64>,
    pub camera: Vec<CameraConfig>,
}

/// One camera of a cameras file: the per-camera keys of [`RunConfig`] and its `id`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// The stream id: MQTT topics `segstream/<id>/...`, client id `segstream-<id>`, and
    /// the `camera` label of the metrics.
    pub id: String,
    pub input: String,
    pub output: Option<String>,
    pub model: Option<PathBuf>,
    pub provider: Option<String>,
    pub detect_interval: Option<u32>,
    pub score_threshold: Option<f32>,
    pub vocabulary: Option<Vec<String>>,
    pub topic: Option<String>,
    pub accept_commands: Option<bool>,
    pub max_frames: Option<u64>,
    pub targets: Option<Vec<[f32; 4]>>,
    pub stall_timeout: Option<f64>,
}

impl CamerasConfig {
    /// Parses and checks a cameras file; errors name the camera, the key and the value.
    pub fn parse(text: &str) -> Result<CamerasConfig, String> {
        let c: CamerasConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        match self.camera.len() {
            0 => return Err("camera: no camera (add a [[camera]] table with id and input)".into()),
            n if n > MAX_CAMERAS => return Err(format!("camera: {n} cameras, at most {MAX_CAMERAS} in one process")),
            _ => (),
        }
        if let Some(a) = &self.mqtt {
            check_host_port(a).map_err(|e| format!("mqtt: {e}"))?;
        }
        if let Some(a) = &self.metrics {
            check_host_port(a).map_err(|e| format!("metrics: {e}"))?;
        }
        if let Some(t) = self.health_timeout {
            check_health_timeout(t).map_err(|e| format!("health_timeout: {e}"))?;
        }
        let mut seen: Vec<(&str, String, Option<Output>)> = Vec::new();
        for (i, cam) in self.camera.iter().enumerate() {
            let at = format!("camera[{i}]");
            check_id(&cam.id).map_err(|e| format!("{at}.id: {e}"))?;
            let at = format!("{at} ({})", cam.id);
            cam.as_run().check().map_err(|e| format!("{at}: {e}"))?;
            let topic = cam.topic.clone().unwrap_or_else(|| format!("segstream/{}/frames", cam.id));
            check_topic(&topic).map_err(|e| format!("{at}: topic: {e}"))?;
            let output = cam.output.as_deref().map(Output::parse).transpose().map_err(|e| format!("{at}: output: {e}"))?;
            for (j, (id, t, o)) in seen.iter().enumerate() {
                let other = format!("camera[{j}] ({id})");
                if *id == cam.id {
                    return Err(format!("{at}: id \"{id}\" is also {other}'s: ids must be unique"));
                }
                if *t == topic {
                    return Err(format!("{at}: topic \"{topic}\" is also {other}'s"));
                }
                if let (Some(a @ (Output::Video(_) | Output::Frames(_))), Some(b)) = (o, &output) {
                    if a == b {
                        return Err(format!("{at}: output {:?} is also {other}'s", cam.output.as_deref().unwrap_or_default()));
                    }
                }
            }
            seen.push((&cam.id, topic, output));
        }
        Ok(())
    }
}

impl CameraConfig {
    /// The same settings as a one-camera config, to check them by the same rules.
    pub fn as_run(&self) -> RunConfig {
        RunConfig {
            input: Some(self.input.clone()),
            output: self.output.clone(),
            model: self.model.clone(),
            provider: self.provider.clone(),
            detect_interval: self.detect_interval,
            score_threshold: self.score_threshold,
            vocabulary: self.vocabulary.clone(),
            topic: self.topic.clone(),
            accept_commands: self.accept_commands,
            max_frames: self.max_frames,
            targets: self.targets.clone(),
            stream_id: Some(self.id.clone()),
            stall_timeout: self.stall_timeout,
            ..Default::default()
        }
    }
}

/// A camera id: 1 to [`MAX_ID_LEN`] letters, digits, `-` or `_`. It goes into MQTT topics
/// (where `/`, `+`, `#` would change the topic's meaning), client ids and metric labels.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().all(ok) {
        return Err(format!(
            "{id:?}: ids are 1 to {MAX_ID_LEN} characters among letters, digits, '-' and '_' (they go into MQTT topics and metric labels)"
        ));
    }
    Ok(())
}

/// An MQTT publish topic: not empty, no wildcard, no NUL.
pub fn check_topic(t: &str) -> Result<(), String> {
    if t.is_empty() || t.contains(['+', '#', '\0']) {
        return Err(format!("{t:?} must be non-empty, without wildcards (+, #)"));
    }
    Ok(())
}

/// `host:port` with a port in 1..=65535.
pub fn check_host_port(a: &str) -> Result<(), String> {
    match a.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        _ => Err(format!("{a:?} is not host:port (port 1..65535)")),
    }
}

pub fn check_detect_interval(n: u32) -> Result<u32, String> {
    let range = segstream::tracker::DETECT_INTERVAL_RANGE;
    if !range.contains(&n) {
        return Err(format!("{n} is outside {}..={} (0: detection off)", range.start(), range.end()));
    }
    Ok(n)
}

pub fn check_health_timeout(t: f64) -> Result<f64, String> {
    if !(t.is_finite() && t > 0.0 && t <= 86_400.0) {
        return Err(format!("{t} is outside 0..86400 seconds"));
    }
    Ok(t)
}

pub fn check_score_threshold(t: f32) -> Result<f32, String> {
    if !(0.0..=1.0).contains(&t) {
        return Err(format!("{t} is outside 0..1"));
    }
    Ok(t)
}

/// Parses `x,y,w,h` (frame pixels) for `--target`.
pub fn parse_box(s: &str) -> Result<[f32; 4], String> {
    let v: Vec<f32> =
        s.split(',').map(|p| p.trim().parse::<f32>().map_err(|_| format!("'{p}' is not a number"))).collect::<Result<_, _>>()?;
    match v.as_slice() {
        [x, y, w, h] => check_box([*x, *y, *w, *h]),
        _ => Err(format!("expected x,y,w,h (4 numbers), got {} numbers", v.len())),
    }
}

/// A box must be finite with positive size (whether it fits the frame is only known once
/// the video's size is: see `pipeline::add_targets_at_start`).
pub fn check_box(b: [f32; 4]) -> Result<[f32; 4], String> {
    if b.iter().any(|v| !v.is_finite()) {
        return Err("values must be finite numbers".into());
    }
    if !(b[2] > 0.0 && b[3] > 0.0) {
        return Err("w and h must be positive".into());
    }
    Ok(b)
}

/// Whether box `[x, y, w, h]` lies inside a `width` x `height` frame (the rule of the
/// MQTT `add_target` command).
pub fn box_in_frame([x, y, w, h]: [f32; 4], width: u32, height: u32) -> bool {
    x >= 0.0 && y >= 0.0 && x + w <= width as f32 && y + h <= height as f32
}

/// Where annotated frames go.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Display,
    None,
    /// An encoded video file; the container follows the extension ([`CONTAINERS`]).
    Video(PathBuf),
    /// A directory of numbered PNG frames.
    Frames(PathBuf),
}

impl Output {
    /// `display`, `none`, a video file by extension, or a directory (no extension, a
    /// trailing `/`, or an existing directory). Any other extension is an error rather
    /// than a directory named `out.avi` full of PNGs.
    pub fn parse(s: &str) -> Result<Output, String> {
        match s {
            "display" | "screen" => return Ok(Output::Display),
            "none" | "" => return Ok(Output::None),
            _ => {}
        }
        let path = PathBuf::from(s);
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext {
            Some(e) if CONTAINERS.iter().any(|(x, _)| *x == e) => Ok(Output::Video(path)),
            Some(e) if !s.ends_with('/') && !path.is_dir() => {
                let known: Vec<String> = CONTAINERS.iter().map(|(x, _)| format!(".{x}")).collect();
                Err(format!(
                    "{s}: unknown video file extension `.{e}` (known: {}; for PNG frames give a directory: no extension, or end it with /)",
                    known.join(", ")
                ))
            }
            _ => Ok(Output::Frames(path)),
        }
    }

    /// The muxer of a video output (`None` for the other kinds).
    pub fn muxer(&self) -> Option<&'static str> {
        let Output::Video(path) = self else { return None };
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        CONTAINERS.iter().find(|(x, _)| *x == ext).map(|(_, m)| *m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_kind_follows_the_extension() {
        assert_eq!(Output::parse("none").unwrap(), Output::None);
        assert_eq!(Output::parse("a/out.AVI").unwrap().muxer(), Some("avimux"));
        assert_eq!(Output::parse("out.mov").unwrap().muxer(), Some("qtmux"));
        assert_eq!(Output::parse("frames").unwrap(), Output::Frames("frames".into()));
        assert_eq!(Output::parse("frames.v2/").unwrap(), Output::Frames("frames.v2/".into()));
        let e = Output::parse("out.webm").unwrap_err();
        assert!(e.starts_with("out.webm: unknown video file extension `.webm` (known: .mp4, .mov, .mkv, .avi;"), "{e}");
    }

    #[test]
    fn config_values_are_checked() {
        let err = |t: &str| RunConfig::parse(t).unwrap_err();
        assert_eq!(
            err("input = \"a.mp4\"\ndetect_interval = 4294967295"),
            "detect_interval: 4294967295 is outside 0..=10000 (0: detection off)"
        );
        assert_eq!(err("input = \"a.mp4\"\ntargets = [[1, 2, 0, 4]]"), "targets: [1, 2, 0, 4]: w and h must be positive");
        assert_eq!(err("input = \"a.mp4\"\nscore_threshold = 1.5"), "score_threshold: 1.5 is outside 0..1");
        assert!(err("input = \"a.mp4\"\noutput = \"x.gif\"").starts_with("output: x.gif: unknown video file extension"));
        assert_eq!(err("output = \"none\""), "missing key 'input'");
        assert_eq!(parse_box("nan,0,1,1").unwrap_err(), "values must be finite numbers");
        assert!(box_in_frame([0.0, 0.0, 160.0, 120.0], 160, 120) && !box_in_frame([150.0, 0.0, 20.0, 20.0], 160, 120));
    }

    fn cams(text: &str) -> Result<CamerasConfig, String> {
        match ConfigFile::parse(text)? {
            ConfigFile::Cameras(c) => Ok(c),
            ConfigFile::One(_) => panic!("read as a one-camera file: {text}"),
        }
    }

    const TWO: &str = "mqtt = \"127.0.0.1:1883\"\n[[camera]]\nid = \"front\"\ninput = \"a.mp4\"\ndetect_interval = 3\n\
                       [[camera]]\nid = \"back_2\"\ninput = \"rtsp://h/s\"\ntopic = \"site/back\"\n";

    #[test]
    fn a_cameras_file_is_told_from_a_one_camera_file() {
        let c = cams(TWO).unwrap();
        assert_eq!(c.camera.len(), 2);
        assert_eq!(
            (c.camera[0].id.as_str(), c.camera[0].detect_interval, c.camera[1].topic.as_deref()),
            ("front", Some(3), Some("site/back"))
        );
        assert!(matches!(ConfigFile::parse("input = \"a.mp4\"").unwrap(), ConfigFile::One(_)));
    }

    #[test]
    fn the_example_configs_parse() {
        let c = cams(include_str!("../../../../configs/cams.example.toml")).unwrap();
        assert_eq!(c.camera.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["gate", "yard"]);
        assert!(matches!(ConfigFile::parse(include_str!("../../../../configs/cam1.toml")).unwrap(), ConfigFile::One(_)));
    }

    #[test]
    fn malformed_cameras_files_are_refused_with_the_key() {
        let cam = |id: &str, extra: &str| format!("[[camera]]\nid = \"{id}\"\ninput = \"{id}.mp4\"\n{extra}");
        let err = |t: &str| cams(t).unwrap_err();
        assert_eq!(err("camera = []"), "camera: no camera (add a [[camera]] table with id and input)");
        assert!(err(&format!("{}speed = 2\n", cam("a", ""))).contains("unknown field `speed`"), "unknown keys refused");
        assert!(err(&format!("port = 2\n{}", cam("a", ""))).contains("unknown field `port`"), "unknown global keys refused");
        assert!(err("[[camera]]\nid = \"a\"\n").contains("missing field `input`"));
        assert_eq!(
            err(&cam("a/b", "")),
            "camera[0].id: \"a/b\": ids are 1 to 64 characters among letters, digits, '-' and '_' (they go into MQTT topics and metric labels)"
        );
        assert!(err(&cam("", "")).starts_with("camera[0].id: \"\": ids are 1 to 64"));
        assert!(err(&cam(&"x".repeat(65), "")).starts_with("camera[0].id: \"xxx"));
        assert!(err(&cam("a#", "")).starts_with("camera[0].id: \"a#\""));
        assert_eq!(
            err(&format!("{}{}", cam("a", ""), cam("a", ""))),
            "camera[1] (a): id \"a\" is also camera[0] (a)'s: ids must be unique"
        );
        assert_eq!(
            err(&format!("{}{}", cam("a", "topic = \"t/x\"\n"), cam("b", "topic = \"t/x\"\n"))),
            "camera[1] (b): topic \"t/x\" is also camera[0] (a)'s"
        );
        assert_eq!(
            err(&format!("{}{}", cam("a", "topic = \"segstream/b/frames\"\n"), cam("b", ""))),
            "camera[1] (b): topic \"segstream/b/frames\" is also camera[0] (a)'s",
            "a topic equal to another camera's default topic"
        );
        assert_eq!(err(&cam("a", "topic = \"t/#\"\n")), "camera[0] (a): topic: \"t/#\" must be non-empty, without wildcards (+, #)");
        assert_eq!(
            err(&format!("{}{}", cam("a", "output = \"o.mp4\"\n"), cam("b", "output = \"o.mp4\"\n"))),
            "camera[1] (b): output \"o.mp4\" is also camera[0] (a)'s"
        );
        assert!(cams(&format!("{}{}", cam("a", "output = \"none\"\n"), cam("b", "output = \"none\"\n"))).is_ok());
        assert_eq!(
            err(&cam("a", "detect_interval = 10001\n")),
            "camera[0] (a): detect_interval: 10001 is outside 0..=10000 (0: detection off)"
        );
        assert_eq!(err(&cam("a", "score_threshold = -1\n")), "camera[0] (a): score_threshold: -1 is outside 0..1");
        assert_eq!(err("[[camera]]\nid = \"a\"\ninput = \" \"\n"), "camera[0] (a): missing key 'input'");
        assert_eq!(err(&format!("mqtt = \"localhost\"\n{}", cam("a", ""))), "mqtt: \"localhost\" is not host:port (port 1..65535)");
        assert_eq!(err(&format!("metrics = \"h:0\"\n{}", cam("a", ""))), "metrics: \"h:0\" is not host:port (port 1..65535)");
        assert_eq!(err(&format!("health_timeout = 0.0\n{}", cam("a", ""))), "health_timeout: 0 is outside 0..86400 seconds");
        let many: String = (0..=MAX_CAMERAS).map(|i| cam(&format!("c{i}"), "")).collect();
        assert_eq!(err(&many), "camera: 65 cameras, at most 64 in one process");
        let max: String = (0..MAX_CAMERAS).map(|i| cam(&format!("c{i}"), "")).collect();
        assert_eq!(cams(&max).unwrap().camera.len(), MAX_CAMERAS);
    }
}
