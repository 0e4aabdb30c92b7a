//! The assistant: business questions about a run, answered with citations.
//! Structured questions (counts, shares, averages, rankings, a user, metrics,
//! drivers, thresholds, ingest, changes) are answered from the run's results
//! table through SQL the host builds (`query`), or from the knowledge base's
//! facts; other questions from the chunks BM25 finds (`retrieval`). Whatever
//! the source, a number the cited evidence does not hold is never stated
//! (`answer::finish`), and nothing in a document changes what runs: documents
//! are only ever quoted, never followed.

pub mod answer;
pub mod chunks;
mod countries;
pub mod cube;
pub mod eval;
pub mod grounded;
pub mod intent;
pub mod kb;
pub mod numbers;
pub mod query;
pub mod retrieval;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde_json::Value;

use self::answer::{Answer, Citation, Draft, Outcome, finish};
use self::intent::{Dimension, Filters, IngestFigure, Intent, Measure, ModelFigure, Segment};
use self::kb::KnowledgeBase;
use self::query::Query;
use self::retrieval::{Hit, Index};
use crate::capabilities::sql::SqlEngine;
use crate::capabilities::sql::athena::render;
use crate::pipeline::steps::knowledge::short;

/// Chunks offered as the closest sources when declining, and the recall cut-off.
const RETRIEVED: usize = 5;
/// Groups a breakdown lists by name; the rest are summed.
const BREAKDOWN_SHOWN: usize = 12;
/// Share of a question's subject words a chunk must hold to answer from it.
const MIN_COVERAGE: f64 = 0.6;

pub struct Assistant {
    pub kb: KnowledgeBase,
    index: Index,
    sql: Arc<dyn SqlEngine>,
    /// The run's results folded by segment, plan and country, when the knowledge step built it.
    cube: Option<cube::Cube>,
}

fn fact_text(v: &Value) -> Option<String> {
    v.as_f64().map(|f| if v.is_u64() || v.is_i64() { format!("{}", f as i64) } else { short(f) })
}

impl Assistant {
    pub fn new(kb: KnowledgeBase, sql: Arc<dyn SqlEngine>) -> Self {
        let index = Index::build(&kb.chunks);
        let cube = cube::Cube::from_facts(&kb.facts);
        Self { kb, index, sql, cube }
    }

    /// The assistant over a local storage root: `run`'s knowledge base (default the newest published run) and the local SQL engine.
    pub fn open_local(host: &crate::local_host::LocalHost, run: Option<&str>) -> Result<Self> {
        let kb = KnowledgeBase::load(host.object_store(), run)?;
        Ok(Self::new(kb, host.sql()?))
    }

    pub fn ask(&self, question: &str) -> Answer {
        let started = Instant::now();
        let intent = intent::parse(question);
        let hits = self.index.search(question, RETRIEVED);
        let closest = self.closest(&hits);
        let outcome = self.outcome(&intent, question, &hits);
        let (status, mut draft) = finish(outcome, &closest);
        // A plan, country, segment or breakdown the question names that this answer is not narrowed to: said, never dropped silently.
        let unapplied = intent::unapplied(question, &intent);
        if status == answer::Status::Answered && !unapplied.is_empty() {
            draft.text += &format!(" Note: this answer is not narrowed to {}; the run records it for all users only.", unapplied.join(", "));
        }
        Answer {
            question: question.to_string(),
            run_id: self.kb.run_id.clone(),
            status,
            text: draft.text,
            value: draft.value,
            citations: draft.citations,
            evidence: draft.evidence,
            retrieved: hits.iter().map(|h| self.kb.chunks[h.chunk].id.clone()).collect(),
            intent: format!("{intent:?}"),
            millis: started.elapsed().as_secs_f64() * 1000.0,
        }
    }

    /// The chunks a decline offers as the closest sources: the best 3 hits, as (id, heading).
    fn closest(&self, hits: &[Hit]) -> Vec<(String, String)> {
        hits.iter().take(3).map(|h| (self.kb.chunks[h.chunk].id.clone(), self.kb.chunks[h.chunk].heading.clone())).collect()
    }

    fn outcome(&self, intent: &Intent, question: &str, hits: &[Hit]) -> Outcome {
        let result = match intent {
            Intent::Refuse(why) => return Outcome::Refuse(why.clone()),
            Intent::Unsupported(why) => return Outcome::Decline(why.clone()),
            Intent::Count(f) => self.count(f),
            Intent::Share { part, of } => self.share(part, of),
            Intent::AvgProbability(f) => self.average(f),
            Intent::Rank { dimension, measure, highest, filters } => self.rank(*dimension, *measure, *highest, filters),
            Intent::Breakdown { dimension, measure, filters } => self.breakdown(*dimension, *measure, filters),
            Intent::GroupShare { segment, dimension, filters, highest } => self.group_share(*segment, *dimension, filters, *highest),
            Intent::SegmentDefinitions => self.segment_definitions(),
            Intent::DataQuality => self.data_quality(),
            Intent::User(id) => self.user(id),
            Intent::TopUsers { n, highest, filters } => self.top_users(*n, *highest, filters),
            Intent::Metric { name, baseline } => self.metric(name, *baseline),
            Intent::TopDrivers(n) => self.drivers(*n),
            Intent::Threshold(s) => self.threshold(*s),
            Intent::Ingest(f) => self.ingest(*f),
            Intent::Model(f) => self.model(*f),
            Intent::Changes => self.changes(),
            Intent::Drift => self.drift(),
            Intent::SegmentSizes(s) => self.segment_sizes(*s),
            Intent::Migration { from, to } => self.migration(*from, *to),
            Intent::RealizedAuc => self.realized_auc(),
            Intent::LastWeek => self.last_week(),
            Intent::Search => return self.search(question, hits),
        };
        result.unwrap_or_else(Outcome::Decline)
    }

    /// Runs a host-built query; its rows (as `column=value` lines) are the evidence.
    fn run(&self, q: &Query) -> Result<(Vec<String>, Vec<Vec<Option<String>>>, String), String> {
        query::check(q, &self.kb.run_db)?;
        let result = self.sql.query(&q.sql).map_err(|e| format!("the query on {} failed: {e}", q.table))?;
        let names: Vec<String> = result.schema.fields().iter().map(|f| f.name().clone()).collect();
        let rows = render::rows(&result.batches);
        let evidence = rows
            .iter()
            .map(|r| names.iter().zip(r).map(|(n, v)| format!("{n}={}", v.as_deref().unwrap_or("NULL"))).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n");
        Ok((names, rows, evidence))
    }

    fn sql_citation(q: &Query) -> Citation {
        Citation::Query { table: q.table.clone(), sql: q.sql.clone() }
    }

    fn chunk_citation(&self, id: &str) -> Result<(Citation, String), String> {
        let c = self.kb.chunk(id).ok_or_else(|| format!("the knowledge base of run {} has no section {id}", self.kb.run_id))?;
        Ok((Citation::Chunk { id: c.id.clone(), source: c.source.clone(), heading: c.heading.clone() }, c.text.clone()))
    }

    fn who(f: &Filters) -> String {
        let mut parts = Vec::new();
        if let Some(p) = f.plan {
            parts.push(format!("on the {p} plan"));
        }
        if let Some(c) = &f.country {
            parts.push(format!("in country {c}"));
        }
        if let Some(s) = f.segment {
            parts.push(format!("in the {} segment", s.name()));
        }
        if parts.is_empty() { "scored in this run".into() } else { parts.join(", ") }
    }

    /// The citation and evidence of an answer summed from the cube: the query that built it, and the figures.
    /// What a ranking by average puts first (see `query::rank`), for the evidence.
    fn ranked_first(measure: Measure) -> String {
        match measure {
            Measure::AvgProbability => format!(", groups of at least {} users ranked first", intent::MIN_GROUP),
            Measure::Users => String::new(),
        }
    }

    fn from_cube(cube: &cube::Cube, what: &str, figures: String) -> (Citation, String) {
        let evidence = format!("{what}, summed from the run's results cube (facts.json {}), built by the query cited:\n{figures}", cube::FACTS_KEY);
        (Citation::Query { table: cube.table.clone(), sql: cube.sql.clone() }, evidence)
    }

    fn count(&self, f: &Filters) -> Result<Outcome, String> {
        let (n, citation, evidence) = match &self.cube {
            Some(c) => {
                let n = c.count(f).to_string();
                let (citation, evidence) = Self::from_cube(c, &format!("users {}", Self::who(f)), format!("users={n}"));
                (n, citation, evidence)
            }
            None => {
                let q = query::count(&self.kb.run_db, f)?;
                let (_, rows, evidence) = self.run(&q)?;
                (rows.first().and_then(|r| r[0].clone()).ok_or("the count returned no row")?, Self::sql_citation(&q), evidence)
            }
        };
        let low = if f.segment == Some(Segment::Low) {
            " (likely to disengage next week)"
        } else if f.segment == Some(Segment::High) {
            " (likely to engage next week)"
        } else {
            ""
        };
        let text = format!("{n} users {}{low}.", Self::who(f));
        Ok(Outcome::Draft(Draft::new(text).value(n.parse().unwrap_or(f64::NAN)).cite(citation, evidence)))
    }

    fn share(&self, part: &Filters, f: &Filters) -> Result<Outcome, String> {
        let (users, total, percent, citation, evidence) = match &self.cube {
            Some(c) => {
                let (users, total, percent) = match c.share(part, f) {
                    Some((u, t, p)) => (u.to_string(), t.to_string(), p.to_string()),
                    None => ("0".into(), "0".into(), "NULL".into()),
                };
                let figures = format!("users={users} total={total} percent={percent}");
                let (citation, evidence) = Self::from_cube(c, &format!("users {} among users {}", Self::who(part), Self::who(f)), figures);
                (users, total, percent, citation, evidence)
            }
            None => {
                let q = query::share(&self.kb.run_db, part, f)?;
                let (_, rows, evidence) = self.run(&q)?;
                let row = rows.first().ok_or("the share returned no row")?;
                let [users, total, percent] = [0, 1, 2].map(|i| row[i].clone().unwrap_or_else(|| "NULL".into()));
                (users, total, percent, Self::sql_citation(&q), evidence)
            }
        };
        if percent == "NULL" {
            return Err(format!("no users {}", Self::who(f)));
        }
        let text = format!("{percent}% of users {} are {} ({users} of {total}).", Self::who(f), Self::who(part));
        Ok(Outcome::Draft(Draft::new(text).value(percent.parse().unwrap_or(f64::NAN)).cite(citation, evidence)))
    }

    fn average(&self, f: &Filters) -> Result<Outcome, String> {
        let (avg, users, citation, evidence) = match &self.cube {
            Some(c) => {
                let (avg, users) = c.average(f).ok_or_else(|| format!("no users {}", Self::who(f)))?;
                let (avg, users) = (avg.to_string(), users.to_string());
                let (citation, evidence) =
                    Self::from_cube(c, &format!("users {}", Self::who(f)), format!("avg_probability={avg} users={users}"));
                (avg, users, citation, evidence)
            }
            None => {
                let q = query::avg_probability(&self.kb.run_db, f)?;
                let (_, rows, evidence) = self.run(&q)?;
                let row = rows.first().ok_or("the average returned no row")?;
                let (Some(avg), Some(users)) = (row[0].clone(), row[1].clone()) else {
                    return Err(format!("no users {}", Self::who(f)));
                };
                (avg, users, Self::sql_citation(&q), evidence)
            }
        };
        let text = format!("The average probability of engaging next week is {avg} for the {users} users {}.", Self::who(f));
        Ok(Outcome::Draft(Draft::new(text).value(avg.parse().unwrap_or(f64::NAN)).cite(citation, evidence)))
    }

    fn rank(&self, dimension: Dimension, measure: Measure, highest: bool, f: &Filters) -> Result<Outcome, String> {
        let (rows, citation, evidence) = match &self.cube {
            Some(c) => {
                let column = dimension.column();
                let rows: Vec<Vec<Option<String>>> =
                    c.rank(dimension, measure, highest, f).into_iter().map(|(k, users, avg)| vec![k, Some(users.to_string()), Some(avg.to_string())]).collect();
                let figures = rows
                    .iter()
                    .map(|r| format!("{column}={} users={} avg_probability={}", r[0].as_deref().unwrap_or("NULL"), r[1].as_deref().unwrap_or(""), r[2].as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("\n");
                let (citation, evidence) =
                    Self::from_cube(c, &format!("users {} and their average probability by {column}{}", Self::who(f), Self::ranked_first(measure)), figures);
                (rows, citation, evidence)
            }
            None => {
                let q = query::rank(&self.kb.run_db, dimension, measure, highest, f)?;
                let (_, rows, evidence) = self.run(&q)?;
                (rows, Self::sql_citation(&q), format!("by {}{}:\n{evidence}", dimension.column(), Self::ranked_first(measure)))
            }
        };
        let top = rows.first().ok_or_else(|| format!("no users {}", Self::who(f)))?;
        let cell = |r: &Vec<Option<String>>, i: usize| r[i].clone().unwrap_or_else(|| "(missing)".into());
        let (what, value) = match measure {
            Measure::Users => ("most users", cell(top, 1)),
            Measure::AvgProbability => ("highest average probability", cell(top, 2)),
        };
        let what = if highest { what.to_string() } else { what.replace("most", "fewest").replace("highest", "lowest") };
        // Averages rank groups of at least MIN_GROUP users first (see query::rank); say so, and list only their like.
        let users_of = |r: &Vec<Option<String>>| r[1].as_deref().and_then(|u| u.parse::<u64>().ok()).unwrap_or(0);
        let sized = measure == Measure::AvgProbability && users_of(top) >= intent::MIN_GROUP;
        let others: Vec<String> = rows
            .iter()
            .skip(1)
            .filter(|r| !sized || users_of(r) >= intent::MIN_GROUP)
            .map(|r| format!("{} {}", cell(r, 0), if measure == Measure::Users { cell(r, 1) } else { cell(r, 2) }))
            .collect();
        let column = dimension.column();
        let among = match (sized, f.is_empty()) {
            (true, true) => format!("Among {column} groups of at least {} users, t", intent::MIN_GROUP),
            (true, false) => format!("Among users {}, in {column} groups of at least {} users, t", Self::who(f), intent::MIN_GROUP),
            (false, true) => String::new(),
            (false, false) => format!("Among users {}, t", Self::who(f)),
        };
        let text = format!(
            "{}he {} with the {what} is {} ({value}; {} users). Next: {}.",
            if among.is_empty() { "T" } else { &among },
            dimension.column(),
            cell(top, 0),
            cell(top, 1),
            if others.is_empty() { "none".into() } else { others.join(", ") }
        );
        Ok(Outcome::Draft(Draft::new(text).value(value.parse().unwrap_or(f64::NAN)).cite(citation, evidence)))
    }

    /// Every group of `dimension` among the users `f` keeps: users (with their share of the total) or the average probability.
    fn breakdown(&self, dimension: Dimension, measure: Measure, f: &Filters) -> Result<Outcome, String> {
        let column = dimension.column();
        let (mut groups, citation, figures): (Vec<(Option<String>, u64, f64)>, Citation, Option<String>) = match &self.cube {
            Some(c) => (c.breakdown(dimension, f), Citation::Query { table: c.table.clone(), sql: c.sql.clone() }, None),
            None => {
                let q = query::breakdown(&self.kb.run_db, dimension, f)?;
                let (_, rows, evidence) = self.run(&q)?;
                let groups = rows
                    .iter()
                    .map(|r| {
                        let n = |i: usize| r[i].as_deref().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                        (r[0].clone(), n(1) as u64, n(2))
                    })
                    .collect();
                (groups, Self::sql_citation(&q), Some(evidence))
            }
        };
        if groups.is_empty() {
            return Err(format!("no users {}", Self::who(f)));
        }
        // Segments from high to low; plans and countries by size.
        if dimension == Dimension::Segment {
            groups.sort_by_key(|g| Segment::ALL.iter().position(|s| g.0.as_deref() == Some(s.name())).unwrap_or(usize::MAX));
        } else {
            groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        let total: u64 = groups.iter().map(|g| g.1).sum();
        let name = |g: &(Option<String>, u64, f64)| g.0.clone().unwrap_or_else(|| "(missing)".into());
        let percent = |g: &(Option<String>, u64, f64)| format!("{:.1}", 100.0 * g.1 as f64 / total as f64);
        let lines: Vec<String> = groups
            .iter()
            .map(|g| format!("{column}={} users={} percent_of_total={} avg_probability={}", name(g), g.1, percent(g), g.2))
            .collect();
        // The largest groups by name; the rest (countries with a handful of users) summed.
        let shown = groups.len().min(BREAKDOWN_SHOWN);
        let (rest_groups, rest_users) = (groups.len() - shown, groups[shown..].iter().map(|g| g.1).sum::<u64>());
        let rest = if rest_groups == 0 { String::new() } else { format!("\nother_groups={rest_groups} other_users={rest_users}") };
        let figures =
            figures.map_or_else(|| lines.join("\n") + &format!("\ntotal={total}{rest}"), |e| format!("{e}\n{}\ntotal={total}{rest}", lines.join("\n")));
        let rest = if rest_groups == 0 { String::new() } else { format!(", and {rest_groups} more with {rest_users} users") };
        let groups = &groups[..shown];
        let evidence = match &self.cube {
            Some(c) => Self::from_cube(c, &format!("users {} by {column}", Self::who(f)), figures).1,
            None => figures,
        };
        let text = match measure {
            Measure::Users => format!(
                "Users {} by {column}: {}{rest}; {total} in total.",
                Self::who(f),
                groups.iter().map(|g| format!("{} {} ({}%)", name(g), g.1, percent(g))).collect::<Vec<_>>().join(", ")
            ),
            Measure::AvgProbability => format!(
                "Average probability of engaging next week, users {} by {column}: {}{rest}.",
                Self::who(f),
                groups.iter().map(|g| format!("{} {} ({} users)", name(g), g.2, g.1)).collect::<Vec<_>>().join(", ")
            ),
        };
        Ok(Outcome::Draft(Draft::new(text).value(total as f64).cite(citation, evidence)))
    }

    /// The share of `segment` in each plan/country of at least `intent::MIN_GROUP` users, best (or worst) first.
    fn group_share(&self, segment: Segment, dimension: Dimension, f: &Filters, highest: bool) -> Result<Outcome, String> {
        let min = intent::MIN_GROUP;
        let plural = dimension.plural();
        let (groups, citation, evidence): (Vec<(Option<String>, u64, u64, f64)>, Citation, String) = match &self.cube {
            Some(c) => {
                let groups = c.group_shares(segment, dimension, f, min, highest);
                let figures = groups
                    .iter()
                    .map(|g| format!("{}={} segment_users={} users={} percent={}", dimension.column(), g.0.as_deref().unwrap_or("NULL"), g.1, g.2, g.3))
                    .collect::<Vec<_>>()
                    .join("\n");
                let (citation, evidence) = Self::from_cube(
                    c,
                    &format!("the {} segment's share of users {} by {}, groups of at least {min} users", segment.name(), Self::who(f), dimension.column()),
                    figures,
                );
                (groups, citation, evidence)
            }
            None => {
                let q = query::group_shares(&self.kb.run_db, segment, dimension, f, min, highest)?;
                let (_, rows, evidence) = self.run(&q)?;
                let groups = rows
                    .iter()
                    .map(|r| {
                        let n = |i: usize| r[i].as_deref().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                        (r[0].clone(), n(1) as u64, n(2) as u64, n(3))
                    })
                    .collect();
                (groups, Self::sql_citation(&q), format!("groups of at least {min} users:\n{evidence}"))
            }
        };
        let name = |g: &(Option<String>, u64, u64, f64)| g.0.clone().unwrap_or_else(|| "(missing)".into());
        let Some(top) = groups.first() else {
            return Err(format!("no {} has at least {min} users {}", dimension.column(), Self::who(f)));
        };
        let among = if f.is_empty() { String::new() } else { format!(" (users {})", Self::who(f)) };
        let next: Vec<String> = groups.iter().skip(1).take(4).map(|g| format!("{} {}% ({} of {})", name(g), g.3, g.1, g.2)).collect();
        let text = format!(
            "Among {plural} with at least {min} users{among}, {} has the {} share of users in the {} segment: {}% ({} of {}). Next: {}.",
            name(top),
            if highest { "highest" } else { "lowest" },
            segment.name(),
            top.3,
            top.1,
            top.2,
            if next.is_empty() { "none".into() } else { next.join(", ") }
        );
        Ok(Outcome::Draft(Draft::new(text).value(top.3).cite(citation, evidence)))
    }

    fn segment_definitions(&self) -> Result<Outcome, String> {
        let (citation, evidence) = self.chunk_citation("segments#segment-definitions")?;
        let t = &self.kb.facts["thresholds"];
        let high = fact_text(&t["high"]).ok_or("this run recorded no thresholds")?;
        let medium = fact_text(&t["medium"]).ok_or("this run recorded no thresholds")?;
        let text = format!(
            "Users are segmented by their predicted probability of engaging next week: high at {high} or above, medium at {medium} or above \
             (below {high}), low below {medium}. The low segment holds the users likely to disengage."
        );
        Ok(Outcome::Draft(Draft::new(text).cite(citation, evidence)))
    }

    /// The prepare stage's data-quality checks, read from the knowledge base's table of them.
    fn data_quality(&self) -> Result<Outcome, String> {
        let (citation, evidence) = self.chunk_citation("data-quality#data-quality-checks")?;
        let checks: Vec<Vec<String>> = evidence
            .lines()
            .filter(|l| l.trim_start().starts_with('|'))
            .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect::<Vec<_>>())
            .filter(|c| c.len() == 4 && c[0] != "check" && !c[0].starts_with("---"))
            .collect();
        if checks.is_empty() {
            return Err("this run's prepare stage reported no data-quality checks".into());
        }
        let failed: Vec<&str> = checks.iter().filter(|c| c[3] != "yes").map(|c| c[0].as_str()).collect();
        let listed: Vec<String> =
            checks.iter().map(|c| format!("{} {} (limit {}, {})", c[0], c[1], c[2], if c[3] == "yes" { "passed" } else { "FAILED" })).collect();
        let verdict = if failed.is_empty() { "every check passed".to_string() } else { format!("failed: {}", failed.join(", ")) };
        let text = format!("The data-quality checks of this run ({verdict}): {}.", listed.join("; "));
        Ok(Outcome::Draft(Draft::new(text).cite(citation, evidence)))
    }

    fn user(&self, id: &str) -> Result<Outcome, String> {
        let q = query::user(&self.kb.run_db, id)?;
        let (_, rows, evidence) = self.run(&q)?;
        let Some(r) = rows.first() else {
            return Ok(Outcome::Decline(format!("user {id} is not in run {}'s results", self.kb.run_id)));
        };
        let cell = |i: usize| r[i].clone().unwrap_or_else(|| "(missing)".into());
        let text = format!(
            "User {id} has a probability of {} of engaging next week, in the {} segment (plan {}, country {}). Top reasons: {}.",
            cell(1),
            cell(2),
            cell(3),
            cell(4),
            cell(5)
        );
        Ok(Outcome::Draft(Draft::new(text).value(cell(1).parse().unwrap_or(f64::NAN)).cite(Self::sql_citation(&q), evidence)))
    }

    /// The users with the highest (or lowest) probability: one query on the results table, its rows the evidence.
    fn top_users(&self, n: usize, highest: bool, f: &Filters) -> Result<Outcome, String> {
        let q = query::top_users(&self.kb.run_db, n, highest, f)?;
        let (_, rows, evidence) = self.run(&q)?;
        if rows.is_empty() {
            return Err(format!("no users {}", Self::who(f)));
        }
        let cell = |r: &Vec<Option<String>>, i: usize| r[i].clone().unwrap_or_else(|| "(missing)".into());
        let listed: Vec<String> =
            rows.iter().map(|r| format!("{} {} ({}, {}, {})", cell(r, 0), cell(r, 1), cell(r, 2), cell(r, 3), cell(r, 4))).collect();
        let among = if f.is_empty() { String::new() } else { format!(" among users {}", Self::who(f)) };
        let text = format!(
            "The {} users with the {} probability of engaging next week{among} (probability, segment, plan, country): {}.",
            rows.len(),
            if highest { "highest" } else { "lowest" },
            listed.join("; ")
        );
        let evidence = format!("users={} ordered by probability:\n{evidence}", rows.len());
        Ok(Outcome::Draft(Draft::new(text).value(cell(&rows[0], 1).parse().unwrap_or(f64::NAN)).cite(Self::sql_citation(&q), evidence)))
    }

    fn metric(&self, name: &str, baseline: Option<bool>) -> Result<Outcome, String> {
        let (citation, evidence) = self.chunk_citation("model-card#quality-against-the-baseline")?;
        let m = &self.kb.facts["model"];
        let model = fact_text(&m["metrics"][name]).ok_or_else(|| format!("this run recorded no {name}"))?;
        let base = fact_text(&m["baseline"][name]).ok_or_else(|| format!("this run recorded no baseline {name}"))?;
        let label = match name {
            "auc" => "AUC",
            "logloss" => "log loss",
            "brier" => "Brier score",
            "average_precision" => "average precision",
            other => other,
        };
        let better = if matches!(name, "logloss" | "brier") { "lower is better" } else { "higher is better" };
        let (text, value) = match baseline {
            Some(true) => (
                format!("The baseline (logistic regression) has a validation {label} of {base}; the model's is {model} ({better})."),
                &base,
            ),
            Some(false) => (format!("The model's validation {label} is {model}, against the baseline's {base} ({better})."), &model),
            None => {
                (format!("On the validation set the model's {label} is {model} and the logistic baseline's is {base} ({better})."), &model)
            }
        };
        Ok(Outcome::Draft(Draft::new(text).value(value.parse().unwrap_or(f64::NAN)).cite(citation, evidence)))
    }

    fn drivers(&self, n: usize) -> Result<Outcome, String> {
        let (citation, evidence) = self.chunk_citation("model-card#top-drivers")?;
        let drivers = self.kb.facts["top_drivers"].as_array().filter(|d| !d.is_empty()).ok_or("this run recorded no feature importance")?;
        let n = n.clamp(1, drivers.len());
        let listed: Vec<String> = drivers
            .iter()
            .take(n)
            .map(|d| format!("`{}` (gain {})", d["feature"].as_str().unwrap_or("?"), fact_text(&d["gain"]).unwrap_or_default()))
            .collect();
        let text = if n == 1 {
            format!("The most important driver of engagement is {}, ranked by the total gain of its splits.", listed[0])
        } else {
            format!("The top drivers of engagement, by the total gain of their splits: {}.", listed.join(", "))
        };
        let first = drivers[0]["feature"].as_str().unwrap_or("").to_string();
        let mut d = Draft::new(text).cite(citation, evidence);
        if let Ok((c, e)) = self.chunk_citation(&format!("data-dictionary#{first}")) {
            d = d.cite(c, e);
        }
        Ok(Outcome::Draft(d))
    }

    fn threshold(&self, s: Segment) -> Result<Outcome, String> {
        let (citation, evidence) = self.chunk_citation("segments#segment-definitions")?;
        let t = &self.kb.facts["thresholds"];
        let high = fact_text(&t["high"]).ok_or("this run recorded no thresholds")?;
        let medium = fact_text(&t["medium"]).ok_or("this run recorded no thresholds")?;
        let (text, value) = match s {
            Segment::High => (format!("A user is in the high segment at a predicted probability of {high} or above."), &high),
            Segment::Medium => {
                (format!("A user is in the medium segment at a predicted probability of {medium} or above and below {high}."), &medium)
            }
            Segment::Low => (format!("A user is in the low segment below a predicted probability of {medium}."), &medium),
        };
        Ok(Outcome::Draft(Draft::new(text).value(value.parse().unwrap_or(f64::NAN)).cite(citation, evidence)))
    }

    fn ingest(&self, f: IngestFigure) -> Result<Outcome, String> {
        let (citation, evidence) = self.chunk_citation("data-quality#ingest-accounting")?;
        let i = &self.kb.facts["ingest"];
        let (key, what) = match f {
            IngestFigure::Read => ("rows_read", "rows were read"),
            IngestFigure::Accepted => ("rows_accepted", "rows were accepted"),
            IngestFigure::Quarantined => ("rows_quarantined", "rows were quarantined"),
        };
        let n = fact_text(&i[key]).ok_or("this run ingested nothing new")?;
        let text = format!(
            "In this run's ingest {n} {what} (read {}, accepted {}, quarantined {}).",
            fact_text(&i["rows_read"]).unwrap_or_default(),
            fact_text(&i["rows_accepted"]).unwrap_or_default(),
            fact_text(&i["rows_quarantined"]).unwrap_or_default()
        );
        let mut d = Draft::new(text).value(n.parse().unwrap_or(f64::NAN)).cite(citation, evidence);
        if f == IngestFigure::Quarantined
            && let Ok((c, e)) = self.chunk_citation("data-quality#quarantine-reasons")
        {
            d.text += &Self::quarantine_reasons(&i["reasons_by_column"], &e);
            d = d.cite(c, e);
        }
        Ok(Outcome::Draft(d))
    }

    /// Why rows were quarantined: the columns by the rows they failed, most first, and the first reason of each
    /// as the quarantine-reasons section quotes it ("age: 200 is out of range 13-110").
    fn quarantine_reasons(by_column: &Value, section: &str) -> String {
        let mut columns: Vec<(&String, u64)> =
            by_column.as_object().map(|m| m.iter().filter_map(|(c, n)| n.as_u64().map(|n| (c, n))).collect()).unwrap_or_default();
        if columns.is_empty() {
            return String::new();
        }
        columns.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let listed: Vec<String> = columns.iter().map(|(c, n)| format!("`{c}` {n}")).collect();
        // The section's example lines end "line N: <column>: <reason>; <column>: <reason>".
        let examples: Vec<String> = columns
            .iter()
            .filter_map(|(c, _)| {
                section.lines().filter_map(|l| l.split_once(": ").map(|(_, reasons)| reasons)).find_map(|reasons| {
                    reasons.split("; ").map(str::trim).find(|r| r.starts_with(&format!("{c}: ")))
                })
            })
            .map(|r| format!("\"{r}\""))
            .collect();
        let examples = if examples.is_empty() { String::new() } else { format!(" For example: {}.", examples.join("; ")) };
        format!(
            " Rows quarantined by column (a row can fail more than one): {}; the most by `{}`.{examples}",
            listed.join(", "),
            columns[0].0
        )
    }

    fn model(&self, f: ModelFigure) -> Result<Outcome, String> {
        let (citation, evidence) = self.chunk_citation("model-card#model")?;
        let m = &self.kb.facts["model"];
        let (key, what) = match f {
            ModelFigure::Trees => ("trees", "The model has {} trees"),
            ModelFigure::TrainingRows => ("training_rows", "The model was trained on {} rows"),
            ModelFigure::ValidationRows => ("validation_rows", "The model was validated on {} rows"),
        };
        let n = fact_text(&m[key]).ok_or("this run trained no model")?;
        Ok(Outcome::Draft(Draft::new(what.replace("{}", &n) + ".").value(n.parse().unwrap_or(f64::NAN)).cite(citation, evidence)))
    }

    fn changes(&self) -> Result<Outcome, String> {
        let drift = &self.kb.facts["drift"];
        if drift["previous_run"].is_null() {
            let (c, e) = self.chunk_citation("changes#previous-run")?;
            return Ok(Outcome::Draft(
                Draft::new("Nothing to compare: this is the first run of the pipeline, so there is no previous week.").cite(c, e),
            ));
        }
        let (c, e) = self.chunk_citation("changes#score-shift")?;
        let s = &drift["score_shift"];
        let warnings = Self::drift_warnings(drift);
        let mut text = format!(
            "Since run {}, the mean predicted probability moved from {} to {}.",
            drift["previous_run"].as_str().unwrap_or("?"),
            fact_text(&s["mean_previous"]).unwrap_or_default(),
            fact_text(&s["mean_current"]).unwrap_or_default()
        );
        let mut d = Draft::new(String::new()).value(s["mean_current"].as_f64().unwrap_or(f64::NAN)).cite(c, e);
        if let Ok((c, e)) = self.chunk_citation("changes#warnings") {
            text += &match warnings.is_empty() {
                true => " There are no drift warnings.".to_string(),
                false => format!(" Drift warnings: {}.", warnings.join("; ")),
            };
            d = d.cite(c, e);
        }
        d.text = text;
        Ok(Outcome::Draft(d))
    }

    fn drift_warnings(drift: &Value) -> Vec<&str> {
        drift["warnings"].as_array().map(|w| w.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
    }

    /// The drift step's warnings, as the warnings section lists them, and the features it flagged with their PSI.
    fn drift(&self) -> Result<Outcome, String> {
        let previous = match self.previous_run() {
            Ok(run) => run.to_string(),
            Err(_) => return self.changes(),
        };
        let drift = &self.kb.facts["drift"];
        let (c, e) = self.chunk_citation("changes#warnings")?;
        let warnings = Self::drift_warnings(drift);
        let mut d = Draft::new(if warnings.is_empty() {
            format!("No drift warnings since run {previous}.")
        } else {
            format!("Drift warnings since run {previous}: {}.", warnings.join("; "))
        })
        .cite(c, e);
        let features = drift["features"].as_array().cloned().unwrap_or_default();
        let psi = |f: &Value| f["psi"].as_f64().unwrap_or(0.0);
        let mut flagged: Vec<&Value> = features.iter().filter(|f| f["warning"].as_bool() == Some(true)).collect();
        flagged.sort_by(|a, b| psi(b).total_cmp(&psi(a)));
        let named = |f: &Value| format!("`{}` (PSI {})", f["name"].as_str().unwrap_or("?"), fact_text(&f["psi"]).unwrap_or_default());
        if let Ok((c, e)) = self.chunk_citation("changes#feature-drift") {
            if flagged.is_empty() {
                if let Some(largest) = features.iter().max_by(|a, b| psi(a).total_cmp(&psi(b))) {
                    d.text += &format!(" No feature was flagged as drifted; the largest drift is {}.", named(largest));
                }
            } else {
                d.text += &format!(" Features that drifted: {}.", flagged.iter().map(|f| named(f)).collect::<Vec<_>>().join(", "));
            }
            d = d.cite(c, e);
        }
        Ok(Outcome::Draft(d))
    }

    /// Segment sizes last week and this, from the segment migration table (users scored in both weeks): its rows are
    /// last week's segments, its columns this week's.
    fn segment_sizes(&self, only: Option<Segment>) -> Result<Outcome, String> {
        let previous = match self.previous_run() {
            Ok(run) => run.to_string(),
            Err(outcome) => return Ok(outcome),
        };
        let table = &self.kb.facts["drift"]["segment_migration"];
        let cell = |a: Segment, b: Segment| table[a.name().to_uppercase()][b.name().to_uppercase()].as_u64();
        let (citation, section) = self.chunk_citation("changes#segment-migration")?;
        let mut figures = Vec::new();
        let mut said = Vec::new();
        let mut value = f64::NAN;
        let mut in_all = Vec::new();
        for s in Segment::ALL.iter().copied().filter(|s| only.is_none_or(|o| o == *s)) {
            let stayed = cell(s, s).ok_or("this run recorded no segment migration")?;
            let others = Segment::ALL.iter().copied().filter(|o| *o != s);
            let left: u64 = others.clone().map(|o| cell(s, o)).sum::<Option<u64>>().ok_or("this run recorded no segment migration")?;
            let joined: u64 = others.map(|o| cell(o, s)).sum::<Option<u64>>().ok_or("this run recorded no segment migration")?;
            let (before, now) = (stayed + left, stayed + joined);
            figures.push(format!("{} last_week={before} this_week={now} stayed={stayed} left={left} joined={joined}", s.name()));
            said.push(format!("the {} segment went from {before} to {now} users ({stayed} stayed, {left} left, {joined} joined)", s.name()));
            value = now as f64;
            // Users new this week are in no row of the table: their segment's size in all is said apart.
            if let Some(all) = self.kb.facts["segments"][s.name()].as_u64().filter(|all| *all != now) {
                in_all.push(format!("{} {all}", s.name()));
            }
        }
        let mut text = format!("Since run {previous}, among users scored in both weeks, {}.", said.join("; "));
        let evidence = format!(
            "segment sizes summed from the segment migration table (rows: last week, columns: this week):\n{}\n{section}",
            figures.join("\n")
        );
        let sizes = if in_all.is_empty() { None } else { self.chunk_citation("segments#segment-sizes").ok() };
        if sizes.is_some() {
            text += &format!(" This week's segments, new users included: {}.", in_all.join(", "));
        }
        let mut d = Draft::new(text).cite(citation, evidence);
        if only.is_some() {
            d = d.value(value);
        }
        if let Some((c, e)) = sizes {
            d = d.cite(c, e);
        }
        Ok(Outcome::Draft(d))
    }

    /// The previous run the drift step compared this one with, or why there is none.
    fn previous_run(&self) -> Result<&str, Outcome> {
        self.kb.facts["drift"]["previous_run"].as_str().ok_or_else(|| {
            Outcome::Decline("this is the first run of the pipeline, so there is no previous week to compare with".into())
        })
    }

    /// Users scored in both weeks, by last week's segment and this week's, from the drift step's table.
    fn migration(&self, from: Option<Segment>, to: Option<Segment>) -> Result<Outcome, String> {
        let previous = match self.previous_run() {
            Ok(run) => run.to_string(),
            Err(outcome) => return Ok(outcome),
        };
        let table = &self.kb.facts["drift"]["segment_migration"];
        let cell = |a: Segment, b: Segment| table[a.name().to_uppercase()][b.name().to_uppercase()].as_u64();
        let (citation, evidence) = self.chunk_citation("changes#segment-migration")?;
        let draft = |text: String, value: u64| Outcome::Draft(Draft::new(text).value(value as f64).cite(citation.clone(), evidence.clone()));
        let since = format!("since run {previous}");
        Ok(match (from, to) {
            (Some(a), Some(b)) => {
                let n = cell(a, b).ok_or("this run recorded no segment migration")?;
                let verb = if a == b { "stayed in" } else { "moved from" };
                let text = if a == b {
                    format!("{n} users {verb} the {} segment {since} (users scored in both weeks).", a.name())
                } else {
                    format!("{n} users {verb} the {} segment to the {} segment {since} (users scored in both weeks).", a.name(), b.name())
                };
                draft(text, n)
            }
            (Some(a), None) | (None, Some(a)) => {
                let leaving = from.is_some();
                let others: Vec<(Segment, u64)> = Segment::ALL
                    .iter()
                    .filter(|s| **s != a)
                    .map(|s| if leaving { cell(a, *s) } else { cell(*s, a) }.map(|n| (*s, n)))
                    .collect::<Option<_>>()
                    .ok_or("this run recorded no segment migration")?;
                let ((first, n1), (second, n2)) = (others[0], others[1]);
                let (verb, link) = if leaving { ("left", "for") } else { ("joined", "from") };
                let text = format!(
                    "Since run {previous}, {n1} users {verb} the {} segment {link} the {} segment and {n2} {link} the {} segment (users scored in both weeks).",
                    a.name(),
                    first.name(),
                    second.name()
                );
                draft(text, n1 + n2)
            }
            (None, None) => {
                let moves: Vec<String> = Segment::ALL
                    .iter()
                    .flat_map(|a| Segment::ALL.iter().filter(move |b| *b != a).map(move |b| (*a, *b)))
                    .map(|(a, b)| cell(a, b).map(|n| format!("{n} from {} to {}", a.name(), b.name())))
                    .collect::<Option<_>>()
                    .ok_or("this run recorded no segment migration")?;
                draft(format!("Users who changed segment {since}: {}.", moves.join(", ")), 0)
            }
        })
    }

    /// Last week's model judged on the labels that arrived since.
    fn realized_auc(&self) -> Result<Outcome, String> {
        let previous = match self.previous_run() {
            Ok(run) => run.to_string(),
            Err(outcome) => return Ok(outcome),
        };
        let drift = &self.kb.facts["drift"];
        let auc = fact_text(&drift["realized_auc"]).ok_or("this run could not judge last week's model: no labels matched its predictions")?;
        let (citation, evidence) = self.chunk_citation("changes#realized-accuracy")?;
        let validation = fact_text(&drift["validation_auc_previous"]).map(|v| format!(" (its validation AUC was {v})")).unwrap_or_default();
        let text = format!("Last week's model (run {previous}) reached an AUC of {auc} on the labels that have arrived since{validation}.");
        Ok(Outcome::Draft(Draft::new(text).value(drift["realized_auc"].as_f64().unwrap_or(f64::NAN)).cite(citation, evidence)))
    }

    /// A figure of last week lives in last week's run: name it, so the question can be asked there.
    fn last_week(&self) -> Result<Outcome, String> {
        Ok(match self.previous_run() {
            Ok(run) => Outcome::Decline(format!(
                "this run ({}) holds this week's scores; last week's are in run {run}: ask again with `--run {run}`, or ask what changed since last week",
                self.kb.run_id
            )),
            Err(outcome) => outcome,
        })
    }

    /// Answers from the best chunk when it covers the question: a column named in
    /// the question finds its own section; otherwise the best hit must hold most
    /// of the question's subject words.
    fn search(&self, question: &str, hits: &[Hit]) -> Outcome {
        // A column named in the question: its own dictionary section, wherever it ranks.
        let lower = question.to_lowercase();
        let words = lower.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
        let named = words.into_iter().find_map(|t| self.kb.chunks.iter().position(|c| c.id == format!("data-dictionary#{t}")));
        let named = named.map(|chunk| Hit { chunk, score: f64::INFINITY, coverage: 1.0 });
        let best = hits.first().filter(|h| h.coverage >= MIN_COVERAGE);
        // A document's overview only says what the document holds: a section of it that covers the question as
        // well, and whose heading names one of its words, answers it.
        let best = best.map(|b| {
            let id = &self.kb.chunks[b.chunk].id;
            let Some(doc) = id.strip_suffix("#overview") else { return b };
            let terms = self.index.tokenizer().tokens(question);
            hits.iter()
                .filter(|h| h.coverage >= b.coverage && self.kb.chunks[h.chunk].id.starts_with(&format!("{doc}#")) && h.chunk != b.chunk)
                .find(|h| self.index.tokenizer().tokens(&self.kb.chunks[h.chunk].heading).iter().any(|t| terms.contains(t)))
                .unwrap_or(b)
        });
        let chosen = named.as_ref().or(best);
        let Some(hit) = chosen else {
            return Outcome::Decline("the knowledge base has nothing that answers this".into());
        };
        let c = &self.kb.chunks[hit.chunk];
        let body: String = c.text.lines().skip(1).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        // Cut at a space, so no number is cut into another.
        let body = if body.chars().count() > 600 {
            let head: String = body.chars().take(600).collect();
            head.rsplit_once(' ').map_or(head.clone(), |(h, _)| h.to_string()) + " …"
        } else {
            body
        };
        let text = format!("{body} [{}]", c.id);
        Outcome::Draft(
            Draft::new(text)
                .cite(Citation::Chunk { id: c.id.clone(), source: c.source.clone(), heading: c.heading.clone() }, c.text.clone()),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pipeline::steps::knowledge;

    /// An assistant over the changes and data-quality pages the knowledge step writes for `drift` and `ingest`.
    fn assistant(drift: Value, ingest: Value) -> Assistant {
        let page = |stem: &str, text: String| chunks::split(&text, stem, &format!("s3://knowledge/run=r/{stem}.md"), "r");
        let mut chunks = page("changes", knowledge::changes(Some(&drift)));
        chunks.extend(page("data-quality", knowledge::data_quality(Some(&ingest), None)));
        let facts = json!({ "drift": drift, "ingest": ingest });
        let kb = KnowledgeBase { run_id: "r".into(), run_db: "run_r".into(), chunks, facts };
        Assistant::new(kb, Arc::new(crate::capabilities::sql::NoSql))
    }

    fn week_with_drift() -> Assistant {
        let drift = json!({
            "previous_run": "20261201-000000-aaaa",
            "score_shift": { "mean_previous": 0.5753, "mean_current": 0.5123, "psi": 0.247, "warning": true },
            "segment_migration": {
                "HIGH": { "HIGH": 7536, "MEDIUM": 2265, "LOW": 57 },
                "MEDIUM": { "HIGH": 50, "MEDIUM": 6247, "LOW": 417 },
                "LOW": { "HIGH": 7, "MEDIUM": 22, "LOW": 3229 }
            },
            "features": [
                { "name": "session_trend", "psi": 0.0019, "warning": false },
                { "name": "session_recency", "psi": 6.93671, "warning": true }
            ],
            "warnings": ["feature session_recency: PSI 6.937 above 0.2", "scores: PSI 0.247 above 0.2 (mean 0.575 → 0.512)"]
        });
        let ingest = json!({
            "table": "engage.users", "rows_read": 20000, "rows_accepted": 19830, "rows_quarantined": 170, "files": 1, "skipped_files": 0,
            "reasons_by_column": { "age": 100, "country": 20, "plan": 50 },
            "first_rejected": [
                { "file": "users.csv", "place": "line 2", "reasons": ["age: 200 is out of range 13-110"] },
                { "file": "users.csv", "place": "line 9", "reasons": ["country: 'XX' is no ISO code", "plan: 'gold' is not one of free, basic, pro, enterprise"] }
            ]
        });
        assistant(drift, ingest)
    }

    /// Each of these cited the right section but did not answer: a pointer to the warnings, the stage table, a total.
    #[test]
    fn drift_warnings_segment_changes_and_quarantine_reasons_are_answered_not_pointed_at() {
        let a = week_with_drift();
        for q in ["Are there any drift warnings?", "Which features drifted?", "What changed since last week?"] {
            let answer = a.ask(q);
            assert_eq!(answer.status, answer::Status::Answered, "{q}: {}", answer.text);
            assert!(answer.text.contains("feature session_recency: PSI 6.937 above 0.2; scores: PSI 0.247 above 0.2"), "{q}: {}", answer.text);
        }
        assert!(a.ask("Which features drifted?").text.contains("Features that drifted: `session_recency` (PSI 6.9367)"));

        let answer = a.ask("How did the number of high segment users change since last week?");
        assert_eq!(answer.status, answer::Status::Answered, "{}", answer.text);
        assert!(answer.text.contains("the high segment went from 9858 to 7593 users (7536 stayed, 2322 left, 57 joined)"), "{}", answer.text);
        assert_eq!(answer.value, Some(7593.0));
        let all = a.ask("How did the segment sizes change since last week?");
        assert!(all.text.contains("the medium segment went from 6714 to 8534 users") && all.text.contains("the low segment"), "{}", all.text);

        for q in ["Why were rows quarantined?", "Which column caused the most quarantined rows?"] {
            let answer = a.ask(q);
            assert_eq!(answer.status, answer::Status::Answered, "{q}: {}", answer.text);
            assert!(answer.text.contains("170 rows were quarantined"), "{}", answer.text);
            assert!(answer.text.contains("`age` 100, `plan` 50, `country` 20; the most by `age`"), "{}", answer.text);
            assert!(answer.text.contains("\"age: 200 is out of range 13-110\"; \"plan: 'gold' is not one of"), "{}", answer.text);
        }
    }

    #[test]
    fn the_first_run_has_no_drift_to_list() {
        let a = assistant(json!({ "previous_run": null }), json!({ "rows_read": 5, "rows_accepted": 5, "rows_quarantined": 0 }));
        for q in ["Which features drifted?", "Are there any drift warnings?"] {
            assert!(a.ask(q).text.starts_with("Nothing to compare"), "{q}: {}", a.ask(q).text);
        }
        assert_eq!(a.ask("How did the number of high segment users change since last week?").status, answer::Status::Declined);
    }
}
