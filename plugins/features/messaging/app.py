"""messaging-features: how users answer the emails and pushes they get (2 of the
weekly model's 14 features), owned by the CRM team. Column expressions: the host
computes them natively over each batch.
"""

from engage_sdk import Transform, col, export, float64


class MessagingFeatures(Transform):
    name = "messaging-features"
    version = "0.1.0"
    inputs = ["email_opens_30d", "emails_sent_30d", "push_opens_30d", "push_sent_30d"]
    outputs = [
        float64("email_open_rate_30d", "ratio", "email_opens_30d / emails_sent_30d (0 when none sent)"),
        float64("push_open_rate_30d", "ratio", "push_opens_30d / push_sent_30d (0 when none sent)"),
    ]

    def transform(self, batch):
        return {
            "email_open_rate_30d": col("email_opens_30d").safe_div(col("emails_sent_30d"), 0.0),
            "push_open_rate_30d": col("push_opens_30d").safe_div(col("push_sent_30d"), 0.0),
        }


WitWorld = export(MessagingFeatures)
