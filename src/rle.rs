//! COCO run-length encoding, byte-for-byte what pycocotools' `mask.encode` produces.
//!
//! Written by hand: no maintained Rust crate implements COCO's compressed RLE string,
//! and the format is 40 lines. Runs are taken over the mask in column-major (Fortran)
//! order, starting with a run of zeros; the counts are delta-coded against the count
//! two places back (from the fourth on) and packed 5 bits per char, LEB128-style,
//! into ASCII 48..111.
use crate::mask::Mask;
use serde::{Deserialize, Serialize};

/// A COCO RLE object as it appears in JSON: `{"size": [h, w], "counts": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rle {
    /// `[height, width]`, COCO order.
    pub size: [usize; 2],
    pub counts: String,
}

/// Run lengths in column-major order, starting with zeros.
pub fn runs(mask: &Mask) -> Vec<u32> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        transpose(mask, &mut scratch);
        runs_of(&scratch)
    })
}

thread_local! {
    /// Column-major copy of the mask being encoded, reused across calls: masks are
    /// frame-sized, and a fresh buffer per object per frame is what we avoid.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes `mask` column-major into `out`, in tiles so that both sides stay in cache
/// (walking a 1080p mask column by column directly misses cache on every pixel).
fn transpose(mask: &Mask, out: &mut Vec<u8>) {
    const TILE: usize = 64;
    let (w, h) = (mask.width, mask.height);
    out.clear();
    out.resize(w * h, 0);
    for y0 in (0..h).step_by(TILE) {
        for x0 in (0..w).step_by(TILE) {
            for y in y0..(y0 + TILE).min(h) {
                let row = &mask.data[y * w..(y + 1) * w];
                for x in x0..(x0 + TILE).min(w) {
                    out[x * h + y] = (row[x] != 0) as u8;
                }
            }
        }
    }
}

/// Run lengths of a 0/1 sequence, starting with a run of zeros.
fn runs_of(values: &[u8]) -> Vec<u32> {
    let mut counts = Vec::new();
    let mut current = 0u8;
    let mut run = 0u32;
    for &v in values {
        if v != current {
            counts.push(run);
            run = 0;
            current = v;
        }
        run += 1;
    }
    counts.push(run);
    counts
}

/// Encodes a mask as a compressed COCO RLE.
pub fn encode(mask: &Mask) -> Rle {
    let cnts: Vec<u64> = runs(mask).into_iter().map(u64::from).collect();
    Rle { size: [mask.height, mask.width], counts: pack(&cnts) }
}

/// Packs run lengths into the compressed counts string (delta against the count two
/// places back from the fourth on, 5 bits per char).
pub fn pack(cnts: &[u64]) -> String {
    let mut s = String::with_capacity(cnts.len() * 2);
    for i in 0..cnts.len() {
        let mut x = cnts[i] as i64;
        if i > 2 {
            x -= cnts[i - 2] as i64;
        }
        loop {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            s.push((c + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}

/// Errors decoding an RLE from untrusted input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RleError {
    #[error("invalid RLE counts: a character outside 48..=111, a count longer than 12 characters, or the string ends inside a count")]
    BadChar,
    #[error("RLE run {0} is negative")]
    NegativeRun(usize),
    #[error("RLE runs add up to more than the {want} pixels of the size")]
    TooLong { want: u64 },
    #[error("RLE runs add up to {got} pixels, the size says {want}")]
    Length { got: u64, want: u64 },
}

/// Longest count accepted, in characters: 12 x 5 bits keeps every shift and sum inside
/// an i64 (pycocotools' counts are u32, at most 7 characters).
const MAX_COUNT_CHARS: u32 = 12;

/// Calls `f` with every run length of a compressed counts string, in order, without
/// allocating (the overlay paints runs straight into its label map). Arithmetic is
/// checked: a hostile string gives an error, never a wrapped count.
pub fn for_each_run(counts: &str, mut f: impl FnMut(u64)) -> Result<(), RleError> {
    let bytes = counts.as_bytes();
    let (mut prev2, mut prev1, mut n, mut p) = (0i64, 0i64, 0usize, 0usize);
    while p < bytes.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let b = *bytes.get(p).ok_or(RleError::BadChar)?;
            if !(48..=111).contains(&b) || k >= MAX_COUNT_CHARS {
                return Err(RleError::BadChar);
            }
            let c = (b - 48) as i64;
            x |= (c & 0x1f) << (5 * k);
            p += 1;
            k += 1;
            if c & 0x20 == 0 {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        if n > 2 {
            x = x.checked_add(prev2).ok_or(RleError::NegativeRun(n))?;
        }
        if x < 0 {
            return Err(RleError::NegativeRun(n));
        }
        f(x as u64);
        (prev2, prev1) = (prev1, x);
        n += 1;
    }
    Ok(())
}

/// Checks that the runs add up to exactly `h * w` pixels; returns the foreground area.
/// Costs one pass over the string and no allocation, whatever the size says, so
/// untrusted masks are checked where they arrive and decoded once where they are used.
pub fn validate(rle: &Rle) -> Result<u64, RleError> {
    let want = total_pixels(rle);
    let (mut total, mut area, mut i, mut over) = (0u64, 0u64, 0usize, false);
    for_each_run(&rle.counts, |c| {
        match total.checked_add(c).filter(|t| *t <= want) {
            Some(t) => total = t,
            None => over = true,
        }
        if i % 2 == 1 {
            area = area.saturating_add(c);
        }
        i += 1;
    })?;
    if over {
        return Err(RleError::TooLong { want });
    }
    if total != want {
        return Err(RleError::Length { got: total, want });
    }
    Ok(area)
}

fn total_pixels(rle: &Rle) -> u64 {
    let [h, w] = rle.size;
    (h as u64).saturating_mul(w as u64)
}

/// Foreground runs as `[start, end)` ranges of column-major pixel indices, after
/// [`validate`] (so they lie inside the size).
fn foreground(rle: &Rle) -> Result<Vec<(u64, u64)>, RleError> {
    validate(rle)?;
    let (mut idx, mut i, mut out) = (0u64, 0usize, Vec::new());
    for_each_run(&rle.counts, |c| {
        if i % 2 == 1 && c > 0 {
            out.push((idx, idx + c));
        }
        idx += c;
        i += 1;
    })?;
    Ok(out)
}

/// Decodes a compressed COCO RLE into a mask (validates the total length first).
pub fn decode(rle: &Rle) -> Result<Mask, RleError> {
    let [h, w] = rle.size;
    let runs = foreground(rle)?;
    let mut mask = Mask::new(w, h);
    for (start, end) in runs {
        for j in start as usize..end as usize {
            mask.data[(j % h) * w + j / h] = 1;
        }
    }
    Ok(mask)
}

/// Decodes straight to a `width` x `height` mask, nearest neighbour (the same pixels as
/// `decode(rle)?.resize_nearest(width, height)`), without building the full-size bitmap:
/// a mask may be given at up to 8192x8192 for a 320x320 model input. Work is
/// O(width x height + runs).
pub fn decode_resized(rle: &Rle, width: usize, height: usize) -> Result<Mask, RleError> {
    let [h, w] = rle.size;
    let runs = foreground(rle)?;
    let mut out = Mask::new(width, height);
    for x in 0..width {
        let sx = (x * w / width.max(1)) as u64;
        // Source pixels of this output column, in increasing index order.
        let mut r = runs.partition_point(|&(_, end)| end <= sx * h as u64);
        for y in 0..height {
            let j = sx * h as u64 + (y * h / height.max(1)) as u64;
            while r < runs.len() && runs[r].1 <= j {
                r += 1;
            }
            if r < runs.len() && runs[r].0 <= j {
                out.data[y * width + x] = 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_from(rows: &[&str]) -> Mask {
        let h = rows.len();
        let w = rows[0].len();
        let data = rows.iter().flat_map(|r| r.bytes().map(|b| (b == b'#') as u8)).collect();
        Mask { width: w, height: h, data }
    }

    #[test]
    fn runs_are_column_major_starting_with_zeros() {
        let m = mask_from(&["#..", "#..", "..."]);
        // column 0: 1,1,0 ; columns 1,2: zeros -> runs [0, 2, 7]
        assert_eq!(runs(&m), vec![0, 2, 7]);
    }

    #[test]
    fn round_trip_random_masks() {
        let mut seed = 12345u64;
        for _ in 0..50 {
            let (w, h) = (1 + (seed % 37) as usize, 1 + (seed % 23) as usize);
            let mut m = Mask::new(w, h);
            for v in m.data.iter_mut() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *v = (seed >> 33).is_multiple_of(3) as u8;
            }
            let r = encode(&m);
            assert_eq!(decode(&r).unwrap(), m);
        }
    }

    /// Expected strings produced by pycocotools 2.0 `mask.encode` on the same masks.
    #[test]
    fn matches_pycocotools() {
        let m = mask_from(&["#..", "#..", "..."]);
        assert_eq!(encode(&m).counts, "027");
        let mut m = Mask::new(30, 40);
        for y in 5..20 {
            for x in 3..17 {
                m.set(x, y, true);
            }
        }
        for y in 30..35 {
            for x in 20..29 {
                m.set(x, y, true);
            }
        }
        let r = encode(&m);
        assert_eq!(r.size, [40, 30]);
        assert_eq!(r.counts, "m3?i00000000000000000000000000a4FiK000000000000000:");
    }

    #[test]
    fn decode_rejects_garbage() {
        let bad = Rle { size: [2, 2], counts: "~~".into() };
        assert_eq!(decode(&bad), Err(RleError::BadChar));
        let short = Rle { size: [4, 4], counts: encode(&Mask::new(2, 2)).counts };
        assert!(matches!(decode(&short), Err(RleError::Length { .. })));
    }

    /// Counts whose sum wraps a u64 (the runs below add up to 2^64 + 1) used to pass the
    /// length check in release builds and index out of bounds.
    #[test]
    fn counts_that_overflow_are_rejected_not_wrapped() {
        let bad = Rle { size: [1, 1], counts: "oooooooooooo7oooooooooooo73".into() };
        let err = decode(&bad).unwrap_err();
        assert!(matches!(err, RleError::BadChar | RleError::TooLong { .. } | RleError::NegativeRun(_)), "{err}");
        // Twelve-character counts are accepted by the parser; their sum is checked.
        let huge = Rle { size: [1, 1], counts: "0oooooooooo7".into() };
        assert_eq!(validate(&huge), Err(RleError::TooLong { want: 1 }));
        assert_eq!(decode(&huge), Err(RleError::TooLong { want: 1 }));
    }

    #[test]
    fn validate_returns_the_area_without_decoding() {
        let mut m = Mask::new(7, 5);
        m.set(1, 1, true);
        m.set(2, 1, true);
        m.set(6, 4, true);
        assert_eq!(validate(&encode(&m)), Ok(3));
        // An 8192x8192 mask of one foreground pixel: checked in one pass over 6 chars.
        let big = Rle { size: [8192, 8192], counts: pack(&[0, 1]) };
        assert_eq!(validate(&big), Err(RleError::Length { got: 1, want: 8192 * 8192 }));
        let one = Rle { size: [8192, 8192], counts: pack(&[0, 1, 8192 * 8192 - 1]) };
        assert_eq!(validate(&one), Ok(1));
    }

    #[test]
    fn decode_resized_equals_decode_then_resize() {
        let mut seed = 99u64;
        for _ in 0..40 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (w, h) = (1 + (seed >> 40) as usize % 50, 1 + (seed >> 20) as usize % 40);
            let mut m = Mask::new(w, h);
            for (i, v) in m.data.iter_mut().enumerate() {
                *v = ((seed >> (i % 61)) & 1 == 1 && i % 7 < 4) as u8;
            }
            let r = encode(&m);
            for (ow, oh) in [(1, 1), (13, 9), (64, 48), (w, h)] {
                assert_eq!(decode_resized(&r, ow, oh).unwrap(), m.resize_nearest(ow, oh), "{w}x{h} -> {ow}x{oh}");
            }
        }
    }
}
