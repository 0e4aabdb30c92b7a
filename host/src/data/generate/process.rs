//! The simulated users: fixed traits, a weekly state that evolves, the 72 raw
//! features observed each week, and the hidden engagement process behind
//! `engaged_next_7d`.
//!
//! What drives the label (the log-odds `z`, see [`engagement_logit`]); all inputs
//! are columns the weekly model's 14 features are computed from:
//! - session recency `exp(-days_since_last_session/7)`, strongly, with an extra
//!   jump for users seen in the last day (a threshold);
//! - the active-day share of the last 7 days, through an S-curve (2 to 5 days);
//! - the session trend (7-day vs 30-day daily rate) by activity: a rise lifts
//!   light users, a collapse sinks heavy ones (interaction);
//! - core actions per session × feature breadth: only both together count (interaction);
//! - the better of the email and push open rates, weighted by how long the user
//!   has been away (messages matter for users the product no longer reaches);
//! - session length, inverted-U (about 9 minutes is best; very short and very long hurt);
//! - recent purchase × revenue over 90 days (interaction);
//! - complaints hurt; support tickets hurt only inactive users (interaction);
//! - content actions (saves + shares + comments), saturating.
//!
//! Noise the model cannot see: a per-user effect (sd 0.8) and the Bernoulli draw itself.
//! The label also feeds back: an engaged user's activity rises the next week, a
//! disengaged one's falls, so "engaged next 7 days" is what the next week shows.

use std::sync::LazyLock;

use super::columns::{Categories, Column, ColumnBuf, Floats, Ints};
use super::rng::{Rng, exp, round_half_up};
use crate::data::schema::{CHANNELS, COUNTRIES, DEVICES, GENDERS, PLANS};

/// Declares the weekly row once: its fields (named like the columns, in DATA.md
/// order), how each is emitted, the typed column buffers a chunk of rows goes
/// into, and the order for a test against the schema.
macro_rules! snapshot_row {
    ($($name:ident: $ty:ty => $emit:ident),* $(,)?) => {
        /// One user's 72 raw features in one week (`None` = missing).
        #[derive(Debug, Clone, Default)]
        pub struct Row { $(pub $name: Option<$ty>,)* }

        /// Column names in emission order.
        pub const ROW_COLUMNS: &[&str] = &[$(stringify!($name)),*];

        impl Row {
            pub fn emit(&self, sink: &mut impl CellSink) {
                $(sink.$emit(self.$name);)*
            }
        }

        /// A chunk of rows, column by column, each in a buffer of its type.
        pub struct RowColumns { $($name: <$ty as CellType>::Buf,)* }

        impl RowColumns {
            pub fn with_capacity(rows: usize) -> Self {
                Self { $($name: ColumnBuf::with_capacity(rows),)* }
            }

            /// Appends a tile of rows column by column: the tile stays in cache
            /// while each column is written in one sequential run, instead of
            /// every row touching all 72 buffers.
            pub fn push_rows(&mut self, rows: &[Row]) {
                $(self.$name.extend(rows.iter().map(|row| row.$name));)*
            }

            /// Empties every buffer, keeping its memory.
            pub fn clear(&mut self) {
                $(self.$name.clear();)*
            }

            /// The buffered columns in schema order.
            pub fn columns(&self) -> impl Iterator<Item = Column<'_>> {
                [$(self.$name.column()),*].into_iter()
            }
        }
    };
}

/// The column buffer for a cell type.
pub trait CellType {
    type Buf: ColumnBuf<Cell = Self>;
}
impl CellType for i64 {
    type Buf = Ints;
}
impl CellType for f64 {
    type Buf = Floats;
}
impl CellType for &'static str {
    type Buf = Categories;
}

/// Receives a row's cells in schema order.
pub trait CellSink {
    fn int(&mut self, value: Option<i64>);
    fn float(&mut self, value: Option<f64>);
    fn text(&mut self, value: Option<&'static str>);
}

snapshot_row! {
    age: i64 => int, gender: &'static str => text, country: &'static str => text, region: &'static str => text,
    plan: &'static str => text, acquisition_channel: &'static str => text, primary_device: &'static str => text,
    tenure_days: i64 => int,
    is_paying: i64 => int, monthly_fee: f64 => float, discount_pct: f64 => float, payment_failures_90d: i64 => int,
    plan_changes_90d: i64 => int, seats: i64 => int,
    sessions_1d: i64 => int, sessions_7d: i64 => int, sessions_30d: i64 => int, sessions_90d: i64 => int,
    session_minutes_7d: f64 => float, session_minutes_30d: f64 => float, avg_session_minutes_30d: f64 => float,
    active_days_7d: i64 => int, active_days_30d: i64 => int, days_since_last_session: i64 => int,
    longest_streak_days_30d: i64 => int, weekend_session_share_30d: f64 => float,
    page_views_7d: i64 => int, page_views_30d: i64 => int, searches_30d: i64 => int, items_viewed_30d: i64 => int,
    items_saved_30d: i64 => int, shares_30d: i64 => int, comments_30d: i64 => int, uploads_30d: i64 => int,
    features_used_distinct_30d: i64 => int, core_actions_7d: i64 => int, core_actions_30d: i64 => int,
    notifications_enabled: i64 => int,
    purchases_30d: i64 => int, purchases_90d: i64 => int, revenue_30d: f64 => float, revenue_90d: f64 => float,
    avg_order_value_90d: f64 => float, days_since_last_purchase: i64 => int, cart_abandons_30d: i64 => int,
    refunds_90d: i64 => int, coupons_used_90d: i64 => int, lifetime_revenue: f64 => float,
    emails_sent_30d: i64 => int, email_opens_30d: i64 => int, email_clicks_30d: i64 => int, push_sent_30d: i64 => int,
    push_opens_30d: i64 => int, in_app_messages_seen_30d: i64 => int, unsubscribed_email: i64 => int,
    days_since_last_email_open: i64 => int, sms_opt_in: i64 => int, newsletter_subscriber: i64 => int,
    support_tickets_90d: i64 => int, tickets_open: i64 => int, avg_ticket_resolution_hours: f64 => float,
    nps_score: i64 => int, csat_last: i64 => int, complaints_90d: i64 => int, bug_reports_90d: i64 => int,
    feedback_submitted_90d: i64 => int,
    friends_count: i64 => int, invites_sent_90d: i64 => int, invites_accepted_90d: i64 => int,
    followers_count: i64 => int, groups_joined: i64 => int, referrals_converted: i64 => int,
}

/// Cumulative weights of the skewed categoricals.
const GENDER_W: [f64; 4] = [0.46, 0.90, 0.92, 1.0];
const PLAN_W: [f64; 4] = [0.55, 0.80, 0.95, 1.0];
const CHANNEL_W: [f64; 6] = [0.40, 0.60, 0.75, 0.85, 0.95, 1.0];
const DEVICE_W: [f64; 4] = [0.35, 0.65, 0.85, 1.0];
/// Most users come from a few countries; the rest spread over all codes.
const TOP_COUNTRIES: [(&str, f64); 12] = [
    ("US", 0.35), ("GB", 0.45), ("DE", 0.53), ("IN", 0.61), ("FR", 0.67), ("BR", 0.73), ("CA", 0.78),
    ("AU", 0.82), ("JP", 0.86), ("NL", 0.89), ("ES", 0.92), ("MX", 0.95),
];
const MONTHLY_FEE: [f64; 4] = [0.0, 9.99, 29.99, 99.0];
const REGIONS_PER_COUNTRY: usize = 6;

/// "US-R1".."US-R6" for every country, built once so rows borrow them.
static REGIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    COUNTRIES.iter().flat_map(|c| (1..=REGIONS_PER_COUNTRY).map(move |r| format!("{c}-R{r}"))).collect()
});

/// Where each of [`TOP_COUNTRIES`] sits in `COUNTRIES`.
static TOP_COUNTRY_INDEX: LazyLock<Vec<usize>> = LazyLock::new(|| {
    TOP_COUNTRIES.iter().map(|(code, _)| COUNTRIES.binary_search(code).expect("top countries are ISO codes")).collect()
});

/// `ln(1 + n)` for counts, from a table for the common small ones.
fn ln_1p_count(n: i64) -> f64 {
    static TABLE: LazyLock<Vec<f64>> = LazyLock::new(|| (0..1024).map(|n| (n as f64).ln_1p()).collect());
    match TABLE.get(n.max(0) as usize) {
        Some(v) => *v,
        None => (n as f64).ln_1p(),
    }
}

/// `x.ceil()` for 0 <= x < 2^62, without a libm call.
fn ceil_positive(x: f64) -> i64 {
    let t = x as i64;
    t + ((t as f64) < x) as i64
}

fn round2(x: f64) -> f64 {
    round_half_up(x * 100.0) / 100.0
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + exp(-z))
}

/// A user: traits fixed at sign-up and the state carried from week to week.
pub struct User {
    // Fixed traits.
    age: Option<i64>,
    gender: usize,
    country: usize,
    region: Option<usize>,
    channel: usize,
    device: usize,
    base_activity: f64,
    minutes_median: f64,
    action_quality: f64,
    breadth: f64,
    sociability: f64,
    email_affinity: f64,
    push_affinity: f64,
    purchase_rate: f64,
    order_value: f64,
    support_prone: f64,
    weekend_pref: f64,
    hidden_effect: f64,
    nps: Option<i64>,
    notifications: Option<i64>,
    unsubscribed: bool,
    sms: bool,
    newsletter: bool,
    never_active: bool,
    // State that evolves.
    plan: usize,
    seats: i64,
    discount: f64,
    tenure: i64,
    momentum: f64,
    dormant: bool,
    rate_30: f64,
    rate_90: f64,
    purchase_rate_30: f64,
    purchase_rate_90: f64,
    last_purchase_days: Option<i64>,
    last_email_open_days: Option<i64>,
    lifetime_revenue: f64,
    friends: f64,
    followers: f64,
}

impl User {
    pub fn new(rng: &mut Rng) -> Self {
        let plan = rng.pick(&PLAN_W);
        let country = if rng.unit() < TOP_COUNTRIES[TOP_COUNTRIES.len() - 1].1 {
            let x = rng.unit() * TOP_COUNTRIES[TOP_COUNTRIES.len() - 1].1;
            let top = TOP_COUNTRIES.iter().position(|(_, c)| x < *c).unwrap_or(0);
            TOP_COUNTRY_INDEX[top]
        } else {
            rng.range(0, COUNTRIES.len() as i64 - 1) as usize
        };
        let region = (!rng.chance(0.05)).then(|| {
            // Regions are skewed too: the first one holds about half the users.
            let r = (rng.unit().powi(3) * REGIONS_PER_COUNTRY as f64) as usize;
            country * REGIONS_PER_COUNTRY + r.min(REGIONS_PER_COUNTRY - 1)
        });
        let plan_lift = [0.0, 0.3, 0.5, 0.7][plan];
        let base_activity = rng.lognormal(0.45, 1.0) * (1.0 + plan_lift);
        let seats = match plan {
            3 => 5 + rng.lognormal(15.0, 0.9) as i64,
            2 => rng.range(1, 5),
            _ => 1,
        };
        let age = (!rng.chance(0.06)).then(|| (18.0 + rng.lognormal(16.0, 0.55)).min(110.0) as i64);
        let notifications = (!rng.chance(0.02)).then(|| rng.chance(0.65) as i64);
        let nps = rng.chance(0.3).then(|| rng.range(0, 10));
        let tenure = (rng.unit().max(1e-12).ln() * -420.0) as i64;
        let initial_purchase_rate = rng.lognormal(0.08, 1.2) * (1.0 + plan_lift);
        let mut user = User {
            age,
            gender: rng.pick(&GENDER_W),
            country,
            region,
            channel: rng.pick(&CHANNEL_W),
            device: rng.pick(&DEVICE_W),
            base_activity,
            minutes_median: rng.lognormal(8.0, 0.7),
            action_quality: rng.lognormal(1.2, 0.8),
            breadth: rng.lognormal(1.0, 0.5),
            sociability: rng.lognormal(0.6, 1.1),
            email_affinity: rng.unit().powi(2),
            push_affinity: { let u = rng.unit(); u * u.sqrt() },
            purchase_rate: initial_purchase_rate,
            order_value: rng.lognormal(35.0, 0.8),
            support_prone: rng.lognormal(0.25, 1.0),
            weekend_pref: (0.29 + 0.12 * rng.normal()).clamp(0.0, 1.0),
            hidden_effect: 0.8 * rng.normal(),
            nps,
            notifications,
            unsubscribed: rng.chance(0.12),
            sms: rng.chance(0.2),
            newsletter: rng.chance(0.35),
            never_active: rng.chance(0.03),
            plan,
            seats,
            discount: if rng.chance(0.2) { [0.1, 0.2, 0.25, 0.5][rng.range(0, 3) as usize] } else { 0.0 },
            tenure,
            momentum: 0.6 * rng.normal(),
            dormant: rng.chance(0.12),
            rate_30: base_activity,
            rate_90: base_activity,
            purchase_rate_30: initial_purchase_rate,
            purchase_rate_90: initial_purchase_rate,
            last_purchase_days: None,
            last_email_open_days: None,
            lifetime_revenue: 0.0,
            friends: rng.lognormal(6.0, 1.3),
            followers: (exp(-0.8 * rng.unit().max(1e-9).ln()) - 1.0) * 3.0,
        };
        if rng.chance(0.6) {
            user.last_purchase_days = Some(90 + rng.range(0, 400));
            user.lifetime_revenue = round2(user.order_value * (1.0 + rng.lognormal(3.0, 1.0)));
        }
        user
    }

    /// Advances one week and returns what that week's snapshot shows.
    /// `engaged_last_week` is last week's label outcome, if there was one.
    pub fn step(&mut self, rng: &mut Rng, engaged_last_week: Option<bool>) -> Row {
        let mut row = Row::default();
        self.step_into(rng, engaged_last_week, &mut row);
        row
    }

    /// [`User::step`] writing over `row` in place (every cell is set), so a
    /// caller that buffers rows fills its buffer without copying each row.
    pub fn step_into(&mut self, rng: &mut Rng, engaged_last_week: Option<bool>, row: &mut Row) {
        self.evolve(rng, engaged_last_week);
        *row = Row::default();
        self.profile(rng, row);
        self.sessions(rng, row);
        self.usage(rng, row);
        self.commerce(rng, row);
        self.messaging(rng, row);
        self.support_and_social(rng, row);
    }

    /// The label outcome of this week's row: whether the user engages next week.
    pub fn engaged_next_week(&self, rng: &mut Rng, row: &Row) -> bool {
        rng.chance(sigmoid(engagement_logit(row) + self.hidden_effect))
    }

    fn evolve(&mut self, rng: &mut Rng, engaged_last_week: Option<bool>) {
        self.tenure += 7;
        let feedback = match engaged_last_week {
            Some(true) => 0.35,
            Some(false) => -0.3,
            None => 0.0,
        };
        self.momentum = 0.7 * self.momentum + 0.35 * rng.normal() + feedback;
        let wake = if engaged_last_week == Some(true) { 0.5 } else { 0.12 };
        self.dormant = if self.dormant { !rng.chance(wake) } else { rng.chance(0.04) };
        if rng.chance(0.004) {
            let up = self.plan < 3 && rng.chance(0.6);
            self.plan = if up { self.plan + 1 } else { self.plan.saturating_sub(1) };
        }
    }

    fn profile(&self, rng: &mut Rng, row: &mut Row) {
        row.age = self.age;
        row.gender = Some(GENDERS[self.gender]);
        row.country = Some(COUNTRIES[self.country]);
        row.region = self.region.map(|r| REGIONS[r].as_str());
        row.plan = Some(PLANS[self.plan]);
        row.acquisition_channel = (!rng.chance(0.03)).then_some(CHANNELS[self.channel]);
        row.primary_device = Some(DEVICES[self.device]);
        row.tenure_days = Some(self.tenure);
        row.is_paying = Some((self.plan > 0) as i64);
        row.monthly_fee = Some(round2(MONTHLY_FEE[self.plan] * self.seats as f64 * (1.0 - self.discount)));
        row.discount_pct = Some(self.discount);
        row.payment_failures_90d = Some(if self.plan > 0 { rng.poisson(0.08) } else { 0 });
        row.plan_changes_90d = Some(rng.poisson(0.05));
        row.seats = Some(self.seats);
    }

    fn sessions(&mut self, rng: &mut Rng, row: &mut Row) {
        let rate_7 = if self.never_active || self.dormant { 0.0 } else { self.base_activity * exp(self.momentum) };
        let s7 = rng.poisson(7.0 * rate_7);
        let s30 = s7 + if self.never_active { 0 } else { rng.poisson(23.0 * self.rate_30) };
        let s90 = s30 + if self.never_active { 0 } else { rng.poisson(60.0 * self.rate_90) };
        self.rate_30 = 0.75 * self.rate_30 + 0.25 * rate_7;
        self.rate_90 = 0.92 * self.rate_90 + 0.08 * rate_7;
        let day_p_7 = 1.0 - exp(-1.3 * s7 as f64 / 7.0);
        let a7 = if s7 > 0 { rng.binomial(7, day_p_7).clamp(1, s7.min(7)) } else { 0 };
        let day_p_30 = 1.0 - exp(-1.3 * (s30 - s7) as f64 / 23.0);
        let a30 = (a7 + rng.binomial(23, day_p_30)).min(s30).min(30);
        row.sessions_1d = Some(rng.binomial(s7, 1.0 / 7.0));
        row.sessions_7d = Some(s7);
        row.sessions_30d = Some(s30);
        row.sessions_90d = Some(s90);
        let avg = self.minutes_median * exp(0.2 * rng.normal());
        row.avg_session_minutes_30d = (s30 > 0).then(|| round2(avg));
        row.session_minutes_30d = Some(round2(s30 as f64 * avg));
        row.session_minutes_7d = Some(round2(s7 as f64 * avg * exp(0.15 * rng.normal())));
        row.active_days_7d = Some(a7);
        row.active_days_30d = Some(a30);
        row.days_since_last_session = if s7 > 0 {
            Some(((-rng.unit().max(1e-12).ln()) / (1.3 * s7 as f64 / 7.0)).min(6.0) as i64)
        } else if s30 > 0 {
            Some(rng.range(7, 29))
        } else if s90 > 0 {
            Some(rng.range(30, 89))
        } else if self.never_active {
            None
        } else {
            Some(90 + rng.poisson(40.0))
        };
        row.longest_streak_days_30d = Some(if a30 > 0 { ceil_positive(a30 as f64 * exp(0.7 * rng.unit().max(1e-300).ln())).max(1) } else { 0 });
        row.weekend_session_share_30d = (s30 > 0).then(|| {
            let weekend = rng.binomial(s30, self.weekend_pref);
            round_half_up(weekend as f64 / s30 as f64 * 1000.0) / 1000.0
        });
    }

    fn usage(&self, rng: &mut Rng, row: &mut Row) {
        let s7 = row.sessions_7d.unwrap_or(0);
        let s30 = row.sessions_30d.unwrap_or(0);
        let pv7 = rng.poisson(s7 as f64 * 4.0 * self.breadth);
        let pv30 = pv7 + rng.poisson((s30 - s7) as f64 * 4.0 * self.breadth);
        let viewed = rng.poisson(pv30 as f64 * 0.4);
        row.page_views_7d = Some(pv7);
        row.page_views_30d = Some(pv30);
        row.searches_30d = Some(rng.poisson(s30 as f64 * 0.6 * self.breadth));
        row.items_viewed_30d = Some(viewed);
        row.items_saved_30d = Some(rng.poisson(viewed as f64 * 0.05 * self.sociability));
        row.shares_30d = Some(rng.poisson(s30 as f64 * 0.05 * self.sociability));
        row.comments_30d = (!rng.chance(0.01)).then(|| rng.poisson(s30 as f64 * 0.04 * self.sociability));
        row.uploads_30d = Some(rng.poisson(s30 as f64 * 0.02 * self.sociability));
        let breadth = ln_1p_count(s30) * 2.2 * self.breadth;
        row.features_used_distinct_30d = Some(rng.poisson(breadth).min(25));
        let core_7 = rng.poisson(s7 as f64 * self.action_quality);
        row.core_actions_7d = Some(core_7);
        row.core_actions_30d = Some(core_7 + rng.poisson((s30 - s7) as f64 * self.action_quality));
        row.notifications_enabled = self.notifications;
    }

    fn commerce(&mut self, rng: &mut Rng, row: &mut Row) {
        let activity = row.sessions_7d.unwrap_or(0) as f64 / 7.0;
        let weekly_rate = self.purchase_rate * (0.3 + activity).min(3.0);
        let this_week = rng.poisson(weekly_rate);
        let p30 = this_week + rng.poisson(self.purchase_rate_30 * 23.0 / 7.0);
        let p90 = p30 + rng.poisson(self.purchase_rate_90 * 60.0 / 7.0);
        self.purchase_rate_30 = 0.75 * self.purchase_rate_30 + 0.25 * weekly_rate;
        self.purchase_rate_90 = 0.92 * self.purchase_rate_90 + 0.08 * weekly_rate;
        let revenue_30 = round2(p30 as f64 * self.order_value * exp(0.25 * rng.normal()));
        let revenue_90 = round2(revenue_30 + (p90 - p30) as f64 * self.order_value * exp(0.25 * rng.normal()));
        self.last_purchase_days = if this_week > 0 {
            Some(rng.range(0, 6))
        } else if p30 > 0 {
            Some(rng.range(7, 29))
        } else if p90 > 0 {
            Some(rng.range(30, 89))
        } else {
            self.last_purchase_days.map(|d| (d + 7).max(90))
        };
        self.lifetime_revenue = round2(self.lifetime_revenue + this_week as f64 * self.order_value);
        row.purchases_30d = Some(p30);
        row.purchases_90d = Some(p90);
        row.revenue_30d = Some(revenue_30);
        row.revenue_90d = Some(revenue_90);
        row.avg_order_value_90d = (p90 > 0).then(|| round2(revenue_90 / p90 as f64));
        row.days_since_last_purchase = self.last_purchase_days;
        row.cart_abandons_30d = Some(rng.poisson(row.sessions_30d.unwrap_or(0) as f64 * 0.03));
        row.refunds_90d = Some(rng.binomial(p90, 0.05));
        row.coupons_used_90d = Some(rng.binomial(p90, 0.2));
        row.lifetime_revenue = Some(self.lifetime_revenue.max(revenue_90));
    }

    fn messaging(&mut self, rng: &mut Rng, row: &mut Row) {
        let activity = (row.sessions_7d.unwrap_or(0) as f64 / 7.0).min(2.0);
        let sent = if self.unsubscribed { rng.poisson(0.5) } else { 4 + rng.poisson(8.0) };
        let opens = rng.binomial(sent, (self.email_affinity * (0.6 + 0.4 * activity)).min(1.0));
        let push_sent = if self.notifications == Some(1) { rng.poisson(12.0) } else { 0 };
        self.last_email_open_days = if opens > 0 {
            Some(rng.range(0, 29))
        } else {
            self.last_email_open_days.map(|d| (d + 7).max(30))
        };
        row.emails_sent_30d = Some(sent);
        row.email_opens_30d = Some(opens);
        row.email_clicks_30d = Some(rng.binomial(opens, 0.2));
        row.push_sent_30d = Some(push_sent);
        row.push_opens_30d = (!rng.chance(0.015))
            .then(|| rng.binomial(push_sent, (self.push_affinity * (0.5 + 0.5 * activity)).min(1.0)));
        row.in_app_messages_seen_30d = Some(rng.poisson(row.sessions_30d.unwrap_or(0) as f64 * 0.3));
        row.unsubscribed_email = Some(self.unsubscribed as i64);
        row.days_since_last_email_open = self.last_email_open_days;
        row.sms_opt_in = Some(self.sms as i64);
        row.newsletter_subscriber = Some(self.newsletter as i64);
    }

    fn support_and_social(&mut self, rng: &mut Rng, row: &mut Row) {
        let tickets = rng.poisson(self.support_prone);
        row.support_tickets_90d = Some(tickets);
        row.tickets_open = Some(rng.binomial(tickets, 0.15));
        row.avg_ticket_resolution_hours = (tickets > 0).then(|| round2(rng.lognormal(20.0, 0.9)));
        row.nps_score = self.nps;
        row.csat_last = (tickets > 0).then(|| rng.range(1, 5));
        row.complaints_90d = Some(rng.binomial(tickets, 0.25));
        row.bug_reports_90d = Some(rng.poisson(0.05 + row.sessions_90d.unwrap_or(0) as f64 * 0.002));
        row.feedback_submitted_90d = Some(rng.poisson(0.15));
        self.friends += rng.poisson(0.05 * self.sociability) as f64;
        self.followers += rng.poisson(0.02 * self.followers.sqrt()) as f64;
        let invites = rng.poisson(0.3 * self.sociability);
        let accepted = rng.binomial(invites, 0.35);
        row.friends_count = Some(self.friends as i64);
        row.invites_sent_90d = Some(invites);
        row.invites_accepted_90d = Some(accepted);
        row.followers_count = Some(self.followers as i64);
        row.groups_joined = Some(rng.poisson(1.5 * self.sociability.sqrt()));
        row.referrals_converted = Some(rng.binomial(accepted, 0.3));
    }
}

fn ratio(a: Option<i64>, b: Option<i64>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) if b > 0 => a as f64 / b as f64,
        _ => 0.0,
    }
}

/// The observable part of the engagement log-odds (see the module doc).
pub fn engagement_logit(row: &Row) -> f64 {
    let get = |v: Option<i64>| v.unwrap_or(0) as f64;
    let s7 = get(row.sessions_7d);
    let s30 = get(row.sessions_30d);
    let recency = row.days_since_last_session.map_or(0.0, |d| exp(-(d as f64) / 7.0));
    let seen_today = row.days_since_last_session.is_some_and(|d| d <= 1);
    let active_share = get(row.active_days_7d) / 7.0;
    let s_curve = ((active_share - 2.0 / 7.0) / (3.0 / 7.0)).clamp(0.0, 1.0);
    let trend = if s30 > 0.0 { ((s7 / 7.0) / (s30 / 30.0)).min(5.0) } else { 0.0 };
    let actions_per_session = if s7 > 0.0 { get(row.core_actions_7d) / s7 } else { 0.0 };
    let best_open_rate = ratio(row.email_opens_30d, row.emails_sent_30d).max(ratio(row.push_opens_30d, row.push_sent_30d));
    let log_minutes = row.avg_session_minutes_30d.map_or(0.0, f64::ln_1p);
    let purchase_recency = row.days_since_last_purchase.map_or(0.0, |d| exp(-(d as f64) / 30.0));
    let log_revenue = row.revenue_90d.unwrap_or(0.0).ln_1p();
    let content = ln_1p_count(row.items_saved_30d.unwrap_or(0) + row.shares_30d.unwrap_or(0) + row.comments_30d.unwrap_or(0));

    let mut z = -0.9;
    // Recency, with a threshold for users seen in the last day.
    z += 1.0 * recency + if seen_today { 0.6 } else { 0.0 };
    z += 0.8 * s_curve;
    // The trend matters by activity level: a rise lifts light users, a
    // collapse sinks heavy ones; neither means much otherwise.
    if active_share < 0.3 && trend > 1.3 {
        z += 1.3;
    } else if active_share >= 0.5 && s30 > 0.0 && trend < 0.6 {
        z -= 1.4;
    }
    // Depth and breadth only count together.
    if actions_per_session > 1.5 && get(row.features_used_distinct_30d) >= 6.0 {
        z += 1.2;
    }
    // Messages reach mostly the users the product no longer reaches.
    z += 2.2 * best_open_rate * (1.0 - recency) - 0.5;
    // Session length: about 9 minutes is best.
    if s30 > 0.0 {
        z -= 0.7 * (log_minutes - 2.3).powi(2);
    }
    if purchase_recency > 0.5 && log_revenue > 3.5 {
        z += 0.9;
    }
    if get(row.complaints_90d) > 0.0 {
        z -= 0.8;
    }
    if get(row.support_tickets_90d) >= 2.0 && active_share < 0.3 {
        z -= 0.9;
    }
    z += 0.3 * content.min(2.0);
    z
}
