//! `segstream synth`: writes a synthetic video dataset (PNG frames + YouTube-VIS JSON with
//! COCO RLE masks) from the procedural world. Video `i` uses seed `seed + i`.
use anyhow::{bail, Context, Result};
use segstream::world::ytvis::{self, Annotation, Dataset, Video, VideoRecorder};
use segstream::world::{self as w, Difficulty, World, WorldConfig};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Seed of the first video; video i uses seed + i. Training seeds: 0..100000,
    /// held-out evaluation seeds: 1000000..1100000.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of videos.
    #[arg(long, default_value_t = 10)]
    pub videos: usize,
    /// Frames per video.
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
    /// Output directory (created; existing files are overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Frame size; the default is the bundled model's input size (the world scales with
    /// the frame, so a dataset at the input size is seen without resampling).
    #[arg(long, default_value_t = 256)]
    pub width: usize,
    #[arg(long, default_value_t = 256)]
    pub height: usize,
    /// normal | hard (heavier occlusion, look-alike objects).
    #[arg(long, default_value = "normal")]
    pub difficulty: String,
    /// Fix the number of objects alive at once (1-12); default: random per video.
    #[arg(long)]
    pub objects: Option<u32>,
    /// Worker threads (default: available cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn run(args: SynthArgs) -> Result<()> {
    let difficulty: Difficulty = args.difficulty.parse()?;
    if args.videos == 0 || args.frames == 0 {
        bail!("--videos and --frames must be at least 1");
    }
    let last = args.seed.checked_add(args.videos as u64 - 1).context("seed + videos overflows u64")?;
    if w::is_eval_seed(args.seed) != w::is_eval_seed(last) {
        bail!("seeds {}..={last} straddle the evaluation split {:?}", args.seed, w::EVAL_SEEDS);
    }
    let config = |i: usize| {
        let mut c = WorldConfig::new(args.seed + i as u64, difficulty, args.width, args.height);
        if let Some(n) = args.objects {
            c.num_objects = n..=n;
        }
        c
    };
    World::new(config(0)).context("invalid world settings")?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let started = std::time::Instant::now();
    let mut results: Vec<(usize, Video, Vec<Annotation>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|j| {
                let (config, out, frames) = (&config, &args.out, args.frames);
                s.spawn(move || -> Result<Vec<_>> {
                    (j..args.videos).step_by(jobs).map(|i| write_video(out, i, config(i), frames, difficulty)).collect()
                })
            })
            .collect();
        workers.into_iter().map(|h| h.join().expect("synth worker panicked")).collect::<Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    results.sort_by_key(|r| r.0);
    let dataset = assemble(results);
    let path = args.out.join("annotations.json");
    let mut file = BufWriter::new(std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?);
    serde_json::to_writer(&mut file, &dataset)?;
    file.flush()?;
    eprintln!(
        "synth: {} videos x {} frames, {} tracks -> {} in {:.1} s",
        args.videos,
        args.frames,
        dataset.annotations.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Numbers annotations across videos in video order.
fn assemble(results: Vec<(usize, Video, Vec<Annotation>)>) -> Dataset {
    let mut videos = Vec::new();
    let mut annotations = Vec::new();
    for (_, video, anns) in results {
        videos.push(video);
        for a in anns {
            let id = annotations.len() as u64 + 1;
            annotations.push(Annotation { id, ..a });
        }
    }
    Dataset { videos, categories: ytvis::categories(), annotations }
}

fn write_video(
    out: &Path,
    index: usize,
    config: WorldConfig,
    frames: usize,
    difficulty: Difficulty,
) -> Result<(usize, Video, Vec<Annotation>)> {
    let (width, height, seed) = (config.width, config.height, config.seed);
    let mut world = World::new(config)?;
    let dir = out.join(format!("videos/{index:05}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rgb = vec![0u8; width * height * 3];
    let mut truth = Default::default();
    let mut recorder = VideoRecorder::new(index as u64 + 1, frames);
    let mut file_names = Vec::with_capacity(frames);
    for f in 0..frames {
        world.render_into(f as u64, &mut rgb, &mut truth)?;
        recorder.add(f, &truth);
        let name = ytvis::frame_path(index, f);
        write_png(&out.join(&name), &rgb, width, height)?;
        file_names.push(name);
    }
    let video = Video {
        id: index as u64 + 1,
        width,
        height,
        length: frames,
        file_names,
        seed,
        difficulty: format!("{difficulty:?}").to_lowercase(),
    };
    Ok((index, video, recorder.finish(1)))
}

fn write_png(path: &Path, rgb: &[u8], width: usize, height: usize) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(())
}
