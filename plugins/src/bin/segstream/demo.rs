//! `segstream demo`: the bundled model on a built-in synthetic video, annotated frames
//! written to disk and one summary line per frame. Finishes in seconds.
use crate::pipeline::{self, Output};
use anyhow::{Context, Result};
use gst::prelude::*;
use std::path::{Path, PathBuf};

/// Run the bundled default model on a built-in synthetic video and write annotated frames.
#[derive(clap::Args, Debug)]
#[command(after_help = "The source is segtestsrc (the synthetic world with moving shapes) when the plugin has it,\n\
else videotestsrc pattern=ball. Each frame prints `frame N: K objects  id:label score ...`.")]
pub struct DemoArgs {
    /// Output: a directory for numbered PNG frames, or a .mp4/.mov/.mkv/.avi file (needs an
    /// H.264 or MPEG-4 encoder; other extensions are an error)
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    // Ranges: GStreamer takes these as gint (num-buffers, caps), a larger value would wrap.
    /// Number of frames
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    pub frames: u32,
    /// Frame width, 16..=8192
    #[arg(long, default_value_t = 320, value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub width: u32,
    /// Frame height, 16..=8192
    #[arg(long, default_value_t = 240, value_parser = clap::value_parser!(u32).range(16..=8192))]
    pub height: u32,
    /// Model bundle directory [default: $SEGSTREAM_MODEL, then the bundled engines/tiny]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Source element: auto (segtestsrc if available), segtestsrc or videotestsrc
    #[arg(long, default_value = "auto")]
    pub source: String,
    /// Track a user-given target from the first frame: a box x,y,w,h in frame pixels
    /// (repeatable)
    #[arg(long = "target", value_name = "X,Y,W,H", value_parser = crate::config::parse_box)]
    pub targets: Vec<[f32; 4]>,
    /// No per-frame lines
    #[arg(short, long)]
    pub quiet: bool,
}

fn source(kind: &str, frames: u32) -> Result<gst::Element> {
    let kind = match kind {
        "auto" if pipeline::has("segtestsrc") => "segtestsrc",
        "auto" => "videotestsrc",
        other => other,
    };
    let src = pipeline::make(kind)?;
    src.set_property("num-buffers", frames as i32);
    if kind == "videotestsrc" {
        src.set_property_from_str("pattern", "ball");
    }
    tracing::info!(source = kind, frames, "demo source");
    Ok(src)
}

/// Removes PNGs a previous run left (only our `NNNNN.png` names) so the folder shows this run.
fn clear_old_frames(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ours = name.len() == 9 && name.ends_with(".png") && name[..5].bytes().all(|b| b.is_ascii_digit());
        if ours {
            std::fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// `frame 12: 2 objects  1:disc 0.81  4:star 0.66`
pub fn summary(b: &gstsegstream::meta::Brief) -> String {
    let mut line = format!("frame {:>4}: {} objects", b.frame, b.objects.len());
    for (id, label, score) in &b.objects {
        line.push_str(&format!("  {id}:{label} {score:.2}"));
    }
    line
}

pub fn run(args: DemoArgs) -> Result<()> {
    pipeline::init()?;
    let output = Output::parse(args.out.to_str().context("--out is not UTF-8")?).map_err(|e| anyhow::anyhow!("--out {e}"))?;
    if let Output::Frames(dir) = &output {
        clear_old_frames(dir)?;
    }
    let pipe = gst::Pipeline::new();
    let src = source(&args.source, args.frames)?;
    let caps =
        gst_video::VideoCapsBuilder::new().width(args.width as i32).height(args.height as i32).framerate(gst::Fraction::new(30, 1)).build();
    let filter = gst::ElementFactory::make("capsfilter").property("caps", &caps).build()?;
    let convert = pipeline::make("videoconvert")?;
    let seg = crate::run::segment(args.model.as_deref(), None, None, None, None)?;
    let overlay = pipeline::make("segoverlay")?;
    pipe.add_many([&src, &filter, &convert, &seg, &overlay])?;
    gst::Element::link_many([&src, &filter, &convert, &seg, &overlay])?;
    crate::run::attach_outputs(&pipe, &overlay, &output, None)?;
    pipeline::add_targets_at_start(&seg, args.targets.clone());
    let quiet = args.quiet;
    let stats = pipeline::observe(&overlay.static_pad("src").unwrap(), move |b| {
        if !quiet {
            println!("{}", summary(b));
        }
    });
    let started = std::time::Instant::now();
    pipeline::play(&pipe, &stats, false, None)?;
    let st = stats.lock().unwrap();
    let what = match &output {
        Output::Frames(d) => format!("PNG frames in {}", d.display()),
        Output::Video(f) => format!("video {}", f.display()),
        _ => "nothing".into(),
    };
    println!(
        "demo: {} frames in {:.1} s ({:.1} fps), {} objects in total; wrote {what}",
        st.frames,
        started.elapsed().as_secs_f64(),
        st.fps(),
        st.objects_total
    );
    Ok(())
}
