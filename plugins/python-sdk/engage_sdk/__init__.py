"""The Engage plugin SDK for Python feature transforms.

A transform declares what it reads and writes and returns, per output column,
either a column expression (``col("a").safe_div(col("b"))``: the host evaluates
it natively over the Arrow batch, fast) or values computed in Python (a list or
``array``, one per row: flexible, slower). Build with ``engage plugin build``.

    from engage_sdk import Transform, col, float64, export

    class OpenRate(Transform):
        name = "open-rate"
        version = "1.0.0"
        inputs = ["email_opens_30d", "emails_sent_30d"]
        outputs = [float64("email_open_rate_30d", "ratio", "opens / sent (0 when none sent)")]

        def transform(self, batch):
            return {"email_open_rate_30d": col("email_opens_30d").safe_div(col("emails_sent_30d"))}

    WitWorld = export(OpenRate)
"""

from .columns import Batch, ColumnData
from .expr import Expr, col, lit, when
from .transform import Transform, boolean, export, float32, float64, int32, int64, log, utf8

__all__ = [
    "Batch", "ColumnData", "Expr", "Transform", "boolean", "col", "export", "float32", "float64",
    "int32", "int64", "lit", "log", "utf8", "when",
]
