//! Typed column buffers for one chunk of one week: a plain vector with a value
//! for every row plus validity bits, ready for the page encoders (no builders,
//! no per-cell dispatch). Buffers are cleared, not dropped, between chunks, so
//! the steady state allocates (and page-faults) nothing.

/// Validity bits, 64 rows a word, least significant bit first (Arrow's layout,
/// and Parquet's bit-packed definition levels).
#[derive(Default)]
pub struct Validity {
    words: Vec<u64>,
    len: usize,
    nulls: usize,
}

impl Validity {
    fn with_capacity(rows: usize) -> Self {
        Self { words: Vec::with_capacity(rows.div_ceil(64)), len: 0, nulls: 0 }
    }

    #[inline]
    fn push(&mut self, valid: bool) {
        let bit = self.len & 63;
        if bit == 0 {
            self.words.push(0);
        }
        if let Some(word) = self.words.last_mut() {
            *word |= (valid as u64) << bit;
        }
        self.nulls += (!valid) as usize;
        self.len += 1;
    }

    /// Whole words while the length is a multiple of 64, then bit by bit.
    fn extend(&mut self, mut valid: impl Iterator<Item = bool>) {
        while self.len & 63 == 0 {
            let (mut word, mut bits) = (0u64, 0);
            for v in valid.by_ref().take(64) {
                word |= (v as u64) << bits;
                bits += 1;
            }
            if bits == 0 {
                return;
            }
            self.words.push(word);
            self.nulls += bits - word.count_ones() as usize;
            self.len += bits;
        }
        for v in valid {
            self.push(v);
        }
    }

    fn clear(&mut self) {
        self.words.clear();
        self.len = 0;
        self.nulls = 0;
    }

    /// Rows, present or not.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The bitmap, or `None` when every row is present.
    pub fn bitmap(&self) -> Option<&[u64]> {
        (self.nulls > 0).then_some(self.words.as_slice())
    }
}

/// A column of one chunk, by the Rust type its cells have.
pub trait ColumnBuf {
    type Cell;
    fn with_capacity(rows: usize) -> Self;
    fn push(&mut self, value: Option<Self::Cell>);
    /// Appends cells in order; a column run at a time.
    fn extend(&mut self, values: impl Iterator<Item = Option<Self::Cell>> + Clone) {
        for value in values {
            self.push(value);
        }
    }
    /// Empties the buffer, keeping its memory.
    fn clear(&mut self);
    fn column(&self) -> Column<'_>;
}

/// A buffered column, by type, for the encoders.
pub enum Column<'a> {
    Ints(&'a Cells<i64>),
    Floats(&'a Cells<f64>),
    Categories(&'a Cells<&'static str>),
}

/// A column's cells in row order: one value per row (a missing row holds the
/// type's default, so appending is a plain copy), and which rows are present.
pub struct Cells<T> {
    pub values: Vec<T>,
    pub validity: Validity,
}

pub type Ints = Cells<i64>;
pub type Floats = Cells<f64>;
/// Categorical text: every value is one of a fixed set of static strings.
pub type Categories = Cells<&'static str>;

impl<T: Copy> Cells<T> {
    /// The present values in row order: the buffer itself when no row is
    /// missing, else gathered into `scratch`.
    pub fn present<'a>(&'a self, scratch: &'a mut Vec<T>) -> &'a [T] {
        let Some(bitmap) = self.validity.bitmap() else { return &self.values };
        scratch.clear();
        for (word, values) in bitmap.iter().zip(self.values.chunks(64)) {
            let mut bits = *word;
            while bits != 0 {
                scratch.push(values[bits.trailing_zeros() as usize]);
                bits &= bits - 1;
            }
        }
        scratch
    }
}

/// How [`Cells`] of a cell type show themselves to the encoders.
pub trait CellKind: Copy + Default {
    fn column(cells: &Cells<Self>) -> Column<'_>;
}
impl CellKind for i64 {
    fn column(cells: &Cells<Self>) -> Column<'_> {
        Column::Ints(cells)
    }
}
impl CellKind for f64 {
    fn column(cells: &Cells<Self>) -> Column<'_> {
        Column::Floats(cells)
    }
}
impl CellKind for &'static str {
    fn column(cells: &Cells<Self>) -> Column<'_> {
        Column::Categories(cells)
    }
}

impl<T: CellKind> ColumnBuf for Cells<T> {
    type Cell = T;
    fn with_capacity(rows: usize) -> Self {
        Self { values: Vec::with_capacity(rows), validity: Validity::with_capacity(rows) }
    }
    #[inline]
    fn push(&mut self, value: Option<T>) {
        self.values.push(value.unwrap_or_default());
        self.validity.push(value.is_some());
    }
    fn extend(&mut self, values: impl Iterator<Item = Option<T>> + Clone) {
        self.values.extend(values.clone().map(|v| v.unwrap_or_default()));
        self.validity.extend(values.map(|v| v.is_some()));
    }
    fn clear(&mut self) {
        self.values.clear();
        self.validity.clear();
    }
    fn column(&self) -> Column<'_> {
        T::column(self)
    }
}

/// Writes `u` and the index zero-padded to at least nine digits (`u000000042`),
/// so ids sort in user order; the same text as `format!("u{index:09}")`.
#[inline]
pub fn write_user_id(out: &mut Vec<u8>, index: u64) {
    let mut digits = [b'0'; 20];
    let mut n = index;
    let mut at = digits.len();
    while n > 0 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = at.min(digits.len() - 9);
    out.push(b'u');
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_match_the_padded_format() {
        for index in [0u64, 7, 42, 999_999_999, 1_000_000_000, 123_456_789_012, u64::MAX] {
            let mut out = Vec::new();
            write_user_id(&mut out, index);
            assert_eq!(String::from_utf8(out).unwrap(), format!("u{index:09}"));
        }
    }

    #[test]
    fn extending_gives_the_same_column_as_pushing_one_by_one() {
        let cells: Vec<Option<i64>> = (0..300).map(|i| (i % 7 != 3).then_some(i)).collect();
        let mut pushed = Ints::with_capacity(8);
        cells.iter().for_each(|c| pushed.push(*c));
        // Tiles of uneven sizes: aligned whole words, then a ragged tail, then bit by bit.
        let mut extended = Ints::with_capacity(8);
        for tile in [&cells[..128], &cells[128..150], &cells[150..]] {
            extended.extend(tile.iter().copied());
        }
        assert_eq!(extended.values, pushed.values);
        assert_eq!(extended.validity.bitmap(), pushed.validity.bitmap());
        assert_eq!(extended.present(&mut Vec::new()).len(), 300 - 43);
        assert_eq!(extended.validity.len(), 300);
    }

    #[test]
    fn present_values_are_gathered_and_the_bitmap_marks_them() {
        let mut ints = Ints::with_capacity(4);
        for i in 0..130 {
            ints.push((i % 3 != 0).then_some(i));
        }
        let mut scratch = Vec::new();
        let present = ints.present(&mut scratch);
        assert_eq!(present.len(), 86);
        assert_eq!(present[..3], [1, 2, 4]);
        assert_eq!(present[85], 128);
        let bitmap = ints.validity.bitmap().unwrap();
        assert_eq!(bitmap.len(), 3);
        assert_eq!(bitmap[0] & 0b1111, 0b0110);
        ints.clear();
        ints.push(Some(5));
        assert_eq!((ints.present(&mut scratch), ints.validity.bitmap()), (&[5][..], None));
    }
}
