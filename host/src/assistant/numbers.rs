//! The rule that no number is stated without evidence: every number in an
//! answer must appear, as a number, in the evidence it cites.

/// The numbers written in `text` ("12.5%", "3,000", "0.812"); ids like
/// `u000000042` and names like `sessions_7d` are not numbers.
pub fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '|' | ':' | ';' | '=' | '`' | '"' | '\'' | '/' | '{' | '}')
    })
    .filter_map(|word| {
        let word = word.trim_end_matches(['.', ',', '%', '?', '!']).trim_start_matches(['+', '~']);
        let word = word.strip_prefix('−').map(|w| format!("-{w}")).unwrap_or_else(|| word.to_string());
        let plain = word.replace(',', "");
        let looks_numeric = !plain.is_empty()
            && plain.trim_start_matches('-').chars().all(|c| c.is_ascii_digit() || c == '.')
            && plain.chars().any(|c| c.is_ascii_digit());
        looks_numeric.then(|| plain.parse::<f64>().ok()).flatten()
    })
    .collect()
}

/// The numbers of `answer` that no piece of `evidence` holds; empty when every one is backed.
pub fn unbacked(answer: &str, evidence: &[String]) -> Vec<f64> {
    let backed: Vec<f64> = evidence.iter().flat_map(|e| numbers(e)).collect();
    numbers(answer).into_iter().filter(|n| !backed.iter().any(|b| (b - n).abs() <= 1e-9 * n.abs().max(1.0))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_numbers_but_not_ids_or_names() {
        assert_eq!(numbers("high: 1,204 users (12.5%) for u000000042 in `sessions_7d`, AUC 0.81."), vec![1204.0, 12.5, 0.81]);
        assert_eq!(numbers("low sessions_7d: −0.80; high active_days_30d: +0.31"), vec![-0.8, 0.31]);
        assert!(unbacked("AUC is 0.81 [model-card#quality]", &["| auc | 0.81 | 0.77 |".into()]).is_empty());
        assert_eq!(unbacked("AUC is 0.91", &["| auc | 0.81 |".into()]), vec![0.91]);
    }
}
