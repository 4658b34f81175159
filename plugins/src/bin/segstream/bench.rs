//! `segstream bench`: per-stage latency of the streaming path (core: `segstream::eval::bench`).
use anyhow::{bail, Context, Result};
use segstream::eval::bench;
use segstream::segmenter::Segmenter;
use segstream::world::{World, WorldConfig};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Model bundle directory (default: SEGSTREAM_MODEL, then the bundled model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Execution provider: cpu, cuda, tensorrt or tensorrt-native
    #[arg(long, default_value = "cpu")]
    pub provider: String,
    /// Measured frames.
    #[arg(long, default_value_t = 300)]
    pub frames: usize,
    /// Unmeasured frames first (engine warm-up).
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Detect every N frames (the tracker's detect interval).
    #[arg(long, default_value_t = 1)]
    pub detect_interval: u32,
    /// Tracker setting KEY=VALUE (a `TrackerConfig` field, TOML value), repeatable.
    #[arg(long = "tracker", value_name = "KEY=VALUE")]
    pub tracker: Vec<String>,
    /// World video: seed (held-out by default), difficulty (normal | hard).
    #[arg(long, default_value_t = 1_000_000)]
    pub seed: u64,
    #[arg(long, default_value = "normal")]
    pub difficulty: String,
    /// Frame size WxH (default: the model's input size).
    #[arg(long)]
    pub size: Option<String>,
    /// ONNX Runtime intra-op threads per engine (0: one per core; default 1, see `segment threads`).
    #[arg(long, default_value_t = segstream::runtime::Threads::default().intra)]
    pub threads: usize,
    /// ONNX Runtime intra-op threads of the image encoder (default: --threads).
    #[arg(long)]
    pub encoder_threads: Option<usize>,
    /// Let idle inference threads spin.
    #[arg(long)]
    pub spin: bool,
    /// Run the full decoder on every frame, also without detection (the bundle's
    /// prompt-only decoder is used on those frames by default, when it has one).
    #[arg(long)]
    pub no_prompt_decoder: bool,
    /// Run the encoder one frame ahead on a thread of its own (what `segment` does with a
    /// non-live upstream; see `segment encode-ahead`).
    #[arg(long)]
    pub encode_ahead: bool,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<(usize, usize)> {
    let (w, h) = s.split_once('x').with_context(|| format!("--size `{s}`: expected WxH, e.g. 640x360"))?;
    let (w, h): (usize, usize) = (w.parse().context("--size width")?, h.parse().context("--size height")?);
    if w < 16 || h < 16 {
        bail!("--size {w}x{h}: at least 16x16");
    }
    Ok((w, h))
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.detect_interval == 0 {
        bail!("--detect-interval must be >= 1");
    }
    let mut settings = crate::eval::segmenter_settings(&args.model, &args.provider, &args.tracker)?;
    settings.tracker.detect_interval = args.detect_interval;
    settings.threads = segstream::runtime::Threads { intra: args.threads, spin: args.spin, encoder: args.encoder_threads };
    settings.prompt_decoder = !args.no_prompt_decoder;
    let mut seg = Segmenter::open(&settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (w, h) = match &args.size {
        Some(s) => parse_size(s)?,
        None => seg.input_size(),
    };
    let mut world = World::new(WorldConfig::new(args.seed, args.difficulty.parse()?, w, h))?;
    let report = bench::bench(&mut seg, &mut world, args.frames, args.warmup, args.encode_ahead).map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "segstream bench: model `{}`, provider {} ({} threads{}), {w}x{h} world video (seed {}, {}), detect interval {}{}\n",
        seg.bundle_name(),
        args.provider,
        args.threads,
        if args.spin { ", spinning" } else { "" },
        args.seed,
        args.difficulty,
        args.detect_interval,
        if seg.prompt_only_decoder() { ", prompt-only decoder on frames without detection" } else { "" }
    );
    print!("{}", bench::table(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
