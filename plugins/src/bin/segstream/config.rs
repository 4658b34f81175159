//! What `segstream run` is asked to do, checked before any pipeline exists: the config
//! file (TOML), the `--output` kind and `--target` boxes.
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
}
