//! The Parquet value and level encodings the generator writes, as byte-level
//! functions (the format spec's `Encodings.md`). The parquet crate keeps its
//! encoders behind its unstable `experimental` feature, and its Arrow writer
//! spends most of its time compressing 8-byte integers; these encode small
//! counts to the bits they need, so no compression is needed for them.
//!
//! Everything here appends to a `Vec<u8>`. The tests of `parquet_chunk` read
//! it back with the parquet crate, `tests/generate.rs` with pyarrow too.

/// Unsigned LEB128, as Parquet's run headers and delta headers use.
#[inline]
pub fn put_uleb(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Zigzag then LEB128: small magnitudes of either sign take few bytes.
#[inline]
pub fn put_zigzag(out: &mut Vec<u8>, value: i64) {
    put_uleb(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Bits needed for `value` (0 for 0).
#[inline]
pub fn bit_width(value: u64) -> u32 {
    64 - value.leading_zeros()
}

/// Packs each value into `width` bits, least significant bit first (Parquet's
/// bit-packing order). The caller pads the values to a multiple of 8 so the
/// output ends on a byte.
#[inline]
fn bit_pack(out: &mut Vec<u8>, values: impl Iterator<Item = u64>, width: u32) {
    if width == 0 {
        return;
    }
    if width == 64 {
        values.for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        return;
    }
    let (mut acc, mut bits) = (0u64, 0u32);
    for value in values {
        acc |= value << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&acc.to_le_bytes());
            bits -= 64;
            // The bits of `value` that did not fit start the next word.
            acc = if bits == 0 { 0 } else { value >> (width - bits) };
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..bits.div_ceil(8) as usize]);
}

/// Definition levels of an optional flat column with the RLE/bit-packed hybrid
/// (bit width 1), with the 4-byte length prefix of a version 1 data page.
/// `validity` is Arrow's bitmap (bit set = present, least significant first),
/// which is exactly the hybrid's bit-packed layout; `None` means every row is present.
pub fn definition_levels(out: &mut Vec<u8>, rows: usize, validity: Option<&[u64]>) {
    let length_at = out.len();
    out.extend_from_slice(&[0; 4]);
    match validity {
        None => {
            // One RLE run of `rows` ones.
            put_uleb(out, (rows as u64) << 1);
            out.push(1);
        }
        Some(words) => {
            let groups = rows.div_ceil(8);
            put_uleb(out, ((groups as u64) << 1) | 1);
            let bytes = words.iter().flat_map(|w| w.to_le_bytes());
            out.extend(bytes.take(groups));
        }
    }
    let length = (out.len() - length_at - 4) as u32;
    out[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
}

/// Dictionary indices of an RLE_DICTIONARY data page: the bit width, then one
/// bit-packed run of every index.
pub fn dictionary_indices(out: &mut Vec<u8>, indices: &[u32], dictionary_len: usize) {
    let width = bit_width(dictionary_len.saturating_sub(1) as u64).max(1);
    out.push(width as u8);
    let groups = indices.len().div_ceil(8);
    put_uleb(out, ((groups as u64) << 1) | 1);
    let padding = groups * 8 - indices.len();
    bit_pack(out, indices.iter().map(|&i| i as u64).chain(std::iter::repeat_n(0, padding)), width);
}

const DELTA_BLOCK: usize = 128;
const DELTA_MINIBLOCKS: usize = 4;
const DELTA_MINIBLOCK: usize = DELTA_BLOCK / DELTA_MINIBLOCKS;

/// A physical integer type for DELTA_BINARY_PACKED: deltas wrap in the
/// type's own width, as readers undo them.
pub trait DeltaInt: Copy {
    /// `self - previous` in the type's width, widened.
    fn delta(self, previous: Self) -> i64;
    /// `delta - min` as the unsigned bits a miniblock stores.
    fn offset(delta: i64, min: i64) -> u64;
    fn widen(self) -> i64;
}

impl DeltaInt for i64 {
    #[inline]
    fn delta(self, previous: Self) -> i64 {
        self.wrapping_sub(previous)
    }
    #[inline]
    fn offset(delta: i64, min: i64) -> u64 {
        delta.wrapping_sub(min) as u64
    }
    fn widen(self) -> i64 {
        self
    }
}

impl DeltaInt for i32 {
    #[inline]
    fn delta(self, previous: Self) -> i64 {
        self.wrapping_sub(previous) as i64
    }
    #[inline]
    fn offset(delta: i64, min: i64) -> u64 {
        (delta as i32).wrapping_sub(min as i32) as u32 as u64
    }
    fn widen(self) -> i64 {
        self as i64
    }
}

/// DELTA_BINARY_PACKED: a header with the first value, then blocks of 128
/// deltas, each with its smallest delta and four miniblocks of 32 bit-packed
/// offsets from it, each miniblock as wide as its own largest offset. Long
/// runs of zeros cost a byte per 32 values, and one outlier widens only its
/// miniblock.
pub fn delta_binary_packed<T: DeltaInt>(out: &mut Vec<u8>, values: &[T]) {
    put_uleb(out, DELTA_BLOCK as u64);
    put_uleb(out, DELTA_MINIBLOCKS as u64);
    put_uleb(out, values.len() as u64);
    put_zigzag(out, values.first().map_or(0, |v| v.widen()));
    let mut deltas = [0i64; DELTA_BLOCK];
    for start in (1..values.len()).step_by(DELTA_BLOCK) {
        let block = &values[start - 1..values.len().min(start + DELTA_BLOCK)];
        let deltas = &mut deltas[..block.len() - 1];
        for (slot, pair) in deltas.iter_mut().zip(block.windows(2)) {
            *slot = pair[1].delta(pair[0]);
        }
        let min = deltas.iter().copied().min().unwrap_or(0);
        put_zigzag(out, min);
        // The widths come before the bodies: reserve them, fill them in after.
        let widths_at = out.len();
        out.extend_from_slice(&[0; DELTA_MINIBLOCKS]);
        for (m, mini) in deltas.chunks(DELTA_MINIBLOCK).enumerate() {
            // The last miniblock is padded to 32 values; unused ones have no body.
            let mut offsets = [0u64; DELTA_MINIBLOCK];
            for (offset, &delta) in offsets.iter_mut().zip(mini) {
                *offset = T::offset(delta, min);
            }
            let width = bit_width(offsets.iter().fold(0, |bits, &o| bits | o));
            out[widths_at + m] = width as u8;
            bit_pack(out, offsets.iter().copied(), width);
        }
    }
}

/// PLAIN doubles: little-endian bytes.
pub fn plain_doubles(out: &mut Vec<u8>, values: impl Iterator<Item = f64>) {
    for value in values {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// PLAIN byte arrays: a 4-byte length before each value.
pub fn plain_byte_arrays<'a>(out: &mut Vec<u8>, values: impl Iterator<Item = &'a [u8]>) {
    for value in values {
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
}

/// DELTA_BYTE_ARRAY: each value as the length of the prefix it shares with the
/// one before, and the rest. Consecutive ids (`u000000041`, `u000000042`)
/// share all but their last digits.
pub fn delta_byte_arrays<'a>(out: &mut Vec<u8>, values: impl Iterator<Item = &'a [u8]>) {
    let (mut prefixes, mut suffix_lengths, mut suffixes) = (Vec::new(), Vec::new(), Vec::new());
    let mut previous: &[u8] = &[];
    for value in values {
        let shared = previous.iter().zip(value).take_while(|(a, b)| a == b).count();
        prefixes.push(shared as i32);
        suffix_lengths.push((value.len() - shared) as i32);
        suffixes.extend_from_slice(&value[shared..]);
        previous = value;
    }
    delta_binary_packed(out, &prefixes);
    delta_binary_packed(out, &suffix_lengths);
    out.extend_from_slice(&suffixes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_and_zigzag_follow_the_spec() {
        let uleb = |v| {
            let mut out = Vec::new();
            put_uleb(&mut out, v);
            out
        };
        assert_eq!(uleb(0), [0]);
        assert_eq!(uleb(127), [127]);
        assert_eq!(uleb(300), [0xac, 0x02]);
        let zigzag = |v| {
            let mut out = Vec::new();
            put_zigzag(&mut out, v);
            out
        };
        assert_eq!(zigzag(0), [0]);
        assert_eq!(zigzag(-1), [1]);
        assert_eq!(zigzag(1), [2]);
        assert_eq!(zigzag(-64), [127]);
    }

    #[test]
    fn bit_packing_matches_the_spec_example() {
        // Encodings.md: 0..7 at width 3 packs to 10001000 11000110 11111010.
        let mut out = Vec::new();
        bit_pack(&mut out, 0..8u64, 3);
        assert_eq!(out, [0b1000_1000, 0b1100_0110, 0b1111_1010]);
        let mut wide = Vec::new();
        bit_pack(&mut wide, [u64::MAX, 1, 0, 0, 0, 0, 0, 0].into_iter(), 64);
        assert_eq!(wide.len(), 64);
        assert_eq!(&wide[..9], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1]);
    }

    #[test]
    fn packing_sets_each_bit_where_the_spec_puts_it_at_every_width() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for width in 0..=64u32 {
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let values: Vec<u64> = (0..DELTA_MINIBLOCK)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    state & mask
                })
                .collect();
            // Bit j of value i is bit i * width + j of the output, bytes least significant bit first.
            let mut expected = vec![0u8; 4 * width as usize];
            for (i, value) in values.iter().enumerate() {
                for j in 0..width as usize {
                    let at = i * width as usize + j;
                    expected[at / 8] |= (((value >> j) & 1) as u8) << (at % 8);
                }
            }
            let mut packed = Vec::new();
            bit_pack(&mut packed, values.iter().copied(), width);
            assert_eq!(packed, expected, "width {width}");
        }
    }

    #[test]
    fn present_rows_are_one_run_and_gaps_are_the_bitmap() {
        let mut out = Vec::new();
        definition_levels(&mut out, 10, None);
        assert_eq!(out, [2, 0, 0, 0, 20, 1]);
        let mut out = Vec::new();
        definition_levels(&mut out, 10, Some(&[0b10_1111_1101]));
        assert_eq!(out, [3, 0, 0, 0, 0b101, 0b1111_1101, 0b10]);
    }
}
