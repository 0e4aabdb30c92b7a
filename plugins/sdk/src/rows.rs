//! Small query results as JSON rows: what stages need for counts, checks and
//! summaries. Bulk data should stay in SQL (CTAS) or be read as Arrow.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use serde_json::{Map, Value};

/// Every row of `batch` as an object keyed by column name. Reads strings, integers,
/// floats (non-finite become null, as JSON has no NaN), booleans and dates
/// (`YYYY-MM-DD`); other types are an error naming the column: cast them in SQL.
pub fn to_json(batch: &RecordBatch) -> Result<Vec<Map<String, Value>>, String> {
    let schema = batch.schema();
    let mut rows = vec![Map::new(); batch.num_rows()];
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        for (i, row) in rows.iter_mut().enumerate() {
            let value =
                value_at(column, i).map_err(|t| format!("column '{}' has type {t}: cast it in SQL", field.name()))?;
            row.insert(field.name().clone(), value);
        }
    }
    Ok(rows)
}

fn value_at(column: &ArrayRef, i: usize) -> Result<Value, DataType> {
    if column.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match column.data_type() {
        DataType::Null => Value::Null,
        DataType::Utf8 => Value::from(column.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Value::from(column.as_string::<i64>().value(i)),
        DataType::Utf8View => Value::from(column.as_string_view().value(i)),
        DataType::Boolean => Value::from(column.as_boolean().value(i)),
        DataType::Int8 => Value::from(column.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => Value::from(column.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Value::from(column.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::from(column.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::from(column.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => Value::from(column.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => Value::from(column.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => Value::from(column.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => finite(column.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => finite(column.as_primitive::<Float64Type>().value(i)),
        DataType::Date32 => Value::from(civil_date(column.as_primitive::<Date32Type>().value(i))),
        other => return Err(other.clone()),
    })
}

fn finite(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (proleptic Gregorian; H. Hinnant's civil_from_days),
/// so guests need no date crate.
pub fn civil_date(days: i32) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::civil_date;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_415), "2025-11-23");
        assert_eq!(civil_date(-1), "1969-12-31");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }
}
