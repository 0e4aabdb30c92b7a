//! `format_datetime(ts, pattern)` and `parse_datetime(text, pattern)` with the Joda-Time
//! patterns Trino uses (`yyyy-MM-dd HH:mm:ss.SSS`, `'quoted'` literals), and `year_of_week`.
//! DataFusion has none of them (its `to_char` takes chrono's `%Y-%m-%d`). A letter outside
//! those handled here fails, naming it, rather than printing something Joda would not.

use arrow::array::timezone::Tz;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::OffsetName;
use datafusion::common::ScalarValue;

use super::dates::{from_local, to_local, zone_of};
use super::{RowFunction, arity, text, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("format_datetime", coerce_format, |_| Ok(DataType::Utf8), format_datetime),
        RowFunction::new("parse_datetime", coerce_parse, |_| Ok(utc_millis()), parse_datetime),
        RowFunction::new("year_of_week", coerce_year_of_week, |_| Ok(DataType::Int64), year_of_week),
        RowFunction::new("yow", coerce_year_of_week, |_| Ok(DataType::Int64), year_of_week),
    ]
}

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// A date or any timestamp as a millisecond timestamp, keeping its zone.
fn timestamp_type(t: &DataType) -> Result<DataType, String> {
    match t {
        DataType::Date32 | DataType::Date64 | DataType::Null => Ok(DataType::Timestamp(TimeUnit::Millisecond, None)),
        DataType::Timestamp(_, tz) => Ok(DataType::Timestamp(TimeUnit::Millisecond, tz.clone())),
        other => Err(format!("the first argument must be a date or timestamp, got {other}")),
    }
}

fn coerce_format(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "format_datetime(timestamp, pattern)")?;
    Ok(vec![timestamp_type(&args[0])?, want_string(&args[1], "pattern")?])
}

fn coerce_parse(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "parse_datetime(string, pattern)")?;
    Ok(vec![want_string(&args[0], "string")?, want_string(&args[1], "pattern")?])
}

fn coerce_year_of_week(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "year_of_week(date_or_timestamp)")?;
    Ok(vec![timestamp_type(&args[0])?])
}

/// One piece of a Joda pattern: a letter repeated `count` times, or literal text.
#[derive(Debug, PartialEq)]
enum Piece {
    Field(char, usize),
    Literal(String),
}

/// The pieces of a Joda pattern: letters are fields, `'...'` quotes text (`''` is a quote), anything else is literal.
fn pieces(pattern: &str) -> Result<Vec<Piece>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut literal = String::new();
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (None, _) => return Err(format!("unterminated quote in pattern '{pattern}'")),
                    (Some('\''), Some('\'')) => {
                        literal.push('\'');
                        i += 2;
                    }
                    (Some('\''), _) => {
                        i += 1;
                        break;
                    }
                    (Some(c), _) => {
                        literal.push(*c);
                        i += 1;
                    }
                }
            }
            // `''` outside quotes is a quote.
            out.push(Piece::Literal(if literal.is_empty() { "'".into() } else { literal }));
        } else if c.is_ascii_alphabetic() {
            let count = chars[i..].iter().take_while(|&&x| x == c).count();
            if !"yYxMdDHhkKmsSaEezZw".contains(c) {
                return Err(format!(
                    "pattern letter '{c}' is not supported locally (in '{pattern}'): use y M d D H h k K m s S a E e w x z Z"
                ));
            }
            out.push(Piece::Field(c, count));
            i += count;
        } else {
            out.push(Piece::Literal(c.to_string()));
            i += 1;
        }
    }
    Ok(out)
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// A number padded with zeros to `width` digits, as Joda prints it.
fn padded(value: i64, width: usize) -> String {
    if value < 0 { format!("-{:0width$}", -value) } else { format!("{value:0width$}") }
}

/// The offset text Joda prints: `+0530` (`Z`) or `+05:30` (`ZZ`).
fn offset_text(seconds: i32, colon: bool) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let (hours, minutes) = (seconds.abs() / 3600, seconds.abs() / 60 % 60);
    if colon { format!("{sign}{hours:02}:{minutes:02}") } else { format!("{sign}{hours:02}{minutes:02}") }
}

/// `local` (the wall time in `zone`, named `zone_name`) written with the Joda pattern.
fn format_with(pieces: &[Piece], local: NaiveDateTime, zone: &Tz, zone_name: &str) -> Result<String, String> {
    let mut out = String::new();
    let offset = zone.offset_from_local_datetime(&local).earliest().map(|o| o.fix().local_minus_utc()).unwrap_or(0);
    for piece in pieces {
        let (letter, count) = match piece {
            Piece::Literal(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Field(letter, count) => (*letter, *count),
        };
        let number = |value: i64| padded(value, count);
        let text = match letter {
            'y' | 'Y' if count == 2 => padded((local.year() as i64).rem_euclid(100), 2),
            'y' | 'Y' => number(local.year() as i64),
            'x' if count == 2 => padded((local.iso_week().year() as i64).rem_euclid(100), 2),
            'x' => number(local.iso_week().year() as i64),
            'M' if count >= 4 => MONTHS[local.month0() as usize].to_string(),
            'M' if count == 3 => MONTHS[local.month0() as usize][..3].to_string(),
            'M' => number(local.month() as i64),
            'd' => number(local.day() as i64),
            'D' => number(local.ordinal() as i64),
            'w' => number(local.iso_week().week() as i64),
            'e' => number(local.weekday().number_from_monday() as i64),
            'E' if count >= 4 => WEEKDAYS[local.weekday().num_days_from_monday() as usize].to_string(),
            'E' => WEEKDAYS[local.weekday().num_days_from_monday() as usize][..3].to_string(),
            'H' => number(local.hour() as i64),
            'k' => number(if local.hour() == 0 { 24 } else { local.hour() as i64 }),
            'K' => number((local.hour() % 12) as i64),
            'h' => number(match local.hour() % 12 {
                0 => 12,
                h => h as i64,
            }),
            'm' => number(local.minute() as i64),
            's' => number(local.second() as i64),
            // Fraction digits: the milliseconds, cut or padded with zeros to the count.
            'S' => {
                let millis = format!("{:03}", local.nanosecond() / 1_000_000 % 1000);
                if count <= 3 { millis[..count].to_string() } else { format!("{millis:0<count$}") }
            }
            'a' => (if local.hour() < 12 { "AM" } else { "PM" }).to_string(),
            'z' if count >= 4 => return Err("pattern 'zzzz' (the zone's long name) is not supported locally: use ZZZ for its id".into()),
            'z' if zone_name == "UTC" => "UTC".to_string(),
            // The zone's abbreviation (EST); an offset zone is its offset.
            'z' => match zone_name.parse::<chrono_tz::Tz>() {
                Ok(region) => region
                    .from_local_datetime(&local)
                    .earliest()
                    .and_then(|t| t.offset().abbreviation().map(str::to_string))
                    .unwrap_or_else(|| offset_text(offset, true)),
                Err(_) => offset_text(offset, true),
            },
            'Z' if count >= 3 => zone_name.to_string(),
            'Z' => offset_text(offset, count == 2),
            other => return Err(format!("pattern letter '{other}' is not supported locally")),
        };
        out.push_str(&text);
    }
    Ok(out)
}

fn format_datetime(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (ScalarValue::TimestampMillisecond(Some(ms), _), Some(pattern)) = (&args[0], text(&args[1])?) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let utc = DateTime::from_timestamp_millis(*ms).ok_or("timestamp out of range")?.naive_utc();
    // A plain timestamp is in UTC, Athena's session zone; a zoned one is written at its local time.
    let (zone, name) = match (zone_of(&args[0])?, &args[0]) {
        (Some(zone), ScalarValue::TimestampMillisecond(_, Some(name))) => (zone, name.to_string()),
        _ => ("UTC".parse::<Tz>().expect("UTC is a zone"), "UTC".to_string()),
    };
    Ok(ScalarValue::Utf8(Some(format_with(&pieces(pattern)?, to_local(utc, &zone), &zone, &name)?)))
}

/// The fields read from a text, Joda's defaults (1970-01-01 00:00) where the pattern has none.
#[derive(Default)]
struct Fields {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    hour: Option<i64>,
    hour12: Option<i64>,
    pm: Option<bool>,
    minute: i64,
    second: i64,
    nanos: i64,
    offset: Option<i32>,
    zone: Option<String>,
}

/// Reads a number of at most `width` digits (after a sign when `signed`) from the start of `rest`.
fn take_number(rest: &mut &str, width: usize, signed: bool) -> Option<i64> {
    let negative = signed && rest.starts_with('-');
    let body = if negative || (signed && rest.starts_with('+')) { &rest[1..] } else { *rest };
    let take = body.bytes().take_while(u8::is_ascii_digit).count().min(width);
    if take == 0 {
        return None;
    }
    let value: i64 = body[..take].parse().ok()?;
    *rest = &body[take..];
    Some(if negative { -value } else { value })
}

/// Reads `text` with the pattern; the error says where it stopped, as Joda's does.
fn parse_with(pieces: &[Piece], text: &str) -> Result<Fields, String> {
    let malformed = |rest: &str| {
        if rest.is_empty() {
            format!("Invalid format: \"{text}\" is too short")
        } else {
            format!("Invalid format: \"{text}\" is malformed at \"{rest}\"")
        }
    };
    let mut fields = Fields::default();
    let mut rest = text;
    for (i, piece) in pieces.iter().enumerate() {
        let (letter, count) = match piece {
            Piece::Literal(literal) => {
                rest = rest.strip_prefix(literal.as_str()).ok_or_else(|| malformed(rest))?;
                continue;
            }
            Piece::Field(letter, count) => (*letter, *count),
        };
        // A number followed directly by another number field takes exactly `count` digits (`yyyyMMdd`).
        let next_is_number = matches!(pieces.get(i + 1), Some(Piece::Field(c, n)) if !(*c == 'M' && *n >= 3) && !"aEzZ".contains(*c));
        let width = if next_is_number { count.max(1) } else { 9 };
        let number = |rest: &mut &str, signed: bool| take_number(rest, width, signed).ok_or_else(|| malformed(rest));
        let named = |rest: &mut &str, names: &[&str]| -> Result<usize, String> {
            // The full name or its first three letters, any case.
            for (index, name) in names.iter().enumerate() {
                for candidate in [*name, &name[..name.len().min(3)]] {
                    if rest.len() >= candidate.len() && rest[..candidate.len()].eq_ignore_ascii_case(candidate) {
                        *rest = &rest[candidate.len()..];
                        return Ok(index);
                    }
                }
            }
            Err(malformed(rest))
        };
        match letter {
            'y' | 'Y' if count == 2 => {
                let start = rest;
                let value = number(&mut rest, true)?;
                let digits = start.len() - rest.len();
                // Two digits are a year within 50 years of 30 years ago (Joda's pivot); more digits are the year.
                fields.year = Some(if digits == 2 {
                    let low = chrono::Utc::now().year() as i64 - 30 - 50;
                    low + (value - low).rem_euclid(100)
                } else {
                    value
                });
            }
            'y' | 'Y' => fields.year = Some(number(&mut rest, true)?),
            'M' if count >= 3 => fields.month = Some(named(&mut rest, &MONTHS)? as i64 + 1),
            'M' => fields.month = Some(number(&mut rest, false)?),
            'd' => fields.day = Some(number(&mut rest, false)?),
            'D' => fields.day_of_year = Some(number(&mut rest, false)?),
            'H' => fields.hour = Some(number(&mut rest, false)?),
            'k' => fields.hour = Some(number(&mut rest, false)? % 24),
            'h' | 'K' => fields.hour12 = Some(number(&mut rest, false)? % 12),
            'm' => fields.minute = number(&mut rest, false)?,
            's' => fields.second = number(&mut rest, false)?,
            'S' => {
                let start = rest;
                let value = number(&mut rest, false)?;
                let digits = (start.len() - rest.len()) as u32;
                fields.nanos = value * 10_i64.pow(9 - digits.min(9));
            }
            'a' => fields.pm = Some(named(&mut rest, &["AM", "PM"])? == 1),
            // The day of the week is read and checked against nothing, as it adds nothing to a full date.
            'E' => {
                named(&mut rest, &WEEKDAYS)?;
            }
            // Joda would build the date from the week-based fields; reading them is not done here.
            'x' | 'w' | 'e' => {
                return Err(format!("parsing the week-based pattern letter '{letter}' is not supported locally: use y, M and d"));
            }
            'Z' if count >= 3 => {
                let length = rest.find(|c: char| !(c.is_ascii_alphanumeric() || "/_+-".contains(c))).unwrap_or(rest.len());
                let zone = super::zones::zone_name(&rest[..length]).map_err(|_| malformed(rest))?;
                fields.zone = Some(zone);
                rest = &rest[length..];
            }
            'Z' => {
                if let Some(after) = rest.strip_prefix('Z') {
                    fields.offset = Some(0);
                    rest = after;
                    continue;
                }
                let sign = match rest.chars().next() {
                    Some('+') => 1,
                    Some('-') => -1,
                    _ => return Err(malformed(rest)),
                };
                let body = &rest[1..];
                let digits = |s: &str| s.len() >= 2 && s.as_bytes()[..2].iter().all(u8::is_ascii_digit);
                if !digits(body) {
                    return Err(malformed(rest));
                }
                let hours: i32 = body[..2].parse().map_err(|_| malformed(rest))?;
                let after_hours = &body[2..];
                let after_colon = after_hours.strip_prefix(':').unwrap_or(after_hours);
                let (minutes, after) =
                    if digits(after_colon) { (after_colon[..2].parse().unwrap_or(0), &after_colon[2..]) } else { (0, after_hours) };
                fields.offset = Some(sign * (hours * 3600 + minutes * 60));
                rest = after;
            }
            'z' => return Err("parsing a time zone name (pattern letter 'z') is not supported, as in Joda: use Z or ZZZ".into()),
            other => return Err(format!("pattern letter '{other}' is not supported locally")),
        }
    }
    if !rest.is_empty() {
        return Err(malformed(rest));
    }
    Ok(fields)
}

fn in_range(value: i64, low: i64, high: i64, field: &str) -> Result<u32, String> {
    if (low..=high).contains(&value) {
        Ok(value as u32)
    } else {
        Err(format!("Cannot parse: Value {value} for {field} must be in the range [{low},{high}]"))
    }
}

/// The local date-time the fields name.
fn local_time(fields: &Fields) -> Result<NaiveDateTime, String> {
    let year = fields.year.unwrap_or(1970) as i32;
    let date = match fields.day_of_year {
        Some(day) if fields.month.is_none() && fields.day.is_none() => NaiveDate::from_yo_opt(year, in_range(day, 1, 366, "dayOfYear")?),
        _ => {
            let month = in_range(fields.month.unwrap_or(1), 1, 12, "monthOfYear")?;
            let day = fields.day.unwrap_or(1);
            let last = NaiveDate::from_ymd_opt(year, month, 1)
                .and_then(|first| first.checked_add_months(chrono::Months::new(1)))
                .map(|next| (next - Duration::days(1)).day() as i64)
                .unwrap_or(31);
            NaiveDate::from_ymd_opt(year, month, in_range(day, 1, last, "dayOfMonth")?)
        }
    }
    .ok_or_else(|| format!("Cannot parse: year {year} is out of range"))?;
    let hour = match (fields.hour, fields.hour12, fields.pm) {
        (Some(hour), _, _) => in_range(hour, 0, 23, "hourOfDay")?,
        (None, Some(hour), pm) => in_range(hour, 0, 11, "hourOfHalfday")? + if pm == Some(true) { 12 } else { 0 },
        (None, None, pm) => if pm == Some(true) { 12 } else { 0 },
    };
    let time = NaiveTime::from_hms_nano_opt(
        hour,
        in_range(fields.minute, 0, 59, "minuteOfHour")?,
        in_range(fields.second, 0, 59, "secondOfMinute")?,
        fields.nanos as u32,
    )
    .ok_or("Cannot parse: invalid time")?;
    Ok(date.and_time(time))
}

/// Trino's parse_datetime: a `timestamp(3) with time zone`, read in UTC unless the text gives an offset or zone.
/// A zone is part of the column's type here, so the instant is kept and shown in UTC.
fn parse_datetime(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(value), Some(pattern)) = (text(&args[0])?, text(&args[1])?) else {
        return Ok(ScalarValue::TimestampMillisecond(None, Some("UTC".into())));
    };
    let fields = parse_with(&pieces(pattern)?, value)?;
    let local = local_time(&fields)?;
    let utc = match (&fields.zone, fields.offset) {
        (Some(zone), _) => from_local(local, &zone.parse::<Tz>().map_err(|e| e.to_string())?),
        (None, Some(offset)) => local - Duration::seconds(offset as i64),
        (None, None) => local,
    };
    Ok(ScalarValue::TimestampMillisecond(Some(utc.and_utc().timestamp_millis()), Some("UTC".into())))
}

/// The ISO week-numbering year (the year of the week's Thursday), at a zoned value's local time.
fn year_of_week(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let ScalarValue::TimestampMillisecond(Some(ms), _) = &args[0] else { return Ok(ScalarValue::Int64(None)) };
    let utc = DateTime::from_timestamp_millis(*ms).ok_or("timestamp out of range")?.naive_utc();
    let local = zone_of(&args[0])?.map(|zone| to_local(utc, &zone)).unwrap_or(utc);
    Ok(ScalarValue::Int64(Some(local.iso_week().year() as i64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(pattern: &str, local: &str, zone: &str) -> Result<String, String> {
        let local = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        format_with(&pieces(pattern)?, local, &zone.parse().unwrap(), zone)
    }

    #[test]
    fn joda_patterns_print_as_joda_does() {
        assert_eq!(format("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 07:08:09.123", "UTC").unwrap(), "2024-03-05 07:08:09.123");
        assert_eq!(format("yy/M/d h:mm a", "2024-03-05 17:08:09", "UTC").unwrap(), "24/3/5 5:08 PM");
        assert_eq!(format("EEEE, MMMM d 'at' HH''mm", "2024-03-05 07:08:09", "UTC").unwrap(), "Tuesday, March 5 at 07'08");
        let new_york = format("EEE MMM Z ZZ ZZZ z", "2024-01-05 07:08:09", "America/New_York").unwrap();
        assert_eq!(new_york, "Fri Jan -0500 -05:00 America/New_York EST");
        assert!(format("yyyy Q", "2024-01-05 07:08:09", "UTC").unwrap_err().contains("'Q'"));
    }

    #[test]
    fn joda_patterns_parse_as_joda_does() {
        let parse = |text: &str, pattern: &str| parse_with(&pieces(pattern).unwrap(), text).and_then(|f| local_time(&f));
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        assert_eq!(parse("2024-03-05", "yyyy-MM-dd").unwrap(), at("2024-03-05 00:00:00"));
        assert_eq!(parse("20240305", "yyyyMMdd").unwrap(), at("2024-03-05 00:00:00"));
        assert_eq!(parse("5 Mar 2024 5:08 pm", "d MMM yyyy h:mm a").unwrap(), at("2024-03-05 17:08:00"));
        assert_eq!(parse("2024-03-05 07:08:09.5", "yyyy-MM-dd HH:mm:ss.SSS").unwrap(), at("2024-03-05 07:08:09.500"));
        assert!(parse("2024-02-30", "yyyy-MM-dd").unwrap_err().contains("dayOfMonth"));
        assert!(parse("2024-03-05x", "yyyy-MM-dd").unwrap_err().contains("malformed at \"x\""));
    }
}
