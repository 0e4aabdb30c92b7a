//! The SQL the assistant runs: built here from an intent, read-only, over the
//! run's own results table only. Literals come from fixed lists (segments,
//! plans, country codes) or a strict user-id pattern, and every statement is
//! checked once more before it runs.

use std::sync::LazyLock;

use regex::Regex;

use super::intent::{Dimension, Filters, MIN_GROUP, Measure, Segment};
use crate::data::schema::{PLANS, is_country};

/// A statement the host built, and the one table it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub table: String,
    pub sql: String,
}

/// The run's tables the assistant may read: `<run_db>.<name>`.
pub const READABLE_TABLES: [&str; 2] = ["engagement_results", "engagement_summary"];

static RUN_DB: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^run_[a-z0-9_]{1,64}$").unwrap());
static USER_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^u\d{6,20}$").unwrap());
static WRITES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(insert|update|delete|drop|alter|create|truncate|merge|grant|revoke|msck|unload|vacuum)\b").unwrap()
});

fn results(run_db: &str) -> Result<String, String> {
    if !RUN_DB.is_match(run_db) {
        return Err(format!("'{run_db}' is not a run database"));
    }
    Ok(format!("{run_db}.engagement_results"))
}

fn where_clause(filters: &Filters) -> Result<String, String> {
    let conditions = conditions(filters)?;
    Ok(if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) })
}

/// The filters as SQL conditions, each value checked against what the table can hold.
fn conditions(filters: &Filters) -> Result<Vec<String>, String> {
    let mut conditions = Vec::new();
    if let Some(s) = filters.segment {
        conditions.push(format!("segment = '{}'", s.name()));
    }
    if let Some(p) = filters.plan {
        if !PLANS.contains(&p) {
            return Err(format!("'{p}' is not a plan"));
        }
        conditions.push(format!("plan = '{p}'"));
    }
    if let Some(c) = &filters.country {
        if !is_country(c) {
            return Err(format!("'{c}' is not a country code"));
        }
        conditions.push(format!("country = '{c}'"));
    }
    Ok(conditions)
}

/// A statement runs only when it is one SELECT over the run's readable tables.
pub fn check(query: &Query, run_db: &str) -> Result<(), String> {
    let sql = query.sql.trim();
    let allowed = READABLE_TABLES.iter().any(|t| query.table == format!("{run_db}.{t}"));
    if !sql.starts_with("SELECT ") || sql.contains(';') || sql.contains("--") || WRITES.is_match(sql) || !allowed {
        return Err(format!("refused to run '{sql}': only one SELECT over {run_db}'s results is allowed"));
    }
    // Every FROM names the allowed table.
    for (at, _) in sql.match_indices(" FROM ") {
        if !sql[at + 6..].starts_with(&query.table) {
            return Err(format!("refused to run '{sql}': it reads outside {}", query.table));
        }
    }
    Ok(())
}

pub fn count(run_db: &str, filters: &Filters) -> Result<Query, String> {
    let table = results(run_db)?;
    Ok(Query { sql: format!("SELECT count(*) AS users FROM {table}{}", where_clause(filters)?), table })
}

/// Share of the users `of` keeps that `part` also keeps, in percent with one decimal.
pub fn share(run_db: &str, part: &Filters, of: &Filters) -> Result<Query, String> {
    let table = results(run_db)?;
    let part = conditions(part)?;
    if part.is_empty() {
        return Err("a share of which users? The question names no segment, plan or country".into());
    }
    let part = part.join(" AND ");
    Ok(Query {
        sql: format!(
            "SELECT count_if({part}) AS users, count(*) AS total, round(100.0 * count_if({part}) / count(*), 1) AS percent FROM {table}{}",
            where_clause(of)?
        ),
        table,
    })
}

pub fn avg_probability(run_db: &str, filters: &Filters) -> Result<Query, String> {
    let table = results(run_db)?;
    Ok(Query {
        sql: format!("SELECT round(avg(probability), 3) AS avg_probability, count(*) AS users FROM {table}{}", where_clause(filters)?),
        table,
    })
}

/// Every group of a dimension with its users and average probability, best first by `measure`.
pub fn rank(run_db: &str, dimension: Dimension, measure: Measure, highest: bool, filters: &Filters) -> Result<Query, String> {
    let table = results(run_db)?;
    let column = dimension.column();
    let direction = if highest { "DESC" } else { "ASC" };
    // An average over a handful of users says little: groups of at least MIN_GROUP users rank first.
    let order = match measure {
        Measure::Users => format!("users {direction}"),
        // On the exact average, not the rounded one shown: two groups that round alike still rank apart.
        Measure::AvgProbability => format!("CASE WHEN count(*) >= {MIN_GROUP} THEN 0 ELSE 1 END, avg(probability) {direction}"),
    };
    Ok(Query {
        sql: format!(
            "SELECT {column}, count(*) AS users, round(avg(probability), 3) AS avg_probability FROM {table}{} GROUP BY {column} ORDER BY {order}, {column} LIMIT 5",
            where_clause(filters)?
        ),
        table,
    })
}

/// Every group of a dimension with its users and average probability, by value.
pub fn breakdown(run_db: &str, dimension: Dimension, filters: &Filters) -> Result<Query, String> {
    let table = results(run_db)?;
    let column = dimension.column();
    Ok(Query {
        sql: format!(
            "SELECT {column}, count(*) AS users, round(avg(probability), 3) AS avg_probability FROM {table}{} GROUP BY {column} ORDER BY {column}",
            where_clause(filters)?
        ),
        table,
    })
}

/// The share of `segment` in every group of a dimension with at least `min_users` users, highest (or lowest) first.
pub fn group_shares(run_db: &str, segment: Segment, dimension: Dimension, filters: &Filters, min_users: u64, highest: bool) -> Result<Query, String> {
    let table = results(run_db)?;
    let column = dimension.column();
    let s = segment.name();
    let direction = if highest { "DESC" } else { "ASC" };
    Ok(Query {
        sql: format!(
            "SELECT {column}, count_if(segment = '{s}') AS segment_users, count(*) AS users, round(100.0 * count_if(segment = '{s}') / count(*), 1) AS percent FROM {table}{} GROUP BY {column} HAVING count(*) >= {min_users} ORDER BY CAST(count_if(segment = '{s}') AS DOUBLE) / count(*) {direction}, {column}",
            where_clause(filters)?
        ),
        table,
    })
}

/// The `n` users with the highest (or lowest) probability among those `filters` keeps; ties by user id. Ordered on
/// the exact probability: the rounded one shown is named apart, or ORDER BY would sort on it.
pub fn top_users(run_db: &str, n: usize, highest: bool, filters: &Filters) -> Result<Query, String> {
    let table = results(run_db)?;
    let direction = if highest { "DESC" } else { "ASC" };
    let n = n.clamp(1, super::intent::TOP_USERS_MAX);
    Ok(Query {
        sql: format!(
            "SELECT user_id, round(probability, 3) AS rounded_probability, segment, plan, country FROM {table}{} ORDER BY probability {direction}, user_id LIMIT {n}",
            where_clause(filters)?
        ),
        table,
    })
}

/// User ids are unique: `LIMIT 1` lets the scan stop at the first match.
pub fn user(run_db: &str, user_id: &str) -> Result<Query, String> {
    if !USER_ID.is_match(user_id) {
        return Err(format!("'{user_id}' is not a user id"));
    }
    let table = results(run_db)?;
    Ok(Query {
        sql: format!(
            "SELECT user_id, round(probability, 3) AS probability, segment, plan, country, reasons FROM {table} WHERE user_id = '{user_id}' LIMIT 1"
        ),
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_only_checked_reads_of_the_run() {
        let f = Filters { segment: Some(Segment::High), plan: Some("pro"), country: Some("DE".into()) };
        let q = count("run_20261125_101500_a3f9", &f).unwrap();
        assert_eq!(
            q.sql,
            "SELECT count(*) AS users FROM run_20261125_101500_a3f9.engagement_results WHERE segment = 'high' AND plan = 'pro' AND country = 'DE'"
        );
        check(&q, "run_20261125_101500_a3f9").unwrap();
        assert!(count("engage; drop", &f).is_err());
        assert!(user("run_x", "u1' OR '1'='1").is_err());
        let top = top_users("run_x", 500, false, &Filters { country: Some("DE".into()), ..Default::default() }).unwrap();
        assert!(top.sql.ends_with("WHERE country = 'DE' ORDER BY probability ASC, user_id LIMIT 50"), "{}", top.sql);
        check(&top, "run_x").unwrap();
        assert!(count("run_x", &Filters { country: Some("D'E".into()), ..Default::default() }).is_err());
        let sneaky = Query {
            table: "run_x.engagement_results".into(),
            sql: "SELECT * FROM run_x.engagement_results UNION SELECT * FROM engage.users".into(),
        };
        assert!(check(&sneaky, "run_x").is_err());
        let write = Query { table: "run_x.engagement_results".into(), sql: "SELECT 1 FROM run_x.engagement_results; DROP TABLE x".into() };
        assert!(check(&write, "run_x").is_err());
    }
}
