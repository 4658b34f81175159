//! Fuzz target bodies for the plugin's parsers of outside input: the `segstream-command`
//! event, the results meta reader and the `segstream run` config file.
//!
//! Shared by the libFuzzer targets (`fuzz/fuzz_targets/*.rs`) and the corpus replay in
//! `cargo test` (`plugins/tests/fuzz_corpus_replay.rs`), which include this file with
//! `#[path]`. A body panics only on a real bug.
use gstsegstream::meta;
use gstsegstream::segment::command::{self, Scale};
use segstream::command::{Command, CommandContext, CommandError, Request, COMMAND_EVENT};
use std::str::FromStr;

#[allow(dead_code)]
#[path = "../../plugins/src/bin/segstream/config.rs"]
mod run_cli_config;

/// A target body: runs one parser on raw input.
pub type Body = fn(&[u8]);

/// Target name -> body, in the order of docs/FUZZING.md.
pub const TARGETS: [(&str, Body); 3] = [("command_event", command_event), ("meta_reader", meta_reader), ("run_config", run_config)];

fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        meta::register();
    });
}

/// The input as text GStreamer can hold: its strings are C strings, so text with a NUL
/// byte never reaches these parsers (the glib bindings refuse it before they run).
fn c_text(data: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    (!data.contains(&0)).then(|| String::from_utf8_lossy(data))
}

/// The input as GStreamer structure text (the gst-launch form of the event), and as the
/// `json` field of the event segmqttsink sends. A parsed command is one `segment` can apply.
pub fn command_event(data: &[u8]) {
    init();
    let Some(text) = c_text(data) else { return };
    if let Ok(s) = gst::Structure::from_str(&text) {
        check_command(command::parse(&s));
    }
    let s = gst::Structure::builder(COMMAND_EVENT).field("json", text.as_ref()).build();
    check_command(command::parse(&s));
}

/// A parsed command reads back from its canonical JSON; one that passes the check against
/// a 320x240 stream gives the tracker a prompt (a mask decodes at the model input size).
fn check_command(parsed: Result<Option<Request>, CommandError>) {
    match parsed {
        Ok(Some(req)) => {
            let back = Request::parse(req.to_json().as_bytes());
            assert_eq!(back.as_ref(), Ok(&req), "round trip of {}", req.to_json());
            let ctx = CommandContext { frame_size: Some((320, 240)), frame: Some(10), known_ids: [1, 2].into_iter().collect() };
            if let (Ok(()), Command::AddTarget(add)) = (req.check(&ctx), &req.command) {
                command::prompt(&add.target, &Scale::new((320, 240), (64, 64))).expect("a checked target gives a prompt");
            }
        }
        Ok(None) => {}
        Err(e) => assert!(!e.message.is_empty(), "an error without a message"),
    }
}

/// The results meta as structure text, read the ways the elements read it: as a plain
/// structure, and attached to a buffer (full read and the cheap summary).
pub fn meta_reader(data: &[u8]) {
    init();
    let Some(text) = c_text(data) else { return };
    let Ok(s) = gst::Structure::from_str(&text) else { return };
    let parsed = meta::from_structure(&s);
    if let Ok(r) = &parsed {
        for o in &r.objects {
            assert_eq!(o.mask.data.len(), o.mask.width * o.mask.height, "object {} mask", o.track_id);
        }
    }
    let mut buffer = gst::Buffer::new();
    {
        let b = buffer.get_mut().expect("a new buffer is writable");
        let mut m = gst::meta::CustomMeta::add(b, meta::META_NAME).expect("registered");
        for (name, value) in s.iter() {
            m.mut_structure().set_value(name, value.clone());
        }
    }
    let read = meta::read(&buffer).expect("the meta is on the buffer");
    assert_eq!(read.is_ok(), parsed.is_ok(), "reading from a buffer and from the structure disagree");
    if let (Ok(full), Some(Ok(brief))) = (&read, meta::brief(&buffer)) {
        assert_eq!((brief.frame, brief.objects.len()), (full.frame, full.objects.len()));
    }
}

/// A `segstream run` config file (one camera or a cameras file): accepted values are the
/// ones the pipeline can take; a cameras file has 1 to 64 cameras with unique safe ids.
pub fn run_config(data: &[u8]) {
    use run_cli_config::ConfigFile;
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = run_cli_config::RunConfig::parse(text);
    match ConfigFile::parse(text) {
        Ok(ConfigFile::One(c)) => check_run_config(&c),
        Ok(ConfigFile::Cameras(c)) => {
            assert!((1..=run_cli_config::MAX_CAMERAS).contains(&c.camera.len()), "{} cameras accepted", c.camera.len());
            let mut ids = std::collections::HashSet::new();
            for cam in &c.camera {
                assert!(run_cli_config::check_id(&cam.id).is_ok() && ids.insert(cam.id.as_str()), "camera id {:?} accepted", cam.id);
                assert!(cam.id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
                check_run_config(&cam.as_run());
            }
        }
        Err(e) => assert!(!e.is_empty(), "an error without a message"),
    }
}

fn check_run_config(c: &run_cli_config::RunConfig) {
    assert!(c.detect_interval.is_none_or(|n| segstream::tracker::DETECT_INTERVAL_RANGE.contains(&n)));
    assert!(c.score_threshold.is_none_or(|t| (0.0..=1.0).contains(&t)));
    for b in c.targets.iter().flatten() {
        assert!(b.iter().all(|v| v.is_finite()) && b[2] > 0.0 && b[3] > 0.0, "target {b:?} accepted");
    }
    if let Some(o) = &c.output {
        run_cli_config::Output::parse(o).expect("an accepted output parses");
    }
}
