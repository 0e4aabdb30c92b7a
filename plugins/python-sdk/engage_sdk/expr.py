"""Column expressions: built in Python, evaluated by the host over the whole batch.

Arithmetic (+ - * /), comparisons (< <= > >= == !=, giving 1 or 0), & | ~ for
and/or/not, and methods: safe_div, log1p, exp, sqrt, abs, clip, fill_null,
minimum, maximum. ``when(cond, then).otherwise(other)`` picks per row. A null
operand gives a null result, except in fill_null and when (a null condition is false).
"""


class Expr:
    __slots__ = ("op", "args", "value", "name")

    def __init__(self, op, args=(), value=0.0, name=""):
        self.op = op
        self.args = tuple(args)
        self.value = float(value)
        self.name = name

    def _binary(self, op, other, value=0.0):
        return Expr(op, (self, _wrap(other)), value)

    def _rbinary(self, op, other):
        return Expr(op, (_wrap(other), self))

    def __add__(self, other): return self._binary("add", other)
    def __radd__(self, other): return self._rbinary("add", other)
    def __sub__(self, other): return self._binary("sub", other)
    def __rsub__(self, other): return self._rbinary("sub", other)
    def __mul__(self, other): return self._binary("mul", other)
    def __rmul__(self, other): return self._rbinary("mul", other)
    def __truediv__(self, other): return self._binary("div", other)
    def __rtruediv__(self, other): return self._rbinary("div", other)
    def __neg__(self): return Expr("neg", (self,))
    def __lt__(self, other): return self._binary("lt", other)
    def __le__(self, other): return self._binary("le", other)
    def __gt__(self, other): return self._binary("gt", other)
    def __ge__(self, other): return self._binary("ge", other)
    def __eq__(self, other): return self._binary("eq", other)  # noqa: builds an expression
    def __ne__(self, other): return self._binary("ne", other)
    def __and__(self, other): return self._binary("and", other)
    def __or__(self, other): return self._binary("or", other)
    def __invert__(self): return Expr("not", (self,))
    __hash__ = object.__hash__

    def safe_div(self, other, fallback=0.0):
        """self / other, or `fallback` where other is 0."""
        return self._binary("safe-div", other, fallback)

    def log1p(self): return Expr("log1p", (self,))
    def exp(self): return Expr("exp", (self,))
    def sqrt(self): return Expr("sqrt", (self,))
    def abs(self): return Expr("abs", (self,))
    def minimum(self, other): return self._binary("min", other)
    def maximum(self, other): return self._binary("max", other)

    def clip(self, low, high):
        return Expr("clip", (self, _wrap(low), _wrap(high)))

    def fill_null(self, value):
        return Expr("fill-null", (self, _wrap(value)))

    def nodes(self):
        """The expression as the host's node list: operands before their users, this node last."""
        order, index = [], {}

        def visit(e):
            if id(e) in index:
                return index[id(e)]
            args = [visit(a) for a in e.args]
            index[id(e)] = len(order)
            order.append((e, args))
            return index[id(e)]

        visit(self)
        return order


class _When:
    def __init__(self, cond, then):
        self.cond, self.then = _wrap(cond), _wrap(then)

    def otherwise(self, other):
        return Expr("when", (self.cond, self.then, _wrap(other)))


def col(name):
    """An input column (one the transform declares in `inputs`)."""
    return Expr("column", name=name)


def lit(value):
    """A number on every row."""
    return Expr("literal", value=value)


def when(cond, then):
    """``when(cond, then).otherwise(other)``: `then` where cond is true, else `other`."""
    return _When(cond, then)


def _wrap(value):
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool):
        return lit(1.0 if value else 0.0)
    if isinstance(value, (int, float)):
        return lit(value)
    raise TypeError(f"expected a column expression or a number, got {type(value).__name__}")
