//! Text for the page: HTML escaping and the number, share and duration formats
//! every panel uses, so the same quantity reads the same everywhere.

/// Escapes text for HTML element content and quoted attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A fraction as a percentage with one decimal: `0.6017` → `60.2%`.
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A metric such as AUC: three decimals.
pub fn metric(value: f64) -> String {
    format!("{value:.3}")
}

/// A difference with its sign, so "better" and "worse" read at a glance: `+0.022`.
pub fn signed(value: f64) -> String {
    if value >= 0.0 { format!("+{value:.3}") } else { format!("−{:.3}", -value) }
}

/// Any JSON number or string as short text: integers with separators, other
/// numbers with up to four significant decimals.
pub fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".to_string(),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => count(u),
            (None, Some(i), _) => format!("−{}", count(i.unsigned_abs())),
            (_, _, Some(f)) => number(f),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// A float without noise: whole numbers as counts, others to 4 significant digits.
pub fn number(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        let n = count(f.abs() as u64);
        return if f < 0.0 { format!("−{n}") } else { n };
    }
    let magnitude = f.abs();
    let decimals = if magnitude >= 100.0 { 1 } else if magnitude >= 1.0 { 3 } else { 4 };
    let text = format!("{f:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// A duration for people: `850 ms`, `4.2 s`, `3 min 05 s`, `1 h 02 min`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "—".to_string();
    }
    if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        let s = seconds.round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        let m = (seconds / 60.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_naturally() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(percent(0.60166), "60.2%");
        assert_eq!(signed(0.0221), "+0.022");
        assert_eq!(signed(-0.5), "−0.500");
        assert_eq!(number(9000.0), "9,000");
        assert_eq!(number(0.60166666), "0.6017");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(9.34), "9.3 s");
        assert_eq!(duration(185.0), "3 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }
}
