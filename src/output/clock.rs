//! UTC RFC 3339 timestamps (`2026-11-21T23:22:58.123Z`) from `SystemTime`.
use std::time::{SystemTime, UNIX_EPOCH};

/// Now, formatted.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339_from_unix_millis(d.as_millis() as i64)
}

/// Formats milliseconds since the Unix epoch (UTC).
pub fn rfc3339_from_unix_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", sod / 3600, (sod / 60) % 60, sod % 60)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_from_unix_millis(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 12:34:56.789 UTC (leap day) = 951827696789 ms
        assert_eq!(rfc3339_from_unix_millis(951_827_696_789), "2000-02-29T12:34:56.789Z");
        // 2026-11-21T23:22:58Z
        assert_eq!(rfc3339_from_unix_millis(1_795_303_378_000), "2026-11-21T23:22:58.000Z");
    }
}
