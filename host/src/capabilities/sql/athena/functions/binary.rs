//! Varbinary functions for hash-based splits. Athena's `xxhash64` takes and
//! returns varbinary: the 8 bytes of XXH64 (seed 0) in big-endian order, so
//! `from_big_endian_64(xxhash64(to_utf8(user_id)))` is the signed 64-bit hash
//! and `to_hex(xxhash64(...))` its canonical hex spelling, as in Athena.
//! `md5`, `sha1`, `sha256` and `sha512` likewise take and return varbinary
//! (DataFusion's md5 takes a string and returns hex text), and `length` of a
//! varbinary counts bytes ([`Length`]).

use std::fmt;
use std::hash::Hasher;
use std::sync::Arc;

use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use md5::Digest as _;
use sha2::Digest as _;
use twox_hash::XxHash64;

use super::{RowFunction, arity, integer, text, want_integer, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("xxhash64", coerce_binary, |_| Ok(DataType::Binary), xxhash64),
        RowFunction::new("to_utf8", coerce_string, |_| Ok(DataType::Binary), to_utf8),
        RowFunction::new("from_utf8", coerce_binary, |_| Ok(DataType::Utf8), from_utf8),
        RowFunction::new("from_big_endian_64", coerce_binary, |_| Ok(DataType::Int64), from_big_endian_64),
        RowFunction::new("to_big_endian_64", coerce_integer, |_| Ok(DataType::Binary), to_big_endian_64),
        RowFunction::new("to_hex", coerce_binary, |_| Ok(DataType::Utf8), to_hex),
        RowFunction::new("md5", coerce_binary, |_| Ok(DataType::Binary), |a, _| hash(a, |b| md5::Md5::digest(b).to_vec())),
        RowFunction::new("sha1", coerce_binary, |_| Ok(DataType::Binary), |a, _| hash(a, |b| sha1::Sha1::digest(b).to_vec())),
        RowFunction::new("sha256", coerce_binary, |_| Ok(DataType::Binary), |a, _| hash(a, |b| sha2::Sha256::digest(b).to_vec())),
        RowFunction::new("sha512", coerce_binary, |_| Ok(DataType::Binary), |a, _| hash(a, |b| sha2::Sha512::digest(b).to_vec())),
    ]
}

fn hash(args: &[ScalarValue], digest: fn(&[u8]) -> Vec<u8>) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Binary(bytes(&args[0]).map(digest)))
}

/// `length` that counts the bytes of a varbinary and the characters of anything else.
pub struct Length {
    signature: Signature,
    characters: Arc<ScalarUDF>,
}

impl Length {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable), characters: datafusion::functions::unicode::character_length() }
    }
}

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

impl fmt::Debug for Length {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Length")
    }
}
impl PartialEq for Length {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Length {}
impl std::hash::Hash for Length {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "length".hash(state)
    }
}

impl ScalarUDFImpl for Length {
    fn name(&self) -> &str {
        "length"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if let [t] = arg_types
            && is_binary(t)
        {
            return Ok(vec![DataType::Binary]);
        }
        let fields: Vec<FieldRef> = arg_types.iter().map(|t| Arc::new(Field::new("x", t.clone(), true))).collect();
        Ok(fields_with_udf(&fields, self.characters.as_ref())?.iter().map(|f| f.data_type().clone()).collect())
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        if arg_types.iter().any(is_binary) { Ok(DataType::Int64) } else { self.characters.inner().return_type(arg_types) }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if !args.arg_fields.iter().any(|f| is_binary(f.data_type())) {
            return self.characters.inner().invoke_with_args(args);
        }
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(s) => ColumnarValue::Scalar(ScalarValue::Int64(bytes(s).map(|b| b.len() as i64))),
            ColumnarValue::Array(a) => ColumnarValue::Array(cast(&arrow::compute::kernels::length::length(a)?, &DataType::Int64)?),
        })
    }
}

fn coerce_binary(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "one varbinary argument")?;
    match &args[0] {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) | DataType::Null => {
            Ok(vec![DataType::Binary])
        }
        t if super::is_string(t) => Err("takes varbinary, not varchar: convert with to_utf8(x)".into()),
        other => Err(format!("takes varbinary, got {other}")),
    }
}

fn coerce_string(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "one varchar argument")?;
    Ok(vec![want_string(&args[0], "the argument")?])
}

fn coerce_integer(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "one bigint argument")?;
    Ok(vec![want_integer(&args[0], "the argument")?])
}

fn bytes(value: &ScalarValue) -> Option<&[u8]> {
    match value {
        ScalarValue::Binary(b) => b.as_deref(),
        _ => None,
    }
}

pub fn xxhash64_bytes(data: &[u8]) -> [u8; 8] {
    let mut hasher = XxHash64::with_seed(0);
    hasher.write(data);
    hasher.finish().to_be_bytes()
}

fn xxhash64(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Binary(bytes(&args[0]).map(|b| xxhash64_bytes(b).to_vec())))
}

fn to_utf8(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Binary(text(&args[0])?.map(|s| s.as_bytes().to_vec())))
}

fn from_utf8(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(bytes(&args[0]).map(|b| String::from_utf8_lossy(b).into_owned())))
}

fn from_big_endian_64(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(b) = bytes(&args[0]) else { return Ok(ScalarValue::Int64(None)) };
    let eight: [u8; 8] = b.try_into().map_err(|_| format!("expected 8 bytes, got {}", b.len()))?;
    Ok(ScalarValue::Int64(Some(i64::from_be_bytes(eight))))
}

fn to_big_endian_64(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Binary(integer(&args[0])?.map(|v| v.to_be_bytes().to_vec())))
}

fn to_hex(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(bytes(&args[0]).map(|b| b.iter().map(|x| format!("{x:02X}")).collect())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn xxhash64_matches_the_reference_vectors() {
        // XXH64 of "" with seed 0 is EF46DB3751D8E999 (xxHash's published test vector).
        assert_eq!(super::xxhash64_bytes(b""), 0xEF46DB3751D8E999u64.to_be_bytes());
        assert_eq!(super::xxhash64_bytes(b"a"), 0xD24EC4F1A98C6E5Bu64.to_be_bytes());
    }
}
