//! Learnable-query detections: quality, score, top-K and NMS on mask-derived boxes.
use super::config::TrackerConfig;
use crate::mask::{BBox, Mask};
use crate::model::QueryOutputs;
use crate::vocab::Vocabulary;

/// Reference mask quality: q = #(logit > 1) / #(logit > -1) (0 when nothing is above -1).
pub fn mask_quality(logits: &[f32]) -> f32 {
    let (mut hi, mut lo) = (0u32, 0u32);
    for &v in logits {
        hi += (v > 1.0) as u32;
        lo += (v > -1.0) as u32;
    }
    if lo == 0 {
        0.0
    } else {
        hi as f32 / lo as f32
    }
}

/// Binary mask = logit > 0, written into `mask` (resized as needed, allocation reused).
pub fn binarize(logits: &[f32], width: usize, height: usize, mask: &mut Mask) {
    mask.width = width;
    mask.height = height;
    mask.data.clear();
    mask.data.extend(logits.iter().map(|&v| (v > 0.0) as u8));
}

/// Class and probability of a class embedding; class-agnostic (0, 1.0) without a vocabulary.
pub fn classify(vocab: &Vocabulary, class_emb: &[f32]) -> (usize, f32) {
    if vocab.is_empty() || vocab.dim != class_emb.len() {
        return (0, 1.0);
    }
    vocab.classify(class_emb).unwrap_or((0, 1.0))
}

/// One kept detection.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Row in the decoder's detection outputs.
    pub index: usize,
    pub class_id: usize,
    pub class_prob: f32,
    pub quality: f32,
    /// class_prob * quality
    pub score: f32,
    pub mask: Mask,
    pub bbox: BBox,
}

/// Applies the reference filters to the decoder's detections, best score first.
pub fn select(out: &QueryOutputs, vocab: &Vocabulary, cfg: &TrackerConfig, w: usize, h: usize) -> Vec<Detection> {
    let mut cands: Vec<(usize, f32, f32, usize, f32)> = Vec::new();
    for i in 0..out.len() {
        let q = mask_quality(out.mask_logits.row(i));
        if q <= cfg.quality_threshold {
            continue;
        }
        let (k, p) = classify(vocab, out.class_emb.row(i));
        cands.push((i, p * q, q, k, p));
    }
    // Stable sort: equal scores keep query order, so results are deterministic.
    cands.sort_by(|a, b| b.1.total_cmp(&a.1));
    cands.truncate(cfg.top_k);
    let mut kept: Vec<Detection> = Vec::new();
    for (index, score, quality, class_id, class_prob) in cands {
        let mut mask = Mask::default();
        binarize(out.mask_logits.row(index), w, h, &mut mask);
        let Some(bbox) = mask.bbox() else { continue };
        if kept.iter().any(|d| d.bbox.iou(&bbox) > cfg.nms_iou) {
            continue;
        }
        kept.push(Detection { index, class_id, class_prob, quality, score, mask, bbox });
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    #[test]
    fn quality_counts_confident_pixels() {
        assert_eq!(mask_quality(&[2.0, 2.0, 0.5, -0.5, -3.0]), 0.5);
        assert_eq!(mask_quality(&[-5.0; 4]), 0.0);
    }

    /// 3 detections on an 8x8 grid: two near-duplicates and one low-quality mask.
    fn outputs() -> QueryOutputs {
        let mut logits = Tensor::zeros(&[3, 8, 8]);
        for (q, (x0, x1, inside)) in [(0usize, 4usize, 5.0f32), (0, 4, 4.0), (4, 8, 0.5)].iter().enumerate() {
            for y in 0..8 {
                for x in 0..8 {
                    let v = if x >= *x0 && x < *x1 { *inside } else { -5.0 };
                    logits.data[q * 64 + y * 8 + x] = v;
                }
            }
        }
        let mut class_emb = Tensor::zeros(&[3, 2]);
        class_emb.data.copy_from_slice(&[1.0, 0.0, 0.9, 0.1, 0.0, 1.0]);
        QueryOutputs { mask_logits: logits, class_emb, assoc_emb: Tensor::zeros(&[3, 2]), quality: Tensor::zeros(&[3]) }
    }

    #[test]
    fn drops_low_quality_and_duplicates() {
        let vocab = Vocabulary::new(vec!["a".into(), "b".into()], vec![1.0, 0.0, 0.0, 1.0], 2, 10.0);
        let d = select(&outputs(), &vocab, &TrackerConfig::default(), 8, 8);
        // query 2 has q = 0 (0.5 is not > 1); query 1 duplicates query 0's box (IoU 1 > 0.85).
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].index, 0);
        assert_eq!(d[0].class_id, 0);
        assert!((d[0].score - crate::vocab::sigmoid(10.0)).abs() < 1e-6);
        assert_eq!(d[0].bbox, BBox { x: 0.0, y: 0.0, w: 4.0, h: 8.0 });
        let cfg = TrackerConfig { nms_iou: 1.0, top_k: 1, ..Default::default() };
        assert_eq!(select(&outputs(), &vocab, &cfg, 8, 8).len(), 1, "top-K caps before NMS");
        let cfg = TrackerConfig { nms_iou: 1.0, ..Default::default() };
        assert_eq!(select(&outputs(), &vocab, &cfg, 8, 8).len(), 2);
    }
}
