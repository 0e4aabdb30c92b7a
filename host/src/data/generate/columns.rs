//! Typed column buffers for one chunk of one week: plain vectors plus validity
//! bits, turned into Arrow arrays without copying (no builders, no per-cell
//! dispatch). Once the arrays are encoded and dropped, their memory comes back
//! for the next chunk, so the steady state allocates (and page-faults) nothing.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::ArrowNativeType;

/// A vector handed to Arrow, to be taken back once Arrow is done with it.
struct Lent(Option<Buffer>);

impl Lent {
    fn lend<T: ArrowNativeType>(&mut self, values: Vec<T>) -> Buffer {
        let buffer = Buffer::from_vec(values);
        self.0 = Some(buffer.clone());
        buffer
    }

    /// Puts the lent vector, emptied, back into `into` if nothing else holds it
    /// any more; else gives `into` a new one of `capacity`.
    fn reclaim<T: ArrowNativeType>(&mut self, into: &mut Vec<T>, capacity: usize) {
        if let Some(buffer) = self.0.take()
            && let Ok(mut values) = buffer.into_vec::<T>()
        {
            values.clear();
            *into = values;
        } else if into.capacity() == 0 {
            into.reserve(capacity);
        }
    }
}

/// Validity bits, 64 rows a word, least significant bit first (Arrow's layout).
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

    /// `None` when every row is valid: the writer then skips the bitmap.
    fn take(&mut self) -> Option<NullBuffer> {
        let rows = self.len;
        let nulls = self.nulls;
        let words = std::mem::replace(&mut self.words, Vec::with_capacity(rows.div_ceil(64)));
        self.len = 0;
        self.nulls = 0;
        // SAFETY: `nulls` counts exactly the zero bits among the first `rows`.
        (nulls > 0).then(|| unsafe { NullBuffer::new_unchecked(BooleanBuffer::new(Buffer::from_vec(words), 0, rows), nulls) })
    }
}

/// A column of one chunk, by the Rust type its cells have.
pub trait ColumnBuf {
    type Cell;
    fn with_capacity(rows: usize) -> Self;
    fn push(&mut self, value: Option<Self::Cell>);
    /// Appends cells in order; numeric buffers do it a column run at a time.
    fn extend(&mut self, values: impl Iterator<Item = Option<Self::Cell>> + Clone) {
        for value in values {
            self.push(value);
        }
    }
    /// The buffered cells as an array; the buffer starts over, empty.
    fn take_array(&mut self) -> ArrayRef;
    /// Takes back the memory of the last array, once it has been dropped.
    fn reclaim(&mut self);
}

pub struct Ints {
    values: Vec<i64>,
    validity: Validity,
    lent: Lent,
}

impl ColumnBuf for Ints {
    type Cell = i64;
    fn with_capacity(rows: usize) -> Self {
        Self { values: Vec::with_capacity(rows), validity: Validity::with_capacity(rows), lent: Lent(None) }
    }
    #[inline]
    fn push(&mut self, value: Option<i64>) {
        self.values.push(value.unwrap_or(0));
        self.validity.push(value.is_some());
    }
    fn extend(&mut self, values: impl Iterator<Item = Option<i64>> + Clone) {
        self.values.extend(values.clone().map(|v| v.unwrap_or(0)));
        self.validity.extend(values.map(|v| v.is_some()));
    }
    fn take_array(&mut self) -> ArrayRef {
        let rows = self.values.len();
        let values = self.lent.lend(std::mem::take(&mut self.values));
        Arc::new(Int64Array::new(ScalarBuffer::new(values, 0, rows), self.validity.take()))
    }
    fn reclaim(&mut self) {
        let capacity = self.validity.words.capacity() * 64;
        self.lent.reclaim(&mut self.values, capacity);
    }
}

pub struct Floats {
    values: Vec<f64>,
    validity: Validity,
    lent: Lent,
}

impl ColumnBuf for Floats {
    type Cell = f64;
    fn with_capacity(rows: usize) -> Self {
        Self { values: Vec::with_capacity(rows), validity: Validity::with_capacity(rows), lent: Lent(None) }
    }
    #[inline]
    fn push(&mut self, value: Option<f64>) {
        self.values.push(value.unwrap_or(0.0));
        self.validity.push(value.is_some());
    }
    fn extend(&mut self, values: impl Iterator<Item = Option<f64>> + Clone) {
        self.values.extend(values.clone().map(|v| v.unwrap_or(0.0)));
        self.validity.extend(values.map(|v| v.is_some()));
    }
    fn take_array(&mut self) -> ArrayRef {
        let rows = self.values.len();
        let values = self.lent.lend(std::mem::take(&mut self.values));
        Arc::new(Float64Array::new(ScalarBuffer::new(values, 0, rows), self.validity.take()))
    }
    fn reclaim(&mut self) {
        let capacity = self.validity.words.capacity() * 64;
        self.lent.reclaim(&mut self.values, capacity);
    }
}

/// Short strings: offsets and bytes, as Arrow stores them.
pub struct Texts {
    offsets: Vec<i32>,
    bytes: Vec<u8>,
    validity: Validity,
    lent_offsets: Lent,
    lent_bytes: Lent,
    rows: usize,
}

impl Texts {
    /// Appends a value written by `write` straight into the byte buffer.
    #[inline]
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        self.offsets.push(self.bytes.len() as i32);
        self.validity.push(true);
    }
}

impl ColumnBuf for Texts {
    type Cell = &'static str;
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            offsets,
            bytes: Vec::with_capacity(rows * 8),
            validity: Validity::with_capacity(rows),
            lent_offsets: Lent(None),
            lent_bytes: Lent(None),
            rows,
        }
    }
    #[inline]
    fn push(&mut self, value: Option<&'static str>) {
        if let Some(v) = value {
            self.bytes.extend_from_slice(v.as_bytes());
        }
        self.offsets.push(self.bytes.len() as i32);
        self.validity.push(value.is_some());
    }
    fn take_array(&mut self) -> ArrayRef {
        let rows = self.offsets.len() - 1;
        let offsets = self.lent_offsets.lend(std::mem::take(&mut self.offsets));
        let bytes = self.lent_bytes.lend(std::mem::take(&mut self.bytes));
        let offsets = OffsetBuffer::new(ScalarBuffer::new(offsets, 0, rows + 1));
        self.rows = self.rows.max(rows);
        // Every cell came from a `&str`, so the bytes are UTF-8; `new` checks anyway.
        Arc::new(StringArray::new(offsets, bytes, self.validity.take()))
    }
    fn reclaim(&mut self) {
        self.lent_offsets.reclaim(&mut self.offsets, self.rows + 1);
        self.lent_bytes.reclaim(&mut self.bytes, self.rows * 8);
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
    }
}

/// A column where every row holds the same date (the snapshot's Sunday).
pub fn constant_date(days: i32, rows: usize) -> ArrayRef {
    Arc::new(Date32Array::new(ScalarBuffer::from(vec![days; rows]), None))
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
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;

    #[test]
    fn user_ids_match_the_padded_format() {
        for index in [0u64, 7, 42, 999_999_999, 1_000_000_000, 123_456_789_012, u64::MAX] {
            let mut out = Vec::new();
            write_user_id(&mut out, index);
            assert_eq!(String::from_utf8(out).unwrap(), format!("u{index:09}"));
        }
    }

    #[test]
    fn extending_gives_the_same_array_as_pushing_one_by_one() {
        let cells: Vec<Option<i64>> = (0..300).map(|i| (i % 7 != 3).then_some(i)).collect();
        let mut pushed = Ints::with_capacity(8);
        cells.iter().for_each(|c| pushed.push(*c));
        // Tiles of uneven sizes: aligned whole words, then a ragged tail, then bit by bit.
        let mut extended = Ints::with_capacity(8);
        for tile in [&cells[..128], &cells[128..150], &cells[150..]] {
            extended.extend(tile.iter().copied());
        }
        let (pushed, extended) = (pushed.take_array(), extended.take_array());
        assert_eq!(extended.as_primitive::<Int64Type>(), pushed.as_primitive::<Int64Type>());
        assert_eq!(extended.null_count(), 43);
    }

    #[test]
    fn buffers_become_arrays_with_their_nulls() {
        let mut ints = Ints::with_capacity(4);
        for i in 0..130 {
            ints.push((i % 3 != 0).then_some(i));
        }
        let array = ints.take_array();
        let array = array.as_primitive::<Int64Type>();
        assert_eq!(array.len(), 130);
        assert_eq!(array.null_count(), 44);
        assert!(array.is_null(129) && array.is_valid(128));
        assert_eq!(array.value(128), 128);

        let mut texts = Texts::with_capacity(2);
        texts.push(Some("ab"));
        texts.push(None);
        texts.push(Some("c"));
        {
            let array = texts.take_array();
            let array = array.as_string::<i32>();
            assert_eq!(array.iter().collect::<Vec<_>>(), [Some("ab"), None, Some("c")]);
        }
        texts.reclaim();
        texts.push(Some("again"));
        assert_eq!(texts.take_array().as_string::<i32>().value(0), "again");

        let mut floats = Floats::with_capacity(1);
        floats.push(Some(1.5));
        assert_eq!(floats.take_array().null_count(), 0);
    }
}
