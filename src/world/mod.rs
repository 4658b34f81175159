//! A deterministic procedural video world with exact ground truth.
//!
//! `World::new(config)` builds a world from a seed; `world.render(frame, &mut rgb)` draws
//! frame `frame` (RGB8, row-major, no padding) and returns its [`FrameTruth`]: per object
//! track id, class, visible mask (after occlusion), box and visible fraction.
//!
//! Content: eight shape classes with colour/texture variants independent of the class,
//! 1-12 objects moving with translation, acceleration, bouncing, rotation and scale change,
//! in depth order; objects enter, cross and leave (a departed object is replaced later by
//! a new one with a new track id). Low-contrast background clutter, blur, illumination
//! drift and noise. `Difficulty::Hard`: more and larger objects, paths that cross at the
//! centre, and look-alike twins (same class, colour and texture).
//!
//! Same seed and config -> bit-identical frames and truth, on any platform (own PRNG).
//! Frames can be rendered in any order; going backwards re-simulates from frame 0.
mod appearance;
mod backdrop;
mod objects;
mod raster;
/// The world's portable PRNG, public so tests draw their own data from the same source.
pub mod rng;
mod shapes;
mod truth;
pub mod ytvis;

pub use appearance::{Texture, PALETTE};
pub use shapes::{Class, CLASS_NAMES};
pub use truth::{FrameTruth, ObjectTruth};

use backdrop::Backdrop;
use objects::{MotionParams, Object, Start};
use rng::Rng;
use std::ops::{Range, RangeInclusive};

/// Seeds for training data. Training must stay inside this range.
pub const TRAIN_SEEDS: Range<u64> = 0..100_000;
/// Held-out seeds for evaluation; never used for training.
pub const EVAL_SEEDS: Range<u64> = 1_000_000..1_100_000;
/// The most objects alive at once.
pub const MAX_OBJECTS: u32 = 12;

/// True for seeds reserved for evaluation.
pub fn is_eval_seed(seed: u64) -> bool {
    EVAL_SEEDS.contains(&seed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Difficulty {
    #[default]
    Normal,
    Hard,
}

impl Difficulty {
    /// Object count range used when the caller does not fix one.
    pub fn default_objects(self) -> RangeInclusive<u32> {
        match self {
            Difficulty::Normal => 1..=8,
            Difficulty::Hard => 6..=12,
        }
    }
}

impl std::str::FromStr for Difficulty {
    type Err = WorldError;
    fn from_str(s: &str) -> Result<Self, WorldError> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Ok(Difficulty::Normal),
            "hard" => Ok(Difficulty::Hard),
            _ => Err(WorldError::Difficulty(s.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldConfig {
    pub seed: u64,
    /// Objects alive at once, drawn from this range by the seed (`n..=n` fixes it).
    pub num_objects: RangeInclusive<u32>,
    pub difficulty: Difficulty,
    pub width: usize,
    pub height: usize,
}

impl WorldConfig {
    /// A config with the difficulty's default object count range.
    pub fn new(seed: u64, difficulty: Difficulty, width: usize, height: usize) -> Self {
        WorldConfig { seed, num_objects: difficulty.default_objects(), difficulty, width, height }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorldError {
    #[error("frame size {0}x{1} is invalid: both sides must be in 8..=8192")]
    Size(usize, usize),
    #[error("object count range {0}..={1} is invalid: it must lie within 1..=12 and not be empty")]
    NumObjects(u32, u32),
    #[error("RGB buffer has {got} bytes, a {width}x{height} RGB frame needs {want}")]
    Buffer { got: usize, want: usize, width: usize, height: usize },
    #[error("unknown difficulty {0:?}: expected \"normal\" or \"hard\"")]
    Difficulty(String),
}

#[derive(Clone)]
enum Slot {
    Live(Object),
    /// Frames until a replacement enters.
    Waiting(u32),
}

/// Simulation state at one frame; cloned to rewind.
#[derive(Clone)]
struct Sim {
    frame: u64,
    slots: Vec<Slot>,
    rng: Rng,
    next_track: u64,
}

pub struct World {
    config: WorldConfig,
    params: MotionParams,
    backdrop: Backdrop,
    start: Sim,
    sim: Sim,
    canvas: Vec<f32>,
    tmp: Vec<f32>,
}

impl World {
    pub fn new(config: WorldConfig) -> Result<World, WorldError> {
        let (w, h) = (config.width, config.height);
        if !(8..=8192).contains(&w) || !(8..=8192).contains(&h) {
            return Err(WorldError::Size(w, h));
        }
        let (lo, hi) = (*config.num_objects.start(), *config.num_objects.end());
        if lo < 1 || hi > MAX_OBJECTS || lo > hi {
            return Err(WorldError::NumObjects(lo, hi));
        }
        let mut rng = Rng::new(config.seed);
        let hard = config.difficulty == Difficulty::Hard;
        let params = motion_params(w, h, hard);
        let backdrop = Backdrop::new(&mut rng.fork(), w, h, hard);
        let n = lo + rng.below(hi - lo + 1);
        let mut start = Sim { frame: 0, slots: Vec::new(), rng: rng.fork(), next_track: 1 };
        for _ in 0..n {
            let entering = start.rng.chance(0.2);
            let obj = start.spawn(&params, if entering { Start::Entering } else { Start::Inside });
            start.slots.push(Slot::Live(obj));
        }
        let sim = start.clone();
        Ok(World { config, params, backdrop, start, sim, canvas: vec![0.0; w * h * 3], tmp: vec![0.0; w * h * 3] })
    }

    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// Renders frame `frame` into `rgb` (width*height*3 bytes) and returns its ground truth.
    pub fn render(&mut self, frame: u64, rgb: &mut [u8]) -> Result<FrameTruth, WorldError> {
        let mut truth = FrameTruth::default();
        self.render_into(frame, rgb, &mut truth)?;
        Ok(truth)
    }

    /// Like [`World::render`] but reuses `truth`'s allocations (streaming path).
    pub fn render_into(&mut self, frame: u64, rgb: &mut [u8], truth: &mut FrameTruth) -> Result<(), WorldError> {
        let (w, h) = (self.config.width, self.config.height);
        if rgb.len() != w * h * 3 {
            return Err(WorldError::Buffer { got: rgb.len(), want: w * h * 3, width: w, height: h });
        }
        self.seek(frame);
        self.canvas.copy_from_slice(self.backdrop.base());
        truth.frame = frame;
        (truth.width, truth.height) = (w, h);
        truth.labels.clear();
        truth.labels.resize(w * h, 0);
        let mut live: Vec<&Object> = self.sim.live().collect();
        live.sort_by_key(|o| o.track_id);
        truth.objects.clear();
        truth.objects.extend(live.iter().map(|o| describe(o)));
        let mut order: Vec<usize> = (0..live.len()).collect();
        order.sort_by(|&a, &b| live[a].z.total_cmp(&live[b].z).then(live[a].track_id.cmp(&live[b].track_id)));
        for (depth, &k) in order.iter().enumerate() {
            let full = raster::draw(live[k], k as u16 + 1, w, h, &mut self.canvas, &mut truth.labels);
            truth.objects[k].full_area = full;
            truth.objects[k].depth = depth;
        }
        truth.measure();
        self.backdrop.finish(frame, &mut self.canvas, &mut self.tmp, rgb);
        Ok(())
    }

    /// Brings the simulation to `frame`, rewinding to frame 0 if it lies in the past.
    fn seek(&mut self, frame: u64) {
        if frame < self.sim.frame {
            self.sim = self.start.clone();
        }
        while self.sim.frame < frame {
            self.sim.step(&self.params);
        }
    }
}

fn describe(o: &Object) -> ObjectTruth {
    let c = o.look.colour();
    ObjectTruth {
        track_id: o.track_id,
        class_id: o.class.id(),
        label: o.class.name(),
        colour: [c[0] as u8, c[1] as u8, c[2] as u8],
        depth: 0,
        visible_area: 0,
        full_area: 0,
        visible_fraction: 0.0,
        bbox: None,
    }
}

fn motion_params(w: usize, h: usize, hard: bool) -> MotionParams {
    let s = w.min(h) as f32;
    let k = s / 128.0;
    MotionParams {
        width: w as f32,
        height: h as f32,
        radius: if hard { (0.08 * s, 0.17 * s) } else { (0.06 * s, 0.14 * s) },
        speed: (0.3 * k, 2.0 * k),
        max_accel: 0.05 * k,
        bounce_prob: if hard { 0.7 } else { 0.5 },
        crossing_prob: if hard { 0.6 } else { 0.1 },
        twin_prob: if hard { 0.35 } else { 0.0 },
    }
}

impl Sim {
    fn live(&self) -> impl Iterator<Item = &Object> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Live(o) => Some(o),
            Slot::Waiting(_) => None,
        })
    }

    fn spawn(&mut self, p: &MotionParams, start: Start) -> Object {
        let live: Vec<&Object> = self.slots.iter().filter_map(|s| if let Slot::Live(o) = s { Some(o) } else { None }).collect();
        let obj = Object::spawn(&mut self.rng, p, self.next_track, start, &live);
        self.next_track += 1;
        obj
    }

    fn step(&mut self, p: &MotionParams) {
        self.frame += 1;
        for i in 0..self.slots.len() {
            let next = match &mut self.slots[i] {
                Slot::Live(o) => {
                    if o.step(p) {
                        continue;
                    }
                    Slot::Waiting(5 + self.rng.below(40))
                }
                Slot::Waiting(0) => Slot::Live(self.spawn(p, Start::Entering)),
                Slot::Waiting(n) => Slot::Waiting(*n - 1),
            };
            self.slots[i] = next;
        }
    }
}
