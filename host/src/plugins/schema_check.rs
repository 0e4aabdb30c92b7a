//! Checks on the columns a transform returns that the Arrow schema alone can't
//! express: NaN or infinity where the manifest did not declare them.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type};

/// The manifest's name for an Arrow type (`float64`), or Arrow's own for others.
pub fn column_type_name(t: &DataType) -> String {
    match t {
        DataType::Float64 => "float64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Int64 => "int64".into(),
        DataType::Int32 => "int32".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Utf8 => "utf8".into(),
        other => other.to_string(),
    }
}

/// The Arrow type of a manifest column type.
pub fn arrow_type_of(name: &str) -> Option<DataType> {
    Some(match name {
        "float64" => DataType::Float64,
        "float32" => DataType::Float32,
        "int64" => DataType::Int64,
        "int32" => DataType::Int32,
        "boolean" => DataType::Boolean,
        "utf8" => DataType::Utf8,
        _ => return None,
    })
}

/// A float output column holding NaN or ±infinity where the manifest did not declare them:
/// the column, the first offending row and how many rows of the batch are affected.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    pub column: String,
    /// The first offending row: within the batch handed to the transform, until a caller that
    /// knows where the batch sits in its input moves it ([`NonFinite::locate`]).
    pub row: usize,
    pub value: f64,
    /// Offending rows in the batch.
    pub count: usize,
    /// The `user_id` of the first offending row, when the caller knows it.
    pub user_id: Option<String>,
    /// Does `row` count from the start of the input rather than of the batch?
    pub located: bool,
    /// `Some(type)` when the value is not NaN/infinity in a float column but a value an
    /// integer or boolean column declared `type` can't hold (a column expression's 1.5 for
    /// int64, 2 for boolean): refused rather than truncated.
    pub declared: Option<&'static str>,
    /// The component ran without a plugin.toml (loaded by name from the plugin folder), where
    /// `non_finite = true` can't be declared.
    pub without_manifest: bool,
}

impl NonFinite {
    /// The batch the plugin returned started at row `offset` of the input (a file, a table).
    pub fn locate(&mut self, offset: usize) {
        self.row += offset;
        self.located = true;
    }
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, row, value, count) = (&self.column, self.row, self.value, self.count);
        let plural = if count == 1 { "" } else { "s" };
        let user = self.user_id.as_ref().map(|u| format!("user_id {u}; ")).unwrap_or_default();
        let where_ = if self.located { format!("input row {row}") } else { format!("row {row} of the batch") };
        if let Some(declared) = self.declared {
            let found = if declared == "boolean" {
                format!("{value}, which is neither true (1) nor false (0),")
            } else if !value.is_finite() {
                value.to_string()
            } else if value.fract() != 0.0 {
                format!("a fractional value ({value})")
            } else {
                format!("{value}, outside the range of {declared},")
            };
            let advice = if declared == "boolean" {
                "a comparison gives true or false (col(\"x\") > 0); declare the column int64 for counts"
            } else {
                "the host does not round or cast it; declare the column float64 for fractions"
            };
            return write!(
                f,
                "output column '{name}': expected {declared} (declared), found {found} in {where_} ({user}{count} such row{plural} in the batch); \
                 {advice}"
            );
        }
        let advice = if self.without_manifest {
            "this component ran without its plugin.toml (loaded by name from the plugin folder, or a bare .wasm), where that is \
             declared: if it is intended, set non_finite = true for the column in plugin.toml, publish the plugin (engage plugin \
             publish) and name it with its version (name@x.y.z) in the pipeline, or test its folder (engage plugin test <folder>)"
        } else {
            "declare non_finite = true in plugin.toml if that is intended"
        };
        write!(f, "output column '{name}': expected finite numbers, found {value} in {where_} ({user}{count} such row{plural} in the batch); {advice}")
    }
}

/// `Err` naming the column, the first offending row and how many rows are affected
/// when a float column holds NaN or ±infinity in a non-null row.
pub fn check_finite(name: &str, column: &dyn Array) -> Result<(), NonFinite> {
    // Every output batch passes through here: one branch-free pass over the values
    // clears the usual case; only a column holding some non-finite value (maybe
    // under a null) gets the row-by-row pass below.
    let all_finite = match column.data_type() {
        DataType::Float64 => column.as_primitive::<Float64Type>().values().iter().fold(true, |ok, v| ok & v.is_finite()),
        DataType::Float32 => column.as_primitive::<Float32Type>().values().iter().fold(true, |ok, v| ok & v.is_finite()),
        _ => true,
    };
    if all_finite {
        return Ok(());
    }
    let bad: Box<dyn Iterator<Item = (usize, f64)>> = match column.data_type() {
        DataType::Float64 => Box::new(column.as_primitive::<Float64Type>().iter().enumerate().filter_map(|(i, v)| Some((i, v?)))),
        DataType::Float32 => {
            Box::new(column.as_primitive::<Float32Type>().iter().enumerate().filter_map(|(i, v)| Some((i, f64::from(v?)))))
        }
        _ => return Ok(()),
    };
    let mut bad = bad.filter(|(_, v)| !v.is_finite());
    let Some((row, value)) = bad.next() else { return Ok(()) };
    let count = 1 + bad.count();
    Err(NonFinite { column: name.to_string(), row, value, count, user_id: None, located: false, declared: None, without_manifest: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;

    #[test]
    fn nan_and_infinity_are_named_with_their_row() {
        let ok = Float64Array::from(vec![Some(1.0), None, Some(-2.0)]);
        assert!(check_finite("x", &ok).is_ok());
        let bad = Float64Array::from(vec![Some(1.0), Some(f64::NAN), None, Some(f64::INFINITY)]);
        let e = check_finite("ratio", &bad).unwrap_err().to_string();
        assert!(e.starts_with("output column 'ratio': expected finite numbers, found NaN in row 1 of the batch (2 such rows in the batch)"), "{e}");
    }

    #[test]
    fn a_located_row_counts_from_the_input_and_names_the_user() {
        let bad = Float64Array::from(vec![Some(1.0), Some(f64::NAN)]);
        let mut e = check_finite("ratio", &bad).unwrap_err();
        e.user_id = Some("u1501".into());
        e.locate(1500);
        let shown = e.to_string();
        assert!(shown.contains("found NaN in input row 1501 (user_id u1501; 1 such row in the batch)"), "{shown}");
    }

    #[test]
    fn a_nan_under_a_null_is_not_a_value() {
        let values = vec![1.0, f64::NAN, 3.0].into();
        let hidden = Float64Array::new(values, Some(arrow::buffer::NullBuffer::from(vec![true, false, true])));
        assert!(check_finite("x", &hidden).is_ok());
    }
}
