//! `segstream eval`: thin glue around `segstream::eval` -- parses arguments, opens the
//! segmenter and decodes the dataset's PNG frames; running, writing and scoring are in
//! the core crate.
use anyhow::{bail, Context, Result};
use segstream::eval::{self, variants};
use segstream::segmenter::{Segmenter, SegmenterSettings};
use segstream::tracker::{TrackerConfig, TrackerMode};
use segstream::world::ytvis::{Dataset, Video};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Dataset directory written by `segstream synth` (annotations.json + PNG frames);
    /// use held-out seeds (1000000..1100000).
    #[arg(long, required_unless_present = "soak")]
    pub data: Option<PathBuf>,
    /// Output directory for results (YouTube-VIS JSON, MOTS txt, VOS JSON), summary.json, table.md.
    #[arg(long, default_value = "eval-out")]
    pub out: PathBuf,
    /// Model bundle directory (default: SEGSTREAM_MODEL, then the bundled model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Execution provider: cpu, cuda, tensorrt or tensorrt-native
    #[arg(long, default_value = "cpu")]
    pub provider: String,
    /// Variants, comma-separated: prompt-query/iN (detect interval N; i0 = detection off,
    /// scored on VOS only) or similarity.
    #[arg(long, default_value = "prompt-query/i1,prompt-query/i3,prompt-query/i5,similarity,prompt-query/i0")]
    pub variants: String,
    /// Tracker setting KEY=VALUE (a `TrackerConfig` field, TOML value), repeatable; applies
    /// to every variant (which then sets its own mode and detect interval).
    #[arg(long = "tracker", value_name = "KEY=VALUE")]
    pub tracker: Vec<String>,
    /// Category protocol only: skip the VOS passes of category variants (about a third of
    /// the time each), for quick comparisons of tracker settings.
    #[arg(long)]
    pub skip_vos: bool,
    /// Evaluate only the first N videos.
    #[arg(long)]
    pub max_videos: Option<usize>,
    /// Instead of scoring: stream N frames of one held-out world video through the default
    /// tracker and print resident memory at frame 1000 and N (bounded-state check).
    #[arg(long)]
    pub soak: Option<usize>,
    /// World for --soak: seed (held-out), difficulty, frame size (default: the model's
    /// input width, square).
    #[arg(long, default_value_t = 1_000_000)]
    pub soak_seed: u64,
    #[arg(long, default_value = "normal")]
    pub soak_difficulty: String,
    #[arg(long)]
    pub soak_size: Option<usize>,
}

/// Segmenter settings from the CLI's model, provider and `--tracker KEY=VALUE` overrides
/// (shared by `eval`, `eval --soak` and `bench`).
pub fn segmenter_settings(model: &Option<PathBuf>, provider: &str, tracker: &[String]) -> Result<SegmenterSettings> {
    let tracker = TrackerConfig::from_overrides(tracker).map_err(|e| anyhow::anyhow!(e))?;
    Ok(SegmenterSettings { model: model.clone(), provider: provider.to_string(), tracker, ..Default::default() })
}

fn soak(args: &EvalArgs, frames: usize) -> Result<()> {
    use segstream::world::{World, WorldConfig};
    let settings = segmenter_settings(&args.model, &args.provider, &args.tracker)?;
    let mut seg = Segmenter::open(&settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    let difficulty = args.soak_difficulty.parse()?;
    let size = args.soak_size.unwrap_or(seg.input_size().0);
    let mut world = World::new(WorldConfig::new(args.soak_seed, difficulty, size, size))?;
    let marks = [1000.min(frames), frames];
    let r = eval::soak::soak(&mut seg, &mut world, frames, &marks).map_err(|e| anyhow::anyhow!(e))?;
    println!("segstream eval --soak: {} frames, {:.2} ms/frame (model `{}`)", r.frames, r.mean_frame_ms, seg.bundle_name());
    for s in &r.samples {
        println!(
            "frame {:>6}: RSS {:>8} kB, peak RSS {:>8} kB, targets {:>2}, memory pools {} floats",
            s.frame, s.rss_kb, s.peak_rss_kb, s.targets, s.pool_floats
        );
    }
    if let [a, b] = r.samples.as_slice() {
        println!(
            "peak RSS change frame {} -> {}: {:+.2} %",
            a.frame,
            b.frame,
            100.0 * (b.peak_rss_kb as f64 / a.peak_rss_kb.max(1) as f64 - 1.0)
        );
    }
    Ok(())
}

fn parse_variant(s: &str) -> Result<variants::Variant> {
    let s = s.trim();
    if s == "similarity" {
        return Ok(variants::Variant { name: s.into(), mode: TrackerMode::Similarity, detect_interval: 1 });
    }
    let Some(n) = s.strip_prefix("prompt-query/i") else { bail!("unknown variant `{s}` (prompt-query/iN or similarity)") };
    let n: u32 = n.parse().with_context(|| format!("variant `{s}`: bad interval"))?;
    Ok(variants::Variant { name: s.into(), mode: TrackerMode::PromptQuery, detect_interval: n })
}

/// Reads one PNG frame as packed RGB8.
fn read_rgb(path: &Path) -> Result<Vec<u8>, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| err(&e))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(|e| err(&e))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| err(&e))?;
    buf.truncate(info.buffer_size());
    match info.color_type {
        png::ColorType::Rgb => Ok(buf),
        png::ColorType::Rgba => Ok(buf.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect()),
        png::ColorType::Grayscale => Ok(buf.iter().flat_map(|&v| [v, v, v]).collect()),
        other => Err(format!("{}: unsupported PNG colour type {other:?}", path.display())),
    }
}

pub fn run(args: EvalArgs) -> Result<()> {
    if let Some(n) = args.soak {
        if n == 0 {
            bail!("--soak needs at least 1 frame");
        }
        return soak(&args, n);
    }
    let data_dir = args.data.clone().context("--data is required")?;
    let variants: Vec<_> = args.variants.split(',').map(parse_variant).collect::<Result<_>>()?;
    let ann = data_dir.join("annotations.json");
    let mut gt: Dataset = eval::formats::read_json(&ann)?;
    if let Some(n) = args.max_videos {
        gt.videos.sort_by_key(|v| v.id);
        gt.videos.truncate(n);
        let keep: Vec<u64> = gt.videos.iter().map(|v| v.id).collect();
        gt.annotations.retain(|a| keep.contains(&a.video_id));
    }
    if gt.videos.iter().any(|v| !segstream::world::is_eval_seed(v.seed)) {
        eprintln!("eval: warning: some videos are not from the held-out seeds {:?}", segstream::world::EVAL_SEEDS);
    }
    let settings = segmenter_settings(&args.model, &args.provider, &args.tracker)?;
    let mut seg = Segmenter::open(&settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let base = settings.tracker.clone();
    let data = data_dir;
    let mut frames = |v: &Video, i: usize| {
        let name = v.file_names.get(i).ok_or_else(|| format!("video {}: no file name for frame {i}", v.id))?;
        read_rgb(&data.join(name))
    };
    let started = std::time::Instant::now();
    let rows = eval::evaluate(&mut seg, &gt, &variants, &base, &args.out, &mut frames, !args.skip_vos).map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "segstream eval: {} videos, model `{}`, {:.0} s; results in {}\n",
        gt.videos.len(),
        seg.bundle_name(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    print!("{}", variants::table(&rows));
    Ok(())
}
