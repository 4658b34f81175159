//! World rendering speed (frames + ground truth) and content statistics per difficulty.
//! `cargo bench -p segstream --bench world_render -- [width height frames]`
//! Reports wall time and process CPU time per frame (CPU time is what to compare on a
//! busy machine; wall time includes waiting for a core).
use segstream::world::{Difficulty, FrameTruth, World, WorldConfig, EVAL_SEEDS};
use std::time::Instant;

/// User + system CPU seconds of this process (Linux /proc; None elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (w, h, frames) = (*args.first().unwrap_or(&128), *args.get(1).unwrap_or(&128), *args.get(2).unwrap_or(&300));
    for difficulty in [Difficulty::Normal, Difficulty::Hard] {
        let (mut wall, mut cpu, mut n) = (0.0, 0.0, 0u64);
        let (mut objs, mut vis, mut occluded) = (0usize, 0.0f64, 0usize);
        for seed in EVAL_SEEDS.start..EVAL_SEEDS.start + 10 {
            let mut world = World::new(WorldConfig::new(seed, difficulty, w, h)).expect("valid config");
            let mut rgb = vec![0u8; w * h * 3];
            let mut truth = FrameTruth::default();
            let (t, c) = (Instant::now(), cpu_seconds().unwrap_or(0.0));
            for f in 0..frames as u64 {
                world.render_into(f, &mut rgb, &mut truth).expect("buffer sized");
                for (_, o) in truth.visible() {
                    objs += 1;
                    vis += o.visible_fraction as f64;
                    occluded += (o.visible_fraction < 0.9) as usize;
                }
            }
            wall += t.elapsed().as_secs_f64();
            cpu += cpu_seconds().unwrap_or(0.0) - c;
            n += frames as u64;
        }
        println!(
            "world_render {difficulty:?} {w}x{h}: {:.3} ms/frame wall, {:.3} ms/frame CPU over {n} frames; \
             {:.2} visible objects/frame, mean visible fraction {:.3}, {:.1}% below 0.9",
            wall / n as f64 * 1e3,
            cpu / n as f64 * 1e3,
            objs as f64 / n as f64,
            vis / objs as f64,
            100.0 * occluded as f64 / objs as f64
        );
    }
}
