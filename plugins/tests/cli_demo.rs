//! `segstream demo` and `--help`, run as a user would (the real binary).
use std::path::Path;
use std::process::{Command, Output};

fn segstream(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(args)
        .current_dir(cwd)
        .env_remove("GST_PLUGIN_PATH") // the CLI registers its plugin statically
        .env_remove("SEGSTREAM_MODEL")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

fn pngs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    v.sort();
    v
}

#[test]
fn demo_writes_annotated_frames_and_one_summary_line_per_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("frames");
    // A stale frame from a "longer earlier run" must not survive.
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("00042.png"), b"old").unwrap();
    let o = segstream(&["demo", "--out", out_dir.to_str().unwrap(), "--frames", "6"], tmp.path());
    assert!(o.status.success(), "{}", both(&o));
    let names = pngs(&out_dir);
    assert_eq!(names, ["00000.png", "00001.png", "00002.png", "00003.png", "00004.png", "00005.png"]);
    for n in &names {
        let bytes = std::fs::read(out_dir.join(n)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{n} is a PNG");
    }
    let text = stdout(&o);
    let frames: Vec<&str> = text.lines().filter(|l| l.starts_with("frame ")).collect();
    assert_eq!(frames.len(), 6, "{text}");
    for (i, line) in frames.iter().enumerate() {
        assert!(line.starts_with(&format!("frame {i:>4}: ")), "{line}");
        assert!(line.contains(" objects"), "{line}");
    }
    assert!(text.contains("demo: 6 frames"), "{text}");
}

#[test]
fn demo_can_write_an_mp4() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("demo.mp4");
    let o = segstream(&["demo", "--out", file.to_str().unwrap(), "--frames", "10", "--quiet", "--source", "videotestsrc"], tmp.path());
    assert!(o.status.success(), "{}", both(&o));
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 1000 && &bytes[4..8] == b"ftyp", "an MP4 of {} bytes", bytes.len());
    assert!(!stdout(&o).lines().any(|l| l.starts_with("frame ")), "--quiet prints no frame lines");
}

#[test]
fn help_documents_every_subcommand_and_option() {
    let tmp = tempfile::tempdir().unwrap();
    let top = stdout(&segstream(&["--help"], tmp.path()));
    for word in ["run", "demo", "synth", "--log-level"] {
        assert!(top.contains(word), "{word} missing from --help:\n{top}");
    }
    let run = stdout(&segstream(&["run", "--help"], tmp.path()));
    for word in [
        "--output",
        "--mqtt",
        "--topic",
        "--model",
        "--provider",
        "--detect-interval",
        "--score-threshold",
        "--vocabulary",
        "--max-frames",
        "CONFIG FILE",
    ] {
        assert!(run.contains(word), "{word} missing from run --help:\n{run}");
    }
    let demo = stdout(&segstream(&["demo", "--help"], tmp.path()));
    for word in ["--out", "--frames", "--width", "--height", "--model", "--source"] {
        assert!(demo.contains(word), "{word} missing from demo --help:\n{demo}");
    }
}

#[test]
fn demo_target_option_adds_a_tracked_box_and_rejects_bad_boxes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t");
    let o = segstream(
        &["demo", "--out", out.to_str().unwrap(), "--frames", "2", "--target", "100,60,80,80", "--log-level", "info", "--quiet"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", both(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("segstream-target-added"), "{err}");

    let o = segstream(&["demo", "--target", "1,2,3"], tmp.path());
    assert!(!o.status.success());
    assert!(both(&o).contains("expected x,y,w,h (4 numbers), got 3 numbers"), "{}", both(&o));
}
