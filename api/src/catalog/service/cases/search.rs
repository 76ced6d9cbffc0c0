//! Search as you type over test cases. What a client types in `filter.search` is read in
//! web-search syntax (`"exact phrase"`, `a or b`, `-excluded`, words otherwise all required)
//! and becomes parameters of the search's statement, never SQL text:
//!
//! - a `to_tsquery('english', ...)` text in which every word outside quotes that is not
//!   excluded matches as a prefix ("check" finds "Checkout" while it is being typed). Each
//!   word and phrase is one quoted lexeme, its quotes and backslashes escaped, so nothing typed
//!   is read as tsquery syntax: `&|!():*<->` and quotes inside a word are text, which the
//!   server's text parser then splits into words as it splits a case's own text;
//! - the required terms of each OR-group, one by one, each with the word that a word of a
//!   case's name may be spelled like instead (pg_trgm's strict word similarity, "chekout"
//!   for "Checkout"): while the search finds fewer than [`SPELLING_BELOW`] of the caller's
//!   cases, a case that meets every term of a group, some of them by the spelling of its
//!   name, is found too, and ranks after every case the full text finds. Only the words that
//!   themselves find fewer than [`SPELLING_BELOW`] of those cases are looked up by spelling:
//!   a word found often is spelled as meant;
//! - the excluded words and phrases, which a case found by its spelling must not contain
//!   either.
//!
//! Both are matched through the functions of their migration (`search_test_cases_by_tsquery`,
//! `search_test_cases_by_spelling`), which the indexes serve; every count they decide on is
//! of cases the caller sees, so what a search finds says nothing of the others.

use crate::sql::Sql;

use super::SEARCH_DOCUMENT;

/// Fewest letters and digits of a word for it to be looked up by spelling: shorter words
/// share too few trigrams with a misspelling of them to reach pg_trgm's similarity threshold,
/// and their trigrams are the most common ones, so the lookup would read much of the index to
/// find what the prefix already finds.
pub const SPELLING_MIN_CHARS: usize = 4;

/// Fewest cases the full text must find (of those the caller sees) for spellings not to be
/// looked up: for the whole search, and for each word. A search or a word found this often is
/// seldom misspelt, and looking a common word up would read every name spelled like it; below
/// it, a short list is completed with what the user probably meant. Half a page: about what a
/// list being typed into shows.
pub const SPELLING_BELOW: i64 = 10;

/// Most words of one search matched by spelling (each costs a lookup): the first ones long
/// enough; the others match as they are written.
pub const SPELLING_MAX_TERMS: usize = 8;

/// The parameters a search text becomes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Text for `to_tsquery('english', ...)`: OR-groups joined by `|`, each group's terms by
    /// `&`; empty when nothing but syntax was typed.
    pub query: String,
    /// The required terms of every OR-group, for cases found by the spelling of their name.
    pub terms: Vec<GroupTerm>,
    /// Text for `to_tsquery('english', ...)`: every excluded word and phrase, joined by `|`.
    pub excluded: Option<String>,
}

/// A required term of an OR-group.
#[derive(Debug, PartialEq, Eq)]
pub struct GroupTerm {
    /// The group's number.
    pub group: i32,
    /// Text for `to_tsquery('english', ...)`: the term alone (a word as a prefix).
    pub query: String,
    /// The word a word of a name may be spelled like instead; empty for a phrase, and for a
    /// word of fewer than [`SPELLING_MIN_CHARS`] letters and digits.
    pub spelling: String,
}

/// A word or a quoted phrase of a search, and whether it is excluded (`-word`).
#[derive(Debug)]
struct Term {
    text: String,
    phrase: bool,
    excluded: bool,
}

/// Whether `c` separates words: white space, and control characters (NUL among them, which
/// PostgreSQL's text cannot hold).
fn separates(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// The OR-groups of `text`, each a list of terms, in web-search syntax as PostgreSQL's
/// `websearch_to_tsquery` reads it: `"` opens a phrase that runs to the next `"` (or the end),
/// `-` before a term excludes it, `or` between two terms (any case) separates groups; a
/// leading `or` is a word (a stop word), a trailing one nothing.
fn groups(text: &str) -> Vec<Vec<Term>> {
    let mut groups: Vec<Vec<Term>> = vec![Vec::new()];
    // in a phrase too, a control character is a space
    let mut chars = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .peekable();
    let mut excluded = false;
    loop {
        while chars.next_if(|c| separates(*c)).is_some() {}
        let Some(c) = chars.next() else { break };
        let (text, phrase) = match c {
            '-' => {
                excluded = !excluded;
                continue;
            }
            '"' => (chars.by_ref().take_while(|c| *c != '"').collect(), true),
            _ => {
                let mut word = String::from(c);
                while let Some(c) = chars.next_if(|c| !separates(*c) && *c != '"') {
                    word.push(c);
                }
                (word, false)
            }
        };
        let group = groups.last().map_or(0, Vec::len);
        if !phrase && !excluded && group > 0 && text.eq_ignore_ascii_case("or") {
            groups.push(Vec::new());
            continue;
        }
        if !text.chars().all(separates)
            && let Some(group) = groups.last_mut()
        {
            group.push(Term {
                text,
                phrase,
                excluded,
            });
        }
        excluded = false;
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// `text` as one quoted tsquery lexeme (`'...'`, `:*` after it for a prefix): inside quotes,
/// only a quote and a backslash mean anything, and each is escaped with a backslash.
fn lexeme(text: &str, prefix: bool) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    if prefix {
        out.push_str(":*");
    }
    out
}

/// The tsquery text of `term`: an excluded one negated, a word not excluded as a prefix.
fn term_query(term: &Term) -> String {
    let lexeme = lexeme(&term.text, !term.phrase && !term.excluded);
    if term.excluded {
        format!("!{lexeme}")
    } else {
        lexeme
    }
}

/// Reads a search text.
pub fn parse(text: &str) -> Parsed {
    let groups = groups(text);
    let query = groups
        .iter()
        .map(|g| g.iter().map(term_query).collect::<Vec<_>>().join(" & "))
        .collect::<Vec<_>>()
        .join(" | ");
    let mut terms = Vec::new();
    let mut spelled = 0;
    for (number, group) in (0..).zip(&groups) {
        for term in group.iter().filter(|t| !t.excluded) {
            let letters = term.text.chars().filter(|c| c.is_alphanumeric()).count();
            let spell =
                !term.phrase && letters >= SPELLING_MIN_CHARS && spelled < SPELLING_MAX_TERMS;
            spelled += usize::from(spell);
            terms.push(GroupTerm {
                group: number,
                query: term_query(term),
                spelling: if spell {
                    term.text.clone()
                } else {
                    String::new()
                },
            });
        }
    }
    let excluded: Vec<String> = groups
        .iter()
        .flatten()
        .filter(|t| t.excluded)
        .map(|t| lexeme(&t.text, false))
        .collect();
    Parsed {
        query,
        terms,
        excluded: (!excluded.is_empty()).then(|| excluded.join(" | ")),
    }
}

/// Escapes the HTML of the text of SQL expression `expr` (`&`, `<`, `>`, `"`, `'` as
/// entities), so that a snippet made of it can be set as HTML whatever a case's text holds.
/// Escaping comes before `ts_headline`, which would otherwise pass on whatever its parser
/// does not take for a tag (`<img src=x onerror=...>`) and drop, as tags, what a name says
/// (`<script>`); the entities are single tokens to it, copied as they are and never marked.
pub fn html_escaped(expr: &str) -> String {
    format!(
        "replace(replace(replace(replace(replace({expr}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), \
         '\"', '&quot;'), '''', '&#39;')"
    )
}

/// The SQL of a search, its parameters bound.
pub struct SearchSql {
    /// The tsquery, for matches, ranks and snippets.
    pub tsquery: String,
    /// The condition that keeps the cases found.
    pub condition: String,
    /// Relevance, higher first: `ts_rank` (0 or more) for a case the full text finds; for one
    /// found only by the spelling of its name, the mean similarity of its name to the words
    /// that have a spelling, minus 1 (below 0).
    pub relevance: String,
}

/// Binds the parameters of search `text` in `sql`, in this order: the query's text; then,
/// when a term has a spelling, the terms' groups, texts and spellings (three arrays) and the
/// exclusions' text (null without).
pub fn bind(text: &str, sql: &mut Sql) -> SearchSql {
    let parsed = parse(text);
    let tsquery = format!("to_tsquery('english', {})", sql.bind(parsed.query));
    let by_tsquery = format!("SELECT id FROM search_test_cases_by_tsquery({tsquery})");
    let document = format!("to_tsvector('english', {SEARCH_DOCUMENT})");
    let rank = format!("ts_rank({document}, {tsquery})::float8");
    if parsed.terms.iter().all(|t| t.spelling.is_empty()) {
        return SearchSql {
            condition: format!("test_cases.id IN ({by_tsquery})"),
            relevance: rank,
            tsquery,
        };
    }
    let (mut groups, mut queries, mut spellings) = (Vec::new(), Vec::new(), Vec::new());
    for term in parsed.terms {
        groups.push(term.group);
        queries.push(term.query);
        spellings.push(term.spelling);
    }
    let groups = sql.bind(groups);
    let queries = sql.bind(queries);
    let spellings = sql.bind(spellings);
    let excluded = sql.bind(parsed.excluded);
    let by_spelling = format!(
        "SELECT id FROM search_test_cases_by_spelling({tsquery}, {groups}::int[], \
             ARRAY(SELECT to_tsquery('english', q) FROM unnest({queries}::text[]) \
                   WITH ORDINALITY AS u(q, n) ORDER BY n), \
             {spellings}::text[], to_tsquery('english', {excluded}::text), {SPELLING_BELOW})"
    );
    // a full-text match told by its id among the function's (one lookup in a hash built once),
    // not by a second `to_tsvector` of every case
    let relevance = format!(
        "CASE WHEN test_cases.id IN ({by_tsquery}) THEN {rank} \
         ELSE coalesce((SELECT avg(strict_word_similarity(s, test_cases.name)) \
                        FROM unnest({spellings}::text[]) AS s WHERE s <> ''), 0)::float8 - 1 END"
    );
    SearchSql {
        tsquery,
        condition: format!("test_cases.id IN ({by_tsquery} UNION {by_spelling})"),
        relevance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> String {
        parse(text).query
    }

    #[test]
    fn words_then_each_a_required_prefix() {
        let parsed = parse("check pay");
        assert_eq!(parsed.query, "'check':* & 'pay':*");
        assert_eq!(
            parsed.terms,
            [
                GroupTerm {
                    group: 0,
                    query: "'check':*".to_owned(),
                    spelling: "check".to_owned()
                },
                GroupTerm {
                    group: 0,
                    query: "'pay':*".to_owned(),
                    spelling: String::new()
                },
            ]
        );
        assert_eq!(parsed.excluded, None);
    }

    #[test]
    fn web_search_syntax_then_phrases_exclusions_and_groups() {
        assert_eq!(
            query("\"valid password\" -invalid"),
            "'valid password' & !'invalid'"
        );
        assert_eq!(query("checkout OR reset"), "'checkout':* | 'reset':*");
        assert_eq!(
            query("alpha -gamma or beta"),
            "'alpha':* & !'gamma' | 'beta':*"
        );
        assert_eq!(query("a\"b c\"d"), "'a':* & 'b c' & 'd':*");
        assert_eq!(query("-\"x y\" z"), "!'x y' & 'z':*");
        assert_eq!(query("\"unterminated phrase"), "'unterminated phrase'");
        assert_eq!(query("\"nul\0in a\tphrase\""), "'nul in a phrase'");
    }

    #[test]
    fn or_at_either_end_or_twice_then_a_word_or_nothing() {
        assert_eq!(query("or login"), "'or':* & 'login':*");
        assert_eq!(query("login or"), "'login':*");
        // a stop word, which to_tsquery drops
        assert_eq!(query("a or or b"), "'a':* | 'or':* & 'b':*");
        assert_eq!(query("OR OR -"), "'OR':*");
    }

    #[test]
    fn syntax_characters_quotes_and_backslashes_then_text_of_a_lexeme() {
        assert_eq!(query(":*&|!()"), "':*&|!()':*");
        assert_eq!(query("o'neil"), "'o\\'neil':*");
        assert_eq!(query("back\\slash"), "'back\\\\slash':*");
        assert_eq!(query("x\\' | y"), "'x\\\\\\'':* & '|':* & 'y':*");
        assert_eq!(
            query("'; DROP TABLE test_cases; --"),
            "'\\';':* & 'DROP':* & 'TABLE':* & 'test_cases;':*"
        );
    }

    #[test]
    fn many_long_words_then_only_the_first_ones_by_spelling() {
        let text = (0..20)
            .map(|i| format!("word{i:02}"))
            .collect::<Vec<_>>()
            .join(" ");
        let parsed = parse(&text);
        assert_eq!(parsed.terms.len(), 20);
        let spelled: Vec<&str> = parsed
            .terms
            .iter()
            .map(|t| t.spelling.as_str())
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(
            spelled,
            (0..8).map(|i| format!("word{i:02}")).collect::<Vec<_>>()
        );
    }

    #[test]
    fn only_syntax_or_space_then_nothing_to_search() {
        for text in ["", "   ", "-", "--", "\"\"", "\" \"", "\0\t\n", "- \"  \""] {
            assert_eq!(parse(text), Parsed::default(), "{text:?}");
        }
    }

    #[test]
    fn terms_then_required_ones_by_group_spelt_when_long_enough_words() {
        let parsed = parse("chekout -refund or \"a phrase\" x or pasword reset");
        let terms: Vec<(i32, &str, &str)> = parsed
            .terms
            .iter()
            .map(|t| (t.group, t.query.as_str(), t.spelling.as_str()))
            .collect();
        assert_eq!(
            terms,
            [
                (0, "'chekout':*", "chekout"),
                (1, "'a phrase'", ""),
                (1, "'x':*", ""),
                (2, "'pasword':*", "pasword"),
                (2, "'reset':*", "reset"),
            ]
        );
        assert_eq!(parsed.excluded.as_deref(), Some("'refund'"));
        assert_eq!(parse("!!!!!!").terms[0].spelling, "");
    }
}
