//! Percentile bootstrap of a mean over clustered samples (objects grouped by video).
//!
//! A held-out sample of 20-60 world videos is small: a 0.02 difference in J&F can be
//! sampling noise. Objects of one video share its scene, so they are resampled together
//! (a cluster bootstrap over videos), not one by one, which would understate the spread.
//! Written here because it is a few lines and no maintained crate offers the clustered
//! variant; SplitMix64 (`world::rng`) keeps it reproducible on every platform.
use crate::world::rng::Rng;
use std::collections::BTreeMap;

/// Resamples drawn (the usual size for a 95 % percentile interval).
pub const RESAMPLES: usize = 2000;

/// 95 % interval of the mean of `values`, resampling whole groups (`groups[i]` is the group
/// of `values[i]`) with replacement. `None` for no values; a single group gives a zero-width
/// interval (nothing to resample between).
pub fn mean_ci95(values: &[f64], groups: &[u64], seed: u64) -> Option<(f64, f64)> {
    if values.is_empty() || values.len() != groups.len() {
        return None;
    }
    let clusters = clusters(values, groups);
    let mut rng = Rng::new(seed);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (mut sum, mut n) = (0.0, 0usize);
            for _ in 0..clusters.len() {
                let (s, k) = clusters[(rng.next_u64() % clusters.len() as u64) as usize];
                sum += s;
                n += k;
            }
            sum / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Some((at(0.025), at(0.975)))
}

/// (sum, count) per group.
fn clusters(values: &[f64], groups: &[u64]) -> Vec<(f64, usize)> {
    let mut by_group: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    for (&v, &g) in values.iter().zip(groups) {
        let c = by_group.entry(g).or_default();
        (c.0, c.1) = (c.0 + v, c.1 + 1);
    }
    by_group.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_brackets_the_mean_and_narrows_with_more_groups() {
        // Groups alternate between mean 0.6 and 1.0: overall mean 0.8.
        let make = |n: u64| {
            let g: Vec<u64> = (0..n).flat_map(|k| [k, k]).collect();
            let v: Vec<f64> = g.iter().map(|&k| if k % 2 == 0 { 0.6 } else { 1.0 }).collect();
            (v, g)
        };
        let (v, g) = make(10);
        let (lo, hi) = mean_ci95(&v, &g, 1).unwrap();
        assert!(lo < 0.8 && hi > 0.8 && lo >= 0.6 && hi <= 1.0, "{lo} {hi}");
        let (v, g) = make(200);
        let (lo2, hi2) = mean_ci95(&v, &g, 1).unwrap();
        assert!(hi2 - lo2 < (hi - lo) / 3.0, "{lo2} {hi2} vs {lo} {hi}");
    }

    #[test]
    fn groups_are_resampled_whole() {
        // Two videos: one with 9 perfect objects, one with 1 failed object. Resampling
        // objects one by one would almost never draw a sample of failures only; resampling
        // videos draws "only the failed video" a quarter of the time.
        let mut v = vec![1.0; 9];
        v.push(0.0);
        let mut g = vec![1u64; 9];
        g.push(2);
        let (lo, hi) = mean_ci95(&v, &g, 7).unwrap();
        assert_eq!((lo, hi), (0.0, 1.0));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(mean_ci95(&[], &[], 0), None);
        assert_eq!(mean_ci95(&[0.5], &[1, 2], 0), None);
        assert_eq!(mean_ci95(&[0.25, 0.75], &[3, 3], 0), Some((0.5, 0.5)));
    }
}
