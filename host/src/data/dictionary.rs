//! What every raw column means and its unit, for people: the data dictionary of
//! the knowledge base reads it. Types and allowed values live in `schema`.

/// (column, meaning, unit) for the keys, the label and the 72 raw features.
pub const MEANINGS: [(&str, &str, &str); 75] = [
    ("user_id", "The user's identifier, unique within a snapshot", "id"),
    ("snapshot_date", "The Sunday the weekly snapshot was taken", "date"),
    ("engaged_next_7d", "Whether the user engaged in the 7 days after the snapshot (the label the model predicts)", "0/1 flag"),
    ("age", "The user's age in years", "years"),
    ("gender", "The gender the user gave", "category"),
    ("country", "The user's country", "ISO 3166 alpha-2 code"),
    ("region", "The user's region within the country", "text"),
    ("plan", "The subscription plan the user is on", "category"),
    ("acquisition_channel", "How the user first came to the product", "category"),
    ("primary_device", "The device the user uses most", "category"),
    ("tenure_days", "Days since the user signed up", "days"),
    ("is_paying", "Whether the user pays for the product", "0/1 flag"),
    ("monthly_fee", "What the user pays per month", "currency per month"),
    ("discount_pct", "The discount on the user's fee, as a fraction", "share 0-1"),
    ("payment_failures_90d", "Failed payments in the last 90 days", "payments"),
    ("plan_changes_90d", "Plan upgrades or downgrades in the last 90 days", "changes"),
    ("seats", "Seats on the user's account", "seats"),
    ("sessions_1d", "Sessions on the snapshot day", "sessions"),
    ("sessions_7d", "Sessions in the last 7 days", "sessions"),
    ("sessions_30d", "Sessions in the last 30 days", "sessions"),
    ("sessions_90d", "Sessions in the last 90 days", "sessions"),
    ("session_minutes_7d", "Minutes spent in sessions in the last 7 days", "minutes"),
    ("session_minutes_30d", "Minutes spent in sessions in the last 30 days", "minutes"),
    ("avg_session_minutes_30d", "Average length of a session over the last 30 days", "minutes per session"),
    ("active_days_7d", "Days with at least one session in the last 7 days", "days"),
    ("active_days_30d", "Days with at least one session in the last 30 days", "days"),
    ("days_since_last_session", "Days since the user's most recent session", "days"),
    ("longest_streak_days_30d", "Longest run of consecutive active days in the last 30 days", "days"),
    ("weekend_session_share_30d", "Share of the last 30 days' sessions that fell on a weekend", "share 0-1"),
    ("page_views_7d", "Pages viewed in the last 7 days", "page views"),
    ("page_views_30d", "Pages viewed in the last 30 days", "page views"),
    ("searches_30d", "Searches run in the last 30 days", "searches"),
    ("items_viewed_30d", "Items viewed in the last 30 days", "items"),
    ("items_saved_30d", "Items saved in the last 30 days", "items"),
    ("shares_30d", "Items shared in the last 30 days", "shares"),
    ("comments_30d", "Comments written in the last 30 days", "comments"),
    ("uploads_30d", "Uploads in the last 30 days", "uploads"),
    ("features_used_distinct_30d", "Distinct product features used in the last 30 days", "features"),
    ("core_actions_7d", "Core product actions in the last 7 days", "actions"),
    ("core_actions_30d", "Core product actions in the last 30 days", "actions"),
    ("notifications_enabled", "Whether the user allows notifications", "0/1 flag"),
    ("purchases_30d", "Purchases in the last 30 days", "purchases"),
    ("purchases_90d", "Purchases in the last 90 days", "purchases"),
    ("revenue_30d", "Revenue from the user in the last 30 days", "currency"),
    ("revenue_90d", "Revenue from the user in the last 90 days", "currency"),
    ("avg_order_value_90d", "Average order value over the last 90 days", "currency per order"),
    ("days_since_last_purchase", "Days since the user's most recent purchase", "days"),
    ("cart_abandons_30d", "Carts abandoned in the last 30 days", "carts"),
    ("refunds_90d", "Refunds in the last 90 days", "refunds"),
    ("coupons_used_90d", "Coupons used in the last 90 days", "coupons"),
    ("lifetime_revenue", "Revenue from the user since sign-up", "currency"),
    ("emails_sent_30d", "Marketing emails sent to the user in the last 30 days", "emails"),
    ("email_opens_30d", "Emails the user opened in the last 30 days", "emails"),
    ("email_clicks_30d", "Email links the user clicked in the last 30 days", "clicks"),
    ("push_sent_30d", "Push notifications sent in the last 30 days", "notifications"),
    ("push_opens_30d", "Push notifications opened in the last 30 days", "notifications"),
    ("in_app_messages_seen_30d", "In-app messages seen in the last 30 days", "messages"),
    ("unsubscribed_email", "Whether the user unsubscribed from email", "0/1 flag"),
    ("days_since_last_email_open", "Days since the user last opened an email", "days"),
    ("sms_opt_in", "Whether the user agreed to text messages", "0/1 flag"),
    ("newsletter_subscriber", "Whether the user subscribes to the newsletter", "0/1 flag"),
    ("support_tickets_90d", "Support tickets opened in the last 90 days", "tickets"),
    ("tickets_open", "Support tickets still open at the snapshot", "tickets"),
    ("avg_ticket_resolution_hours", "Average time to resolve the user's tickets", "hours"),
    ("nps_score", "The user's latest Net Promoter Score answer", "score 0-10"),
    ("csat_last", "The user's latest customer-satisfaction rating", "score 1-5"),
    ("complaints_90d", "Complaints in the last 90 days", "complaints"),
    ("bug_reports_90d", "Bug reports in the last 90 days", "reports"),
    ("feedback_submitted_90d", "Feedback forms submitted in the last 90 days", "forms"),
    ("friends_count", "Friends the user has in the product", "friends"),
    ("invites_sent_90d", "Invitations sent in the last 90 days", "invites"),
    ("invites_accepted_90d", "Invitations accepted in the last 90 days", "invites"),
    ("followers_count", "Followers the user has", "followers"),
    ("groups_joined", "Groups the user belongs to", "groups"),
    ("referrals_converted", "Referred people who signed up", "sign-ups"),
];

/// A raw column's (meaning, unit), when it is one of ours.
pub fn meaning(column: &str) -> Option<(&'static str, &'static str)> {
    MEANINGS.iter().find(|(name, _, _)| *name == column).map(|(_, meaning, unit)| (*meaning, *unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::schema::FEATURES;

    #[test]
    fn every_raw_column_has_a_meaning() {
        for f in FEATURES.iter() {
            assert!(meaning(f.name).is_some(), "{} has no meaning", f.name);
        }
    }
}
