//! `element_at` as Trino has it: 1-based array subscripts (negative from the
//! end, NULL past either end) and map lookups that return the value itself.
//! DataFusion's `element_at` is map-only and returns a list.
//!
//! `array_min`/`array_max` are NULL when an element is (DataFusion skips NULLs),
//! and `contains(array, x)` is NULL when x is not found but a NULL element is
//! (DataFusion's `array_has` says false). `concat` concatenates arrays when its
//! arguments are arrays, as Trino's does (an array and one element: appends or prepends
//! it), and so do `reverse` and `concat_ws(sep, array)`
//! ([`StringsOrArrays`]); DataFusion's stringify them. `arrays_overlap` is NULL when no
//! element is shared but one is NULL.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use super::{RowFunction, arity, null_of};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("element_at", coerce_element_at, returns_element, element_at),
        RowFunction::new("array_min", coerce_array, returns_element, |args, returns| extreme(args, returns, Ordering::Less)),
        RowFunction::new("array_max", coerce_array, returns_element, |args, returns| extreme(args, returns, Ordering::Greater)),
        RowFunction::new("contains", coerce_array_and_element, |_| Ok(DataType::Boolean), contains),
        RowFunction::new("arrays_overlap", coerce_two_arrays, |_| Ok(DataType::Boolean), arrays_overlap),
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

fn coerce_two_arrays(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "arrays_overlap(array, array)")?;
    let coerced = coerce_for(&datafusion::functions_nested::array_has::array_has_any_udf(), args).map_err(|e| e.to_string())?;
    match coerced.iter().all(|t| element_field(t).is_some() || t.is_null()) {
        true => Ok(coerced),
        false => Err(format!("both arguments must be arrays, got {} and {}", args[0], args[1])),
    }
}

/// Trino: true if the arrays share a non-NULL element; NULL if not but either holds a NULL; else false.
fn arrays_overlap(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(left), Some(right)) = (elements(&args[0])?, elements(&args[1])?) else { return Ok(ScalarValue::Boolean(None)) };
    let saw_null = left.iter().chain(&right).any(ScalarValue::is_null);
    let shared = left.iter().filter(|v| !v.is_null()).any(|v| right.contains(v));
    Ok(ScalarValue::Boolean(if shared { Some(true) } else if saw_null { None } else { Some(false) }))
}

/// The types `function` takes `types` as, by its own coercion or its signature.
fn coerce_for(function: &ScalarUDF, types: &[DataType]) -> DfResult<Vec<DataType>> {
    let fields: Vec<FieldRef> = types.iter().map(|t| Arc::new(arrow::datatypes::Field::new("arg", t.clone(), true))).collect();
    Ok(datafusion::logical_expr::type_coercion::functions::fields_with_udf(&fields, function)?.iter().map(|f| f.data_type().clone()).collect())
}

/// One Trino name over two DataFusion functions, picked by whether an argument is an array:
/// `concat` of strings or of arrays, `reverse` of a string or an array, and `concat_ws(sep, array)`
/// (DataFusion's string functions would stringify the array: `]3 ,2 ,1[`).
pub struct StringsOrArrays {
    name: &'static str,
    signature: Signature,
    strings: Arc<ScalarUDF>,
    arrays: Arc<ScalarUDF>,
    /// The arrays function wants the Trino arguments in the opposite order (`concat_ws`).
    swapped: bool,
    /// For concat: an array and one element, `concat(a, e)` and `concat(e, a)` (array_append, array_prepend).
    with_element: Option<(Arc<ScalarUDF>, Arc<ScalarUDF>)>,
}

impl StringsOrArrays {
    fn new(name: &'static str, strings: Arc<ScalarUDF>, arrays: Arc<ScalarUDF>, swapped: bool) -> Self {
        Self { name, signature: Signature::user_defined(Volatility::Immutable), strings, arrays, swapped, with_element: None }
    }

    pub fn all() -> Vec<Self> {
        use datafusion::functions_nested as nested;
        vec![
            Self {
                with_element: Some((nested::concat::array_append_udf(), nested::concat::array_prepend_udf())),
                ..Self::new("concat", datafusion::functions::string::concat(), nested::concat::array_concat_udf(), false)
            },
            Self::new("reverse", datafusion::functions::unicode::reverse(), nested::reverse::array_reverse_udf(), false),
            // Trino's concat_ws(sep, array) joins the elements and skips NULLs, as array_to_string(array, sep) does.
            Self::new("concat_ws", datafusion::functions::string::concat_ws(), nested::string::array_to_string_udf(), true),
        ]
    }

    fn on_arrays(types: &[DataType]) -> bool {
        types.iter().any(|t| element_field(t).is_some())
    }

    /// The function for an array and one element (Trino's `concat(array(E), E)` and `concat(E, array(E))`), if that is the call.
    fn element_function(&self, types: &[DataType]) -> Option<&Arc<ScalarUDF>> {
        let (append, prepend) = self.with_element.as_ref()?;
        match types {
            [array, element] if element_field(array).is_some() && element_field(element).is_none() && !element.is_null() => Some(append),
            [element, array] if element_field(array).is_some() && element_field(element).is_none() && !element.is_null() => Some(prepend),
            _ => None,
        }
    }

    /// The arguments in the order the arrays function takes them.
    fn order<T>(&self, mut args: Vec<T>) -> Vec<T> {
        if self.swapped {
            args.reverse();
        }
        args
    }
}

impl fmt::Debug for StringsOrArrays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StringsOrArrays({})", self.name)
    }
}
impl PartialEq for StringsOrArrays {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for StringsOrArrays {}
impl Hash for StringsOrArrays {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for StringsOrArrays {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if !Self::on_arrays(arg_types) {
            return coerce_for(&self.strings, arg_types);
        }
        if let Some(function) = self.element_function(arg_types) {
            return coerce_for(function, arg_types);
        }
        // A NULL among arrays is a NULL array (for concat, the rewrite makes the result NULL).
        let array = arg_types.iter().find(|t| element_field(t).is_some()).expect("an array argument");
        let typed: Vec<DataType> = arg_types.iter().map(|t| if t.is_null() && !self.swapped { array.clone() } else { t.clone() }).collect();
        Ok(self.order(coerce_for(&self.arrays, &self.order(typed))?))
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        if let Some(function) = self.element_function(arg_types) {
            return function.inner().return_type(arg_types);
        }
        if Self::on_arrays(arg_types) {
            self.arrays.inner().return_type(&self.order(arg_types.to_vec()))
        } else {
            self.strings.inner().return_type(arg_types)
        }
    }
    /// array_append and array_prepend answer only through this.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        if let Some(function) = self.element_function(&types) {
            return function.inner().return_field_from_args(args);
        }
        Ok(Arc::new(Field::new(self.name, self.return_type(&types)?, true)))
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        if !Self::on_arrays(&types) {
            return self.strings.inner().invoke_with_args(args);
        }
        if let Some(function) = self.element_function(&types) {
            return function.inner().invoke_with_args(args);
        }
        args.args = self.order(args.args);
        args.arg_fields = self.order(args.arg_fields);
        self.arrays.inner().invoke_with_args(args)
    }
}

pub(super) fn coerce_element_at(args: &[DataType]) -> Result<Vec<DataType>, String> {
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

pub(super) fn returns_element(args: &[DataType]) -> Result<DataType, String> {
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
        ScalarValue::Map(map) if !map.is_null(0) && !args[1].is_null() => map_value(map, &args[1])?.map_or_else(|| null_of(returns), Ok),
        _ => null_of(returns),
    }
}

/// The value of `key` in a one-row map scalar, `None` when the map lacks it.
pub(super) fn map_value(map: &arrow::array::MapArray, key: &ScalarValue) -> Result<Option<ScalarValue>, String> {
    let at = |array: &dyn Array, i: usize| ScalarValue::try_from_array(array, i).map_err(|e| e.to_string());
    let entries = map.value(0);
    for i in 0..entries.len() {
        if at(entries.column(0), i)? == *key {
            return at(entries.column(1), i).map(Some);
        }
    }
    Ok(None)
}
