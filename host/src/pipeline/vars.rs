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

/// How deep var values may name other vars; validation refuses cycles, this only bounds a record edited by hand.
const MAX_NESTING: usize = 32;

impl AttemptVars<'_> {
    pub fn get(&self, name: &str) -> Option<String> {
        self.get_nested(name, 0)
    }

    fn get_nested(&self, name: &str, depth: usize) -> Option<String> {
        match name {
            "run_id" => Some(self.run_id.to_string()),
            "run_db" => Some(self.run_db.to_string()),
            "run_started" => Some(self.run_started.to_string()),
            "stage" => Some(self.stage.to_string()),
            "attempt" => Some(self.attempt.to_string()),
            "scratch" => Some(self.scratch.to_string()),
            // A var's value may name built-ins and other vars: expanded where the var is used, as if written there.
            other if depth < MAX_NESTING => substitute(self.vars.get(other)?, &|n| self.get_nested(n, depth + 1)).ok(),
            _ => None,
        }
    }
}

/// The names `text` refers to with `${name}`, in order.
fn references(text: &str) -> Result<Vec<String>, String> {
    let names = std::cell::RefCell::new(Vec::new());
    substitute(text, &|name| {
        names.borrow_mut().push(name.to_string());
        Some(String::new())
    })?;
    Ok(names.into_inner())
}

/// What is wrong with the value of var `name`, if anything: a `${...}` naming neither a built-in nor
/// a var, or a chain of vars leading back to `name`.
pub fn check_var(name: &str, vars: &BTreeMap<String, String>) -> Option<String> {
    let value = vars.get(name)?;
    let direct = match references(value) {
        Ok(names) => names,
        Err(e) => return Some(e),
    };
    if let Some(unknown) = direct.iter().find(|n| !BUILTINS.contains(&n.as_str()) && !vars.contains_key(n.as_str())) {
        return Some(format!("unknown variable '${{{unknown}}}' in '{value}'"));
    }
    let mut path = vec![name.to_string()];
    cycle_from(name, vars, &mut path).then(|| format!("'{value}' leads back to '{name}': {}", path.join(" -> ")))
}

/// Whether following var references from the last name of `path` reaches `path[0]`; `path` is then the cycle.
fn cycle_from(name: &str, vars: &BTreeMap<String, String>, path: &mut Vec<String>) -> bool {
    let Some(Ok(names)) = vars.get(name).map(|v| references(v)) else { return false };
    for next in names.iter().filter(|n| vars.contains_key(n.as_str())) {
        if *next == path[0] {
            path.push(next.clone());
            return true;
        }
        if path.contains(next) {
            continue;
        }
        path.push(next.clone());
        if cycle_from(next, vars, path) {
            return true;
        }
        path.pop();
    }
    false
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

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn var_values_expand_where_they_are_used() {
        let vars = vars(&[("out", "work/${scratch}${name}"), ("name", "${stage}.csv")]);
        let attempt = AttemptVars { run_id: "r", run_db: "run_r", run_started: "t", stage: "s", attempt: 1, scratch: "run=r/s/", vars: &vars };
        assert_eq!(substitute("${out}", &|n| attempt.get(n)).unwrap(), "work/run=r/s/s.csv");
        assert_eq!(check_var("out", &vars), None);
    }

    #[test]
    fn unknown_names_and_cycles_in_var_values_are_reported() {
        let bad = vars(&[("out", "work/${nosuch}/")]);
        assert_eq!(check_var("out", &bad).unwrap(), "unknown variable '${nosuch}' in 'work/${nosuch}/'");
        let cycle = vars(&[("a", "x${b}"), ("b", "${c}"), ("c", "${a}"), ("d", "${a}")]);
        assert_eq!(check_var("a", &cycle).unwrap(), "'x${b}' leads back to 'a': a -> b -> c -> a");
        assert_eq!(check_var("d", &cycle), None, "d only uses the cycle; a, b and c are reported");
        assert!(check_var("a", &vars(&[("a", "${a")])).unwrap().contains("unclosed"));
    }
}
