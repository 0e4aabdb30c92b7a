//! `element_at` as Trino has it: 1-based array subscripts (negative from the
//! end, NULL past either end) and map lookups that return the value itself.
//! DataFusion's `element_at` is map-only and returns a list.
//!
//! `array_min`/`array_max` are NULL when an element is (DataFusion skips NULLs),
//! and `contains(array, x)` is NULL when x is not found but a NULL element is
//! (DataFusion's `array_has` says false). `concat` concatenates arrays when its
//! arguments are arrays ([`Concat`]), as Trino's does; DataFusion's stringifies them.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use super::{RowFunction, arity, null_of};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("element_at", coerce_element_at, returns_element, element_at),
        RowFunction::new("array_min", coerce_array, returns_element, |args, returns| extreme(args, returns, Ordering::Less)),
        RowFunction::new("array_max", coerce_array, returns_element, |args, returns| extreme(args, returns, Ordering::Greater)),
        RowFunction::new("contains", coerce_array_and_element, |_| Ok(DataType::Boolean), contains),
    ]
}

fn element_field(t: &DataType) -> Option<&FieldRef> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f),
        _ => None,
    }
}

fn coerce_array(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "one array argument")?;
    match element_field(&args[0]) {
        Some(f) => Ok(vec![DataType::List(f.clone())]),
        None => Err(format!("the argument must be an array, got {}", args[0])),
    }
}

fn coerce_array_and_element(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "contains(array, element)")?;
    match element_field(&args[0]) {
        Some(f) => Ok(vec![DataType::List(f.clone()), f.data_type().clone()]),
        None => Err(format!("the first argument must be an array, got {}", args[0])),
    }
}

/// The elements of a non-NULL array scalar.
fn elements(value: &ScalarValue) -> Result<Option<Vec<ScalarValue>>, String> {
    let ScalarValue::List(list) = value else { return Ok(None) };
    if list.is_null(0) {
        return Ok(None);
    }
    let values = list.value(0);
    (0..values.len()).map(|i| ScalarValue::try_from_array(&values, i).map_err(|e| e.to_string())).collect::<Result<_, _>>().map(Some)
}

/// The least (`Less`) or greatest (`Greater`) element; NULL for an empty array or one with a NULL element.
fn extreme(args: &[ScalarValue], returns: &DataType, wanted: Ordering) -> Result<ScalarValue, String> {
    let Some(items) = elements(&args[0])? else { return null_of(returns) };
    let mut best: Option<ScalarValue> = None;
    for item in items {
        if item.is_null() {
            return null_of(returns);
        }
        if best.as_ref().is_none_or(|b| item.partial_cmp(b) == Some(wanted)) {
            best = Some(item);
        }
    }
    best.map_or_else(|| null_of(returns), Ok)
}

/// True if found; NULL if not found but an element (or the array, or x) is NULL; else false.
fn contains(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(items) = elements(&args[0])? else { return Ok(ScalarValue::Boolean(None)) };
    if args[1].is_null() {
        return Ok(ScalarValue::Boolean(None));
    }
    let mut saw_null = false;
    for item in items {
        if item == args[1] {
            return Ok(ScalarValue::Boolean(Some(true)));
        }
        saw_null |= item.is_null();
    }
    Ok(ScalarValue::Boolean(if saw_null { None } else { Some(false) }))
}

/// `concat` that concatenates arrays when its arguments are arrays and strings otherwise.
pub struct Concat {
    signature: Signature,
    strings: Arc<ScalarUDF>,
    arrays: Arc<ScalarUDF>,
}

impl Concat {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            strings: datafusion::functions::string::concat(),
            arrays: datafusion::functions_nested::concat::array_concat_udf(),
        }
    }

    fn inner(&self, types: impl IntoIterator<Item = DataType>) -> &Arc<ScalarUDF> {
        let mut types = types.into_iter();
        if types.any(|t| element_field(&t).is_some()) { &self.arrays } else { &self.strings }
    }
}

impl fmt::Debug for Concat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Concat")
    }
}
impl PartialEq for Concat {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Concat {}
impl Hash for Concat {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "concat".hash(state)
    }
}

impl ScalarUDFImpl for Concat {
    fn name(&self) -> &str {
        "concat"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        // A NULL among arrays is a NULL array (the rewrite makes the result NULL).
        if let Some(array) = arg_types.iter().find(|t| element_field(t).is_some()) {
            let typed: Vec<DataType> = arg_types.iter().map(|t| if t.is_null() { array.clone() } else { t.clone() }).collect();
            return self.arrays.inner().coerce_types(&typed);
        }
        self.strings.inner().coerce_types(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner(arg_types.iter().cloned()).inner().return_type(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let inner = self.inner(args.arg_fields.iter().map(|f| f.data_type().clone()));
        inner.inner().invoke_with_args(args)
    }
}

fn coerce_element_at(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "element_at(array, index) or element_at(map, key)")?;
    match &args[0] {
        DataType::List(_) => Ok(vec![args[0].clone(), DataType::Int64]),
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Ok(vec![DataType::List(f.clone()), DataType::Int64]),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) => Ok(vec![args[0].clone(), kv[0].data_type().clone()]),
            other => Err(format!("unexpected map entries {other}")),
        },
        other => Err(format!("the first argument must be an array or a map, got {other}")),
    }
}

fn returns_element(args: &[DataType]) -> Result<DataType, String> {
    match &args[0] {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Ok(f.data_type().clone()),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) => Ok(kv[1].data_type().clone()),
            other => Err(format!("unexpected map entries {other}")),
        },
        other => Err(format!("the first argument must be an array or a map, got {other}")),
    }
}

fn element_at(args: &[ScalarValue], returns: &DataType) -> Result<ScalarValue, String> {
    let at = |array: &dyn Array, i: usize| ScalarValue::try_from_array(array, i).map_err(|e| e.to_string());
    match &args[0] {
        ScalarValue::List(list) if !list.is_null(0) => {
            let ScalarValue::Int64(Some(index)) = args[1] else { return null_of(returns) };
            let values = list.value(0);
            let len = values.len() as i64;
            let position = match index {
                0 => return Err("SQL array indices start at 1".into()),
                i if i > 0 => i - 1,
                i => len + i,
            };
            if position < 0 || position >= len { null_of(returns) } else { at(&values, position as usize) }
        }
        ScalarValue::Map(map) if !map.is_null(0) => {
            if args[1].is_null() {
                return null_of(returns);
            }
            let entries = map.value(0);
            for i in 0..entries.len() {
                if at(entries.column(0), i)? == args[1] {
                    return at(entries.column(1), i);
                }
            }
            null_of(returns)
        }
        _ => null_of(returns),
    }
}
