//! Object colours and textures. Independent of the class so colour never gives the class away.
use super::rng::Rng;

/// Saturated colours that stand out against the low-saturation background.
pub const PALETTE: [[f32; 3]; 8] = [
    [220.0, 40.0, 40.0],  // red
    [40.0, 190.0, 60.0],  // green
    [40.0, 80.0, 220.0],  // blue
    [230.0, 210.0, 40.0], // yellow
    [210.0, 50.0, 200.0], // magenta
    [40.0, 200.0, 210.0], // cyan
    [240.0, 130.0, 30.0], // orange
    [130.0, 60.0, 200.0], // purple
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texture {
    Solid,
    /// Stripes across the object's local x axis (they rotate with it).
    Stripes,
    Checker,
    /// Brightness ramp along local x.
    Gradient,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Appearance {
    pub colour_index: usize,
    pub texture: Texture,
    /// Stripe / checker period in local units (radius = 1).
    pub period: f32,
}

impl Appearance {
    pub fn random(rng: &mut Rng) -> Appearance {
        let texture = match rng.below(4) {
            0 => Texture::Solid,
            1 => Texture::Stripes,
            2 => Texture::Checker,
            _ => Texture::Gradient,
        };
        Appearance { colour_index: rng.below(PALETTE.len() as u32) as usize, texture, period: rng.range(0.45, 0.8) }
    }

    /// The base colour (what a viewer would call the object's colour).
    pub fn colour(&self) -> [f32; 3] {
        PALETTE[self.colour_index]
    }

    /// Colour at local point (u, v). Secondary tones are darker shades of the base colour
    /// so the object keeps one recognisable hue.
    #[inline]
    pub fn shade(&self, u: f32, v: f32) -> [f32; 3] {
        let c = self.colour();
        let k = match self.texture {
            Texture::Solid => 1.0,
            Texture::Stripes => {
                if ((u / self.period).floor() as i32) & 1 == 0 {
                    1.0
                } else {
                    0.6
                }
            }
            Texture::Checker => {
                let a = (u / self.period).floor() as i32 + (v / self.period).floor() as i32;
                if a & 1 == 0 {
                    1.0
                } else {
                    0.6
                }
            }
            Texture::Gradient => 0.8 + 0.2 * u,
        };
        [c[0] * k, c[1] * k, c[2] * k]
    }
}
