//! Athena (Hive) type names and the Arrow types they read and write as.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};

/// Athena's timestamps carry milliseconds (`timestamp(3)`).
pub const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

/// The Arrow type of an Athena type name such as `bigint`, `array<string>`,
/// `map<string,double>`, `struct<a:int,b:string>` or `decimal(10,2)`.
pub fn arrow_type(athena: &str) -> Result<DataType, String> {
    let compact: String = athena.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    parse(&compact).map_err(|e| format!("unsupported column type '{athena}': {e}"))
}

fn parse(t: &str) -> Result<DataType, String> {
    if let Some(inner) = generic(t, "array") {
        return Ok(DataType::List(Arc::new(Field::new("item", parse(inner)?, true))));
    }
    if let Some(inner) = generic(t, "map") {
        let parts = split_top_level(inner, ',');
        let [key, value] = parts.as_slice() else { return Err(format!("map needs two types, got '{inner}'")) };
        let entries = Fields::from(vec![Field::new("key", parse(key)?, false), Field::new("value", parse(value)?, true)]);
        return Ok(DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false));
    }
    if let Some(inner) = generic(t, "struct") {
        let mut fields = Vec::new();
        for member in split_top_level(inner, ',') {
            let (name, member_type) =
                member.split_once(':').ok_or_else(|| format!("struct member '{member}' needs name:type"))?;
            fields.push(Field::new(name, parse(member_type)?, true));
        }
        return Ok(DataType::Struct(Fields::from(fields)));
    }
    let (base, args) = match t.split_once('(') {
        Some((base, rest)) => (base, rest.strip_suffix(')').ok_or("unbalanced parentheses")?),
        None => (t, ""),
    };
    Ok(match base {
        "string" | "varchar" | "char" => DataType::Utf8,
        "bigint" => DataType::Int64,
        "int" | "integer" => DataType::Int32,
        "smallint" => DataType::Int16,
        "tinyint" => DataType::Int8,
        "double" => DataType::Float64,
        "float" | "real" => DataType::Float32,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => TIMESTAMP,
        "binary" | "varbinary" => DataType::Binary,
        "decimal" => {
            let mut numbers = args.split(',').map(|n| n.parse::<i64>());
            let precision = numbers.next().and_then(|n| n.ok()).unwrap_or(10);
            let scale = numbers.next().and_then(|n| n.ok()).unwrap_or(0);
            if !(1..=38).contains(&precision) || scale < 0 || scale > precision {
                return Err(format!("decimal({args}) is out of range"));
            }
            DataType::Decimal128(precision as u8, scale as i8)
        }
        other => return Err(format!("unknown type '{other}'")),
    })
}

/// `name<inner>` → `inner`.
fn generic<'a>(t: &'a str, name: &str) -> Option<&'a str> {
    t.strip_prefix(name)?.strip_prefix('<')?.strip_suffix('>')
}

/// Splits on `sep` outside of `<>` and `()`.
fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The Athena type name a column of this Arrow type is catalogued as (CTAS, DESCRIBE).
pub fn athena_type(data_type: &DataType) -> Result<String, String> {
    Ok(match data_type {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string".into(),
        DataType::Int64 | DataType::UInt64 | DataType::UInt32 => "bigint".into(),
        DataType::Int32 | DataType::UInt16 => "int".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Float64 => "double".into(),
        DataType::Float32 | DataType::Float16 => "float".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Binary | DataType::BinaryView | DataType::LargeBinary => "binary".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", athena_type(f.data_type())?)
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", athena_type(kv[0].data_type())?, athena_type(kv[1].data_type())?)
            }
            other => return Err(format!("map entries of type {other}")),
        },
        DataType::Struct(fields) => {
            let members: Result<Vec<String>, String> =
                fields.iter().map(|f| Ok(format!("{}:{}", f.name(), athena_type(f.data_type())?))).collect();
            format!("struct<{}>", members?.join(","))
        }
        DataType::Null => return Err("a NULL literal has no type: CAST it, e.g. CAST(NULL AS varchar)".into()),
        other => return Err(format!("Arrow type {other} has no Athena counterpart")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_type_names_round_trip_through_arrow() {
        for name in ["string", "bigint", "int", "double", "boolean", "date", "timestamp", "decimal(10,2)",
            "array<string>", "map<string,double>", "struct<a:int,b:array<string>>"]
        {
            let arrow = arrow_type(name).unwrap();
            assert_eq!(athena_type(&arrow).unwrap(), name, "{name}");
        }
        assert_eq!(arrow_type("VARCHAR(20)").unwrap(), DataType::Utf8);
        assert!(arrow_type("geometry").unwrap_err().contains("geometry"));
    }
}
