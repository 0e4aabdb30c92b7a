//! Which countries a question names: the English names and adjectives of `country_names.tsv` for every
//! ISO 3166 code the data contract accepts, or an upper-case code as written ("users in DE").

use std::sync::LazyLock;

use crate::data::schema::is_country;

/// (name in lower case, ISO code), longest name first, so "papua new guinea" is read before "guinea".
static NAMES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    let mut names: Vec<(&str, &str)> = include_str!("country_names.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .flat_map(|(code, names)| names.split('|').map(move |n| (n, code)))
        .collect();
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    names
});

/// Two-letter words that are codes but, in capitals alone, are far more often English ("IS", "IT").
const ENGLISH_CODES: [&str; 14] = ["IS", "IT", "AT", "BY", "TO", "NO", "ME", "AS", "AN", "AM", "DO", "SO", "OR", "IF"];

/// Every country `original` names, once each, in the order named. `lower` is `original` lower-cased.
pub fn named(original: &str, lower: &str) -> Vec<String> {
    let mut taken: Vec<(usize, usize, &str)> = Vec::new();
    for (name, code) in NAMES.iter() {
        for (at, _) in lower.match_indices(name) {
            let end = at + name.len();
            let word_before = lower[..at].chars().next_back().is_some_and(char::is_alphanumeric);
            let word_after = lower[end..].chars().next().is_some_and(char::is_alphanumeric);
            let inside_longer = taken.iter().any(|(s, e, _)| at < *e && end > *s);
            if !word_before && !word_after && !inside_longer {
                taken.push((at, end, code));
            }
        }
    }
    taken.sort_by_key(|(at, _, _)| *at);
    let mut codes: Vec<String> = Vec::new();
    for (_, _, code) in taken {
        if !codes.iter().any(|c| c == code) {
            codes.push(code.to_string());
        }
    }
    if lower.contains("countr") || lower.contains(" in ") || lower.contains(" from ") {
        let written = original
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_uppercase()) && is_country(w) && !ENGLISH_CODES.contains(w));
        for code in written {
            if !codes.iter().any(|c| c == code) {
                codes.push(code.to_string());
            }
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(q: &str) -> Vec<String> {
        named(q, &q.to_lowercase())
    }

    #[test]
    fn reads_names_adjectives_and_codes() {
        assert_eq!(read("How many users in South Korea are high?"), ["KR"]);
        assert_eq!(read("users in New Zealand or South Africa"), ["NZ", "ZA"]);
        assert_eq!(read("What percentage of German users are on the free plan?"), ["DE"]);
        assert_eq!(read("users in Papua New Guinea"), ["PG"]);
        assert_eq!(read("How many users in DE?"), ["DE"]);
        assert_eq!(read("users in Liechtenstein and in LI"), ["LI"]);
        assert!(read("IT IS the user's plan").is_empty());
        assert!(read("How many users are on the free plan?").is_empty());
    }

    #[test]
    fn every_code_of_the_contract_has_a_name() {
        for code in crate::data::schema::COUNTRIES {
            assert!(NAMES.iter().any(|(_, c)| c == code), "{code} has no name in country_names.tsv");
        }
        assert!(NAMES.iter().all(|(_, c)| is_country(c)), "country_names.tsv has a code the contract does not accept");
    }
}
