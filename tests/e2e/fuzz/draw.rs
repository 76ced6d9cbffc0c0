//! Drawing values: a proptest runner seeded per case, and the generators of text, numbers,
//! JSON, token soups and bytes that the cases are built from.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Draws values from proptest strategies with a runner whose RNG is seeded from the run's seed
/// and the case's number, so that any one case can be generated again on its own.
pub struct Gen {
    runner: TestRunner,
}

impl Gen {
    pub fn for_case(seed: u64, case: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..16].copy_from_slice(&case.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        Self {
            runner: TestRunner::new_with_rng(Config::default(), rng),
        }
    }

    /// A value of `strategy` (no shrinking: a case is replayed from its seed instead).
    pub fn draw<S: Strategy>(&mut self, strategy: S) -> S::Value {
        strategy
            .new_tree(&mut self.runner)
            .expect("the strategies used here never reject")
            .current()
    }

    /// 0 to `n - 1` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.draw(0..n) }
    }

    /// `lo` to `hi`, both included.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        self.draw(lo..=hi)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.draw(0u32..100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.range(0, max);
        self.draw(proptest::collection::vec(any::<u8>(), len))
    }

    /// A length skewed towards small ones, sometimes one past a server bound (the query text's
    /// 256 KiB) or far past it.
    pub fn length(&mut self) -> usize {
        match self.below(100) {
            0..=69 => self.range(0, 40),
            70..=89 => self.range(40, 2_000),
            90..=96 => self.range(2_000, 70_000),
            _ => *self.pick(&[255 * 1024, 256 * 1024 + 1, 300_000, 1_000_000, 3_000_000]),
        }
    }

    /// `lo` to `hi` characters of `alphabet` (a regex strategy would be compiled per draw).
    pub fn text_of(&mut self, alphabet: &str, lo: usize, hi: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        let n = self.range(lo, hi);
        (0..n).map(|_| chars[self.below(chars.len())]).collect()
    }

    /// `lo` to `hi` characters of any kind, unicode's odd corners favoured.
    pub fn any_text(&mut self, lo: usize, hi: usize) -> String {
        let n = self.range(lo, hi);
        (0..n).map(|_| self.draw(any::<char>())).collect()
    }

    /// A GraphQL name of 1 to `hi` + 1 characters.
    pub fn name(&mut self, hi: usize) -> String {
        let first = self.text_of(NAME_START, 1, 1);
        first + &self.text_of(NAME_REST, 0, hi)
    }

    pub fn uuid(&mut self) -> String {
        uuid::Uuid::from_bytes(self.draw(any::<[u8; 16]>())).to_string()
    }
}

/// Printable ASCII, space to tilde.
pub const PRINTABLE: &str = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
pub const NAME_START: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
pub const NAME_REST: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789";
pub const DIGITS: &str = "0123456789";

/// Strings that servers mishandle: SQL and tsquery operators, LIKE wildcards, escapes, NUL,
/// direction overrides, astral characters, numbers and ids as text.
const SPECIAL_STRINGS: &[&str] = &[
    "",
    " ",
    "'",
    "\"",
    "\\",
    "%",
    "_",
    "%_%",
    "'; DROP TABLE test_cases; --",
    "a & b",
    "a | !b",
    "!!!",
    "(",
    "):*",
    "a <-> b",
    "a:*",
    "&",
    "\u{0}",
    "a\u{0}b",
    "\u{202e}evil",
    "\u{feff}",
    "\u{10ffff}",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "e\u{301}\u{301}\u{301}\u{301}",
    "\r\n",
    "null",
    "true",
    "0",
    "-1",
    "1e309",
    "NaN",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "$1",
    "{}",
    "[]",
    "<script>",
    "createdAt:desc",
];

/// A string a server might mishandle.
pub fn nasty_string(g: &mut Gen) -> String {
    nasty(g, true)
}

/// Longest [`short_nasty_string`]: short enough to be repeated 20,000 times (4 MB).
const SHORT_STRING_BYTES: usize = 200;

/// A string a server might mishandle, of at most [`SHORT_STRING_BYTES`].
pub fn short_nasty_string(g: &mut Gen) -> String {
    let mut s = nasty(g, false);
    let mut end = s.len().min(SHORT_STRING_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

fn nasty(g: &mut Gen, long: bool) -> String {
    match g.below(11) {
        0 => g.pick(SPECIAL_STRINGS).to_string(),
        1 | 2 => g.any_text(0, 32),
        3 => g.text_of(NAME_REST, 1, 24),
        4 if long => {
            let unit = g
                .pick(&["x", "é", "🦀", "\u{0}", "'", "\\", "a b ", "&|"])
                .to_string();
            let len = g.length();
            unit.repeat(len.max(1) / unit.len().max(1) + 1)
        }
        5 => g.uuid(),
        6 => number_text(g),
        7 => date_time(g),
        8 => g.any_text(0, 40),
        _ => (0..g.range(2, 4))
            .map(|_| g.pick(SPECIAL_STRINGS).to_string())
            .collect(),
    }
}

/// Numbers as text, valid JSON and GraphQL number syntax: edges of Int and i64, overflows,
/// exponents past f64, long digit runs.
pub fn number_text(g: &mut Gen) -> String {
    match g.below(6) {
        0 => g
            .pick(&[
                "0",
                "-0",
                "1",
                "-1",
                "20",
                "100",
                "101",
                "2147483647",
                "2147483648",
                "-2147483648",
                "-2147483649",
                "9223372036854775807",
                "9223372036854775808",
                "18446744073709551616",
                "1e308",
                "1e309",
                "-1e309",
                "1e-400",
                "0.5",
                "3.4028235e38",
                "1.7976931348623157e308",
            ])
            .to_string(),
        1 => g.draw(any::<i64>()).to_string(),
        2 => g.draw(-5i64..=200).to_string(),
        3 => {
            let f: f64 = g.draw(any::<f64>());
            if f.is_finite() {
                format!("{f:e}")
            } else {
                "1e999".to_owned()
            }
        }
        4 => format!("{}{}", g.pick(&["", "-"]), "9".repeat(g.range(20, 5_000))),
        _ => format!("1e{}", g.draw(any::<i32>())),
    }
}

/// Numbers as text that no grammar accepts.
pub fn malformed_number(g: &mut Gen) -> String {
    g.pick(&[
        "01", "1.", ".5", "1e", "0x10", "NaN", "Infinity", "+1", "1_000", "--1", "1e+", "0b1",
    ])
    .to_string()
}

/// A DateTime-ish text: valid, out of range, or not a date at all.
pub fn date_time(g: &mut Gen) -> String {
    match g.below(4) {
        0 => g
            .pick(&[
                "2024-01-01T00:00:00Z",
                "1970-01-01T00:00:00+00:00",
                "0000-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999999999Z",
                "+275760-09-13T00:00:00Z",
                "2024-02-30T00:00:00Z",
                "2024-06-30T23:59:60Z",
                "2024-01-01",
                "yesterday",
                "2024-01-01T00:00:00+25:00",
            ])
            .to_string(),
        1 => {
            let mut d = |n| g.text_of(DIGITS, n, n);
            format!("{}-{}-{}T{}:{}:{}Z", d(4), d(2), d(2), d(2), d(2), d(2))
        }
        _ => date(g),
    }
}

/// A NaiveDate-ish text.
pub fn date(g: &mut Gen) -> String {
    match g.below(3) {
        0 => g
            .pick(&[
                "2024-01-01",
                "0000-01-01",
                "-0001-12-31",
                "+262143-12-31",
                "9999-12-31",
                "2023-02-29",
                "2024-13-01",
                "1-1-1",
            ])
            .to_string(),
        _ => {
            let mut d = |n| g.text_of(DIGITS, n, n);
            format!("{}-{}-{}", d(4), d(2), d(2))
        }
    }
}

/// A GraphQL string literal holding `s` exactly.
pub fn gql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
