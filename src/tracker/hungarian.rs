//! Minimum-cost assignment (Kuhn-Munkres with potentials, O(n^2 m)).
//!
//! Written here rather than using `pathfinding::kuhn_munkres`: that one needs integer
//! weights (scaling f32 costs loses ties and order at small differences) and a dependency
//! for 60 lines. Costs are f32; forbidden pairs are the caller's business (it filters
//! matches afterwards, as the reference does with its threshold).

/// Assigns rows to columns minimising the total cost of `cost` (row-major, rows x cols).
/// Returns, for each row, its column or `None` (when rows > cols some rows stay free).
pub fn assign(cost: &[f32], rows: usize, cols: usize) -> Vec<Option<usize>> {
    assert_eq!(cost.len(), rows * cols, "cost matrix size");
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows <= cols {
        solve(|i, j| cost[i * cols + j] as f64, rows, cols)
    } else {
        // Transpose so the solver always has n <= m, then invert the result.
        let by_col = solve(|i, j| cost[j * cols + i] as f64, cols, rows);
        let mut out = vec![None; rows];
        for (c, r) in by_col.into_iter().enumerate() {
            if let Some(r) = r {
                out[r] = Some(c);
            }
        }
        out
    }
}

/// n <= m. Classic shortest-augmenting-path formulation with row/column potentials.
fn solve(a: impl Fn(usize, usize) -> f64, n: usize, m: usize) -> Vec<Option<usize>> {
    let inf = f64::INFINITY;
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; m + 1]);
    // p[j]: row (1-based) assigned to column j; way[j]: previous column on the path.
    let (mut p, mut way) = (vec![0usize; m + 1], vec![0usize; m + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (inf, 0);
            for j in 1..=m {
                if !used[j] {
                    let cur = a(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(cost: &[f32], cols: usize, a: &[Option<usize>]) -> f32 {
        a.iter().enumerate().filter_map(|(i, j)| j.map(|j| cost[i * cols + j])).sum()
    }

    /// Exhaustive minimum over all injective row->column maps (small sizes only).
    fn brute(cost: &[f32], rows: usize, cols: usize) -> f32 {
        fn rec(cost: &[f32], rows: usize, cols: usize, i: usize, used: &mut Vec<bool>) -> f32 {
            if i == rows {
                return 0.0;
            }
            let mut best = f32::INFINITY;
            let free_cols = used.iter().filter(|u| !**u).count();
            if rows - i > free_cols {
                best = rec(cost, rows, cols, i + 1, used); // row i unassigned
            }
            for j in 0..cols {
                if !used[j] {
                    used[j] = true;
                    best = best.min(cost[i * cols + j] + rec(cost, rows, cols, i + 1, used));
                    used[j] = false;
                }
            }
            best
        }
        rec(cost, rows, cols, 0, &mut vec![false; cols])
    }

    #[test]
    fn known_3x3() {
        let c = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        let a = assign(&c, 3, 3);
        assert_eq!(a, vec![Some(1), Some(0), Some(2)]);
        assert_eq!(total(&c, 3, &a), 5.0);
    }

    #[test]
    fn matches_brute_force_on_random_rectangles() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % 1000) as f32 / 1000.0
        };
        for (rows, cols) in [(2, 5), (5, 2), (4, 4), (1, 3), (3, 1), (5, 6)] {
            for _ in 0..20 {
                let c: Vec<f32> = (0..rows * cols).map(|_| rnd()).collect();
                let a = assign(&c, rows, cols);
                assert_eq!(a.iter().filter(|x| x.is_some()).count(), rows.min(cols));
                let mut seen = std::collections::HashSet::new();
                assert!(a.iter().flatten().all(|j| seen.insert(*j)), "column used twice");
                assert!((total(&c, cols, &a) - brute(&c, rows, cols)).abs() < 1e-5);
            }
        }
        assert_eq!(assign(&[], 0, 3), Vec::<Option<usize>>::new());
        assert_eq!(assign(&[], 2, 0), vec![None, None]);
    }
}
