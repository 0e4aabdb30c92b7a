//! The raw-input contract of DATA.md as data: every column's name, type and rule.
//! Ingest validates against it, the generator writes it, the catalog types come from it.

use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// What a column holds and which values are allowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// An integer in `min..=max` (`max` open when `None`).
    Int { min: i64, max: Option<i64> },
    /// A finite number in `min..=max`.
    Float { min: f64, max: Option<f64> },
    /// One of a fixed set of strings, exactly as written.
    Category(&'static [&'static str]),
    /// An ISO 3166-1 alpha-2 code (upper case).
    Country,
    /// Free text.
    Text,
}

impl Rule {
    pub fn arrow_type(&self) -> DataType {
        match self {
            Rule::Int { .. } => DataType::Int64,
            Rule::Float { .. } => DataType::Float64,
            Rule::Category(_) | Rule::Country | Rule::Text => DataType::Utf8,
        }
    }

    /// The Athena (Hive) type the catalog records.
    pub fn athena_type(&self) -> &'static str {
        match self {
            Rule::Int { .. } => "bigint",
            Rule::Float { .. } => "double",
            Rule::Category(_) | Rule::Country | Rule::Text => "string",
        }
    }
}

/// The allowed range, as reasons show it: "13-110", ">= 0", "0-1".
pub struct RangeText<T>(pub T, pub Option<T>);

impl<T: fmt::Display> fmt::Display for RangeText<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.1 {
            Some(max) => write!(f, "{}-{}", self.0, max),
            None => write!(f, ">= {}", self.0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureSpec {
    pub name: &'static str,
    pub group: &'static str,
    pub rule: Rule,
    /// An empty cell is a row-level error (only `plan` and `tenure_days`).
    pub required: bool,
}

pub const USER_ID: &str = "user_id";
pub const SNAPSHOT_DATE: &str = "snapshot_date";
pub const LABEL: &str = "engaged_next_7d";

pub const GENDERS: &[&str] = &["F", "M", "X", "unknown"];
pub const PLANS: &[&str] = &["free", "basic", "pro", "enterprise"];
pub const CHANNELS: &[&str] = &["organic", "paid_search", "social", "referral", "email", "partner"];
pub const DEVICES: &[&str] = &["ios", "android", "web", "desktop"];

const COUNT: Rule = Rule::Int { min: 0, max: None };
const FLAG: Rule = Rule::Int { min: 0, max: Some(1) };
const AMOUNT: Rule = Rule::Float { min: 0.0, max: None };
const SHARE: Rule = Rule::Float { min: 0.0, max: Some(1.0) };
const fn int(min: i64, max: i64) -> Rule {
    Rule::Int { min, max: Some(max) }
}

const fn f(group: &'static str, name: &'static str, rule: Rule) -> FeatureSpec {
    FeatureSpec { name, group, rule, required: false }
}
const fn required(group: &'static str, name: &'static str, rule: Rule) -> FeatureSpec {
    FeatureSpec { name, group, rule, required: true }
}

/// The 72 raw features in DATA.md order.
pub const FEATURES: [FeatureSpec; 72] = [
    f("profile", "age", int(13, 110)),
    f("profile", "gender", Rule::Category(GENDERS)),
    f("profile", "country", Rule::Country),
    f("profile", "region", Rule::Text),
    required("profile", "plan", Rule::Category(PLANS)),
    f("profile", "acquisition_channel", Rule::Category(CHANNELS)),
    f("profile", "primary_device", Rule::Category(DEVICES)),
    required("profile", "tenure_days", COUNT),
    f("account", "is_paying", FLAG),
    f("account", "monthly_fee", AMOUNT),
    f("account", "discount_pct", SHARE),
    f("account", "payment_failures_90d", COUNT),
    f("account", "plan_changes_90d", COUNT),
    f("account", "seats", Rule::Int { min: 1, max: None }),
    f("sessions", "sessions_1d", COUNT),
    f("sessions", "sessions_7d", COUNT),
    f("sessions", "sessions_30d", COUNT),
    f("sessions", "sessions_90d", COUNT),
    f("sessions", "session_minutes_7d", AMOUNT),
    f("sessions", "session_minutes_30d", AMOUNT),
    f("sessions", "avg_session_minutes_30d", AMOUNT),
    f("sessions", "active_days_7d", int(0, 7)),
    f("sessions", "active_days_30d", int(0, 30)),
    f("sessions", "days_since_last_session", COUNT),
    f("sessions", "longest_streak_days_30d", int(0, 30)),
    f("sessions", "weekend_session_share_30d", SHARE),
    f("usage", "page_views_7d", COUNT),
    f("usage", "page_views_30d", COUNT),
    f("usage", "searches_30d", COUNT),
    f("usage", "items_viewed_30d", COUNT),
    f("usage", "items_saved_30d", COUNT),
    f("usage", "shares_30d", COUNT),
    f("usage", "comments_30d", COUNT),
    f("usage", "uploads_30d", COUNT),
    f("usage", "features_used_distinct_30d", COUNT),
    f("usage", "core_actions_7d", COUNT),
    f("usage", "core_actions_30d", COUNT),
    f("usage", "notifications_enabled", FLAG),
    f("commerce", "purchases_30d", COUNT),
    f("commerce", "purchases_90d", COUNT),
    f("commerce", "revenue_30d", AMOUNT),
    f("commerce", "revenue_90d", AMOUNT),
    f("commerce", "avg_order_value_90d", AMOUNT),
    f("commerce", "days_since_last_purchase", COUNT),
    f("commerce", "cart_abandons_30d", COUNT),
    f("commerce", "refunds_90d", COUNT),
    f("commerce", "coupons_used_90d", COUNT),
    f("commerce", "lifetime_revenue", AMOUNT),
    f("messaging", "emails_sent_30d", COUNT),
    f("messaging", "email_opens_30d", COUNT),
    f("messaging", "email_clicks_30d", COUNT),
    f("messaging", "push_sent_30d", COUNT),
    f("messaging", "push_opens_30d", COUNT),
    f("messaging", "in_app_messages_seen_30d", COUNT),
    f("messaging", "unsubscribed_email", FLAG),
    f("messaging", "days_since_last_email_open", COUNT),
    f("messaging", "sms_opt_in", FLAG),
    f("messaging", "newsletter_subscriber", FLAG),
    f("support", "support_tickets_90d", COUNT),
    f("support", "tickets_open", COUNT),
    f("support", "avg_ticket_resolution_hours", AMOUNT),
    f("support", "nps_score", int(0, 10)),
    f("support", "csat_last", int(1, 5)),
    f("support", "complaints_90d", COUNT),
    f("support", "bug_reports_90d", COUNT),
    f("support", "feedback_submitted_90d", COUNT),
    f("social", "friends_count", COUNT),
    f("social", "invites_sent_90d", COUNT),
    f("social", "invites_accepted_90d", COUNT),
    f("social", "followers_count", COUNT),
    f("social", "groups_joined", COUNT),
    f("social", "referrals_converted", COUNT),
];

/// Index of a feature in [`FEATURES`].
pub fn feature_index(name: &str) -> Option<usize> {
    FEATURES.iter().position(|c| c.name == name)
}

/// Column names of a full file, in the order the generator writes them:
/// user_id, snapshot_date, the 72 features, engaged_next_7d.
pub fn all_column_names() -> Vec<&'static str> {
    let mut names = vec![USER_ID, SNAPSHOT_DATE];
    names.extend(FEATURES.iter().map(|c| c.name));
    names.push(LABEL);
    names
}

/// The typed Arrow schema of a snapshot (processed zone and generated Parquet alike):
/// ints Int64, floats Float64, strings Utf8, snapshot_date Date32, label Int64 nullable.
pub fn snapshot_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = vec![
            Field::new(USER_ID, DataType::Utf8, false),
            Field::new(SNAPSHOT_DATE, DataType::Date32, false),
        ];
        fields.extend(FEATURES.iter().map(|c| Field::new(c.name, c.rule.arrow_type(), !c.required)));
        fields.push(Field::new(LABEL, DataType::Int64, true));
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// ISO 3166-1 alpha-2 codes, sorted for binary search.
pub const COUNTRIES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

pub fn is_country(code: &str) -> bool {
    COUNTRIES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_page_names_every_column() {
        let page = include_str!("../../../docs/data.md");
        for name in FEATURES.iter().map(|c| c.name).chain([USER_ID, SNAPSHOT_DATE, LABEL]) {
            assert!(page.contains(&format!("`{name}`")), "docs/data.md does not name {name}");
        }
    }

    #[test]
    fn contract_has_72_unique_features_and_sorted_countries() {
        let mut names: Vec<_> = FEATURES.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 72);
        assert!(COUNTRIES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(COUNTRIES.len(), 249);
        assert_eq!(snapshot_schema().fields().len(), 75);
    }
}
