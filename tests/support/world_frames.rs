//! Shared by the core and plugin tests (included with `#[path]`): the first frames of a world, each
//! with its ground truth.
use segstream::world::{FrameTruth, World};

/// Frames 0..n of `world` as (packed RGB at the world's size, truth).
pub fn frames(world: &mut World, n: u64) -> Vec<(Vec<u8>, FrameTruth)> {
    let len = world.config().width * world.config().height * 3;
    (0..n)
        .map(|f| {
            let mut rgb = vec![0u8; len];
            let truth = world.render(f, &mut rgb).unwrap();
            (rgb, truth)
        })
        .collect()
}
