//! The run metadata columns as SQL expressions, from strings the pipeline passes.

use engage_plugin_sdk::stage::sql_string;

/// `scored_at` as a SQL timestamp: the run's start if given, else the UTC time a run id
/// (`YYYYMMDD-HHMMSS-xxxx`) carries, else NULL. Athena tables hold zone-less timestamps, so
/// the UTC instant is cast to one.
pub fn scored_at(run_started: Option<&str>, run_id: &str) -> Result<String, String> {
    let iso = match run_started {
        Some(text) => {
            let ok = text.len() >= 19 && text.bytes().all(|b| b.is_ascii_digit() || b"-:.TZ+".contains(&b));
            if !ok {
                return Err(format!("param 'run_started': '{text}' is not an RFC 3339 time like 2026-11-25T10:15:00Z"));
            }
            Some(text.to_string())
        }
        None => from_run_id(run_id),
    };
    Ok(match iso {
        Some(iso) => format!("CAST(from_iso8601_timestamp({}) AS timestamp)", sql_string(&iso)),
        None => "CAST(NULL AS timestamp)".to_string(),
    })
}

/// `20261125-101500-a3f9` → `2026-11-25T10:15:00Z`; None for ids of another shape.
fn from_run_id(run_id: &str) -> Option<String> {
    let mut parts = run_id.split('-');
    let (date, time) = (parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(date, 8) || !digits(time, 6) {
        return None;
    }
    Some(format!("{}-{}-{}T{}:{}:{}Z", &date[..4], &date[4..6], &date[6..], &time[..2], &time[2..4], &time[4..]))
}
