//! `${name}` substitution in params, grants and publish targets.

use std::collections::BTreeMap;

/// Variables every run defines, besides the file's `[vars]`.
pub const BUILTINS: [&str; 6] = ["run_id", "run_db", "run_started", "stage", "attempt", "scratch"];

/// Replaces every `${name}` in `text` with `lookup(name)`; an unknown name or an
/// unclosed `${` is an error naming it.
pub fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("'{text}' has an unclosed '${{'"))?;
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| format!("unknown variable '${{{name}}}' in '{text}'"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Substitutes inside every string of a JSON value (keys stay as written).
pub fn substitute_json(
    value: &serde_json::Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(substitute(s, lookup)?),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute_json(v, lookup)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), substitute_json(v, lookup)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The values of one attempt of one stage: builtins first, then the run's vars.
pub struct AttemptVars<'a> {
    pub run_id: &'a str,
    pub run_db: &'a str,
    /// When the run began (RFC 3339 UTC): guests get time from the host, not a clock.
    pub run_started: &'a str,
    pub stage: &'a str,
    pub attempt: u32,
    pub scratch: &'a str,
    pub vars: &'a BTreeMap<String, String>,
}

impl AttemptVars<'_> {
    pub fn get(&self, name: &str) -> Option<String> {
        match name {
            "run_id" => Some(self.run_id.to_string()),
            "run_db" => Some(self.run_db.to_string()),
            "run_started" => Some(self.run_started.to_string()),
            "stage" => Some(self.stage.to_string()),
            "attempt" => Some(self.attempt.to_string()),
            "scratch" => Some(self.scratch.to_string()),
            other => self.vars.get(other).cloned(),
        }
    }
}

/// The run's catalog database: `run_<id>` with `-` → `_`.
pub fn run_db(run_id: &str) -> String {
    format!("run_{}", run_id.replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_reports_unknown_names() {
        let lookup = |n: &str| (n == "a").then(|| "x".to_string());
        assert_eq!(substitute("p/${a}/${a}q", &lookup).unwrap(), "p/x/xq");
        assert!(substitute("${b}", &lookup).unwrap_err().contains("'${b}'"));
        assert!(substitute("${a", &lookup).unwrap_err().contains("unclosed"));
        assert_eq!(substitute("no vars $ here", &lookup).unwrap(), "no vars $ here");
    }
}
