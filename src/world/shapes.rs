//! The eight shape classes and their exact inside tests in object-local coordinates.
//!
//! Local coordinates: the object's centre is the origin, its radius is 1, its rotation is
//! undone. Every shape fits in the unit disc so the circle of the object's radius bounds it.

/// Class names in class-id order (the dataset's category ids are these indices + 1).
pub const CLASS_NAMES: [&str; 8] = ["disc", "square", "triangle", "star", "ring", "cross", "hexagon", "crescent"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Disc,
    Square,
    Triangle,
    Star,
    Ring,
    Cross,
    Hexagon,
    Crescent,
}

impl Class {
    pub const ALL: [Class; 8] =
        [Class::Disc, Class::Square, Class::Triangle, Class::Star, Class::Ring, Class::Cross, Class::Hexagon, Class::Crescent];

    /// 0-based class id (order of [`CLASS_NAMES`]).
    pub fn id(self) -> usize {
        self as usize
    }

    pub fn from_id(id: usize) -> Option<Class> {
        Class::ALL.get(id).copied()
    }

    pub fn name(self) -> &'static str {
        CLASS_NAMES[self.id()]
    }

    /// Is local point (u, v) inside the shape?
    #[inline]
    pub fn contains(self, u: f32, v: f32) -> bool {
        let r2 = u * u + v * v;
        if r2 > 1.0 {
            return false;
        }
        match self {
            Class::Disc => true,
            Class::Square => u.abs() <= 0.74 && v.abs() <= 0.74,
            Class::Triangle => regular_polygon(u, v, 3, 0.5, -std::f32::consts::FRAC_PI_2),
            Class::Star => star(u, v),
            Class::Ring => r2 >= 0.55 * 0.55,
            Class::Cross => (u.abs() <= 0.3 && v.abs() <= 0.95) || (v.abs() <= 0.3 && u.abs() <= 0.95),
            Class::Hexagon => regular_polygon(u, v, 6, 0.866, 0.0),
            Class::Crescent => {
                let (du, dv) = (u - 0.42, v);
                du * du + dv * dv > 0.78 * 0.78
            }
        }
    }
}

/// Convex regular polygon given by its apothem: inside when the projection on every
/// edge normal (n normals starting at angle `phase`) is at most `apothem`.
#[inline]
fn regular_polygon(u: f32, v: f32, n: usize, apothem: f32, phase: f32) -> bool {
    (0..n).all(|k| {
        let a = phase + std::f32::consts::TAU * k as f32 / n as f32;
        u * a.cos() + v * a.sin() <= apothem
    })
}

/// Five-pointed star, outer radius 1, inner radius 0.45, straight edges.
/// Folds the angle into the half-sector between an outer tip (angle 0) and the next
/// inner vertex (angle pi/5), then tests against the edge joining them.
#[inline]
fn star(u: f32, v: f32) -> bool {
    const INNER: f32 = 0.45;
    let sector = std::f32::consts::TAU / 5.0;
    let half = sector / 2.0;
    let r = (u * u + v * v).sqrt();
    let mut phi = v.atan2(u).rem_euclid(sector);
    if phi > half {
        phi = sector - phi;
    }
    let (px, py) = (r * phi.cos(), r * phi.sin());
    let (bx, by) = (INNER * half.cos(), INNER * half.sin());
    // The origin is on the inside of edge A=(1,0) -> B; inside iff p is on the same side.
    let cross = |x: f32, y: f32| (bx - 1.0) * (y - 0.0) - by * (x - 1.0);
    cross(px, py) * cross(0.0, 0.0) >= 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fraction of the unit disc's grid points inside the shape.
    fn fill(c: Class) -> f32 {
        let n = 400;
        let mut inside = 0;
        for i in 0..n {
            for j in 0..n {
                let u = -1.0 + 2.0 * (i as f32 + 0.5) / n as f32;
                let v = -1.0 + 2.0 * (j as f32 + 0.5) / n as f32;
                inside += c.contains(u, v) as usize;
            }
        }
        inside as f32 / (n * n) as f32 * 4.0 / std::f32::consts::PI
    }

    #[test]
    fn shapes_have_their_analytic_areas() {
        let pi = std::f32::consts::PI;
        let expect = [
            (Class::Disc, 1.0),
            (Class::Square, 4.0 * 0.74 * 0.74 / pi),
            (Class::Triangle, 3.0 * 3f32.sqrt() / 4.0 / pi),
            // star: 10 triangles origin-tip-inner vertex, each 0.5*1*0.45*sin(36deg)
            (Class::Star, 10.0 * 0.5 * 0.45 * (pi / 5.0).sin() / pi),
            (Class::Ring, 1.0 - 0.55 * 0.55),
            (Class::Hexagon, 2.0 * 3f32.sqrt() * 0.866 * 0.866 / pi),
        ];
        for (c, want) in expect {
            let got = fill(c);
            assert!((got - want).abs() < 0.01, "{c:?}: {got} vs {want}");
        }
    }

    #[test]
    fn shapes_are_distinct() {
        // The cross leaves the corners empty, the crescent its right side, the ring its centre.
        assert!(Class::Cross.contains(0.0, 0.9) && !Class::Cross.contains(0.6, 0.6));
        assert!(Class::Crescent.contains(-0.8, 0.0) && !Class::Crescent.contains(0.5, 0.0));
        assert!(!Class::Ring.contains(0.1, 0.1) && Class::Ring.contains(0.8, 0.0));
        assert!(Class::Star.contains(0.95, 0.0) && !Class::Star.contains(0.6, 0.35));
        for (i, name) in CLASS_NAMES.iter().enumerate() {
            assert_eq!(Class::from_id(i).unwrap().name(), *name);
        }
    }
}
