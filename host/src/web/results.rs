//! The results table behind the web app: filters from a query string (segment,
//! plan, country, score range), checked against fixed lists, turned into one
//! read-only SELECT over the run's `engagement_results`; rows for a page, or CSV.

use serde::Deserialize;

use crate::assistant::intent::{Filters, Segment};
use crate::capabilities::sql::athena::render;
use crate::capabilities::sql::{QueryResult, SqlEngine};
use crate::data::schema::{PLANS, is_country};

/// Columns the results page shows and the CSV exports.
pub const COLUMNS: [&str; 8] = ["user_id", "segment", "probability", "confidence", "plan", "country", "reasons", "snapshot_date"];
/// Rows shown on one page.
pub const PAGE_ROWS: usize = 100;

/// The filters as the browser sends them; empty fields mean "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FilterParams {
    #[serde(default)]
    pub segment: String,
    #[serde(default)]
    pub plan: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub min: String,
    #[serde(default)]
    pub max: String,
}

/// Checked filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultFilters {
    pub who: Filters,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

fn score(name: &str, text: &str) -> Result<Option<f64>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(Some(v)),
        _ => Err(format!("{name} score '{text}' is not a number between 0 and 1")),
    }
}

impl FilterParams {
    pub fn check(&self) -> Result<ResultFilters, String> {
        let segment = match self.segment.trim() {
            "" => None,
            s => Some(
                Segment::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| format!("segment '{s}' is not one of high, medium, low"))?,
            ),
        };
        let plan = match self.plan.trim() {
            "" => None,
            p => Some(*PLANS.iter().find(|x| **x == p).ok_or_else(|| format!("plan '{p}' is not one of {}", PLANS.join(", ")))?),
        };
        let country = match self.country.trim().to_uppercase().as_str() {
            "" => None,
            c if is_country(c) => Some(c.to_string()),
            c => return Err(format!("country '{c}' is not an ISO 3166 alpha-2 code")),
        };
        let (min, max) = (score("minimum", &self.min)?, score("maximum", &self.max)?);
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            return Err(format!("the minimum score {a} is above the maximum {b}"));
        }
        Ok(ResultFilters { who: Filters { segment, plan, country }, min, max })
    }

    /// The same filters as a query string (for the CSV link and paging).
    pub fn query_string(&self) -> String {
        let enc = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect::<String>();
        format!(
            "segment={}&plan={}&country={}&min={}&max={}",
            enc(&self.segment),
            enc(&self.plan),
            enc(&self.country),
            enc(&self.min),
            enc(&self.max)
        )
    }
}

fn where_clause(f: &ResultFilters) -> String {
    let mut c = Vec::new();
    if let Some(s) = f.who.segment {
        c.push(format!("segment = '{}'", s.name()));
    }
    if let Some(p) = f.who.plan {
        c.push(format!("plan = '{p}'"));
    }
    if let Some(country) = &f.who.country {
        c.push(format!("country = '{country}'"));
    }
    if let Some(v) = f.min {
        c.push(format!("probability >= {v}"));
    }
    if let Some(v) = f.max {
        c.push(format!("probability <= {v}"));
    }
    if c.is_empty() { String::new() } else { format!(" WHERE {}", c.join(" AND ")) }
}

/// Matching rows, best score first; `limit` None for all of them.
pub fn select(run_db: &str, f: &ResultFilters, limit: Option<usize>) -> String {
    let limit = limit.map_or(String::new(), |n| format!(" LIMIT {n}"));
    format!("SELECT {} FROM {run_db}.engagement_results{} ORDER BY probability DESC, user_id{limit}", COLUMNS.join(", "), where_clause(f))
}

pub fn count(run_db: &str, f: &ResultFilters) -> String {
    format!("SELECT count(*) FROM {run_db}.engagement_results{}", where_clause(f))
}

pub fn rows(sql: &dyn SqlEngine, statement: &str) -> Result<Vec<Vec<String>>, String> {
    let result: QueryResult = sql.query(statement).map_err(|e| format!("reading the results: {e}"))?;
    Ok(render::rows(&result.batches).into_iter().map(|r| r.into_iter().map(Option::unwrap_or_default).collect()).collect())
}

pub fn csv(rows: &[Vec<String>]) -> Result<String, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(COLUMNS).map_err(|e| e.to_string())?;
    for r in rows {
        writer.write_record(r).map_err(|e| e.to_string())?;
    }
    String::from_utf8(writer.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_before_any_sql() {
        let p = FilterParams { segment: "high".into(), plan: "pro".into(), country: "de".into(), min: "0.5".into(), max: "".into() };
        let f = p.check().unwrap();
        assert_eq!(
            select("run_x", &f, Some(10)),
            "SELECT user_id, segment, probability, confidence, plan, country, reasons, snapshot_date FROM run_x.engagement_results WHERE segment = 'high' AND plan = 'pro' AND country = 'DE' AND probability >= 0.5 ORDER BY probability DESC, user_id LIMIT 10"
        );
        for bad in [
            FilterParams { plan: "pro' OR '1'='1".into(), ..Default::default() },
            FilterParams { country: "D'E".into(), ..Default::default() },
            FilterParams { min: "0.5; drop table x".into(), ..Default::default() },
            FilterParams { min: "0.9".into(), max: "0.1".into(), ..Default::default() },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
