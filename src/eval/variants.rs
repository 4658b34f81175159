//! The tracker variants `segstream eval` compares, and the result table.
use crate::tracker::{TrackerConfig, TrackerMode};

/// One tracker setting.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub mode: TrackerMode,
    pub detect_interval: u32,
}

impl Variant {
    /// Detection off (`detect_interval` 0): the prompt-specified inference of UniVS
    /// (section 4.2, Fig. 4): only the given targets are decoded, as in the semi-supervised
    /// VOS protocol. Such a variant is scored on VOS only (it finds nothing by itself).
    pub fn prompt_only(&self) -> bool {
        self.mode == TrackerMode::PromptQuery && self.detect_interval == 0
    }

    /// Applies the variant to a base configuration.
    pub fn apply(&self, base: &TrackerConfig) -> TrackerConfig {
        TrackerConfig { mode: self.mode, detect_interval: self.detect_interval, ..base.clone() }
    }
}

/// Prompts-as-queries at detect intervals 1, 3, 5, the similarity baseline, and
/// prompts-as-queries with detection off (VOS only).
pub fn default_variants() -> Vec<Variant> {
    let pq = |i: u32| Variant { name: format!("prompt-query/i{i}"), mode: TrackerMode::PromptQuery, detect_interval: i };
    vec![pq(1), pq(3), pq(5), Variant { name: "similarity".into(), mode: TrackerMode::Similarity, detect_interval: 1 }, pq(0)]
}

/// One row of the table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Row {
    pub variant: String,
    /// Scored on VOS only (`Variant::prompt_only`): the category columns are not measured.
    pub prompt_only: bool,
    pub vis_map: f64,
    /// Per-frame AP with each track's majority class and mean score (known after the video).
    pub frame_map: f64,
    /// Per-frame figures of the online output (`frame_scores`: each frame's own class and
    /// score, as a stream consumer receives them).
    pub online_ap: f64,
    pub online_ap50: f64,
    pub online_class_acc: f64,
    pub online_miou: f64,
    pub hota: f64,
    pub deta: f64,
    pub assa: f64,
    pub idf1: f64,
    pub idsw: usize,
    pub mota: f64,
    /// `None` where the variant cannot follow user prompts (similarity baseline).
    pub jf: Option<f64>,
    /// 95 % interval of `jf`, resampling whole videos: how far the sample can be trusted.
    pub jf_ci95: Option<(f64, f64)>,
    /// J&F with each object given on its first visible pixel (strict protocol).
    pub jf_first_pixel: Option<f64>,
    /// VOS run: IoU on the frame after the one each object was given on (the
    /// prompt-guided figure through the runtime), and its 95 % interval.
    pub next_iou: Option<f64>,
    pub next_iou_ci95: Option<(f64, f64)>,
    pub frame_ms: f64,
    pub tracker_ms: f64,
    pub tracker_share: f64,
}

/// Markdown table of the rows.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| tracker | VIS mAP | frame AP | online AP | online AP50 | class acc | mIoU | HOTA | DetA | AssA | IDF1 | IDSW | MOTA | VOS J&F | J&F 95 % CI | J&F first px | next-frame IoU | frame ms | tracker ms | tracker % |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let f3 = |v: f64| format!("{v:.3}");
        let (jf, jf1) = (r.jf.map_or("n/a".to_string(), f3), r.jf_first_pixel.map_or("n/a".to_string(), f3));
        let ci = r.jf_ci95.map_or("n/a".to_string(), |(lo, hi)| format!("{lo:.3}-{hi:.3}"));
        let next = r.next_iou.map_or("n/a".to_string(), |v| match r.next_iou_ci95 {
            Some((lo, hi)) => format!("{v:.3} ({lo:.3}-{hi:.3})"),
            None => f3(v),
        });
        let category = if r.prompt_only {
            vec!["n/a".to_string(); 12]
        } else {
            vec![
                f3(r.vis_map),
                f3(r.frame_map),
                f3(r.online_ap),
                f3(r.online_ap50),
                f3(r.online_class_acc),
                f3(r.online_miou),
                f3(r.hota),
                f3(r.deta),
                f3(r.assa),
                f3(r.idf1),
                r.idsw.to_string(),
                f3(r.mota),
            ]
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.3} | {:.1} |\n",
            r.variant,
            category.join(" | "),
            jf,
            ci,
            jf1,
            next,
            r.frame_ms,
            r.tracker_ms,
            100.0 * r.tracker_share
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_and_table() {
        let v = default_variants();
        assert_eq!(
            v.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["prompt-query/i1", "prompt-query/i3", "prompt-query/i5", "similarity", "prompt-query/i0"]
        );
        assert_eq!(v.iter().map(Variant::prompt_only).collect::<Vec<_>>(), [false, false, false, false, true]);
        let c = v[2].apply(&TrackerConfig { max_targets: 7, ..Default::default() });
        assert_eq!((c.detect_interval, c.max_targets, c.mode), (5, 7, TrackerMode::PromptQuery));
        let t = table(&[Row { variant: "x".into(), idsw: 3, jf: None, tracker_share: 0.05, ..Default::default() }]);
        assert!(t.lines().nth(2).unwrap().starts_with("| x | 0.000 |"));
        assert!(t.contains("| 3 |") && t.contains("n/a") && t.ends_with("| 5.0 |\n"));
        let vos = Row { variant: "v".into(), prompt_only: true, jf: Some(0.5), jf_ci95: Some((0.25, 0.75)), ..Default::default() };
        assert!(table(&[vos]).lines().nth(2).unwrap().starts_with(
            "| v | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0.500 | 0.250-0.750 | n/a | n/a |"
        ));
    }
}
