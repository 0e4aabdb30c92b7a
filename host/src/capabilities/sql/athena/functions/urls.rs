//! Trino's URL functions. Trino parses with `java.net.URI` (RFC 2396): a URL it cannot
//! parse gives NULL, a part the URL lacks gives `''` (the port: NULL). Path, query and
//! fragment come back percent-decoded, as `URI.getPath()` gives them; `url_extract_parameter`
//! splits the raw query at `&` and `=` and decodes the value as a form field (`+` is a space).
//! The parser here follows `java.net.URI`'s, so the same URLs parse (`http://a b` does not,
//! `http://a_b.com/` does, its host not being a server name: `''`).

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;

use super::{RowFunction, arity, text, want_string};

pub fn functions() -> Vec<RowFunction> {
    vec![
        RowFunction::new("url_extract_protocol", coerce_url, |_| Ok(DataType::Utf8), |a, _| part(a, |u| u.scheme.clone())),
        RowFunction::new("url_extract_host", coerce_url, |_| Ok(DataType::Utf8), |a, _| part(a, |u| u.host.clone())),
        RowFunction::new("url_extract_path", coerce_url, |_| Ok(DataType::Utf8), |a, _| part(a, |u| u.path.as_deref().map(decode))),
        RowFunction::new("url_extract_query", coerce_url, |_| Ok(DataType::Utf8), |a, _| part(a, |u| u.query.as_deref().map(decode))),
        RowFunction::new("url_extract_fragment", coerce_url, |_| Ok(DataType::Utf8), |a, _| part(a, |u| u.fragment.as_deref().map(decode))),
        RowFunction::new("url_extract_port", coerce_url, |_| Ok(DataType::Int64), url_extract_port),
        RowFunction::new("url_extract_parameter", coerce_parameter, |_| Ok(DataType::Utf8), url_extract_parameter),
        RowFunction::new("url_encode", coerce_url, |_| Ok(DataType::Utf8), url_encode),
        RowFunction::new("url_decode", coerce_url, |_| Ok(DataType::Utf8), url_decode),
    ]
}

fn coerce_url(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[1], "(varchar)")?;
    Ok(vec![want_string(&args[0], "the argument")?])
}

fn coerce_parameter(args: &[DataType]) -> Result<Vec<DataType>, String> {
    arity(args, &[2], "(url, name)")?;
    args.iter().map(|t| want_string(t, "every argument")).collect()
}

/// The parts of a URL as `java.net.URI` reads them, raw (not decoded).
#[derive(Debug, Default, PartialEq)]
struct Uri {
    scheme: Option<String>,
    host: Option<String>,
    port: Option<i64>,
    path: Option<String>,
    query: Option<String>,
    fragment: Option<String>,
}

const MARK: &str = "-_.!~*'()";

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || MARK.contains(c)
}
fn uric(c: char) -> bool {
    unreserved(c) || ";/?:@&=+$,[]".contains(c)
}
fn path_char(c: char) -> bool {
    unreserved(c) || ":@&=+$,;/".contains(c)
}
fn userinfo_char(c: char) -> bool {
    unreserved(c) || ";:&=+$,".contains(c)
}
fn reg_name_char(c: char) -> bool {
    unreserved(c) || "$,;:@&=+".contains(c)
}
fn server_char(c: char) -> bool {
    userinfo_char(c) || "-.:@[]".contains(c)
}

/// Where the run of characters from `start` that `allowed` accepts ends; with `escapes`, `%XX`
/// and visible non-ASCII characters count too. A `%` not followed by two hex digits is an error.
fn scan(s: &[char], start: usize, end: usize, allowed: fn(char) -> bool, escapes: bool) -> Result<usize, ()> {
    let mut p = start;
    while p < end {
        let c = s[p];
        if allowed(c) {
            p += 1;
        } else if escapes && c == '%' {
            if p + 2 < end && s[p + 1].is_ascii_hexdigit() && s[p + 2].is_ascii_hexdigit() {
                p += 3;
            } else {
                return Err(());
            }
        } else if escapes && (c as u32) > 128 && !c.is_whitespace() && !c.is_control() {
            p += 1;
        } else {
            break;
        }
    }
    Ok(p)
}

/// Every character from `start` to `end` is `allowed` (or an escape).
fn check(s: &[char], start: usize, end: usize, allowed: fn(char) -> bool) -> Result<(), ()> {
    if scan(s, start, end, allowed, true)? == end { Ok(()) } else { Err(()) }
}

/// The first position in `start..end` holding one of `stops`, or `end`.
fn find(s: &[char], start: usize, end: usize, stops: &str) -> usize {
    (start..end).find(|&i| stops.contains(s[i])).unwrap_or(end)
}

fn string(s: &[char], start: usize, end: usize) -> String {
    s[start..end].iter().collect()
}

fn parse(url: &str) -> Result<Uri, ()> {
    let s: Vec<char> = url.chars().collect();
    let n = s.len();
    let mut uri = Uri::default();
    let colon = find(&s, 0, n, "/?#:");
    let mut p = if colon < n && s[colon] == ':' {
        if colon == 0 || !s[0].is_ascii_alphabetic() || !s[1..colon].iter().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c)) {
            return Err(());
        }
        uri.scheme = Some(string(&s, 0, colon));
        let p = colon + 1;
        if s.get(p) == Some(&'/') {
            hierarchical(&s, p, &mut uri)?
        } else {
            // Opaque (`mailto:x`): no host, path or query.
            let q = find(&s, p, n, "#");
            if q <= p {
                return Err(());
            }
            check(&s, p, q, uric)?;
            q
        }
    } else {
        hierarchical(&s, 0, &mut uri)?
    };
    if p < n && s[p] == '#' {
        check(&s, p + 1, n, uric)?;
        uri.fragment = Some(string(&s, p + 1, n));
        p = n;
    }
    if p < n { Err(()) } else { Ok(uri) }
}

fn hierarchical(s: &[char], start: usize, uri: &mut Uri) -> Result<usize, ()> {
    let n = s.len();
    let mut p = start;
    if s.get(p) == Some(&'/') && s.get(p + 1) == Some(&'/') {
        p += 2;
        let q = find(s, p, n, "/?#");
        if q > p {
            authority(s, p, q, uri)?;
            p = q;
        } else if q >= n {
            return Err(());
        }
    }
    let q = find(s, p, n, "?#");
    check(s, p, q, path_char)?;
    uri.path = Some(string(s, p, q));
    p = q;
    if s.get(p) == Some(&'?') {
        let q = find(s, p + 1, n, "#");
        check(s, p + 1, q, uric)?;
        uri.query = Some(string(s, p + 1, q));
        p = q;
    }
    Ok(p)
}

/// A server authority (`user@host:port`) fills host and port; any other legal one (a registry
/// name such as `a_b.com`) leaves them empty, as `java.net.URI` does.
fn authority(s: &[char], start: usize, end: usize, uri: &mut Uri) -> Result<(), ()> {
    let server_chars = scan(s, start, end, server_char, true)? == end;
    let registry_chars = scan(s, start, end, reg_name_char, true)? == end;
    if server_chars && let Ok((host, port)) = server(s, start, end) {
        uri.host = Some(host);
        uri.port = port;
        return Ok(());
    }
    if registry_chars { Ok(()) } else { Err(()) }
}

fn server(s: &[char], start: usize, end: usize) -> Result<(String, Option<i64>), ()> {
    let mut p = start;
    if let Some(at) = (start..end).find(|&i| s[i] == '@') {
        check(s, start, at, userinfo_char)?;
        p = at + 1;
    }
    let host_start = p;
    if s.get(p) == Some(&'[') {
        let close = (p..end).find(|&i| s[i] == ']').ok_or(())?;
        if !s[p + 1..close].iter().all(|c| c.is_ascii_hexdigit() || ":.".contains(*c)) || close == p + 1 {
            return Err(());
        }
        p = close + 1;
    } else {
        p = hostname(s, p, end)?;
    }
    let host = string(s, host_start, p);
    let mut port = None;
    if p < end && s[p] == ':' {
        p += 1;
        let q = (p..end).find(|&i| !s[i].is_ascii_digit()).unwrap_or(end);
        if q > p {
            port = Some(string(s, p, q).parse::<i32>().map_err(|_| ())? as i64);
        }
        p = q;
    }
    if p < end { Err(()) } else { Ok((host, port)) }
}

/// Dotted labels of letters, digits and inner dashes, the last starting with a letter when
/// there are several (a dotted IPv4 address passes as it is).
fn hostname(s: &[char], start: usize, end: usize) -> Result<usize, ()> {
    let stop = find(s, start, end, ":");
    let host: String = string(s, start, stop);
    let ipv4 = host.split('.').count() == 4 && host.split('.').all(|part| !part.is_empty() && part.len() <= 3 && part.parse::<u8>().is_ok());
    if ipv4 {
        return Ok(stop);
    }
    let labels: Vec<&str> = host.split('.').collect();
    let labels = if labels.len() > 1 && labels.last() == Some(&"") { &labels[..labels.len() - 1] } else { &labels[..] };
    let good_label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(|l| good_label(l)) {
        return Err(());
    }
    if labels.len() > 1 && !labels.last().is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic())) {
        return Err(());
    }
    Ok(stop)
}

/// `%XX` sequences decoded as UTF-8 (invalid bytes become U+FFFD), as `URI.getPath()` decodes.
fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = std::str::from_utf8(bytes.get(i + 1..i + 3).unwrap_or(&[])).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Java's `URLDecoder.decode`: `+` is a space, `%XX` bytes are UTF-8; a bad escape fails.
fn form_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or("URLDecoder: Incomplete trailing escape (%) pattern")?;
                let byte = std::str::from_utf8(hex)
                    .ok()
                    .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("URLDecoder: Illegal hex characters in escape (%) pattern")?;
                out.push(byte);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A part of the URL: NULL when the URL does not parse, `''` when the part is absent.
fn part(args: &[ScalarValue], get: fn(&Uri) -> Option<String>) -> Result<ScalarValue, String> {
    let Some(url) = text(&args[0])? else { return Ok(ScalarValue::Utf8(None)) };
    Ok(ScalarValue::Utf8(parse(url).ok().map(|uri| get(&uri).unwrap_or_default())))
}

fn url_extract_port(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let Some(url) = text(&args[0])? else { return Ok(ScalarValue::Int64(None)) };
    Ok(ScalarValue::Int64(parse(url).ok().and_then(|uri| uri.port)))
}

/// The first query parameter named so, form-decoded; `''` when it has no `=`, NULL when absent.
fn url_extract_parameter(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    let (Some(url), Some(name)) = (text(&args[0])?, text(&args[1])?) else { return Ok(ScalarValue::Utf8(None)) };
    let Some(query) = parse(url).ok().and_then(|uri| uri.query) else { return Ok(ScalarValue::Utf8(None)) };
    for field in query.split('&') {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (field, None),
        };
        if key == name {
            return Ok(ScalarValue::Utf8(Some(value.map(form_decode).transpose()?.unwrap_or_default())));
        }
    }
    Ok(ScalarValue::Utf8(None))
}

/// Guava's form-parameter escaping: letters, digits and `.-*_` kept, a space as `+`, every
/// other UTF-8 byte as `%XX`.
fn url_encode(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(text(&args[0])?.map(|value| {
        let mut out = String::with_capacity(value.len());
        for &b in value.as_bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    })))
}

fn url_decode(args: &[ScalarValue], _: &DataType) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(text(&args[0])?.map(form_decode).transpose()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_java_net_uri_parses_them() {
        let uri = parse("https://user@www.example.com:8080/a%20b/c?x=1&y=%41#frag").unwrap();
        assert_eq!(uri.scheme.as_deref(), Some("https"));
        assert_eq!(uri.host.as_deref(), Some("www.example.com"));
        assert_eq!(uri.port, Some(8080));
        assert_eq!(uri.path.as_deref().map(decode), Some("/a b/c".into()));
        assert_eq!(uri.query.as_deref(), Some("x=1&y=%41"));
        assert_eq!(uri.fragment.as_deref(), Some("frag"));
        // A registry authority parses without a host; spaces, a bare % and an empty authority do not parse.
        assert_eq!(parse("http://a_b.com/x").unwrap().host, None);
        assert!(parse("http://a b.com/").is_err());
        assert!(parse("http://x.com/%zz").is_err());
        assert!(parse("http://").is_err());
        assert_eq!(parse("mailto:a@b.com").unwrap().path, None);
        assert_eq!(parse("/just/a/path?q").unwrap().path.as_deref(), Some("/just/a/path"));
        assert_eq!(parse("http://[::1]:80/").unwrap().host.as_deref(), Some("[::1]"));
        assert_eq!(parse("http://1.2.3/").unwrap().host, None);
        assert_eq!(parse("http://10.0.0.1/").unwrap().host.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn form_decoding_takes_plus_as_space_and_refuses_broken_escapes() {
        assert_eq!(form_decode("a+b%20c%C3%A9").unwrap(), "a b cé");
        assert!(form_decode("50%").is_err());
        assert!(form_decode("%zz").is_err());
    }
}
