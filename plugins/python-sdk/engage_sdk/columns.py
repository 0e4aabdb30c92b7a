"""Input columns as the host packs them, read without copying into Python objects
until asked: ``batch.floats("x")`` gives an ``array('d')`` (nulls read as NaN),
``batch.values("x")`` a list with None for nulls."""

from array import array

_CODES = {"FLOAT64": "d", "FLOAT32": "f", "INT64": "q", "INT32": "i"}


class ColumnData:
    """One packed input column."""

    def __init__(self, packed):
        self.name = packed.name
        self.type = packed.type.name.lower()
        self.rows = packed.rows
        self._packed = packed

    def valid(self):
        """One bool per row, or None when no row is null."""
        v = self._packed.validity
        return None if not v else [b != 0 for b in v]

    def raw(self):
        """The values as an `array` of the column's type (what sits under a null is unspecified)."""
        code = _CODES.get(self._packed.type.name)
        if code is None:
            if self.type == "boolean":
                return array("B", self._packed.values)
            raise TypeError(f"column '{self.name}' is {self.type}: use values()")
        out = array(code)
        out.frombytes(self._packed.values)
        return out

    def floats(self):
        """The values as ``array('d')``; nulls read as NaN."""
        raw = self.raw()
        out = raw if raw.typecode == "d" else array("d", raw)
        valid = self.valid()
        if valid is not None:
            nan = float("nan")
            for i, ok in enumerate(valid):
                if not ok:
                    out[i] = nan
        return out

    def values(self):
        """The values as a list, None where null (text columns decoded to str)."""
        if self.type == "utf8":
            data, offsets = self._packed.values, array("i")
            offsets.frombytes(self._packed.offsets)
            out = [data[offsets[i]:offsets[i + 1]].decode() for i in range(self.rows)]
        elif self.type == "boolean":
            out = [b != 0 for b in self._packed.values]
        else:
            out = list(self.raw())
        valid = self.valid()
        if valid is not None:
            out = [v if ok else None for v, ok in zip(out, valid)]
        return out


class Batch:
    """The declared input columns of one batch, by name."""

    def __init__(self, packed_columns):
        self._columns = {c.name: ColumnData(c) for c in packed_columns}
        self.rows = packed_columns[0].rows if packed_columns else 0

    def __getitem__(self, name):
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"input column '{name}' is not in the batch: declare it in `inputs`") from None

    def floats(self, name):
        return self[name].floats()

    def values(self, name):
        return self[name].values()
