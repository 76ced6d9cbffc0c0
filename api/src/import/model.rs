//! What a report file says, whatever its format: the parsers (`junit`, `ctrf`) turn a file
//! into a stream of [`Event`]s, the import writes them.

use serde_json::{Map, Value};

/// Where in the file something is: a line and column (1-based) for XML, a JSON pointer for
/// JSON (`/results/tests/17/duration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    Line { line: u64, column: u64 },
    Pointer(String),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line { line, column } => write!(f, "line {line}, column {column}"),
            Position::Pointer(p) => write!(f, "{p}"),
        }
    }
}

/// The outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// One attempt of a test: the final one, or an earlier one (a rerun).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub outcome: Outcome,
    /// Milliseconds, possibly fractional; `None` when the file gives none.
    pub duration_ms: Option<f64>,
    /// The failure's message (JUnit `message` attribute, CTRF `message`).
    pub message: Option<String>,
    /// The failure's stack trace or body text (JUnit element text, CTRF `trace`).
    pub trace: Option<String>,
    /// Standard output and error of the attempt, when the format keeps them per attempt.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// A step of a test (CTRF `steps`).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub outcome: Outcome,
    pub duration_ms: Option<f64>,
    pub message: Option<String>,
}

/// A file a test refers to (CTRF `attachments`, JUnit `[[ATTACHMENT|path]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub name: String,
    pub path: String,
    pub content_type: Option<String>,
}

/// One test's result.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    /// Where the test is in the file.
    pub position: Position,
    /// The test's stable identity key: `classname::name` (JUnit), CTRF's `id` or
    /// `suite::name[parameters]` (CTRF). Never empty.
    pub key: String,
    /// The test's name (JUnit `name`, CTRF `name`). Never empty.
    pub name: String,
    /// Where the test lives: JUnit `classname` (or the enclosing suite's name), CTRF `suite`
    /// (path elements joined with " > ").
    pub suite: Option<String>,
    /// Source file, when the format gives it.
    pub file: Option<String>,
    /// The final attempt.
    pub result: Attempt,
    /// Earlier attempts, oldest first (Surefire `flakyFailure`/`rerunFailure`, CTRF
    /// `retryAttempts`). Empty when the test ran once.
    pub retries: Vec<Attempt>,
    /// The format says the test is flaky (CTRF `flaky`, Surefire `flakyFailure`).
    pub flaky: bool,
    /// Properties of the test (JUnit `properties` of the testcase, CTRF `extra`), string
    /// values.
    pub properties: Map<String, Value>,
    /// CTRF `parameters`.
    pub parameters: Map<String, Value>,
    /// Tags and labels (CTRF `tags`, `labels`).
    pub tags: Vec<String>,
    pub steps: Vec<Step>,
    pub attachments: Vec<Attachment>,
}

/// Something about the run as a whole.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInfo {
    /// The report's own name for the run (JUnit root `name`, CTRF `results.tool.name`).
    pub name: Option<String>,
    /// The report's run id (CTRF `runId`/`reportId`).
    pub run_id: Option<String>,
    /// Properties of the run (JUnit `testsuite` `properties`, CTRF `environment`).
    pub properties: Map<String, Value>,
}

/// One item of the file that cannot be imported, while the rest can.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub position: Position,
    /// A code: `BAD_USER_INPUT` for an item whose values are wrong.
    pub code: &'static str,
    pub message: String,
}

/// What a parser emits, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// About the run; may come more than once (each JUnit `testsuite` with properties).
    Run(RunInfo),
    Result(Box<TestResult>),
    Rejected(ItemError),
}

/// Why a whole file is refused: nothing of it may be written.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    /// Where the problem is, when known.
    pub position: Option<Position>,
    /// `BAD_REQUEST` (malformed, wrong format, forbidden construct such as a DTD, too deep),
    /// `UNSUPPORTED_MEDIA_TYPE` (an encoding other than UTF-8), `PAYLOAD_TOO_LARGE` (an
    /// element or value past its bound).
    pub code: &'static str,
    pub message: String,
}

/// Bounds a parser keeps, whatever the file.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest element / value nesting.
    pub max_depth: usize,
    /// Longest single XML event (a start tag with its attributes, a text node) or JSON string,
    /// in bytes: bounds the parser's memory.
    pub max_token_bytes: usize,
    /// Longest text kept for a message, trace, stdout or stderr, in bytes (truncated at a
    /// character boundary, with a marker saying so).
    pub max_text_bytes: usize,
    /// Most properties, tags, steps, attachments, retries per test (more are an item error).
    pub max_list: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_token_bytes: 8 * 1024 * 1024,
            max_text_bytes: 64 * 1024,
            max_list: 100,
        }
    }
}

/// The results among a parser's events.
#[cfg(test)]
pub fn results(events: &[Event]) -> Vec<&TestResult> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Result(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

/// The refused items among a parser's events.
#[cfg(test)]
pub fn rejected(events: &[Event]) -> Vec<&ItemError> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rejected(r) => Some(r),
            _ => None,
        })
        .collect()
}
