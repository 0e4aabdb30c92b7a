//! What a question asks, read from its words alone: a structured intent the
//! host answers with its own SQL or facts, a search of the knowledge base, or a
//! refusal. Values that end up in SQL (plan, segment, country, user id) come
//! only from fixed lists or strict patterns, never as free text.

use std::sync::LazyLock;

use regex::Regex;

use super::countries;
use crate::data::schema::PLANS;

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
    /// The `n` users with the highest (or lowest) probability among those `filters` keeps.
    TopUsers {
        n: usize,
        highest: bool,
        filters: Filters,
    },
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
    /// The drift step's warnings and the features it flagged.
    Drift,
    /// How the segments' sizes changed since last week: one segment, or all.
    SegmentSizes(Option<Segment>),
    /// Users who moved between segments since last week: from one segment, into one, or both.
    Migration {
        from: Option<Segment>,
        to: Option<Segment>,
    },
    /// The AUC last week's model reached on the labels that have arrived since.
    RealizedAuc,
    /// A figure of last week: in the previous run, not this one (the answer names it).
    LastWeek,
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
/// "last week", "the previous week": a figure of the run before this one.
static LAST_WEEK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(last|previous|prior) week\b|\ba week (ago|before|earlier)\b").unwrap());
/// Words that ask what changed between two weeks rather than a figure of one of them.
static CHANGE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(since|compared?|change[sd]?|changing|moved?|moving|migrat\w*|shift\w*|drift\w*|versus|vs|differ\w*|went|switched)\b").unwrap()
});
/// Segment migration: "moved from the high segment to the low", "migrated", "switched segment".
static MIGRATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(moved?|moving|migrat\w*|went|switched|dropped|downgraded|upgraded|changed (their )?segments?)\b").unwrap());
/// A negation or exclusion ("not in the high segment", "outside the US", "plans other than free").
static NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(not|non|other than|outside|except|excluding|exclude|besides|apart from|aside from|isn't|aren't|without)\b").unwrap()
});
/// A numeric cut ("a probability above 0.9", "more than 50%").
static NUMERIC_CUT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(above|over|below|under|greater than|less than|more than|higher than|lower than|at least|at most|between|exceed\w*)\s+\$?\d[\d.,]*%?|[<>]=?\s*\d[\d.,]*%?").unwrap()
});
/// A capitalised place after "in" or "from" ("users in Narnia"), checked against the country names.
static PLACE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(?:in|from)\s+([A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*)*)").unwrap());
/// User attributes the raw table has but the results table does not: answering would drop them.
const ATTRIBUTES: [&str; 40] = [
    "android", "ios", "iphone", "ipad", "desktop", "mobile", "web", "device", "devices", "female", "male", "women", "men",
    "gender", "organic", "referral", "partner", "partners", "paid_search", "social", "channel", "channels", "acquisition",
    "paying", "paid", "payer", "payers", "subscriber", "subscribers", "region", "regions", "age", "aged", "older", "younger",
    "tenure", "email", "e-mail", "signup", "sign-up",
];
/// How a user came ("signed up via email", "came through referral"): the acquisition channel, which the results don't hold.
static ACQUIRED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:(?:signed|sign|signing) up(?:\s+(?:via|through|from|with|by|on))?|via|through)(?:\s+(?:the|a|an))?\s+[\w-]+").unwrap()
});
/// Words that may qualify "users" without naming who they are ("how many users", "the top 5 users", "all scored
/// users"); any other word there must be a segment, plan or country, else it is a filter the answer would drop.
const QUALIFIERS: &[&str] = &[
    "how", "many", "much", "of", "all", "the", "our", "these", "those", "total", "scored", "are", "were", "is", "be", "do", "did",
    "does", "what", "which", "who", "whose", "any", "some", "most", "more", "fewer", "few", "least", "fewest", "less", "highest",
    "lowest", "largest", "smallest", "biggest", "best", "worst", "likeliest", "ranked", "number", "count", "share",
    "percentage", "percent", "proportion", "fraction", "among", "for", "in", "on", "from", "to", "with", "and", "or", "than",
    "top", "bottom", "a", "an", "distinct", "unique", "individual", "predicted", "expected", "likely", "unlikely", "engaged",
    "engaging", "engagement", "disengaged", "disengaging", "churning", "risk", "at", "lapsing", "plan", "plans", "segment",
    "segments", "country", "countries", "average", "there", "have", "has", "by", "per", "each",
];
/// Words that may stand before "plan" without naming one ("the plan", "each plan", "which plan").
const PLAN_QUALIFIERS: [&str; 14] =
    ["the", "a", "which", "what", "each", "every", "per", "their", "same", "one", "this", "that", "by", "subscription"];
/// The words for users a qualifier stands before.
const PEOPLE: [&str; 7] = ["users", "user", "customers", "customer", "accounts", "people", "subscribers"];
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
/// Users listed by their score: "the top 5 users", "bottom 10 customers", "20 users with the highest probability",
/// "which users are most likely to engage".
static TOP_USERS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:(top|bottom)\s+(\d{1,3}\s+)?(?:users|customers|accounts)\b|(\d{1,3})\s+(?:users|customers|accounts)\s+(?:with|who|by|most|least|ranked)\b|(?:which|what|list\s+the)\s+(?:users|customers|accounts)\s+(?:have|has|are|with|score)\b[^?]*\b(?:highest|lowest|most likely|least likely|best|worst))")
        .unwrap()
});
/// Most users a list of users names.
pub const TOP_USERS_MAX: usize = 50;

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

/// Phrases that name the low segment by what its users will do ("likely to disengage", "at high risk of churning").
const LOW_PHRASES: [&str; 9] =
    ["disengag", "not engage", "won't engage", "risk", "churn", "unlikely to engage", "least likely to engage", "less likely to engage", "lapse"];

/// Every segment a question names, once each: words ("high", "high-engagement", "highly engaged",
/// "moderately engaged") or the low segment's phrases; "likely to engage" alone is the high segment.
fn segments_named(q: &str, words: &[&str]) -> Vec<Segment> {
    let mut found = Vec::new();
    if q.contains("low risk") || q.contains("low-risk") {
        found.push(Segment::High);
    } else if LOW_PHRASES.iter().any(|p| q.contains(p)) {
        found.push(Segment::Low);
    }
    for (i, word) in words.iter().enumerate() {
        // "high risk", "high-risk": how likely a user is to leave, not the high segment.
        if word.contains("risk") || words.get(i + 1).is_some_and(|next| next.starts_with("risk")) {
            continue;
        }
        for part in word.split('-') {
            let named = match part {
                "high" | "highly" => Segment::High,
                "medium" | "moderately" | "moderate" => Segment::Medium,
                "low" | "lowly" => Segment::Low,
                _ => continue,
            };
            if !found.contains(&named) {
                found.push(named);
            }
        }
    }
    if found.is_empty() && (q.contains("likely to engage") || q.contains("will engage") || q.contains("expected to engage")) {
        found.push(Segment::High);
    }
    found
}

fn segment_of(q: &str, words: &[&str]) -> Option<Segment> {
    segments_named(q, words).first().copied()
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

fn plans_named(words: &[&str]) -> Vec<&'static str> {
    PLANS.iter().copied().filter(|p| words.contains(p)).collect()
}

fn plan_of(words: &[&str]) -> Option<&'static str> {
    plans_named(words).first().copied()
}

fn country_of(original: &str, q: &str) -> Option<String> {
    countries::named(original, q).into_iter().next()
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
        Intent::TopUsers { .. } => (true, false, false),
        Intent::Rank { dimension, .. } | Intent::GroupShare { dimension, .. } => (true, false, grouped.is_none_or(|g| g == *dimension)),
        Intent::Metric { .. } | Intent::Ingest(_) | Intent::Model(_) | Intent::DataQuality => (false, true, false),
        Intent::TopDrivers(_)
        | Intent::Threshold(_)
        | Intent::SegmentDefinitions
        | Intent::Changes
        | Intent::Drift
        | Intent::SegmentSizes(_)
        | Intent::Migration { .. }
        | Intent::RealizedAuc
        | Intent::LastWeek
        | Intent::Search => (false, false, false),
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

/// Why a question about users can't be answered exactly from a segment, a plan and a country: it names
/// two values of one of them, excludes users, cuts at a number, or names an attribute or a place the
/// results don't hold. Answering anyway would drop that part and give a wrong figure as if it were right.
fn unreadable_filter(question: &str, q: &str, words: &[&str], named: &Named) -> Option<String> {
    let list = |what: &str, named: Vec<String>, per: &str| {
        (named.len() > 1).then(|| {
            format!("the question names more than one {what} ({}); ask for one at a time, or for the users {per}", named.join(", "))
        })
    };
    let segments = named.segments.iter().map(|s| s.name().to_string()).collect();
    let plans = named.plans.iter().map(|p| p.to_string()).collect();
    let countries = named.countries.clone();
    let several = list("segment", segments, "in each segment")
        .or_else(|| list("plan", plans, "per plan"))
        .or_else(|| list("country", countries, "by country"));
    if several.is_some() {
        return several;
    }
    // "will not engage" names the low segment; any other "not" excludes users.
    let without_low_phrases = q.replace("not engage", "").replace("won't engage", "");
    if let Some(m) = NEGATION.find(&without_low_phrases) {
        return Some(format!(
            "the question excludes users ('{}'), and the assistant counts only the users a segment, plan or country names; ask for each of the others by name",
            m.as_str()
        ));
    }
    if let Some(m) = NUMERIC_CUT.find(q) {
        return Some(format!(
            "the question cuts at a number ('{}'); the assistant answers by segment (see how the segments are defined), and `engage sql` can filter engagement_results on probability",
            m.as_str().trim()
        ));
    }
    if let Some(c) = ACQUIRED.captures(q) {
        return Some(format!(
            "the results hold each user's segment, plan and country, not how they signed up ('{}'); `engage sql` can join engagement_results to the users table on user_id for acquisition_channel",
            c[0].trim()
        ));
    }
    if let Some(word) = words.iter().find(|w| ATTRIBUTES.contains(w)) {
        return Some(format!(
            "the results hold each user's segment, plan and country, not '{word}'; `engage sql` can join engagement_results to the users table on user_id for it"
        ));
    }
    if let Some(word) = countries::ambiguous(question) {
        let code = word.to_uppercase();
        return Some(format!(
            "'{word}' may be the country {code} or the English word; write the code in capitals (in {code}) or the country's name"
        ));
    }
    let unknown_place = PLACE.captures_iter(question).map(|c| c[1].to_string()).find(|place| {
        let lower = place.to_lowercase();
        let place_words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        countries::named(place, &lower).is_empty()
            && !countries::is_code(place)
            && plans_named(&place_words).is_empty()
            && segments_named(&lower, &place_words).is_empty()
    });
    if let Some(place) = unknown_place {
        return Some(format!("'{place}' is no country the assistant knows; name it in English or by its ISO code (DE, JP)"));
    }
    unknown_qualifier(words, named)
}

/// A word that qualifies the users ("premium users") or names a plan ("the premium plan") but is no segment, plan
/// or country: a filter the answer would drop. Named, with the values there are.
fn unknown_qualifier(words: &[&str], named: &Named) -> Option<String> {
    let explained = |word: &str| {
        word.split('-').filter(|p| !p.is_empty()).all(|part| {
            QUALIFIERS.contains(&part)
                || PLANS.contains(&part)
                || part.chars().all(|c| c.is_ascii_digit())
                || !segments_named(part, &[part]).is_empty()
                || named.countries.iter().any(|code| {
                    code.eq_ignore_ascii_case(part) || countries::names_of(code).any(|name| name.split(' ').any(|w| w == part))
                })
        })
    };
    let plans = PLANS.join(", ");
    for pair in words.windows(2) {
        let (word, next) = (pair[0], pair[1]);
        if matches!(next, "plan" | "plans" | "tier") && !PLAN_QUALIFIERS.contains(&word) && !explained(word) {
            return Some(format!("there is no plan '{word}'; the plans are {plans}"));
        }
        if PEOPLE.contains(&next) && !explained(word) {
            return Some(format!(
                "the results know no plan, segment or country '{word}' (plans: {plans}; segments: high, medium, low; a country by its name or ISO code); ask with one of those, or use `engage sql` for other columns"
            ));
        }
    }
    None
}

/// A list of users by their score. "Most likely to disengage" and the low segment's words ask for the lowest scores,
/// not for a filter on the low segment.
fn top_users(q: &str, words: &[&str], c: &regex::Captures, filters: Filters) -> Intent {
    let n = [c.get(2), c.get(3)]
        .into_iter()
        .flatten()
        .find_map(|m| m.as_str().trim().parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, TOP_USERS_MAX);
    // "Likely to disengage" asks for the lowest scores; "least likely" turns either round.
    let toward_low = ["disengag", "churn", "risk", "lapse", "not engage", "won't engage"].iter().any(|p| q.contains(p))
        && !q.contains("low risk")
        && !q.contains("low-risk");
    let least = q.contains("least likely") || q.contains("less likely") || q.contains("unlikely");
    let lowest = c.get(1).is_some_and(|m| m.as_str() == "bottom") || has_word(words, &["lowest", "worst"]) || toward_low != least;
    let likely = q.contains("likely") || toward_low;
    let filters = if likely { Filters { segment: None, ..filters } } else { filters };
    Intent::TopUsers { n, highest: !lowest, filters }
}

/// Segment migration: the segment after "from" and the one after "to"/"into" ("moved from high to low").
fn migration(q: &str) -> Intent {
    let segment_in = |text: &str| {
        let words: Vec<&str> = text.split(|c: char| !(c.is_alphanumeric() || c == '-')).filter(|w| !w.is_empty()).collect();
        segments_named(text, &words).first().copied()
    };
    let from_at = q.find(" from ").or_else(|| q.find(" out of "));
    let to_at = [" to ", " into "].iter().filter_map(|t| q[from_at.unwrap_or(0)..].find(t).map(|i| i + from_at.unwrap_or(0))).min();
    let from = from_at.and_then(|f| segment_in(&q[f..to_at.filter(|t| *t > f).unwrap_or(q.len())]));
    let to = to_at.and_then(|t| segment_in(&q[t..]));
    Intent::Migration { from, to }
}

/// Every segment, plan and country a question names, in the order named.
struct Named {
    segments: Vec<Segment>,
    plans: Vec<&'static str>,
    countries: Vec<String>,
}

impl Named {
    fn read(question: &str, q: &str, words: &[&str]) -> Self {
        Self { segments: segments_named(q, words), plans: plans_named(words), countries: countries::named(question, q) }
    }

    /// The filters a count, share or ranking applies: the first of each.
    fn filters(&self) -> Filters {
        Filters { segment: self.segments.first().copied(), plan: self.plans.first().copied(), country: self.countries.first().cloned() }
    }
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
    let named = Named::read(question, &q, &words);
    let filters = named.filters();

    if let Some(m) = OTHER_PERIOD.find(&q) {
        return Intent::Unsupported(format!("a run holds one week's snapshot and next week's predictions, nothing about '{}'", m.as_str()));
    }
    if let Some(m) = PERSONAL.find(&q) {
        return Intent::Unsupported(format!("the run's tables hold no {}", m.as_str()));
    }
    if q.contains("realized") || q.contains("realised") {
        return Intent::RealizedAuc;
    }
    if MIGRATION.is_match(&q) && (q.contains("segment") || !named.segments.is_empty()) {
        return migration(&q);
    }
    if LAST_WEEK.is_match(&q) && !CHANGE_WORDS.is_match(&q) {
        return Intent::LastWeek;
    }
    let intent = read_intent(question, &q, &words, filters);
    let about_users = matches!(
        intent,
        Intent::Count(_)
            | Intent::Share { .. }
            | Intent::AvgProbability(_)
            | Intent::Rank { .. }
            | Intent::Breakdown { .. }
            | Intent::GroupShare { .. }
            | Intent::TopUsers { .. }
    );
    match unreadable_filter(question, &q, &words, &named) {
        Some(why) if about_users => Intent::Unsupported(why),
        _ => intent,
    }
}

/// A question that writes nothing, asks nothing personal and names no other week.
fn read_intent(question: &str, q: &str, words: &[&str], filters: Filters) -> Intent {
    if let Some(user) = USER_ID.captures(&q) {
        return Intent::User(user[1].to_string());
    }
    if let Some(c) = TOP_USERS.captures(q) {
        return top_users(q, words, &c, filters);
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
        || q.contains("drifted")
    {
        if q.contains("drift") || has_word(words, &["warning", "warnings", "alert", "alerts"]) {
            return Intent::Drift;
        }
        let sizes = asks_count || has_word(words, &["size", "sizes", "grow", "grew", "shrink", "shrank", "bigger", "smaller"]);
        if sizes && (filters.segment.is_some() || has_word(words, &["segment", "segments"])) {
            return Intent::SegmentSizes(filters.segment);
        }
        return Intent::Changes;
    }
    if has_word(words, &["drift", "drifted", "drifting"]) || (has_word(words, &["warning", "warnings"]) && !q.contains("quality")) {
        return Intent::Drift;
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
    fn declines_what_it_cannot_narrow_to_instead_of_a_wrong_figure() {
        // Each of these was answered with the figure for all users (or a reversed one) before.
        for q in [
            "How many users are not in the high segment?",
            "How many users are high on plans other than free?",
            "How many users are in the high or medium segment?",
            "How many free and basic users are high?",
            "How many users in Germany or France are high?",
            "How many users outside the US are high?",
            "How many users have a probability above 0.9?",
            "How many paying users are likely to disengage?",
            "How many android users are high?",
            "How many users in Narnia are high?",
        ] {
            assert!(matches!(parse(q), Intent::Unsupported(_)), "{q}: {:?}", parse(q));
        }
        let kr = Filters { segment: Some(Segment::High), country: Some("KR".into()), ..Default::default() };
        assert_eq!(parse("How many users in South Korea are high?"), Intent::Count(kr));
        assert_eq!(
            parse("What percentage of German users are on the free plan?"),
            Intent::Share { part: Filters { plan: Some("free"), ..Default::default() }, of: Filters { country: Some("DE".into()), ..Default::default() } }
        );
        let low = Intent::Count(Filters { segment: Some(Segment::Low), ..Default::default() });
        assert_eq!(parse("How many users are at high risk of disengaging?"), low);
        assert_eq!(parse("How many users are least likely to engage?"), low);
        assert_eq!(parse("How many users will not engage next week?"), low);
    }

    /// Tester questions that were answered for every user: a country code, a channel or an unknown plan was dropped.
    #[test]
    fn a_country_code_is_read_and_an_unknown_filter_declined() {
        let country = |c: &str| Filters { country: Some(c.into()), ..Default::default() };
        let high_us = Filters { segment: Some(Segment::High), country: Some("US".into()), ..Default::default() };
        assert_eq!(parse("How many US users are high?"), Intent::Count(high_us.clone()));
        assert_eq!(parse("How many American users are high?"), Intent::Count(high_us.clone()));
        assert_eq!(parse("How many high users in the US?"), Intent::Count(high_us));
        assert_eq!(parse("How many DE users are there?"), Intent::Count(country("DE")));
        assert_eq!(parse("Average probability of DE users?"), Intent::AvgProbability(country("DE")));
        for (q, code) in [
            ("How many users are in DE?", "DE"),
            ("How many users are in GB?", "GB"),
            ("How many users are in US?", "US"),
            ("How many users are in IN?", "IN"),
            ("How many users are in de?", "DE"),
            ("How many users from jp?", "JP"),
            ("How many users are in country DE?", "DE"),
        ] {
            assert_eq!(parse(q), Intent::Count(country(code)), "{q}");
        }
        assert_eq!(parse("What is the average probability in GB?"), Intent::AvgProbability(country("GB")));
        assert_eq!(parse("What is the average probability in the United Kingdom?"), Intent::AvgProbability(country("GB")));
        // "us" as English is no country; after "in" it could be either: asked again, not answered for everyone.
        assert_eq!(parse("Tell us how many users are high"), Intent::Count(Filters { segment: Some(Segment::High), ..Default::default() }));
        let declined = |q: &str| match parse(q) {
            Intent::Unsupported(why) => why,
            other => panic!("{q}: {other:?}"),
        };
        assert!(declined("How many users are in us?").contains("in US"));
        assert!(declined("How many high users signed up via email?").contains("acquisition_channel"));
        assert!(declined("How many users came through referral?").contains("signed up"));
        assert!(declined("How many users are on android?").contains("'android'"));
        let premium = declined("How many premium users?");
        assert!(premium.contains("'premium'") && premium.contains("free, basic, pro, enterprise"), "{premium}");
        assert!(declined("How many users are on the premium plan?").starts_with("there is no plan 'premium'"));
        assert!(declined("What is the average probability of active users?").contains("'active'"));
        assert!(declined("How many new users are high?").contains("'new'"));
        // Words that only count or qualify users are not filters.
        for q in [
            "How many users are there?",
            "How many scored users are in the high segment?",
            "How many pro plan users are in Germany?",
            "Which plan has the fewest users?",
            "Which country has the most high-engagement users?",
            "How many South Korean users are high?",
            "How many New Zealand users are there?",
            "What share of all users are high-engagement?",
        ] {
            assert!(!matches!(parse(q), Intent::Unsupported(_)), "{q}: {:?}", parse(q));
        }
    }

    #[test]
    fn lists_users_by_score_and_reads_drift_and_segment_changes() {
        assert_eq!(parse("Who are the top 5 users by probability?"), Intent::TopUsers { n: 5, highest: true, filters: Filters::default() });
        assert_eq!(
            parse("Which users are most likely to disengage?"),
            Intent::TopUsers { n: 10, highest: false, filters: Filters::default() }
        );
        assert_eq!(
            parse("List the bottom 3 users in Germany"),
            Intent::TopUsers { n: 3, highest: false, filters: Filters { country: Some("DE".into()), ..Default::default() } }
        );
        assert_eq!(
            parse("Show the 20 users with the highest score on the pro plan"),
            Intent::TopUsers { n: 20, highest: true, filters: Filters { plan: Some("pro"), ..Default::default() } }
        );
        assert_eq!(parse("What are the top 3 drivers?"), Intent::TopDrivers(3));
        for q in ["Which features drifted?", "Are there any drift warnings?", "Were there any warnings this week?", "Did any feature drift?"] {
            assert_eq!(parse(q), Intent::Drift, "{q}");
        }
        assert_eq!(parse("How did the number of high segment users change since last week?"), Intent::SegmentSizes(Some(Segment::High)));
        assert_eq!(parse("How did the segment sizes change since last week?"), Intent::SegmentSizes(None));
        assert_eq!(parse("What changed since last week?"), Intent::Changes);
        assert_eq!(parse("Why were rows quarantined?"), Intent::Ingest(IngestFigure::Quarantined));
        assert_eq!(parse("Which column caused the most quarantined rows?"), Intent::Ingest(IngestFigure::Quarantined));
    }

    #[test]
    fn a_question_about_last_week_is_sent_to_the_changes_or_to_last_weeks_run() {
        assert_eq!(parse("How many users were in the high segment last week?"), Intent::LastWeek);
        assert_eq!(parse("What is the probability of user u000000001 last week?"), Intent::LastWeek);
        assert_eq!(parse("What is the realized AUC of last week's model?"), Intent::RealizedAuc);
        assert_eq!(
            parse("How many users moved from the high segment to the low segment?"),
            Intent::Migration { from: Some(Segment::High), to: Some(Segment::Low) }
        );
        assert_eq!(parse("How many users moved into the low segment since last week?"), Intent::Migration { from: None, to: Some(Segment::Low) });
        assert_eq!(parse("How many users moved out of the high segment?"), Intent::Migration { from: Some(Segment::High), to: None });
        assert_eq!(parse("How many users changed segment since last week?"), Intent::Migration { from: None, to: None });
        assert_eq!(parse("What changed since last week?"), Intent::Changes);
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
