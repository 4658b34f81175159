//! Association of detections with targets: bi-softmax (prompt-query tracker) and plain
//! cosine (similarity baseline), both resolved by Hungarian matching.
use super::hungarian::assign;
use super::memory::Ring;

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let n = dot(a, a).sqrt() * dot(b, b).sqrt();
    if n <= 1e-12 {
        0.0
    } else {
        dot(a, b) / n
    }
}

/// Cosine of `e` with a target's remembered embeddings, weighted toward recent ones
/// (weights 1, 2, ..., K from oldest to newest). `None` when nothing is remembered.
pub fn weighted_cosine(mem: &Ring, e: &[f32]) -> Option<f32> {
    let k = mem.len();
    if k == 0 {
        return None;
    }
    let (mut s, mut w) = (0.0, 0.0);
    for i in 0..k {
        let wi = (i + 1) as f32;
        s += wi * cosine(mem.get(i), e);
        w += wi;
    }
    Some(s / w)
}

/// Bi-softmax similarity B [targets x dets] (row-major). For each of the last `k_mem`
/// memory entries (a target with fewer repeats its oldest), S = <E_target, E_det> (raw,
/// not normalised); B = mean over entries of (softmax over dets + softmax over targets) / 2.
pub fn bi_softmax(targets: &[&Ring], dets: &[&[f32]], k_mem: usize) -> Vec<f32> {
    let (n, m) = (targets.len(), dets.len());
    let mut b = vec![0.0f32; n * m];
    if n == 0 || m == 0 {
        return b;
    }
    let mut s = vec![0.0f32; n * m];
    let k_mem = k_mem.max(1);
    for k in 0..k_mem {
        for (i, ring) in targets.iter().enumerate() {
            let idx = ring.len() - 1 - k.min(ring.len() - 1);
            for (j, d) in dets.iter().enumerate() {
                s[i * m + j] = dot(ring.get(idx), d);
            }
        }
        let w = 0.5 / k_mem as f32;
        for i in 0..n {
            let row: Vec<f32> = (0..m).map(|j| s[i * m + j]).collect();
            for (j, p) in softmax(&row).into_iter().enumerate() {
                b[i * m + j] += w * p;
            }
        }
        for j in 0..m {
            let col: Vec<f32> = (0..n).map(|i| s[i * m + j]).collect();
            for (i, p) in softmax(&col).into_iter().enumerate() {
                b[i * m + j] += w * p;
            }
        }
    }
    b
}

fn softmax(v: &[f32]) -> Vec<f32> {
    let mx = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - mx).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.into_iter().map(|x| x / sum).collect()
}

/// Hungarian on 1 - sim with entries <= `min_sim` zeroed first (reference); a match is
/// accepted when sim > `min_sim` and `extra(i, j)` holds. Returns each target's detection.
pub fn match_by_similarity(sim: &[f32], n: usize, m: usize, min_sim: f32, extra: impl Fn(usize, usize) -> bool) -> Vec<Option<usize>> {
    let cost: Vec<f32> = sim.iter().map(|&s| if s > min_sim { 1.0 - s } else { 1.0 }).collect();
    let a = assign(&cost, n, m);
    a.into_iter().enumerate().map(|(i, j)| j.filter(|&j| sim[i * m + j] > min_sim && extra(i, j))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(vs: &[&[f32]]) -> Ring {
        let mut r = Ring::new(3, vs[0].len());
        for v in vs {
            r.push(v);
        }
        r
    }

    #[test]
    fn bi_softmax_hand_computed() {
        // One memory entry each; S = [[1, 0], [0, 1]].
        let (a, b) = (ring(&[&[1.0, 0.0]]), ring(&[&[0.0, 1.0]]));
        let bs = bi_softmax(&[&a, &b], &[&[1.0, 0.0], &[0.0, 1.0]], 1);
        let p = 1f32.exp() / (1f32.exp() + 1.0); // softmax of (1, 0)
        assert!((bs[0] - p).abs() < 1e-6 && (bs[3] - p).abs() < 1e-6);
        assert!((bs[1] - (1.0 - p)).abs() < 1e-6);
        let m = match_by_similarity(&bs, 2, 2, 0.1, |_, _| true);
        assert_eq!(m, vec![Some(0), Some(1)]);
    }

    #[test]
    fn lone_pair_scores_one_whatever_the_similarity() {
        // The reason for `match_min_cosine`: bi-softmax of a 1x1 problem is always 1.
        let a = ring(&[&[1.0, 0.0]]);
        let bs = bi_softmax(&[&a], &[&[-1.0, 0.0]], 3);
        assert!((bs[0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn memory_entries_are_averaged_and_recent_weighted() {
        let a = ring(&[&[0.0, 1.0], &[1.0, 0.0]]);
        // Weighted cosine with (0,1) then (1,0): weights 1, 2 -> (1*1 + 2*0) / 3.
        assert!((weighted_cosine(&a, &[0.0, 1.0]).unwrap() - 1.0 / 3.0).abs() < 1e-6);
        assert!(weighted_cosine(&Ring::new(3, 2), &[1.0, 0.0]).is_none());
    }

    #[test]
    fn threshold_rejects_weak_matches() {
        let sim = [0.05, 0.9];
        assert_eq!(match_by_similarity(&sim, 2, 1, 0.1, |_, _| true), vec![None, Some(0)]);
        assert_eq!(match_by_similarity(&sim, 2, 1, 0.1, |_, _| false), vec![None, None]);
    }
}
