//! Limits every guest runs under. Breaking one stops that guest with an error
//! naming the stage, the limit and the value.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuestLimits {
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    /// Wall time for one call into the guest (a stage's `run`, one transform batch).
    #[serde(with = "duration_secs")]
    pub timeout: Duration,
    /// Largest value a guest may hand back: a transform batch, a stage summary,
    /// an object it writes, a query result it reads whole.
    pub output_bytes: usize,
}

impl Default for GuestLimits {
    fn default() -> Self {
        Self { memory_bytes: 1 << 30, timeout: Duration::from_secs(600), output_bytes: 512 << 20 }
    }
}

/// Whole and fractional seconds in pipeline files (`timeout = 30` or `0.5`).
mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Human-readable byte counts for error messages.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
