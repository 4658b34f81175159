//! Measures world rendering speed and prints content statistics.
//! `cargo run --release --example world_bench -- [width height frames]`
use segstream::world::{Difficulty, World, WorldConfig};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (w, h, frames) = (*args.first().unwrap_or(&128), *args.get(1).unwrap_or(&128), *args.get(2).unwrap_or(&300));
    for difficulty in [Difficulty::Normal, Difficulty::Hard] {
        let (mut total, mut n, mut objs, mut vis, mut occluded) = (0.0, 0u64, 0usize, 0.0f64, 0usize);
        for seed in 0..10u64 {
            let mut world = World::new(WorldConfig::new(1_000_000 + seed, difficulty, w, h)).expect("valid config");
            let mut rgb = vec![0u8; w * h * 3];
            let mut truth = Default::default();
            for f in 0..frames as u64 {
                let t = Instant::now();
                world.render_into(f, &mut rgb, &mut truth).expect("buffer sized");
                total += t.elapsed().as_secs_f64();
                n += 1;
                for (_, o) in truth.visible() {
                    objs += 1;
                    vis += o.visible_fraction as f64;
                    occluded += (o.visible_fraction < 0.9) as usize;
                }
            }
        }
        println!(
            "{difficulty:?} {w}x{h}: {:.3} ms/frame over {n} frames; {:.2} visible objects/frame, mean visible fraction {:.3}, {:.1}% below 0.9",
            total / n as f64 * 1e3,
            objs as f64 / n as f64,
            vis / objs as f64,
            100.0 * occluded as f64 / objs as f64
        );
    }
}
