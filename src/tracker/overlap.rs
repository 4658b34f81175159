//! Per-pixel overlap resolution between targets (reference step 4): a pixel claimed by
//! several masks goes to the argmax of weight * sigmoid(logit) (the reference's weight is
//! score * similarity * quality; the tracker's choices are in `step.rs`); a target keeps
//! its mask only if it retains more than its claim's keep fraction of its area.
use crate::vocab::sigmoid;

/// One target's claim on the frame.
pub struct Claim<'a> {
    pub logits: &'a [f32],
    pub weight: f32,
    /// Fraction of its own area the claim must keep to keep its mask at all.
    pub keep_fraction: f32,
}

/// Resolves overlaps. `owner` is a reusable per-pixel scratch buffer. Returns, per claim,
/// `Some(area kept)` when it keeps its mask (kept area > keep_fraction * original area,
/// and > 0) and `None` otherwise; `owner[p]` is the winning claim index + 1 (0 = background).
pub fn resolve(claims: &[Claim], pixels: usize, owner: &mut Vec<u16>) -> Vec<Option<usize>> {
    owner.clear();
    owner.resize(pixels, 0);
    let mut before = vec![0usize; claims.len()];
    for (p, own) in owner.iter_mut().enumerate() {
        let mut best = (0u16, f32::NEG_INFINITY);
        for (k, c) in claims.iter().enumerate() {
            let v = c.logits[p];
            if v > 0.0 {
                before[k] += 1;
                let s = c.weight * sigmoid(v);
                if s > best.1 {
                    best = (k as u16 + 1, s);
                }
            }
        }
        *own = best.0;
    }
    let mut after = vec![0usize; claims.len()];
    for &o in owner.iter() {
        if o > 0 {
            after[o as usize - 1] += 1;
        }
    }
    let keep: Vec<Option<usize>> = (0..claims.len())
        .map(|k| (after[k] > 0 && after[k] as f32 > claims[k].keep_fraction * before[k] as f32).then_some(after[k]))
        .collect();
    // Pixels of dropped claims become background.
    for o in owner.iter_mut() {
        if *o > 0 && keep[*o as usize - 1].is_none() {
            *o = 0;
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    // 4 pixels. A claims 0..3, B claims 1..4 with lower weight; C claims 2..4 weakly.
    const A: [f32; 4] = [5.0, 5.0, 5.0, -5.0];
    const B: [f32; 4] = [-5.0, 5.0, 5.0, 5.0];
    const C: [f32; 4] = [-5.0, -5.0, 5.0, 5.0];

    /// Resolves A, B, C (weights 1.0, 0.5, 0.9) with the given keep fractions.
    fn resolve_abc(fractions: [f32; 3]) -> (Vec<Option<usize>>, Vec<u16>) {
        let claims: Vec<Claim> = [(&A, 1.0), (&B, 0.5), (&C, 0.9)]
            .iter()
            .zip(fractions)
            .map(|(&(logits, weight), keep_fraction)| Claim { logits, weight, keep_fraction })
            .collect();
        let mut owner = Vec::new();
        let keep = resolve(&claims, 4, &mut owner);
        (keep, owner)
    }

    #[test]
    fn stronger_claim_wins_shared_pixels_and_weak_leftover_is_dropped() {
        let (keep, owner) = resolve_abc([0.5; 3]);
        // C (0.9) beats B (0.5) on pixel 3, so B keeps 0 of 3 -> dropped; C keeps pixel 3 =
        // 1 of 2 = 50 %, not > 50 % -> dropped; A keeps all 3.
        assert_eq!(keep, vec![Some(3), None, None]);
        assert_eq!(owner, vec![1, 1, 1, 0]);
    }

    #[test]
    fn a_claim_with_keep_fraction_zero_keeps_any_pixels_it_wins_but_not_none() {
        // C keeps pixel 3 (1 of its 2) under fraction 0; B wins nothing and stays dropped.
        let (keep, owner) = resolve_abc([0.5, 0.0, 0.0]);
        assert_eq!(keep, vec![Some(3), None, Some(1)]);
        assert_eq!(owner, vec![1, 1, 1, 3]);
    }
}
