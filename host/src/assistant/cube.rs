//! The results table folded once, at the knowledge step, into its users and
//! probability sum per (segment, plan, country): a few hundred rows kept in
//! `facts.json` as `results_cube`. Counts, shares, averages and rankings over any
//! combination of those filters are exact sums over it, so they cost
//! microseconds whatever the number of users, instead of a scan of the results
//! table per question. The answer cites the query that built the cube and shows
//! the figures it summed as evidence.

use serde_json::{Value, json};

use super::intent::{Dimension, Filters, MIN_GROUP, Measure, Segment};
use crate::capabilities::sql::SqlEngine;
use crate::capabilities::sql::athena::render;

/// Facts key of the cube.
pub const FACTS_KEY: &str = "results_cube";

/// The statement that builds the cube from `results` (`<run_db>.engagement_results`).
pub fn statement(results: &str) -> String {
    format!(
        "SELECT segment, plan, country, count(*) AS users, sum(probability) AS probability_sum FROM {results} GROUP BY segment, plan, country ORDER BY segment, plan, country"
    )
}

/// The cube of `results` as the facts hold it: `{"table", "sql", "rows": [[segment, plan, country, users, probability_sum], ...]}`.
pub fn build(sql: &dyn SqlEngine, results: &str) -> Result<Value, String> {
    let statement = statement(results);
    let result = sql.query(&statement).map_err(|e| format!("building the results cube: {e}"))?;
    let rows: Vec<Value> = render::rows(&result.batches)
        .into_iter()
        .map(|r| {
            let text = |i: usize| r.get(i).cloned().flatten().map_or(Value::Null, Value::String);
            let number = |i: usize| r.get(i).cloned().flatten().and_then(|v| v.parse::<f64>().ok());
            json!([text(0), text(1), text(2), number(3).unwrap_or(0.0) as u64, number(4).unwrap_or(0.0)])
        })
        .collect();
    Ok(json!({ "table": results, "sql": statement, "rows": rows }))
}

struct Row {
    segment: Option<String>,
    plan: Option<String>,
    country: Option<String>,
    users: u64,
    probability_sum: f64,
}

pub struct Cube {
    pub table: String,
    pub sql: String,
    rows: Vec<Row>,
}

/// Rounds like SQL's `round(x, digits)`: half away from zero.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

impl Cube {
    /// The cube a run's facts hold, if the knowledge step built one.
    pub fn from_facts(facts: &Value) -> Option<Cube> {
        let cube = facts.get(FACTS_KEY)?;
        let text = |v: &Value| v.as_str().map(str::to_string);
        let rows = cube["rows"]
            .as_array()?
            .iter()
            .map(|r| {
                Some(Row {
                    segment: text(&r[0]),
                    plan: text(&r[1]),
                    country: text(&r[2]),
                    users: r[3].as_u64()?,
                    probability_sum: r[4].as_f64()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Cube { table: cube["table"].as_str()?.to_string(), sql: cube["sql"].as_str()?.to_string(), rows })
    }

    fn matching<'a>(&'a self, f: &'a Filters) -> impl Iterator<Item = &'a Row> + 'a {
        self.rows.iter().filter(move |r| keeps(f, r))
    }

    /// Users matching `f`.
    pub fn count(&self, f: &Filters) -> u64 {
        self.matching(f).map(|r| r.users).sum()
    }

    /// (users `part` keeps, users, percent with one decimal) among those matching `of`; `None` when none match.
    pub fn share(&self, part: &Filters, of: &Filters) -> Option<(u64, u64, f64)> {
        let total = self.count(of);
        let users: u64 = self.matching(of).filter(|r| keeps(part, r)).map(|r| r.users).sum();
        (total > 0).then(|| (users, total, round(100.0 * users as f64 / total as f64, 1)))
    }

    /// (average probability with three decimals, users) of those matching `f`; `None` when none match.
    pub fn average(&self, f: &Filters) -> Option<(f64, u64)> {
        let users = self.count(f);
        let sum: f64 = self.matching(f).map(|r| r.probability_sum).sum();
        (users > 0).then(|| (round(sum / users as f64, 3), users))
    }

    /// Every group of `dimension` among the users matching `f`: (value, users, probability sum, users matching `segment`).
    fn groups(&self, dimension: Dimension, f: &Filters, segment: Option<Segment>) -> Vec<(Option<String>, u64, f64, u64)> {
        let mut groups: Vec<(Option<String>, u64, f64, u64)> = Vec::new();
        for r in self.matching(f) {
            let key = match dimension {
                Dimension::Segment => &r.segment,
                Dimension::Plan => &r.plan,
                Dimension::Country => &r.country,
            };
            let in_segment = if segment.is_some_and(|s| r.segment.as_deref() == Some(s.name())) { r.users } else { 0 };
            match groups.iter_mut().find(|g| &g.0 == key) {
                Some(g) => {
                    g.1 += r.users;
                    g.2 += r.probability_sum;
                    g.3 += in_segment;
                }
                None => groups.push((key.clone(), r.users, r.probability_sum, in_segment)),
            }
        }
        groups.retain(|g| g.1 > 0);
        groups
    }

    /// Every group of `dimension` among the users matching `f`: (value, users, average probability), ordered by value (NULL last).
    pub fn breakdown(&self, dimension: Dimension, f: &Filters) -> Vec<(Option<String>, u64, f64)> {
        let mut groups: Vec<(Option<String>, u64, f64)> =
            self.groups(dimension, f, None).into_iter().map(|(k, users, sum, _)| (k, users, round(sum / users as f64, 3))).collect();
        groups.sort_by(|a, b| by_value(&a.0, &b.0));
        groups
    }

    /// The share of `segment` in each group of `dimension` with at least `min_users` users matching `f`:
    /// (value, users in the segment, users, percent with one decimal), highest share first (or lowest), ties by value.
    pub fn group_shares(&self, segment: Segment, dimension: Dimension, f: &Filters, min_users: u64, highest: bool) -> Vec<(Option<String>, u64, u64, f64)> {
        let mut groups: Vec<(Option<String>, u64, u64, f64)> = self
            .groups(dimension, f, Some(segment))
            .into_iter()
            .filter(|g| g.1 >= min_users)
            .map(|(k, users, _, in_segment)| (k, in_segment, users, 100.0 * in_segment as f64 / users as f64))
            .collect();
        // On the exact share; rounded only for the answer.
        groups.sort_by(|a, b| {
            let by = a.3.total_cmp(&b.3);
            if highest { by.reverse() } else { by }.then_with(|| by_value(&a.0, &b.0))
        });
        groups.into_iter().map(|(k, in_segment, users, percent)| (k, in_segment, users, round(percent, 1))).collect()
    }

    /// Up to 5 groups of `dimension` among the users matching `f`: (value, users, average probability), best first by `measure`, ties by value.
    pub fn rank(&self, dimension: Dimension, measure: Measure, highest: bool, f: &Filters) -> Vec<(Option<String>, u64, f64)> {
        let groups: Vec<(Option<String>, u64, f64)> = self.groups(dimension, f, None).into_iter().map(|(k, users, sum, _)| (k, users, sum)).collect();
        Self::ranked(groups, measure, highest)
    }

    fn ranked(groups: Vec<(Option<String>, u64, f64)>, measure: Measure, highest: bool) -> Vec<(Option<String>, u64, f64)> {
        // Ranked on the exact average, rounded only for the answer: GB 0.60412 comes before CA 0.60398, though both show 0.604.
        let mut groups: Vec<(Option<String>, u64, f64)> =
            groups.into_iter().filter(|g| g.1 > 0).map(|(k, users, sum)| (k, users, sum / users as f64)).collect();
        // An average over a handful of users says little: groups of at least MIN_GROUP users rank first.
        let small = |g: &(Option<String>, u64, f64)| measure == Measure::AvgProbability && g.1 < MIN_GROUP;
        groups.sort_by(|a, b| {
            let by = match measure {
                Measure::Users => a.1.cmp(&b.1),
                Measure::AvgProbability => a.2.total_cmp(&b.2),
            };
            let by = if highest { by.reverse() } else { by };
            small(a).cmp(&small(b)).then(by).then_with(|| by_value(&a.0, &b.0))
        });
        groups.truncate(5);
        groups.into_iter().map(|(k, users, avg)| (k, users, round(avg, 3))).collect()
    }
}

/// Groups by value, NULL last, as in SQL's ascending order.
fn by_value(a: &Option<String>, b: &Option<String>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// Does the cube row fall within `f`?
fn keeps(f: &Filters, r: &Row) -> bool {
    f.segment.is_none_or(|s| r.segment.as_deref() == Some(s.name()))
        && f.plan.is_none_or(|p| r.plan.as_deref() == Some(p))
        && f.country.as_deref().is_none_or(|c| r.country.as_deref() == Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube() -> Cube {
        let facts = json!({ FACTS_KEY: { "table": "run_x.engagement_results", "sql": "SELECT ...", "rows": [
            ["high", "pro", "DE", 3, 2.4], ["low", "pro", "DE", 1, 0.1], ["high", "free", "US", 2, 1.5], ["medium", "free", null, 4, 2.0]
        ]}});
        Cube::from_facts(&facts).unwrap()
    }

    #[test]
    fn sums_exactly_over_any_filter_combination() {
        let c = cube();
        assert_eq!(c.count(&Filters::default()), 10);
        assert_eq!(c.count(&Filters { plan: Some("pro"), segment: Some(Segment::High), ..Default::default() }), 3);
        assert_eq!(c.count(&Filters { country: Some("FR".into()), ..Default::default() }), 0);
        let high = Filters { segment: Some(Segment::High), ..Default::default() };
        assert_eq!(c.share(&high, &Filters::default()), Some((5, 10, 50.0)));
        // Of the 5 high users, 3 are on the pro plan.
        assert_eq!(c.share(&Filters { plan: Some("pro"), ..Default::default() }, &high), Some((3, 5, 60.0)));
        assert_eq!(c.average(&Filters { plan: Some("pro"), ..Default::default() }), Some((0.625, 4)));
        assert_eq!(c.average(&Filters { country: Some("FR".into()), ..Default::default() }), None);
        let by_users = c.rank(Dimension::Plan, Measure::Users, true, &Filters::default());
        assert_eq!(by_users, vec![(Some("free".into()), 6, 0.583), (Some("pro".into()), 4, 0.625)]);
        assert_eq!(c.rank(Dimension::Country, Measure::Users, false, &Filters::default())[0].0, Some("US".into()));
        assert_eq!(c.rank(Dimension::Country, Measure::Users, true, &Filters::default()).last().unwrap().0, Some("US".into()));
        let high = Filters { segment: Some(Segment::High), ..Default::default() };
        assert_eq!(c.rank(Dimension::Plan, Measure::Users, true, &high)[0], (Some("pro".into()), 3, 0.8));
        assert_eq!(c.breakdown(Dimension::Segment, &Filters::default())[0], (Some("high".into()), 5, 0.78));
        // pro: 3 of 4 high; free: 2 of 6.
        assert_eq!(c.group_shares(Segment::High, Dimension::Plan, &Filters::default(), 1, true), vec![
            (Some("pro".into()), 3, 4, 75.0),
            (Some("free".into()), 2, 6, 33.3)
        ]);
        assert!(c.group_shares(Segment::High, Dimension::Plan, &Filters::default(), 5, true).iter().all(|g| g.2 >= 5));
    }

    /// Averages that round alike rank by their exact value: GB (0.60412) before CA (0.60398), both shown as 0.604.
    #[test]
    fn ranks_on_the_exact_average_not_the_rounded_one() {
        let rows: Vec<Value> = [("CA", 0.60398), ("GB", 0.60412), ("ES", 0.609), ("JP", 0.608), ("BR", 0.605), ("FR", 0.61)]
            .iter()
            .map(|(c, avg)| json!(["high", "pro", c, 100, avg * 100.0]))
            .collect();
        let c = Cube::from_facts(&json!({ FACTS_KEY: { "table": "t", "sql": "s", "rows": rows } })).unwrap();
        let ranked: Vec<String> =
            c.rank(Dimension::Country, Measure::AvgProbability, true, &Filters::default()).into_iter().map(|g| g.0.unwrap()).collect();
        assert_eq!(ranked, ["FR", "ES", "JP", "BR", "GB"]);
        let lowest = c.rank(Dimension::Country, Measure::AvgProbability, false, &Filters::default());
        assert_eq!((lowest[0].0.as_deref(), lowest[0].2, lowest[1].0.as_deref()), (Some("CA"), 0.604, Some("GB")));
    }
}
