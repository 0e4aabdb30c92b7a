//! The DATA.md rules applied to a header (file-level) and to each record
//! (row-level). A record gets every reason it breaks, not only the first.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use anyhow::{Result, bail};
use chrono::{Datelike, NaiveDate, Weekday};
use csv::ByteRecord;

use crate::data::schema::{self, FEATURES, LABEL, RangeText, Rule, SNAPSHOT_DATE, USER_ID};

/// Where each contract column sits in a file's header.
#[derive(Debug, Clone)]
pub struct Layout {
    pub field_count: usize,
    pub user_id: usize,
    pub snapshot_date: usize,
    pub label: Option<usize>,
    pub features: Vec<Option<usize>>,
    /// Columns the contract does not know: (position, name). Kept aside.
    pub extras: Vec<(usize, String)>,
    /// Optional features absent from the file: loaded as missing.
    pub absent: Vec<&'static str>,
}

impl Layout {
    /// A record's user id as every output keeps it: trimmed like every other field,
    /// so " u1" is neither blank nor a second u1.
    pub fn user_id_of<'r>(&self, record: &'r ByteRecord) -> &'r [u8] {
        record.get(self.user_id).unwrap_or(b"").trim_ascii()
    }

    /// Maps a header onto the contract. Errors name the file and are file-level.
    pub fn from_header(file: &str, header: &[String]) -> Result<Self> {
        let known = |name: &str| name == USER_ID || name == SNAPSHOT_DATE || name == LABEL || schema::feature_index(name).is_some();
        if !header.iter().any(|name| known(name)) {
            bail!("{file}: no header row (the first line names none of the contract's columns, e.g. user_id, snapshot_date, plan)");
        }
        let mut positions: HashMap<&str, usize> = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            if !name.is_empty() && positions.insert(name.as_str(), i).is_some() {
                bail!("{file}: the header names column '{name}' twice");
            }
        }
        let required = [USER_ID, SNAPSHOT_DATE].into_iter().chain(FEATURES.iter().filter(|c| c.required).map(|c| c.name));
        let missing: Vec<&str> = required.filter(|name| !positions.contains_key(name)).collect();
        if !missing.is_empty() {
            bail!("{file}: required column{} missing: {}", if missing.len() > 1 { "s" } else { "" }, missing.join(", "));
        }
        let features: Vec<Option<usize>> = FEATURES.iter().map(|c| positions.get(c.name).copied()).collect();
        let absent = FEATURES.iter().zip(&features).filter(|(_, p)| p.is_none()).map(|(c, _)| c.name).collect();
        let extras = header
            .iter()
            .enumerate()
            .filter(|(_, name)| !known(name))
            .map(|(i, name)| (i, if name.is_empty() { format!("column_{}", i + 1) } else { name.clone() }))
            .collect();
        Ok(Self {
            field_count: header.len(),
            user_id: positions[USER_ID],
            snapshot_date: positions[SNAPSHOT_DATE],
            label: positions.get(LABEL).copied(),
            features,
            extras,
            absent,
        })
    }
}

/// A parsed feature value. Text stays in the record (its field is known valid UTF-8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text,
}

/// A record that passed every rule, ready for the typed writers.
#[derive(Debug, Clone)]
pub struct ValidRow {
    /// Days since 1970-01-01 (Arrow Date32).
    pub snapshot_date: i32,
    pub label: Option<i64>,
    pub cells: Vec<Cell>,
}

impl Default for ValidRow {
    fn default() -> Self {
        Self { snapshot_date: 0, label: None, cells: vec![Cell::Null; FEATURES.len()] }
    }
}

/// Accepted user ids per snapshot, across all files of an ingest, as 128-bit
/// hashes: 16 bytes an id keep 10M ids in about 200 MB; a false duplicate
/// needs a 2^-128 collision.
#[derive(Default)]
pub struct SeenIds(pub(super) HashMap<i32, HashSet<u128>>);

pub struct Validator {
    layout: Layout,
    epoch: NaiveDate,
}

fn id_hash(id: &[u8]) -> u128 {
    let mut a = DefaultHasher::new();
    (0u8, id).hash(&mut a);
    let mut b = DefaultHasher::new();
    (1u8, id).hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

/// A field as reasons quote it: text, with invalid bytes escaped, cut short.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}

fn trimmed(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn parse_int(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| {
        // "3.0" (a float column written by pandas) is still the integer 3.
        let f = text.parse::<f64>().ok()?;
        (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

/// The lines after its own that a field ran over: a quote left open takes them in.
pub fn lines_taken_in(field: &[u8]) -> u64 {
    field.trim_ascii_end().iter().filter(|b| **b == b'\n').count() as u64
}

impl Validator {
    pub fn new(layout: Layout) -> Self {
        Self { layout, epoch: NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Checks one record. Fills `row` and returns true when it passes; else
    /// pushes every reason onto `reasons` and returns false.
    pub fn check(&self, record: &ByteRecord, row: &mut ValidRow, reasons: &mut Vec<String>, seen: &mut SeenIds) -> bool {
        reasons.clear();
        if record.len() != self.layout.field_count {
            let fields = if record.len() == 1 { "1 field".to_string() } else { format!("{} fields", record.len()) };
            let mut reason = format!("the row has {fields}, the header has {}", self.layout.field_count);
            // A quote left open runs on over the following lines, into one long field.
            if let Some((i, field)) = record.iter().enumerate().find(|(_, f)| f.contains(&b'\n')) {
                let taken = lines_taken_in(field);
                reason += &format!(" (field {} opens a quote that runs over the next {taken} line(s): a quote left open takes in the lines after it)", i + 1);
            }
            reasons.push(reason);
            return false;
        }
        let layout = &self.layout;
        let field = |i: usize| record.get(i).unwrap_or(b"");

        let user_id = layout.user_id_of(record);
        let user_id_ok = match std::str::from_utf8(user_id) {
            Err(_) => {
                reasons.push("user_id: invalid UTF-8".to_string());
                false
            }
            Ok("") => {
                reasons.push("user_id: missing (required)".to_string());
                false
            }
            Ok(_) => true,
        };
        let date = self.check_date(field(layout.snapshot_date), reasons);
        if let Some(date) = date {
            row.snapshot_date = date;
        }
        row.label = match layout.label.map(field) {
            None | Some(b"") => None,
            Some(raw) => match trimmed(raw) {
                b"0" => Some(0),
                b"1" => Some(1),
                _ => {
                    reasons.push(format!("{LABEL}: '{}' is not 0 or 1", shown(raw)));
                    None
                }
            },
        };
        for (i, spec) in FEATURES.iter().enumerate() {
            let raw = layout.features[i].map_or(&b""[..], field);
            row.cells[i] = check_cell(spec.name, spec.rule, spec.required, raw, reasons);
        }
        // Extra columns are kept aside, but their bytes must still be text.
        for (position, name) in &layout.extras {
            if std::str::from_utf8(field(*position)).is_err() {
                reasons.push(format!("{name}: invalid UTF-8"));
            }
        }

        if let (true, Some(date)) = (user_id_ok, date) {
            let hash = id_hash(user_id);
            let seen = seen.0.entry(date).or_default();
            if seen.contains(&hash) {
                let day = self.epoch + chrono::Duration::days(date as i64);
                reasons.push(format!("user_id: '{}' appears more than once in snapshot {day}", shown(user_id)));
            } else if reasons.is_empty() {
                seen.insert(hash);
            }
        }
        reasons.is_empty()
    }

    /// The snapshot date: `YYYY-MM-DD`, a Sunday; also as a timestamp at midnight UTC
    /// (`T00:00:00`, ` 00:00:00.000`, with `Z` or `+00:00`), as a Parquet timestamp column reads.
    fn check_date(&self, raw: &[u8], reasons: &mut Vec<String>) -> Option<i32> {
        let Ok(text) = std::str::from_utf8(raw) else {
            reasons.push(format!("{SNAPSHOT_DATE}: invalid UTF-8"));
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            reasons.push(format!("{SNAPSHOT_DATE}: missing (required)"));
            return None;
        }
        // A date at midnight written as a timestamp (pandas and most databases
        // write dates so) is the date; any other time of day is not a snapshot date.
        let (day, time) = if text.len() > 10 && text.is_char_boundary(10) { text.split_at(10) } else { (text, "") };
        let strict = day.len() == 10 && day.as_bytes()[4] == b'-' && day.as_bytes()[7] == b'-';
        let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok().filter(|_| strict);
        match date {
            Some(date) if time.is_empty() || is_midnight(time) => {
                if date.weekday() != Weekday::Sun {
                    reasons.push(format!("{SNAPSHOT_DATE}: {date} is a {}, not a Sunday", date.weekday()));
                    return None;
                }
                Some((date - self.epoch).num_days() as i32)
            }
            Some(_) if is_time(time) => {
                reasons.push(format!("{SNAPSHOT_DATE}: '{}' has a time of day; a snapshot date is a date (YYYY-MM-DD)", shown(raw)));
                None
            }
            _ => {
                reasons.push(format!("{SNAPSHOT_DATE}: '{}' is not a date (YYYY-MM-DD)", shown(raw)));
                None
            }
        }
    }
}

/// One feature value against its rule.
fn check_cell(name: &str, rule: Rule, required: bool, raw: &[u8], reasons: &mut Vec<String>) -> Cell {
    let Ok(text) = std::str::from_utf8(raw) else {
        reasons.push(format!("{name}: invalid UTF-8"));
        return Cell::Null;
    };
    let value = match rule {
        Rule::Text => text,
        _ => text.trim(),
    };
    if value.is_empty() {
        if required {
            reasons.push(format!("{name}: missing (required)"));
        }
        return Cell::Null;
    }
    match rule {
        Rule::Int { min, max } => match parse_int(value) {
            None => reasons.push(format!("{name}: '{}' is not an integer", shown(raw))),
            Some(v) if v < min || max.is_some_and(|m| v > m) => {
                reasons.push(format!("{name}: {v} is out of range {}", RangeText(min, max)));
            }
            Some(v) => return Cell::Int(v),
        },
        Rule::Float { min, max } => match value.parse::<f64>() {
            Ok(v) if v.is_finite() => {
                if v < min || max.is_some_and(|m| v > m) {
                    reasons.push(format!("{name}: {v} is out of range {}", RangeText(min, max)));
                } else {
                    return Cell::Float(v);
                }
            }
            _ => reasons.push(format!("{name}: '{}' is not a number", shown(raw))),
        },
        Rule::Category(allowed) => {
            if allowed.contains(&value) {
                return Cell::Text;
            }
            reasons.push(format!("{name}: '{}' is not one of {}", shown(raw), allowed.join(", ")));
        }
        Rule::Country => {
            if schema::is_country(value) {
                return Cell::Text;
            }
            reasons.push(format!("{name}: '{}' is not an ISO 3166 alpha-2 country code", shown(raw)));
        }
        Rule::Text => return Cell::Text,
    }
    Cell::Null
}

/// Whether what follows a date reads as a time of day: `T` or a space, then a digit.
fn is_time(time: &str) -> bool {
    let mut chars = time.chars();
    matches!(chars.next(), Some('T' | ' ')) && chars.next().is_some_and(|c| c.is_ascii_digit())
}

/// Whether what follows a date is midnight UTC: `T` or a space, `00:00` or
/// `00:00:00`, any fraction of zeros, then nothing, `Z` or `+00:00`.
fn is_midnight(time: &str) -> bool {
    let Some(time) = time.strip_prefix('T').or_else(|| time.strip_prefix(' ')) else { return false };
    let time = time.strip_suffix('Z').or_else(|| time.strip_suffix("+00:00")).unwrap_or(time);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    matches!(clock, "00:00" | "00:00:00") && !fraction.is_empty() && fraction.bytes().all(|b| b == b'0')
}
