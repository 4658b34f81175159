//! Moving objects: spawning, motion (translation, acceleration, bouncing, rotation, scale
//! change) and the lifecycle of objects that leave the frame and are replaced by new ones.
use super::appearance::Appearance;
use super::rng::Rng;
use super::shapes::Class;

/// Motion parameters that depend on the frame size and the difficulty.
#[derive(Debug, Clone)]
pub struct MotionParams {
    pub width: f32,
    pub height: f32,
    /// Object radius range in pixels.
    pub radius: (f32, f32),
    /// Speed range in pixels per frame.
    pub speed: (f32, f32),
    pub max_accel: f32,
    /// Probability that a new object bounces off the edges instead of passing through.
    pub bounce_prob: f32,
    /// Probability that a new object heads for the common crossing point (heavy occlusion).
    pub crossing_prob: f32,
    /// Probability that a new object copies the class and look of a live one.
    pub twin_prob: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    /// Reflects off the frame edges (may poke out by part of its radius).
    Bounce,
    /// Flies straight through: enters, crosses, leaves, and is then replaced.
    Pass,
}

#[derive(Debug, Clone)]
pub struct Object {
    pub track_id: u64,
    pub class: Class,
    pub look: Appearance,
    /// Depth: larger is nearer the camera.
    pub z: f32,
    pub pos: [f32; 2],
    pub vel: [f32; 2],
    pub acc: [f32; 2],
    pub angle: f32,
    pub spin: f32,
    pub motion: Motion,
    base_radius: f32,
    scale_amp: f32,
    scale_freq: f32,
    scale_phase: f32,
    age: u32,
    entered: bool,
    rng: Rng,
}

/// Where a new object starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Inside,
    /// Just outside a random edge, heading in.
    Entering,
}

impl Object {
    /// Current radius (the shape fits in this circle).
    pub fn radius(&self) -> f32 {
        self.base_radius * (1.0 + self.scale_amp * (self.scale_freq * self.age as f32 + self.scale_phase).sin())
    }

    pub fn spawn(rng: &mut Rng, p: &MotionParams, track_id: u64, start: Start, live: &[&Object]) -> Object {
        let mut own = rng.fork();
        let twin = (!live.is_empty() && own.chance(p.twin_prob)).then(|| live[own.below(live.len() as u32) as usize]);
        let class = twin.map_or_else(|| Class::ALL[own.below(8) as usize], |t| t.class);
        let look = twin.map_or_else(|| Appearance::random(&mut own), |t| t.look);
        let base_radius = own.range(p.radius.0, p.radius.1);
        let motion = if start == Start::Entering || !own.chance(p.bounce_prob) { Motion::Pass } else { Motion::Bounce };
        let pos = match start {
            Start::Inside => [own.range(0.1, 0.9) * p.width, own.range(0.1, 0.9) * p.height],
            Start::Entering => edge_point(&mut own, p, base_radius * 1.3),
        };
        let target = if own.chance(p.crossing_prob) {
            let s = p.width.min(p.height) * 0.12;
            [p.width / 2.0 + own.range(-s, s), p.height / 2.0 + own.range(-s, s)]
        } else if start == Start::Entering {
            [own.range(0.2, 0.8) * p.width, own.range(0.2, 0.8) * p.height]
        } else {
            let a = own.angle();
            [pos[0] + a.cos(), pos[1] + a.sin()]
        };
        let speed = own.range(p.speed.0, p.speed.1);
        let (dx, dy) = (target[0] - pos[0], target[1] - pos[1]);
        let norm = (dx * dx + dy * dy).sqrt().max(1e-3);
        Object {
            track_id,
            class,
            look,
            z: own.unit(),
            pos,
            vel: [dx / norm * speed, dy / norm * speed],
            acc: [0.0, 0.0],
            angle: own.angle(),
            spin: own.range(-0.06, 0.06),
            motion,
            base_radius,
            scale_amp: own.range(0.0, 0.25),
            scale_freq: own.range(0.01, 0.06),
            scale_phase: own.angle(),
            age: 0,
            entered: start == Start::Inside,
            rng: own,
        }
    }

    /// Advances one frame; returns false when the object has left for good.
    pub fn step(&mut self, p: &MotionParams) -> bool {
        self.age += 1;
        if self.rng.chance(0.05) {
            let (a, m) = (self.rng.angle(), self.rng.range(0.0, p.max_accel));
            self.acc = [a.cos() * m, a.sin() * m];
        }
        self.vel[0] += self.acc[0];
        self.vel[1] += self.acc[1];
        self.clamp_speed(p);
        self.pos[0] += self.vel[0];
        self.pos[1] += self.vel[1];
        self.angle += self.spin;
        match self.motion {
            Motion::Bounce => {
                self.bounce(p);
                true
            }
            Motion::Pass => self.still_here(p),
        }
    }

    fn clamp_speed(&mut self, p: &MotionParams) {
        let s = (self.vel[0] * self.vel[0] + self.vel[1] * self.vel[1]).sqrt().max(1e-6);
        let k = s.clamp(p.speed.0, p.speed.1) / s;
        self.vel[0] *= k;
        self.vel[1] *= k;
    }

    /// Reflects velocity and acceleration at the edges; the centre stays within
    /// 0.6 radius of the frame so up to 40% of the radius may stick out.
    #[allow(clippy::needless_range_loop)] // k indexes four parallel arrays
    fn bounce(&mut self, p: &MotionParams) {
        let m = self.radius() * 0.6;
        let dims = [p.width, p.height];
        for k in 0..2 {
            if self.pos[k] < m && self.vel[k] < 0.0 {
                self.vel[k] = -self.vel[k];
                self.acc[k] = self.acc[k].abs();
            } else if self.pos[k] > dims[k] - m && self.vel[k] > 0.0 {
                self.vel[k] = -self.vel[k];
                self.acc[k] = -self.acc[k].abs();
            }
        }
    }

    /// A passing object is gone once it has been in the frame and is now fully outside
    /// (or never made it in within a long time, e.g. turned away by acceleration).
    fn still_here(&mut self, p: &MotionParams) -> bool {
        let r = self.radius();
        let [x, y] = self.pos;
        let overlaps = x + r > 0.0 && x - r < p.width && y + r > 0.0 && y - r < p.height;
        if overlaps {
            self.entered = true;
        }
        overlaps || (!self.entered && self.age < 400)
    }
}

/// A point just outside a random edge of the frame, `margin` away from it.
fn edge_point(rng: &mut Rng, p: &MotionParams, margin: f32) -> [f32; 2] {
    let t = rng.unit();
    match rng.below(4) {
        0 => [-margin, t * p.height],
        1 => [p.width + margin, t * p.height],
        2 => [t * p.width, -margin],
        _ => [t * p.width, p.height + margin],
    }
}
