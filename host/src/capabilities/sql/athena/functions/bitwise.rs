//! Trino's bitwise functions: `bitwise_and`, `bitwise_or`, `bitwise_xor`, `bitwise_not` and
//! `bit_count(x, bits)` on bigints; `bitwise_left_shift`, `bitwise_right_shift` (logical) and
//! `bitwise_right_shift_arithmetic` keep the integer type of the value and shift within its width.
//! DataFusion alone: "Invalid function 'bitwise_and'" (it spells them as operators `&`, `|`, `^`).

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, integer, is_integer, null_of, want_integer};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("bitwise_and", two_bigints, |_| Ok(DataType::Int64), |args, _| binary(args, |a, b| Ok(a & b))),
        RowFunction::new("bitwise_or", two_bigints, |_| Ok(DataType::Int64), |args, _| binary(args, |a, b| Ok(a | b))),
        RowFunction::new("bitwise_xor", two_bigints, |_| Ok(DataType::Int64), |args, _| binary(args, |a, b| Ok(a ^ b))),
        RowFunction::new("bitwise_not", one_bigint, |_| Ok(DataType::Int64), |args, _| {
            Ok(ScalarValue::Int64(integer(&args[0])?.map(|v| !v)))
        }),
        RowFunction::new("bit_count", two_bigints, |_| Ok(DataType::Int64), |args, _| binary(args, bit_count)),
        RowFunction::new("bitwise_left_shift", coerce_shift, |args| Ok(args[0].clone()), |args, r| shift(args, r, Shift::Left)),
        RowFunction::new("bitwise_right_shift", coerce_shift, |args| Ok(args[0].clone()), |args, r| shift(args, r, Shift::Logical)),
        RowFunction::new("bitwise_right_shift_arithmetic", coerce_shift, |args| Ok(args[0].clone()), |args, r| {
            shift(args, r, Shift::Arithmetic)
        }),
    ]
}

fn one_bigint(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "one bigint argument")?;
    Ok(vec![want_integer(&args[0], "the argument")?])
}

fn two_bigints(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "two bigint arguments")?;
    args.iter().map(|t| want_integer(t, "every argument")).collect()
}

fn binary(args: &[ScalarValue], f: impl Fn(i64, i64) -> Result<i64, String>) -> Result<ScalarValue, String> {
    let (Some(a), Some(b)) = (integer(&args[0])?, integer(&args[1])?) else { return Ok(ScalarValue::Int64(None)) };
    Ok(ScalarValue::Int64(Some(f(a, b)?)))
}

/// The set bits of x as a `bits`-wide two's complement number, which x must fit.
fn bit_count(x: i64, bits: i64) -> Result<i64, String> {
    if bits == 64 {
        return Ok(x.count_ones() as i64);
    }
    if !(2..64).contains(&bits) {
        return Err(format!("Bits specified in bit_count must be between 2 and 64, got {bits}"));
    }
    let low = (1i64 << (bits - 1)) - 1;
    if x > low || x < !low {
        return Err(format!("Number must be representable with the bits specified. {x} can not be represented with {bits} bits"));
    }
    Ok((x & ((1i64 << bits) - 1)).count_ones() as i64)
}

fn coerce_shift(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "a shift of (value, shift)")?;
    let value = match &args[0] {
        t @ (DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64) => t.clone(),
        t if is_integer(t) => DataType::Int64,
        other => return Err(format!("the value must be an integer, got {other}")),
    };
    Ok(vec![value, want_integer(&args[1], "shift")?])
}

#[derive(Clone, Copy)]
enum Shift {
    Left,
    Logical,
    Arithmetic,
}

/// Shifts within the value's width: a shift of the width or more leaves 0 (-1 for a negative value
/// shifted arithmetically), as Trino's do.
fn shift(args: &[ScalarValue], returns: &DataType, direction: Shift) -> Result<ScalarValue, String> {
    let (Some(value), Some(by)) = (integer(&args[0])?, integer(&args[1])?) else { return null_of(returns) };
    let width = match returns {
        DataType::Int8 => 8,
        DataType::Int16 => 16,
        DataType::Int32 => 32,
        _ => 64,
    };
    let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
    let bits = value as u64 & mask;
    let shifted = if by >= width || by < 0 {
        match direction {
            Shift::Arithmetic if value < 0 => mask,
            _ => 0,
        }
    } else {
        match direction {
            Shift::Left => (bits << by) & mask,
            Shift::Logical => bits >> by,
            Shift::Arithmetic => (value >> by) as u64 & mask,
        }
    };
    // Back to a signed number of the value's width.
    let signed = ((shifted << (64 - width)) as i64) >> (64 - width);
    ScalarValue::Int64(Some(signed)).cast_to(returns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_stay_within_the_width() {
        let run = |v: ScalarValue, by, d| shift(&[v.clone(), ScalarValue::Int64(Some(by))], &v.data_type(), d).unwrap();
        assert_eq!(run(ScalarValue::Int64(Some(1)), 3, Shift::Left), ScalarValue::Int64(Some(8)));
        assert_eq!(run(ScalarValue::Int64(Some(-8)), 1, Shift::Logical), ScalarValue::Int64(Some(i64::MAX - 3)));
        assert_eq!(run(ScalarValue::Int64(Some(-8)), 1, Shift::Arithmetic), ScalarValue::Int64(Some(-4)));
        assert_eq!(run(ScalarValue::Int8(Some(-8)), 1, Shift::Logical), ScalarValue::Int8(Some(124)));
        assert_eq!(run(ScalarValue::Int32(Some(1)), 31, Shift::Left), ScalarValue::Int32(Some(i32::MIN)));
        assert_eq!(run(ScalarValue::Int64(Some(-1)), 64, Shift::Arithmetic), ScalarValue::Int64(Some(-1)));
        assert_eq!(bit_count(-7, 8), Ok(6));
        assert!(bit_count(128, 8).is_err());
    }
}
