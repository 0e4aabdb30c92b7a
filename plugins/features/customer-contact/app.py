"""customer-contact-features: how users answer messages and how often they need
support (3 of the weekly model's 14 features), owned by the CRM and customer-care
team. Column expressions: the host computes them natively over each batch.
"""

from engage_sdk import Transform, col, export, float64


class CustomerContactFeatures(Transform):
    name = "customer-contact-features"
    version = "0.1.0"
    inputs = ["email_opens_30d", "emails_sent_30d", "push_opens_30d", "push_sent_30d", "support_tickets_90d", "complaints_90d"]
    outputs = [
        float64("email_open_rate_30d", "ratio", "email_opens_30d / emails_sent_30d (0 when none sent)"),
        float64("push_open_rate_30d", "ratio", "push_opens_30d / push_sent_30d (0 when none sent)"),
        float64("support_friction_90d", "log count", "ln(1 + support_tickets_90d + complaints_90d)"),
    ]

    def transform(self, batch):
        return {
            "email_open_rate_30d": col("email_opens_30d").safe_div(col("emails_sent_30d"), 0.0),
            "push_open_rate_30d": col("push_opens_30d").safe_div(col("push_sent_30d"), 0.0),
            "support_friction_90d": (col("support_tickets_90d") + col("complaints_90d")).log1p(),
        }


WitWorld = export(CustomerContactFeatures)
