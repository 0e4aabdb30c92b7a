"""The transform contract and its export to the `column-transform` world."""

import sys
import traceback
from array import array

from .columns import Batch
from .expr import Expr

_OPS = {
    "column": "COLUMN", "literal": "LITERAL", "add": "ADD", "sub": "SUB", "mul": "MUL", "div": "DIV",
    "safe-div": "SAFE_DIV", "neg": "NEG", "abs": "ABS", "log1p": "LOG1P", "exp": "EXP", "sqrt": "SQRT",
    "min": "MIN", "max": "MAX", "clip": "CLIP", "fill-null": "FILL_NULL", "eq": "EQ", "ne": "NE",
    "lt": "LT", "le": "LE", "gt": "GT", "ge": "GE", "and": "AND", "or": "OR", "not": "NOT", "when": "WHEN",
}
_PACK = {"float64": "d", "float32": "f", "int64": "q", "int32": "i"}


class _Out:
    def __init__(self, name, type_, unit, description):
        self.name, self.type, self.unit, self.description = name, type_, unit, description


def float64(name, unit="", description=""): return _Out(name, "float64", unit, description)
def float32(name, unit="", description=""): return _Out(name, "float32", unit, description)
def int64(name, unit="", description=""): return _Out(name, "int64", unit, description)
def int32(name, unit="", description=""): return _Out(name, "int32", unit, description)
def boolean(name, unit="", description=""): return _Out(name, "boolean", unit, description)
def utf8(name, unit="", description=""): return _Out(name, "utf8", unit, description)


class Transform:
    """Subclass, set name, version, inputs and outputs, and write ``transform(batch)``
    returning ``{output name: expression, list or array}`` for every declared output."""

    name = ""
    version = "0.1.0"
    inputs = []
    outputs = []

    def transform(self, batch):
        raise NotImplementedError


def log(message, level="info"):
    """A log line the host tags with the run and stage."""
    from wit_world.imports import log as wit_log
    wit_log.log(getattr(wit_log.Level, level.upper()), str(message))


class _LogStream:
    """sys.stdout / sys.stderr while the host calls the plugin: the component has no WASI
    stdio (`--stub-wasi`, writing there would trap), so each printed line becomes a log line."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, level):
        self.level, self.pending = level, ""

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            log(line, self.level)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self.pending:
            line, self.pending = self.pending, ""
            log(line, self.level)

    def isatty(self):
        return False

    def writable(self):
        return True


def _printing_to_log(call):
    """Runs `call` with print() and sys.stdout/sys.stderr writes sent to the host's log
    (stdout as info, stderr as warn lines), as the host keeps a Rust plugin's println!."""
    saved = sys.stdout, sys.stderr
    out, err = _LogStream("info"), _LogStream("warn")
    sys.stdout, sys.stderr = out, err
    try:
        return call()
    finally:
        sys.stdout, sys.stderr = saved
        out.flush()
        err.flush()


def export(cls):
    """The class componentize-py instantiates: ``WitWorld = export(MyTransform)``."""
    plugin = cls()

    class WitWorld:
        def describe(self):
            return _printing_to_log(self._describe)

        def _describe(self):
            from wit_world.imports import transform_types as tt
            outputs = [tt.OutputColumn(o.name, getattr(tt.ColumnType, o.type.upper()), o.unit, o.description) for o in plugin.outputs]
            return tt.TransformInfo(plugin.name, plugin.version, list(plugin.inputs), outputs)

        def transform(self, columns):
            return _printing_to_log(lambda: self._transform(columns))

        def _transform(self, columns):
            from componentize_py_types import Err
            try:
                batch = Batch(columns)
                result = plugin.transform(batch)
                _check_undeclared(result, plugin.outputs)
                return [_output(o, result, batch.rows) for o in plugin.outputs]
            except Exception as e:
                # The whole traceback travels back as the error: the author sees file, line and exception.
                raise Err(_traceback(e))

    return WitWorld


def _traceback(error):
    """The traceback as Python prints it, without source lines: reading source files
    would call into WASI, which the component does not have (`--stub-wasi`)."""
    lines = ["Traceback (most recent call last):"]
    for frame, line in traceback.walk_tb(error.__traceback__):
        lines.append(f'  File "{frame.f_code.co_filename}", line {line}, in {frame.f_code.co_name}')
    lines.extend(l.rstrip() for l in traceback.format_exception_only(type(error), error))
    return "\n".join(lines)


def _check_undeclared(result, outputs):
    """Every key transform() returns must be a declared output: an extra column
    would otherwise be dropped without a word (the host refuses it from Rust plugins too)."""
    if not isinstance(result, dict):
        raise TypeError(f"transform() must return a dict of output name to values, not {type(result).__name__}")
    declared = {o.name for o in outputs}
    for name in result:
        if name not in declared:
            raise KeyError(
                f"output column '{name}': expected no such column (it is not declared in outputs: "
                f"{', '.join(o.name for o in outputs) or 'none'})"
            )


def _output(declared, result, rows):
    from wit_world.imports import columns as wc
    from wit_world.imports import transform_types as tt
    if declared.name not in result:
        raise KeyError(f"transform() returned no value for declared output '{declared.name}'")
    value = result[declared.name]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = Expr("literal", value=value)
    if isinstance(value, Expr):
        nodes = [wc.Node(getattr(wc.Op, _OPS[e.op]), args, e.value, e.name) for e, args in value.nodes()]
        return wc.Output_Expression(nodes)
    values = list(value) if not isinstance(value, array) else value
    if len(values) != rows:
        raise ValueError(f"output '{declared.name}' has {len(values)} values for {rows} rows")
    validity = b""
    if not isinstance(values, array) and any(v is None for v in values):
        validity = bytes(0 if v is None else 1 for v in values)
    kind = getattr(tt.ColumnType, declared.type.upper())
    if declared.type == "utf8":
        for row, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                raise _unfit(declared, row, v, "a str or None")
        encoded = [(v or "").encode() for v in values]
        offsets, at = array("i", [0]), 0
        for e in encoded:
            at += len(e)
            offsets.append(at)
        return wc.Output_Values(wc.Column(declared.name, kind, rows, b"".join(encoded), offsets.tobytes(), validity))
    if declared.type == "boolean":
        for row, v in enumerate(values):
            if v is not None and v is not True and v is not False and not (type(v) is int and v in (0, 1)):
                raise _unfit(declared, row, v, "true, false or None")
        data = bytes(1 if v else 0 for v in values)
    else:
        code = _PACK[declared.type]
        if isinstance(values, array) and values.typecode == code:
            data = values.tobytes()
        else:
            zero = 0.0 if code in "df" else 0
            try:
                data = array(code, (zero if v is None else v for v in values)).tobytes()
            except (TypeError, OverflowError):
                for row, v in enumerate(values):
                    try:
                        array(code, [zero if v is None else v])
                    except (TypeError, OverflowError):
                        wanted = "a number or None" if code in "df" else "a whole number (int) or None"
                        raise _unfit(declared, row, v, wanted) from None
                raise
    return wc.Output_Values(wc.Column(declared.name, kind, rows, data, b"", validity))


def _unfit(declared, row, value, wanted):
    """The error for a value a declared output can't hold: the column, its declared type, the value and its row."""
    return TypeError(
        f"output column '{declared.name}': expected {declared.type} (declared), found {value!r} "
        f"({type(value).__name__}) in row {row} of the batch; each value must be {wanted}"
    )
