//! Data-quality checks a stage computes (with SQL) and reports: each one is a
//! `{name, value, limit, ok}` entry of the summary, and any failure fails the
//! stage with an error the pipeline classifies as `data-quality`.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub value: f64,
    /// The rule as a person reads it: `>= 1000`, `<= 0.2`, `between 0.01 and 0.99`.
    pub limit: String,
    pub ok: bool,
}

impl Check {
    pub fn at_least(name: impl Into<String>, value: f64, min: f64) -> Self {
        Self { name: name.into(), value, limit: format!(">= {}", number(min)), ok: value >= min }
    }

    pub fn at_most(name: impl Into<String>, value: f64, max: f64) -> Self {
        Self { name: name.into(), value, limit: format!("<= {}", number(max)), ok: value <= max }
    }

    pub fn between(name: impl Into<String>, value: f64, min: f64, max: f64) -> Self {
        let limit = format!("between {} and {}", number(min), number(max));
        Self { name: name.into(), value, limit, ok: (min..=max).contains(&value) }
    }

    /// A count that must be zero (duplicates, orphans, values out of range).
    pub fn none(name: impl Into<String>, count: f64) -> Self {
        Self::at_most(name, count, 0.0)
    }
}

/// `Err("data-quality: ...")` naming every failed check with its value and limit.
pub fn verdict(stage: &str, checks: &[Check]) -> Result<(), String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{} = {} (limit {})", c.name, number(c.value), c.limit))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "data-quality: stage '{stage}': {} of {} checks failed: {}",
        failed.len(),
        checks.len(),
        failed.join("; ")
    ))
}

/// Whole numbers without decimals, others to 4 significant decimals.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let text = format!("{v:.4}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        // Tiny rates must not read as zero.
        if text == "0" || text == "-0" { format!("{v:.2e}") } else { text.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_a_person_writes_them() {
        assert_eq!(number(9000.0), "9000");
        assert_eq!(number(0.58912), "0.5891");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(0.00001234), "1.23e-5");
    }

    #[test]
    fn the_verdict_lists_only_failed_checks_with_value_and_limit() {
        let checks = [
            Check::at_least("training_rows", 9000.0, 1e6),
            Check::between("label_rate", 0.5, 0.01, 0.99),
            Check::none("segment_null", 2.0),
        ];
        let error = verdict("prepare", &checks).unwrap_err();
        assert_eq!(
            error,
            "data-quality: stage 'prepare': 2 of 3 checks failed: training_rows = 9000 (limit >= 1000000); segment_null = 2 (limit <= 0)"
        );
        assert!(verdict("prepare", &checks[1..2]).is_ok());
    }
}
