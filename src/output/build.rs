//! `FrameResult` -> JSON bytes no larger than `max_message_bytes`.
//!
//! An over-limit frame degrades step by step instead of being dropped or breaking the
//! connection: masks at `mask_scale`, then halved resolution (down to 8 px on the short
//! side), then polygons + boxes, then boxes only; as a last resort the lowest-scoring
//! objects are left out. The chosen level is the payload's `detail` field.
use super::clock::now_rfc3339;
use super::payload::{Detail, FramePayload, ObjectPayload, SCHEMA_VERSION};
use super::polygon::outer_contour;
use crate::frame_result::{FrameResult, ObjectResult};
use crate::rle;

/// Smallest mask side the coarse levels go down to.
const MIN_MASK_SIDE: usize = 8;

#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub stream: String,
    /// Mask resolution relative to the result's masks, in (0, 1].
    pub mask_scale: f32,
    /// Upper bound of one serialized message.
    pub max_message_bytes: usize,
    /// Also publish the outer contour of each object.
    pub polygons: bool,
    /// Most points per polygon.
    pub polygon_points: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig { stream: "default".into(), mask_scale: 1.0, max_message_bytes: 256 * 1024, polygons: false, polygon_points: 64 }
    }
}

/// What the result itself does not carry: buffer PTS (ns).
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameInfo {
    pub pts: Option<u64>,
}

pub struct FrameBuilder {
    config: OutputConfig,
}

/// Shape detail of one attempt: `Some(scale)` = masks at that scale.
#[derive(Clone, Copy)]
enum Level {
    Masks(f32, Detail),
    Polygon,
    Box,
}

impl FrameBuilder {
    pub fn new(config: OutputConfig) -> Self {
        FrameBuilder { config }
    }

    pub fn config(&self) -> &OutputConfig {
        &self.config
    }

    /// Serialized payload (always `<= max_message_bytes` unless even an empty frame is
    /// larger) and the detail level used.
    pub fn build(&self, result: &FrameResult, info: FrameInfo) -> (Vec<u8>, Detail) {
        let timestamp = now_rfc3339();
        for level in self.levels(result) {
            let payload = self.payload(result, info, &timestamp, level, result.objects.len());
            let bytes = serde_json::to_vec(&payload).expect("payload serializes");
            if bytes.len() <= self.config.max_message_bytes {
                return (bytes, payload.detail);
            }
        }
        self.truncated(result, info, &timestamp)
    }

    /// Boxes only, dropping the lowest-scoring objects until the message fits.
    fn truncated(&self, result: &FrameResult, info: FrameInfo, ts: &str) -> (Vec<u8>, Detail) {
        let mut sorted = result.clone();
        sorted.objects.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut n = sorted.objects.len();
        loop {
            let payload = self.payload(&sorted, info, ts, Level::Box, n);
            let bytes = serde_json::to_vec(&payload).expect("payload serializes");
            if bytes.len() <= self.config.max_message_bytes || n == 0 {
                return (bytes, Detail::Box);
            }
            n /= 2;
        }
    }

    fn levels(&self, result: &FrameResult) -> Vec<Level> {
        let scale = self.config.mask_scale.clamp(1e-3, 1.0);
        let mut levels = vec![Level::Masks(scale, Detail::Full)];
        let side = result.objects.iter().map(|o| o.mask.width.min(o.mask.height)).max().unwrap_or(0);
        let mut s = scale / 2.0;
        while (side as f32 * s).round() as usize >= MIN_MASK_SIDE {
            levels.push(Level::Masks(s, Detail::Coarse));
            s /= 2.0;
        }
        levels.push(Level::Polygon);
        levels.push(Level::Box);
        levels
    }

    fn payload(&self, r: &FrameResult, info: FrameInfo, ts: &str, level: Level, n: usize) -> FramePayload {
        let detail = match level {
            Level::Masks(_, d) => d,
            Level::Polygon => Detail::Polygon,
            Level::Box => Detail::Box,
        };
        FramePayload {
            schema_version: SCHEMA_VERSION,
            stream: self.config.stream.clone(),
            frame: r.frame,
            pts: info.pts,
            timestamp: ts.to_string(),
            width: r.width,
            height: r.height,
            model: r.model.clone(),
            detail,
            objects: r.objects.iter().take(n).map(|o| self.object(r, o, level)).collect(),
        }
    }

    fn object(&self, r: &FrameResult, o: &ObjectResult, level: Level) -> ObjectPayload {
        let m = &o.mask;
        let (fx, fy) = frame_per_mask_pixel(r, m.width, m.height);
        let mask = match level {
            Level::Masks(s, _) => Some(rle::encode(&scaled(m, s))),
            _ => None,
        };
        let want_polygon = matches!(level, Level::Polygon) || (self.config.polygons && mask.is_some());
        let polygon = want_polygon.then(|| outer_contour(m, fx, fy, self.config.polygon_points)).flatten();
        ObjectPayload {
            track_id: o.track_id,
            class_id: o.class_id,
            label: o.label.clone(),
            score: o.score,
            bbox: [o.bbox.x, o.bbox.y, o.bbox.w, o.bbox.h],
            area: m.area() as f64 * (fx * fy) as f64,
            mask,
            polygon,
        }
    }
}

/// Frame pixels per mask pixel along x and y (1 when masks are at frame size).
fn frame_per_mask_pixel(r: &FrameResult, mw: usize, mh: usize) -> (f32, f32) {
    if mw == 0 || mh == 0 || r.width == 0 || r.height == 0 {
        return (1.0, 1.0);
    }
    (r.width as f32 / mw as f32, r.height as f32 / mh as f32)
}

fn scaled(m: &crate::mask::Mask, s: f32) -> std::borrow::Cow<'_, crate::mask::Mask> {
    if s >= 1.0 {
        return std::borrow::Cow::Borrowed(m);
    }
    let w = ((m.width as f32 * s).round() as usize).max(1);
    let h = ((m.height as f32 * s).round() as usize).max(1);
    std::borrow::Cow::Owned(m.resize_nearest(w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_result::ObjectResult;
    use crate::mask::{BBox, Mask};

    fn noisy_result(n: usize, w: usize, h: usize) -> FrameResult {
        let mut seed = 7u64;
        let objects = (0..n)
            .map(|i| {
                let mut m = Mask::new(w, h);
                for v in m.data.iter_mut() {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    *v = ((seed >> 40) % 2) as u8;
                }
                ObjectResult {
                    track_id: i as u64 + 1,
                    class_id: i % 3,
                    label: format!("c{}", i % 3),
                    score: 0.5 + i as f32 / (2.0 * n as f32),
                    bbox: BBox { x: 0.0, y: 0.0, w: w as f32, h: h as f32 },
                    mask: m,
                }
            })
            .collect();
        FrameResult { frame: 3, width: w, height: h, model: "tiny".into(), objects }
    }

    fn parse(b: &[u8]) -> FramePayload {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn full_detail_round_trips_masks() {
        let r = noisy_result(2, 40, 30);
        let cfg = OutputConfig { stream: "s".into(), ..Default::default() };
        let (bytes, detail) = FrameBuilder::new(cfg).build(&r, FrameInfo { pts: Some(33) });
        assert_eq!(detail, Detail::Full);
        let p = parse(&bytes);
        assert_eq!((p.frame, p.pts, p.width, p.height), (3, Some(33), 40, 30));
        for (o, src) in p.objects.iter().zip(&r.objects) {
            assert_eq!(rle::decode(o.mask.as_ref().unwrap()).unwrap(), src.mask);
            assert_eq!(o.area, src.mask.area() as f64);
        }
    }

    #[test]
    fn over_limit_degrades_in_order_and_stays_under_limit() {
        let r = noisy_result(4, 160, 120);
        let mut seen = Vec::new();
        for limit in [1 << 20, 40_000, 6_000, 1_200, 300] {
            let cfg = OutputConfig { max_message_bytes: limit, polygons: false, ..Default::default() };
            let (bytes, detail) = FrameBuilder::new(cfg).build(&r, FrameInfo::default());
            assert!(bytes.len() <= limit, "{} > {limit}", bytes.len());
            let p = parse(&bytes);
            match detail {
                Detail::Full | Detail::Coarse => assert!(p.objects.iter().all(|o| o.mask.is_some())),
                Detail::Polygon => assert!(p.objects.iter().all(|o| o.mask.is_none() && o.polygon.is_some())),
                Detail::Box => assert!(p.objects.iter().all(|o| o.mask.is_none() && o.polygon.is_none())),
            }
            seen.push(detail);
        }
        assert_eq!(seen[0], Detail::Full);
        assert!(seen.contains(&Detail::Coarse), "{seen:?}");
        assert_eq!(*seen.last().unwrap(), Detail::Box);
    }

    #[test]
    fn mask_scale_sets_rle_size() {
        let r = noisy_result(1, 64, 48);
        let cfg = OutputConfig { mask_scale: 0.5, ..Default::default() };
        let (bytes, _) = FrameBuilder::new(cfg).build(&r, FrameInfo::default());
        assert_eq!(parse(&bytes).objects[0].mask.as_ref().unwrap().size, [24, 32]);
    }
}
