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

/// Two-letter words that are codes but, in capitals alone, are far more often English or an acronym ("IS", "IT",
/// "ID", "ML"): read as a country only where a place goes ("users in IT") or before users ("IT users").
const ENGLISH_CODES: [&str; 25] = [
    "IS", "IT", "AT", "BY", "TO", "NO", "ME", "AS", "AN", "AM", "DO", "SO", "OR", "IF", "ID", "AI", "ML", "PM", "TV", "QA", "BI", "IO", "PR",
    "PS", "CV",
];

/// Codes that, written in lower case after "in" or "from", are as likely English ("users in it", "from us"):
/// neither read as a country nor dropped (see `ambiguous`).
const ENGLISH_WORDS: [&str; 16] = ["it", "us", "me", "my", "no", "so", "as", "at", "by", "to", "do", "or", "is", "am", "an", "if"];

/// Words after which a two-letter word is a place ("in DE", "from de", "country DE").
const PLACE_BEFORE: [&str; 4] = ["in", "from", "country", "countries"];
/// Words an upper-case code qualifies when it comes within three words before them ("DE users", "US high users").
const PEOPLE_AFTER: [&str; 6] = ["users", "user", "customers", "customer", "accounts", "people"];
/// Words that end that reach: "ID of users" does not qualify the users.
const CLAUSE_WORDS: [&str; 10] = ["of", "the", "with", "and", "or", "who", "that", "per", "by", "have"];

/// A two-letter code written in a question, with how it was written and where.
struct Written<'a> {
    word: &'a str,
    /// Right after "in", "from" or "country".
    at_place: bool,
    /// Right before "users", "customers", ...
    before_people: bool,
}

/// Every two-letter word of `original` that is a country code in any case, with its position.
fn written_codes(original: &str) -> Vec<Written<'_>> {
    let words: Vec<&str> = original.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let lower = |i: usize| words.get(i).map(|w| w.to_lowercase());
    words
        .iter()
        .enumerate()
        .filter(|(_, w)| w.len() == 2 && w.chars().all(|c| c.is_ascii_alphabetic()) && is_country(&w.to_ascii_uppercase()))
        .map(|(i, w)| Written {
            word: w,
            at_place: i > 0 && lower(i - 1).is_some_and(|p| PLACE_BEFORE.contains(&p.as_str())),
            before_people: (i + 1..words.len().min(i + 4))
                .map(lower)
                .take_while(|n| n.as_deref().is_some_and(|n| !CLAUSE_WORDS.contains(&n)))
                .any(|n| n.as_deref().is_some_and(|n| PEOPLE_AFTER.contains(&n))),
        })
        .collect()
}

/// The code a written two-letter word stands for, if it surely is one: upper case as a word ("US users", "in DE";
/// English-looking ones like IT, and any in a question all in capitals, only after "in" or before "users"), or
/// any case where a place goes unless it is an English word there ("in de", not "in it").
fn code_of(w: &Written, shouted: bool) -> Option<String> {
    let upper = w.word.to_ascii_uppercase();
    let read = if w.word == upper {
        w.at_place || w.before_people || !(shouted || ENGLISH_CODES.contains(&upper.as_str()))
    } else {
        w.at_place && !ENGLISH_WORDS.contains(&w.word.to_lowercase().as_str())
    };
    read.then_some(upper)
}

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
    let shouted = !original.chars().any(|c| c.is_lowercase());
    for code in written_codes(original).iter().filter_map(|w| code_of(w, shouted)) {
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// A lower-case code where a place goes that is as likely an English word ("users in us", "in it"), as
/// "in us": the question can't be read either way, so it is asked again rather than answered for everyone.
pub fn ambiguous(original: &str) -> Option<String> {
    written_codes(original)
        .into_iter()
        .find(|w| w.at_place && w.word != w.word.to_ascii_uppercase() && ENGLISH_WORDS.contains(&w.word.to_lowercase().as_str()))
        .map(|w| w.word.to_string())
}

/// The names `code` is known by (lower case): a word of them in a question is part of naming that country.
pub fn names_of(code: &str) -> impl Iterator<Item = &'static str> + '_ {
    NAMES.iter().filter(move |(_, c)| *c == code).map(|(n, _)| *n)
}

/// `place` is one country code in capitals ("DE"), as a question writes it after "in".
pub fn is_code(place: &str) -> bool {
    place.len() == 2 && place.chars().all(|c| c.is_ascii_uppercase()) && is_country(place)
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
    fn reads_codes_where_a_country_goes_and_not_english_words() {
        // An upper-case code as a word, wherever it stands.
        for (q, code) in [
            ("How many US users are high?", "US"),
            ("How many DE users are there?", "DE"),
            ("Average probability of DE users?", "DE"),
            ("How many users are in DE?", "DE"),
            ("What is the average probability in GB?", "GB"),
            ("How many users are in IN?", "IN"),
            ("How many users in IT are high?", "IT"),
            ("HOW MANY USERS ARE IN DE?", "DE"),
            ("HOW MANY US USERS ARE HIGH?", "US"),
            ("How many US high-engagement users are there?", "US"),
            ("How many IT users are on the pro plan?", "IT"),
            // Lower case only where a place goes, and not an English word there.
            ("How many users are in de?", "DE"),
            ("how many users from jp are high?", "JP"),
        ] {
            assert_eq!(read(q), [code], "{q}");
        }
        for q in [
            "Tell us how many users are high",
            "how many users are high? tell us",
            "Is it true that users are high?",
            "How many users are in it?",
            "How many users are in us?",
            "IT IS HIGH, IN FACT",
            "What do users in the high segment do?",
            "Which ML model scores the users?",
            "What is the ID of users in the high segment?",
        ] {
            assert!(read(q).is_empty(), "{q}: {:?}", read(q));
        }
        assert_eq!(ambiguous("How many users are in us?").as_deref(), Some("us"));
        assert_eq!(ambiguous("How many users are in it?").as_deref(), Some("it"));
        assert_eq!(ambiguous("Tell us how many users are in de"), None);
        assert!(is_code("DE") && !is_code("de") && !is_code("Narnia"));
    }

    #[test]
    fn every_code_of_the_contract_has_a_name() {
        for code in crate::data::schema::COUNTRIES {
            assert!(NAMES.iter().any(|(_, c)| c == code), "{code} has no name in country_names.tsv");
        }
        assert!(NAMES.iter().all(|(_, c)| is_country(c)), "country_names.tsv has a code the contract does not accept");
    }
}
