//! What a question asks, read from its words alone: a structured intent the
//! host answers with its own SQL or facts, a search of the knowledge base, or a
//! refusal. Values that end up in SQL (plan, segment, country, user id) come
//! only from fixed lists or strict patterns, never as free text.

use std::sync::LazyLock;

use regex::Regex;

use crate::data::schema::{PLANS, is_country};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    High,
    Medium,
    Low,
}

impl Segment {
    pub const ALL: [Segment; 3] = [Segment::High, Segment::Medium, Segment::Low];
    pub fn name(self) -> &'static str {
        match self {
            Segment::High => "high",
            Segment::Medium => "medium",
            Segment::Low => "low",
        }
    }
}

/// Who a count or average is about. Every value is checked against a fixed list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub segment: Option<Segment>,
    /// One of `schema::PLANS`.
    pub plan: Option<&'static str>,
    /// An ISO 3166 alpha-2 code `schema::is_country` accepts.
    pub country: Option<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.segment.is_none() && self.plan.is_none() && self.country.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Segment,
    Plan,
    Country,
}

impl Dimension {
    /// The dimension a filter already fixes, if `f` fixes it.
    pub fn fixed_by(self, f: &Filters) -> bool {
        match self {
            Dimension::Segment => f.segment.is_some(),
            Dimension::Plan => f.plan.is_some(),
            Dimension::Country => f.country.is_some(),
        }
    }
    pub fn plural(self) -> &'static str {
        match self {
            Dimension::Segment => "segments",
            Dimension::Plan => "plans",
            Dimension::Country => "countries",
        }
    }
    pub fn column(self) -> &'static str {
        match self {
            Dimension::Segment => "segment",
            Dimension::Plan => "plan",
            Dimension::Country => "country",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Users,
    AvgProbability,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestFigure {
    Read,
    Accepted,
    Quarantined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFigure {
    Trees,
    TrainingRows,
    ValidationRows,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// The question tries to write, or to smuggle SQL in: refused, with why.
    Refuse(String),
    Count(Filters),
    /// Share of the users `of` keeps that `part` also keeps, in percent: "what share of high-engagement
    /// users (`of`) are in Japan (`part`)?"
    Share {
        part: Filters,
        of: Filters,
    },
    AvgProbability(Filters),
    /// The plan/country/segment with the highest (or lowest) measure, among the users `filters` keeps.
    Rank {
        dimension: Dimension,
        measure: Measure,
        highest: bool,
        filters: Filters,
    },
    /// Every plan/country/segment with its users (or average probability), among the users `filters` keeps.
    Breakdown {
        dimension: Dimension,
        measure: Measure,
        filters: Filters,
    },
    /// The share of `segment` in each plan/country (groups of at least `MIN_GROUP` users), highest (or lowest) first.
    GroupShare {
        segment: Segment,
        dimension: Dimension,
        filters: Filters,
        highest: bool,
    },
    User(String),
    /// `auc`, `logloss`, `accuracy`, `brier` or `average_precision`; of the baseline or the model.
    Metric {
        name: &'static str,
        baseline: Option<bool>,
    },
    TopDrivers(usize),
    Threshold(Segment),
    /// How the three segments are defined: all thresholds.
    SegmentDefinitions,
    /// The prepare stage's data-quality checks with their values.
    DataQuality,
    Ingest(IngestFigure),
    Model(ModelFigure),
    /// What changed since the previous week.
    Changes,
    /// Asks for something a run never holds (another period, personal details): declined, with why.
    Unsupported(String),
    /// Anything else: search the knowledge base.
    Search,
}

static USER_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(u\d{6,20})\b").unwrap());
static WRITE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(drop|delete|insert|update|alter|truncate|create|grant|revoke|merge|vacuum|msck)\b[\s\S]*\b(table|tables|from|into|set|database|schema|view|users|results|data|partition|repair)\b").unwrap()
});
static RAW_SQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(;|--|/\*|\bunion\b[\s\S]*\bselect\b|\bselect\b[\s\S]*\bfrom\b|['"`]\s*(or|and|union|;)\b|\bor\s+1\s*=\s*1\b|information_schema)"#).unwrap()
});
/// Where a share question names its population: "share of", "percentage of", "% of".
static SHARE_OF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(?:share|percent|percentage|proportion|fraction)\s+of\b|%\s*of\b").unwrap());
/// The verb that ends the population and starts what is asked of it ("... users are in Japan").
static SHARE_VERB: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(?:are|is|were|will|come|comes|live|lives|sit|sits|fall|falls|belong|belongs)\b").unwrap());
static OTHER_PERIOD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(19|20)\d{2}\b|\b(last|next|this|previous) (month|quarter|year)\b|\byesterday\b|\btomorrow\b|\bforecast\b").unwrap()
});
static PERSONAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(e-?mail address|phone|password|home address|full name|real name|credit card|birthday|date of birth)\b").unwrap()
});
/// "in each segment", "by country", "per plan": a breakdown over a dimension.
static GROUPING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(each|every|per|by|across)\s+(the\s+)?(segment|segments|plan|plans|country|countries)\b").unwrap()
});
/// "which country", "what plan": the dimension a ranking is over.
static WHICH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(which|what)\s+(segment|segments|plan|plans|country|countries)\b").unwrap());
static TOP_N: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\btop\s+(\d{1,2})\b").unwrap());

/// Country names people type, for the countries most users come from.
const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("united states", "US"),
    ("usa", "US"),
    ("america", "US"),
    ("united kingdom", "GB"),
    ("britain", "GB"),
    ("uk", "GB"),
    ("germany", "DE"),
    ("india", "IN"),
    ("france", "FR"),
    ("brazil", "BR"),
    ("canada", "CA"),
    ("australia", "AU"),
    ("japan", "JP"),
    ("netherlands", "NL"),
    ("spain", "ES"),
    ("mexico", "MX"),
    ("italy", "IT"),
    ("sweden", "SE"),
    ("poland", "PL"),
    ("china", "CN"),
];

fn has_word(words: &[&str], any: &[&str]) -> bool {
    words.iter().any(|w| any.contains(w))
}

fn dimension_word(word: &str) -> Option<Dimension> {
    match word {
        "segment" | "segments" => Some(Dimension::Segment),
        "plan" | "plans" => Some(Dimension::Plan),
        "country" | "countries" => Some(Dimension::Country),
        _ => None,
    }
}

/// The dimension a question groups by ("in each segment", "by country"), if any.
pub fn grouping(q: &str) -> Option<Dimension> {
    let q = q.to_lowercase();
    GROUPING.captures(&q).and_then(|c| dimension_word(&c[3])).or_else(|| {
        (q.contains("breakdown") || q.contains("broken down") || q.contains("break down") || q.contains("split"))
            .then(|| WHICH.captures(&q).and_then(|c| dimension_word(&c[2])))
            .flatten()
    })
}

/// Users in groups smaller than this are left out of a comparison of shares, so a handful of users can't top it.
pub const MIN_GROUP: u64 = 30;

fn segment_of(q: &str, words: &[&str]) -> Option<Segment> {
    if q.contains("disengage")
        || q.contains("not engage")
        || q.contains("at risk")
        || q.contains("at-risk")
        || q.contains("churn")
        || q.contains("unlikely to engage")
    {
        return Some(Segment::Low);
    }
    // "high", "high-engagement", "highly engaged", "low-engagement", "medium", "moderately engaged": a word or a hyphenated part.
    let named = words.iter().flat_map(|w| w.split('-')).find_map(|w| match w {
        "high" | "highly" => Some(Segment::High),
        "medium" | "moderately" | "moderate" => Some(Segment::Medium),
        "low" | "lowly" => Some(Segment::Low),
        _ => None,
    });
    if named.is_some() {
        return named;
    }
    (q.contains("likely to engage") || q.contains("will engage") || q.contains("expected to engage")).then_some(Segment::High)
}

/// "What share of <whom> are <what>?": the users the clause after "of" names, and what the rest of the
/// question asks of them. `None` when the question has no such verb, or names nothing after it.
fn share_split(question: &str, q: &str) -> Option<(Filters, Filters)> {
    // Lower-casing kept every byte offset, so a split of `q` is a split of `question`.
    if question.len() != q.len() {
        return None;
    }
    let of = SHARE_OF.find(q)?;
    // The first verb of the clause, not one inside it ("users who are on the pro plan").
    let verb = SHARE_VERB.find_iter(&q[of.end()..]).map(|m| (of.end() + m.start())..(of.end() + m.end())).find(|verb| {
        !q[..verb.start].trim_end().ends_with(" who") && !q[..verb.start].trim_end().ends_with(" that")
    })?;
    let filters_in = |range: std::ops::Range<usize>| {
        let (original, lower) = (&question[range.clone()], &q[range]);
        let words: Vec<&str> = lower.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).filter(|w| !w.is_empty()).collect();
        Filters { segment: segment_of(lower, &words), plan: plan_of(&words), country: country_of(original, lower) }
    };
    let part = filters_in(verb.start..q.len());
    if part.is_empty() {
        return None;
    }
    Some((part, filters_in(0..verb.start)))
}

fn plan_of(words: &[&str]) -> Option<&'static str> {
    // "pro" and "free" are plans only next to "plan"/"users"/"tier" or on their own as a plan word.
    PLANS.iter().copied().find(|p| words.contains(p))
}

fn country_of(original: &str, q: &str) -> Option<String> {
    for (name, code) in COUNTRY_NAMES {
        let found = q.match_indices(name).any(|(at, _)| {
            let before = q[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            let after = q[at + name.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
            before && after
        });
        if found {
            return Some(code.to_string());
        }
    }
    // An upper-case two-letter code as written ("users in DE"), not the word "IN" or "US" in caps alone.
    original
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_uppercase()) && is_country(w))
        .find(|w| !matches!(*w, "IS" | "IT" | "AT" | "BY" | "TO" | "NO" | "ME" | "AS" | "AN" | "AM" | "DO" | "SO" | "OR" | "IF"))
        .map(str::to_string)
        .filter(|_| q.contains("countr") || q.contains(" in ") || q.contains(" from "))
}

/// What a question names that `intent`'s answer is not narrowed to: a plan, a country, a segment or a
/// breakdown. The answer says so rather than drop it silently.
pub fn unapplied(question: &str, intent: &Intent) -> Vec<String> {
    let q = question.to_lowercase();
    let words: Vec<&str> = q.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).filter(|w| !w.is_empty()).collect();
    let grouped = grouping(&q);
    let mut out = Vec::new();
    let (filters_apply, segment_matters, grouping_applies) = match intent {
        Intent::Refuse(_) | Intent::Unsupported(_) | Intent::User(_) => return out,
        Intent::Count(_) | Intent::Share { .. } | Intent::AvgProbability(_) | Intent::Breakdown { .. } => (true, false, true),
        Intent::Rank { dimension, .. } | Intent::GroupShare { dimension, .. } => (true, false, grouped.is_none_or(|g| g == *dimension)),
        Intent::Metric { .. } | Intent::Ingest(_) | Intent::Model(_) | Intent::DataQuality => (false, true, false),
        Intent::TopDrivers(_) | Intent::Threshold(_) | Intent::SegmentDefinitions | Intent::Changes | Intent::Search => (false, false, false),
    };
    if !filters_apply {
        if let Some(p) = plan_of(&words) {
            out.push(format!("the {p} plan"));
        }
        if let Some(c) = country_of(question, &q) {
            out.push(format!("country {c}"));
        }
        if segment_matters && let Some(s) = segment_of(&q, &words) {
            out.push(format!("the {} segment", s.name()));
        }
    }
    if !grouping_applies && let Some(d) = grouped {
        out.push(format!("a breakdown by {}", d.column()));
    }
    out
}

/// Reads a question.
pub fn parse(question: &str) -> Intent {
    if WRITE.is_match(question) {
        return Intent::Refuse("the question asks to change data; the assistant only reads the run's tables".into());
    }
    if RAW_SQL.is_match(question) {
        return Intent::Refuse("the question carries SQL or quoting; the assistant only runs queries it builds itself".into());
    }
    let q = question.to_lowercase();
    let words: Vec<&str> = q.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).filter(|w| !w.is_empty()).collect();
    let filters = Filters { segment: segment_of(&q, &words), plan: plan_of(&words), country: country_of(question, &q) };

    if let Some(m) = OTHER_PERIOD.find(&q) {
        return Intent::Unsupported(format!("a run holds one week's snapshot and next week's predictions, nothing about '{}'", m.as_str()));
    }
    if let Some(m) = PERSONAL.find(&q) {
        return Intent::Unsupported(format!("the run's tables hold no {}", m.as_str()));
    }
    if let Some(user) = USER_ID.captures(&q) {
        return Intent::User(user[1].to_string());
    }
    let asks_count = q.contains("how many") || q.contains("number of") || has_word(&words, &["count"]);
    let asks_share = has_word(&words, &["share", "percent", "percentage", "proportion", "fraction", "%"]) || q.contains('%');

    if q.contains("since last week")
        || q.contains("previous week")
        || q.contains("since the last")
        || q.contains("week over week")
        || q.contains("compared to last week")
        || q.contains("changed")
        || has_word(&words, &["drift", "shift"])
    {
        return Intent::Changes;
    }
    if q.contains("quarantin") {
        return Intent::Ingest(IngestFigure::Quarantined);
    }
    if (q.contains("rows") || q.contains("records"))
        && (q.contains("ingest") || q.contains("read") || q.contains("accepted") || q.contains("loaded"))
    {
        return Intent::Ingest(if q.contains("accepted") || q.contains("loaded") { IngestFigure::Accepted } else { IngestFigure::Read });
    }
    if q.contains("quality")
        && has_word(&words, &["check", "checks", "result", "results", "pass", "passed", "fail", "failed", "tests", "test"])
    {
        return Intent::DataQuality;
    }
    if asks_count && has_word(&words, &["trees"]) {
        return Intent::Model(ModelFigure::Trees);
    }
    if (asks_count || q.contains("size")) && (q.contains("training rows") || q.contains("training set") || q.contains("trained on")) {
        return Intent::Model(ModelFigure::TrainingRows);
    }
    if (asks_count || q.contains("size") || q.contains("how big") || q.contains("how large"))
        && (q.contains("validation rows") || q.contains("validation set"))
    {
        return Intent::Model(ModelFigure::ValidationRows);
    }
    let metric = if has_word(&words, &["auc", "roc"]) || q.contains("area under") {
        Some("auc")
    } else if q.contains("log loss") || q.contains("logloss") || q.contains("log-loss") {
        Some("logloss")
    } else if q.contains("brier") {
        Some("brier")
    } else if q.contains("average precision") {
        Some("average_precision")
    } else if has_word(&words, &["accuracy", "accurate"]) && !q.contains("realized") {
        Some("accuracy")
    } else {
        None
    };
    if let Some(name) = metric {
        let mentions_baseline = q.contains("baseline") || q.contains("logistic");
        let compares = mentions_baseline
            && (q.contains(" vs") || q.contains("compare") || q.contains("against") || q.contains("better") || q.contains("beat"));
        return Intent::Metric { name, baseline: if compares { None } else { Some(mentions_baseline) } };
    }
    if q.contains("drive")
        || q.contains("driver")
        || q.contains("important feature")
        || q.contains("most important")
        || q.contains("importance")
        || q.contains("influence")
        || q.contains("predictive")
    {
        let n = TOP_N
            .captures(&q)
            .and_then(|c| c[1].parse().ok())
            .unwrap_or(if q.contains("most important") || q.contains("biggest driver") || q.contains("main driver") { 1 } else { 5 });
        return Intent::TopDrivers(n);
    }
    let defines = has_word(&words, &["threshold", "thresholds", "cutoff", "cutoffs", "cut-off", "cut-offs"])
        || q.contains("defin")
        || q.contains("segmented")
        || q.contains("what probability")
        || q.contains("which probability")
        || q.contains("puts a user");
    if let Some(segment) = filters.segment
        && defines
    {
        return Intent::Threshold(segment);
    }
    if filters.segment.is_none() && q.contains("segment") && (defines || q.contains("what are the segments") || q.contains("what segments"))
    {
        return Intent::SegmentDefinitions;
    }
    let ranks = has_word(&words, &["which", "what"])
        && has_word(&words, &["highest", "lowest", "most", "fewest", "largest", "smallest", "best", "worst", "least"]);
    let asks_rate = asks_share || has_word(&words, &["rate", "ratio"]);
    let grouped = grouping(&q);
    let dimension = if let Some(c) = WHICH.captures(&q) {
        dimension_word(&c[2])
    } else if has_word(&words, &["plan", "plans"]) {
        Some(Dimension::Plan)
    } else if has_word(&words, &["country", "countries"]) {
        Some(Dimension::Country)
    } else if has_word(&words, &["segment", "segments"]) {
        Some(Dimension::Segment)
    } else {
        None
    };
    let lowest = has_word(&words, &["lowest", "fewest", "smallest", "worst", "least"]);
    if ranks && let Some(dimension) = dimension {
        // "the highest share of high-engagement users": a segment's share per group, never another measure.
        if asks_rate && dimension != Dimension::Segment {
            return match filters.segment {
                Some(segment) => {
                    Intent::GroupShare { segment, dimension, filters: Filters { segment: None, ..filters }, highest: !lowest }
                }
                None => Intent::Unsupported(format!(
                    "a share of which users? Name a segment (high, medium or low) to compare its share across {}",
                    dimension.plural()
                )),
            };
        }
        // "most likely to engage/disengage": the average probability, not a count of a segment.
        let likely = q.contains("most likely") || q.contains("least likely") || q.contains("more likely") || q.contains("less likely");
        if likely {
            // Most likely to engage: highest first; to disengage (the low segment's words): lowest first; "least" turns it round.
            let least = q.contains("least likely") || q.contains("less likely");
            let highest = (filters.segment != Some(Segment::Low)) != least;
            let filters = Filters { segment: None, ..filters };
            return Intent::Rank { dimension, measure: Measure::AvgProbability, highest, filters };
        }
        // A named segment ("the most high-engagement users") is a filter on a count; otherwise engagement words ask for the probability.
        let by_probability = has_word(&words, &["probability", "score", "scores", "likelihood", "average", "avg", "mean"])
            || (filters.segment.is_none() && has_word(&words, &["likely", "engagement", "engaged", "engage", "engaging"]));
        let measure = if by_probability { Measure::AvgProbability } else { Measure::Users };
        return Intent::Rank { dimension, measure, highest: !lowest, filters };
    }
    if let Some(dimension) = grouped {
        let average = has_word(&words, &["average", "mean", "avg"]) && has_word(&words, &["probability", "score", "likelihood"]);
        if asks_rate && dimension != Dimension::Segment && let Some(segment) = filters.segment {
            return Intent::GroupShare { segment, dimension, filters: Filters { segment: None, ..filters }, highest: true };
        }
        if average {
            return Intent::Breakdown { dimension, measure: Measure::AvgProbability, filters };
        }
        if asks_count || has_word(&words, &["users", "user", "customers", "people", "accounts", "breakdown", "distribution", "sizes", "size"])
        {
            return Intent::Breakdown { dimension, measure: Measure::Users, filters };
        }
    }
    let about_users = has_word(&words, &["users", "user", "customers", "people", "accounts", "scored"]) || q.contains("segment");
    if has_word(&words, &["average", "mean", "avg"]) && has_word(&words, &["probability", "score", "likelihood"]) {
        return Intent::AvgProbability(filters);
    }
    if asks_share && let Some((part, of)) = share_split(question, &q) {
        return Intent::Share { part, of };
    }
    if asks_share && let Some(segment) = filters.segment {
        return Intent::Share { part: Filters { segment: Some(segment), ..Filters::default() }, of: Filters { segment: None, ..filters } };
    }
    if asks_count && about_users {
        return Intent::Count(filters);
    }
    Intent::Search
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_structured_questions() {
        assert_eq!(
            parse("How many users are likely to disengage next week?"),
            Intent::Count(Filters { segment: Some(Segment::Low), ..Default::default() })
        );
        assert_eq!(
            parse("How many pro users in Germany are in the high segment?"),
            Intent::Count(Filters { segment: Some(Segment::High), plan: Some("pro"), country: Some("DE".into()) })
        );
        assert_eq!(parse("What is the AUC of the baseline?"), Intent::Metric { name: "auc", baseline: Some(true) });
        assert_eq!(parse("What drives engagement?"), Intent::TopDrivers(5));
        assert_eq!(parse("What is the score of user u000000042?"), Intent::User("u000000042".into()));
        assert_eq!(
            parse("Which plan has the highest average probability?"),
            Intent::Rank { dimension: Dimension::Plan, measure: Measure::AvgProbability, highest: true, filters: Filters::default() }
        );
        assert_eq!(parse("What does avg_session_minutes_30d mean?"), Intent::Search);
    }

    #[test]
    fn a_share_is_of_the_users_its_of_clause_names() {
        let high = Filters { segment: Some(Segment::High), ..Default::default() };
        let jp = Filters { country: Some("JP".into()), ..Default::default() };
        assert_eq!(
            parse("What share of high-engagement users are in Japan?"),
            Intent::Share { part: jp.clone(), of: high.clone() }
        );
        assert_eq!(parse("What share of users in Japan are high-engagement?"), Intent::Share { part: high.clone(), of: jp.clone() });
        assert_eq!(
            parse("What percentage of high-engagement users are on the pro plan?"),
            Intent::Share { part: Filters { plan: Some("pro"), ..Default::default() }, of: high.clone() }
        );
        assert_eq!(parse("What share of users are in Japan?"), Intent::Share { part: jp.clone(), of: Filters::default() });
        // A verb inside the clause ("who are") does not end it.
        assert_eq!(
            parse("What share of users who are in Japan are high-engagement?"),
            Intent::Share { part: high.clone(), of: jp.clone() }
        );
        // No verb: the segment is what is asked of the users the rest names.
        assert_eq!(parse("Share of high users in Japan"), Intent::Share { part: high, of: jp });
    }

    #[test]
    fn reads_every_segment_form_and_keeps_every_filter() {
        let high_jp = Filters { segment: Some(Segment::High), country: Some("JP".into()), ..Default::default() };
        assert_eq!(parse("How many users are high-engagement in Japan?"), Intent::Count(high_jp.clone()));
        assert_eq!(parse("How many high engagement users are in Japan?"), Intent::Count(high_jp));
        assert_eq!(
            parse("How many highly engaged users are there?"),
            Intent::Count(Filters { segment: Some(Segment::High), ..Default::default() })
        );
        assert_eq!(
            parse("How many low-engagement users are in the US?"),
            Intent::Count(Filters { segment: Some(Segment::Low), country: Some("US".into()), ..Default::default() })
        );
        assert_eq!(
            parse("How many medium-engagement users are on the pro plan?"),
            Intent::Count(Filters { segment: Some(Segment::Medium), plan: Some("pro"), ..Default::default() })
        );
        assert_eq!(
            parse("Which country has the highest share of high-engagement users?"),
            Intent::GroupShare { segment: Segment::High, dimension: Dimension::Country, filters: Filters::default(), highest: true }
        );
        assert!(matches!(parse("Which country has the highest share of users?"), Intent::Unsupported(_)));
        assert_eq!(
            parse("Which plan has the most low-engagement users in Germany?"),
            Intent::Rank {
                dimension: Dimension::Plan,
                measure: Measure::Users,
                highest: true,
                filters: Filters { segment: Some(Segment::Low), country: Some("DE".into()), ..Default::default() }
            }
        );
        for (q, dimension) in [
            ("How many users are in each segment?", Dimension::Segment),
            ("How many users are in each plan?", Dimension::Plan),
            ("How many users by country?", Dimension::Country),
        ] {
            assert_eq!(parse(q), Intent::Breakdown { dimension, measure: Measure::Users, filters: Filters::default() }, "{q}");
        }
        assert_eq!(parse("How are the segments defined?"), Intent::SegmentDefinitions);
        assert_eq!(parse("What were the data quality check results?"), Intent::DataQuality);
        assert_eq!(unapplied("What is the AUC for pro users in Germany?", &parse("What is the AUC for pro users in Germany?")), [
            "the pro plan",
            "country DE"
        ]);
        assert!(unapplied("How many users are high-engagement in Japan?", &parse("How many users are high-engagement in Japan?")).is_empty());
    }

    #[test]
    fn refuses_writes_and_smuggled_sql() {
        for q in [
            "drop table engagement_results",
            "Please delete from users where plan = 'free'",
            "How many users are on plan free'; DROP TABLE users; --",
            "how many users where segment = 'high' or 1=1",
            "select * from engage.users",
            "How many users UNION SELECT password FROM secrets",
        ] {
            assert!(matches!(parse(q), Intent::Refuse(_)), "{q}");
        }
        assert!(!matches!(parse("What's the share of users in the low segment?"), Intent::Refuse(_)));
    }
}
