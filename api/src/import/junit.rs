//! Streaming parser for JUnit XML reports (Ant/JUnit, Maven Surefire, pytest, jest-junit,
//! mocha-junit-reporter, cargo-nextest, ...).
//!
//! The file is read event by event with quick-xml; only the test case being read, the names
//! of the enclosing test suites and the properties of the suite being read are kept, so memory
//! stays bounded by [`Limits`] whatever the size of the file.
//!
//! Rules that the formats leave open, as implemented here:
//! - The key of a test is `classname::name`; without a classname the innermost enclosing
//!   `testsuite`'s `name` stands in for it, and without that too the key is the bare name.
//! - `time` is in seconds: empty or missing means "unknown"; a comma is accepted as the
//!   decimal separator (`"1,5"`); anything else that is not a finite number ≥ 0 rejects the
//!   test case.
//! - Attempts: Surefire/nextest `flakyFailure`/`flakyError` elements are earlier failed
//!   attempts (oldest first), then comes the attempt described by the test case itself
//!   (`failure`/`error`/`skipped`/none), then `rerunFailure`/`rerunError` elements. The last
//!   of that list is the test's result, the others are its retries. `flakyFailure` marks the
//!   test flaky.
//! - The test case's `system-out`/`system-err` belong to its final attempt; when that attempt
//!   is a rerun carrying output of its own, the test case's output goes to the first
//!   `failure`/`error` attempt instead (that is where Surefire takes it from).
//! - Several `failure`/`error` elements in one test case (pytest writes a failure and a
//!   teardown error) make one failed attempt: the first message is kept, traces are joined
//!   with a blank line. `skipped` next to a failure is ignored: the failure wins.
//! - Bytes that are not UTF-8 anywhere in the file refuse the whole file
//!   (`UNSUPPORTED_MEDIA_TYPE`): such a file is in another encoding than the one it claims.
//! - A test case with the same key as the one just before it, in the same `testsuite`, is a
//!   rerun (pytest-rerunfailures, Gradle test-retry write one `testcase` per attempt): the
//!   two are merged, the earlier becoming a retry (recorded as failed, since only a test that
//!   did not pass is rerun); ending passed after reruns makes the test flaky. To allow this,
//!   each test is emitted when the next event arrives (one test held back at most).
//! - `[[ATTACHMENT|path]]` lines are read from the test case's own `system-out` only.
//! - Unknown elements are skipped with everything inside them.

use std::io::{self, BufRead, Read};
use std::ops::ControlFlow;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event as XmlEvent};
use serde_json::{Map, Value};

use crate::import::model::{
    Attachment, Attempt, Event, FileError, ItemError, Limits, Outcome, Position, TestResult,
};

/// Longest test name accepted, in characters.
const MAX_NAME_CHARS: usize = crate::input::TEST_KEY_MAX;
/// Longest classname (suite) or key accepted, in characters.
const MAX_KEY_CHARS: usize = crate::input::TEST_KEY_MAX;
/// Longest `system-out` line looked at for an `[[ATTACHMENT|path]]` marker: longer lines are
/// output, not markers, and must not make the scanner buffer them.
const MAX_ATTACHMENT_LINE: usize = 4096;

/// Parses a JUnit XML report, calling `emit` for each event in file order.
///
/// Returns `Ok(())` at the end of the file or as soon as `emit` returns `Break`; a
/// [`FileError`] when the file as a whole cannot be accepted (events emitted before it must
/// then be discarded by the caller).
pub fn parse<R: BufRead>(
    reader: R,
    limits: &Limits,
    emit: &mut dyn FnMut(Event) -> ControlFlow<()>,
) -> Result<(), FileError> {
    let input = Tracked::new(reader, limits.max_token_bytes)?;
    let mut xml = Reader::from_reader(input);
    // Keep the defaults that matter for safety and correctness: end tag names are checked,
    // a lone `&` is an error, text is not trimmed (whitespace in output is meaningful).
    let config = xml.config_mut();
    config.check_end_names = true;
    config.allow_dangling_amp = false;
    config.trim_text(false);
    config.expand_empty_elements = false;

    let mut parser = Parser::new(limits);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Where the next event starts. quick-xml's offset equals the wrapper's count of
        // consumed bytes, except right after a text event, when quick-xml has already
        // consumed the `<` of the following markup: the event then starts one byte (one
        // character, never a newline) before the wrapper's position.
        let before = xml.get_ref().here();
        let start_offset = xml.buffer_position();
        let back = before.offset.saturating_sub(start_offset);
        let at = Position::Line {
            line: before.line,
            column: before.column.saturating_sub(back).max(1),
        };
        xml.get_mut().mark();
        let event = match xml.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(err) => return Err(xml_error(err, xml.get_ref(), at, limits)),
        };
        if let XmlEvent::Eof = event {
            return parser.finish(xml.get_ref().here().position(), emit);
        }
        if parser.event(event, at, emit)?.is_break() {
            return Ok(());
        }
    }
}

/// Turns a quick-xml error into the file error to report.
fn xml_error<R>(
    err: quick_xml::Error,
    input: &Tracked<R>,
    at: Position,
    limits: &Limits,
) -> FileError {
    if input.over_limit {
        return too_large(at, limits);
    }
    match err {
        quick_xml::Error::Io(e) => FileError {
            position: None,
            code: "BAD_REQUEST",
            message: format!("could not read the file: {e}"),
        },
        quick_xml::Error::Encoding(e) => not_utf8(at, &e),
        quick_xml::Error::Escape(e) => bad_request(at, format!("malformed XML: {e}")),
        other => bad_request(at, format!("malformed XML: {other}")),
    }
}

fn bad_request(at: Position, message: String) -> FileError {
    FileError {
        position: Some(at),
        code: "BAD_REQUEST",
        message,
    }
}

fn not_utf8(at: Position, detail: &dyn std::fmt::Display) -> FileError {
    FileError {
        position: Some(at),
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: format!("the file is not valid UTF-8 ({detail}); only UTF-8 is accepted"),
    }
}

fn too_large(at: Position, limits: &Limits) -> FileError {
    FileError {
        position: Some(at),
        code: "PAYLOAD_TOO_LARGE",
        message: format!(
            "an XML element or text is longer than {} bytes",
            limits.max_token_bytes
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Input wrapper: positions and the per-event size bound
// ---------------------------------------------------------------------------------------------

/// A point in the input: byte offset (after any byte order mark) and 1-based line/column,
/// the column counted in characters.
#[derive(Debug, Clone, Copy)]
struct Here {
    offset: u64,
    line: u64,
    column: u64,
}

impl Here {
    fn position(self) -> Position {
        Position::Line {
            line: self.line,
            column: self.column,
        }
    }
}

/// Wraps the caller's reader to do what quick-xml does not:
///
/// - count lines and columns as bytes are consumed, so that the position of any event is
///   known in O(1) without rescanning the file;
/// - bound the bytes one event may span. quick-xml accumulates a whole start tag or text
///   node in memory before returning it; the wrapper refuses to hand out more than
///   `max_token` bytes (plus one, to see that the bound is passed) after the last
///   [`Tracked::mark`], and fails the read past it, so no more than about that many bytes
///   are ever buffered.
struct Tracked<R> {
    inner: R,
    offset: u64,
    line: u64,
    column: u64,
    mark: u64,
    max_token: u64,
    over_limit: bool,
}

impl<R: BufRead> Tracked<R> {
    /// Checks how the input starts (refusing UTF-16/UTF-32) and drops a UTF-8 byte order mark.
    fn new(mut inner: R, max_token: usize) -> Result<Self, FileError> {
        let head = inner.fill_buf().map_err(|e| FileError {
            position: None,
            code: "BAD_REQUEST",
            message: format!("could not read the file: {e}"),
        })?;
        let utf16 = head.starts_with(&[0xFF, 0xFE])
            || head.starts_with(&[0xFE, 0xFF])
            || head.starts_with(&[0x00, 0x00, 0xFE, 0xFF])
            || head.starts_with(&[0x3C, 0x00])
            || head.starts_with(&[0x00, 0x3C]);
        if utf16 {
            return Err(FileError {
                position: Some(Position::Line { line: 1, column: 1 }),
                code: "UNSUPPORTED_MEDIA_TYPE",
                message: "the file is UTF-16 or UTF-32; only UTF-8 is accepted".to_string(),
            });
        }
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            inner.consume(3);
        }
        Ok(Self {
            inner,
            offset: 0,
            line: 1,
            column: 1,
            mark: 0,
            max_token: u64::try_from(max_token).unwrap_or(u64::MAX),
            over_limit: false,
        })
    }
}

impl<R> Tracked<R> {
    fn here(&self) -> Here {
        Here {
            offset: self.offset,
            line: self.line,
            column: self.column,
        }
    }

    /// Starts counting the bytes of a new event.
    fn mark(&mut self) {
        self.mark = self.offset;
    }
}

impl<R: BufRead> Read for Tracked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let used = self.offset.saturating_sub(self.mark);
        if used > self.max_token {
            self.over_limit = true;
            return Err(io::Error::other("XML event longer than the limit"));
        }
        let room = usize::try_from(self.max_token - used + 1).unwrap_or(usize::MAX);
        let available = self.inner.fill_buf()?;
        let n = available.len().min(room);
        Ok(&available[..n])
    }

    fn consume(&mut self, amount: usize) {
        // The bytes being consumed are still in the inner buffer: asking for it again does
        // not read anything new.
        if let Ok(available) = self.inner.fill_buf() {
            let bytes = &available[..amount.min(available.len())];
            match bytes.iter().rposition(|&b| b == b'\n') {
                Some(last) => {
                    self.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
                    self.column = 1 + count_chars(&bytes[last + 1..]);
                }
                None => self.column += count_chars(bytes),
            }
        }
        self.offset += amount as u64;
        self.inner.consume(amount);
    }
}

/// Characters in UTF-8 bytes: every byte that is not a continuation byte starts one.
fn count_chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

// ---------------------------------------------------------------------------------------------
// Bounded texts (shared with the CTRF parser)
// ---------------------------------------------------------------------------------------------

/// A text built from pieces and kept to at most `limit` bytes, cut at a character boundary.
/// What is dropped is only counted, so a huge `system-out` costs no memory; the result says
/// how much was dropped.
#[derive(Debug, Default)]
pub(crate) struct BoundedText {
    text: String,
    dropped: usize,
}

impl BoundedText {
    pub(crate) fn push(&mut self, piece: &str, limit: usize) {
        if self.dropped > 0 {
            self.dropped += piece.len();
            return;
        }
        let room = limit.saturating_sub(self.text.len());
        if piece.len() <= room {
            self.text.push_str(piece);
        } else {
            let cut = floor_boundary(piece, room);
            self.text.push_str(&piece[..cut]);
            self.dropped += piece.len() - cut;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty() && self.dropped == 0
    }

    /// The kept text, with a marker when something was dropped.
    pub(crate) fn finish(self) -> String {
        if self.dropped == 0 {
            self.text
        } else {
            format!("{}\n[truncated: {} bytes]", self.text, self.dropped)
        }
    }
}

/// `text` cut to at most `limit` bytes, marked when cut.
pub(crate) fn truncate(text: &str, limit: usize) -> String {
    let mut out = BoundedText::default();
    out.push(text, limit);
    out.finish()
}

/// The largest character boundary of `s` that is ≤ `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Parses a JUnit `time` (seconds) into milliseconds: `Ok(None)` when empty, `Err` when not a
/// finite number ≥ 0.
fn parse_seconds(raw: &str) -> Result<Option<f64>, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    // Some locales write a decimal comma; a comma together with a dot is a thousands
    // separator we do not guess at.
    let normal = if trimmed.contains(',') && !trimmed.contains('.') {
        trimmed.replacen(',', ".", 1)
    } else {
        trimmed.to_string()
    };
    match normal.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(Some(secs * 1000.0)),
        _ => Err(format!(
            "time \"{}\" is not a number of seconds ≥ 0",
            truncate(trimmed, 40)
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The parser's state
// ---------------------------------------------------------------------------------------------

/// What an open element is to the parser; decides what its text and children mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// `<testsuites>` root.
    Suites,
    /// `<testsuite>` (root or nested); its name is on `Parser::suites`.
    Suite,
    /// `<properties>` of a suite.
    SuiteProperties,
    /// `<property>` of a suite, collecting its text when it has no `value`.
    SuiteProperty,
    Case,
    CaseProperties,
    CaseProperty,
    /// `<failure>`/`<error>`/`<skipped>`: text is the trace of the test case's own attempt.
    Outcome,
    /// `<flakyFailure>` and friends: text is that attempt's trace.
    Attempt,
    /// `<stackTrace>`, `<system-out>`, `<system-err>` inside an attempt.
    AttemptText(Stream),
    /// `<system-out>`/`<system-err>` of the test case.
    CaseText(Stream),
    /// Anything else: skipped with its content.
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Trace,
    Out,
    Err,
}

/// Where a flaky/rerun attempt goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptKind {
    Flaky,
    Rerun,
}

/// An attempt being read.
#[derive(Debug, Default)]
struct AttemptBuf {
    duration_ms: Option<f64>,
    message: Option<String>,
    trace: BoundedText,
    stdout: Option<BoundedText>,
    stderr: Option<BoundedText>,
}

impl AttemptBuf {
    /// `trim`: the trace of a flaky/rerun element mixes its own text with the indentation
    /// around its child elements, which is layout, not trace.
    fn finish(self, outcome: Outcome, trim: bool) -> Attempt {
        let trace = self.trace.finish();
        let trace = if trim {
            trace.trim().to_string()
        } else {
            trace
        };
        Attempt {
            outcome,
            duration_ms: self.duration_ms,
            message: self.message,
            trace: (!trace.is_empty()).then_some(trace),
            stdout: self.stdout.map(BoundedText::finish),
            stderr: self.stderr.map(BoundedText::finish),
        }
    }
}

/// A `<property>` being read.
#[derive(Debug, Default)]
struct PropertyBuf {
    name: Option<String>,
    value: Option<String>,
    text: BoundedText,
}

impl PropertyBuf {
    fn finish(self) -> Option<(String, Value)> {
        let name = self.name.filter(|n| !n.is_empty())?;
        let value = self.value.unwrap_or_else(|| self.text.finish());
        Some((name, Value::String(value)))
    }
}

/// Finds `[[ATTACHMENT|path]]` lines in a stream of text pieces without keeping more than
/// one (bounded) line.
#[derive(Debug, Default)]
struct AttachmentScanner {
    line: String,
    too_long: bool,
}

impl AttachmentScanner {
    fn push(&mut self, piece: &str, found: &mut Vec<String>) {
        let mut rest = piece;
        while let Some(nl) = rest.find('\n') {
            self.add(&rest[..nl]);
            self.end_line(found);
            rest = &rest[nl + 1..];
        }
        self.add(rest);
    }

    fn add(&mut self, part: &str) {
        if self.too_long || self.line.len() + part.len() > MAX_ATTACHMENT_LINE {
            self.too_long = true;
            self.line.clear();
        } else {
            self.line.push_str(part);
        }
    }

    fn end_line(&mut self, found: &mut Vec<String>) {
        if !self.too_long {
            let line = self.line.trim();
            if let Some(path) = line
                .strip_prefix("[[ATTACHMENT|")
                .and_then(|l| l.strip_suffix("]]"))
            {
                let path = path.trim();
                if !path.is_empty() {
                    found.push(path.to_string());
                }
            }
        }
        self.line.clear();
        self.too_long = false;
    }
}

/// The test case being read.
#[derive(Debug)]
struct CaseBuf {
    position: Position,
    name: String,
    /// The classname, or the suite name standing in for it; `None` when both are empty.
    suite: Option<String>,
    file: Option<String>,
    /// The first reason the test case cannot be imported.
    error: Option<String>,
    outcome: Outcome,
    /// The attempt described by the test case itself.
    own: AttemptBuf,
    stdout: Option<BoundedText>,
    stderr: Option<BoundedText>,
    flaky: Vec<AttemptBuf>,
    reruns: Vec<AttemptBuf>,
    /// The flaky/rerun attempt being read.
    current: Option<(AttemptKind, AttemptBuf)>,
    properties: Map<String, Value>,
    property: Option<PropertyBuf>,
    attachments: Vec<String>,
    scanner: AttachmentScanner,
}

impl CaseBuf {
    fn reject(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    /// Builds the event for the finished test case.
    fn finish(mut self, limits: &Limits) -> Event {
        let mut scanned = std::mem::take(&mut self.attachments);
        self.scanner.end_line(&mut scanned);
        if self.error.is_none() && scanned.len() > limits.max_list {
            self.reject(format!(
                "the testcase has more than {} attachments",
                limits.max_list
            ));
        }
        if self.error.is_none() && self.flaky.len() + self.reruns.len() > limits.max_list {
            self.reject(format!(
                "the testcase has more than {} retries",
                limits.max_list
            ));
        }
        if let Some(message) = self.error {
            return Event::Rejected(ItemError {
                position: self.position,
                code: "BAD_USER_INPUT",
                message,
            });
        }
        let key = match &self.suite {
            Some(suite) => format!("{suite}::{}", self.name),
            None => self.name.clone(),
        };

        let flaky = !self.flaky.is_empty();
        let mut attempts: Vec<Attempt> = self
            .flaky
            .into_iter()
            .map(|a| a.finish(Outcome::Failed, true))
            .collect();
        let own_index = attempts.len();
        attempts.push(self.own.finish(self.outcome, false));
        attempts.extend(
            self.reruns
                .into_iter()
                .map(|a| a.finish(Outcome::Failed, true)),
        );
        let last = attempts.len() - 1;
        // The test case's output: to the final attempt, unless that is a rerun that has its
        // own output, in which case it belongs to the test case's own attempt.
        let target = if last != own_index
            && (attempts[last].stdout.is_some() || attempts[last].stderr.is_some())
        {
            own_index
        } else {
            last
        };
        if let Some(out) = self.stdout {
            attempts[target].stdout = Some(out.finish());
        }
        if let Some(err) = self.stderr {
            attempts[target].stderr = Some(err.finish());
        }
        let result = attempts.pop().unwrap_or(Attempt {
            outcome: Outcome::Passed,
            duration_ms: None,
            message: None,
            trace: None,
            stdout: None,
            stderr: None,
        });

        let attachments = scanned
            .into_iter()
            .map(|path| Attachment {
                name: file_name(&path).to_string(),
                path,
                content_type: None,
            })
            .collect();

        Event::Result(Box::new(TestResult {
            position: self.position,
            key,
            name: self.name,
            suite: self.suite,
            file: self.file,
            result,
            retries: attempts,
            flaky,
            properties: self.properties,
            parameters: Map::new(),
            tags: Vec::new(),
            steps: Vec::new(),
            attachments,
        }))
    }
}

/// Merges a test case into the one before it with the same key: tools that rerun a failed
/// test (pytest-rerunfailures, Gradle's test-retry) write each attempt as its own
/// `testcase`. The earlier attempts become retries; one the file shows as passed is recorded
/// as failed, since only a test that did not pass is rerun (pytest-rerunfailures writes the
/// failed attempt without a `failure` element). A test that ends passed after reruns is flaky.
fn merge_rerun(
    first: Box<TestResult>,
    mut last: Box<TestResult>,
    limits: &Limits,
) -> Result<Box<TestResult>, ItemError> {
    let first = *first;
    let mut earlier = first.retries;
    let mut previous = first.result;
    if previous.outcome == Outcome::Passed {
        previous.outcome = Outcome::Failed;
    }
    earlier.push(previous);
    earlier.append(&mut last.retries);
    if earlier.len() > limits.max_list {
        return Err(ItemError {
            position: first.position,
            code: "BAD_USER_INPUT",
            message: format!("the testcase has more than {} retries", limits.max_list),
        });
    }
    last.flaky = first.flaky || last.flaky || last.result.outcome == Outcome::Passed;
    last.retries = earlier;
    last.position = first.position;
    Ok(last)
}

/// The last component of a path, `/` or `\` separated; the path itself when it has none.
fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\'])
        .find(|part| !part.is_empty())
        .unwrap_or(path)
}

struct Parser<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    /// Names of the open `testsuite`s, innermost last.
    suites: Vec<String>,
    root_seen: bool,
    case: Option<CaseBuf>,
    /// Properties of the suite whose `<properties>` is open.
    run_properties: Map<String, Value>,
    run_property: Option<PropertyBuf>,
    /// The last test case read, held back in case the next one repeats it (a rerun).
    pending: Option<Box<TestResult>>,
    /// Changes at every `testsuite` start and end: test cases are only merged as reruns
    /// when no suite boundary lies between them.
    suite_serial: u64,
    pending_serial: u64,
}

impl<'l> Parser<'l> {
    /// Emits an event in file order, merging a test case that repeats the one just before
    /// it into one test with retries.
    fn deliver(
        &mut self,
        event: Event,
        emit: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match event {
            Event::Result(result) => {
                if let Some(previous) = self.pending.take() {
                    if previous.key == result.key && self.pending_serial == self.suite_serial {
                        match merge_rerun(previous, result, self.limits) {
                            Ok(merged) => self.pending = Some(merged),
                            Err(rejected) => return emit(Event::Rejected(rejected)),
                        }
                        return ControlFlow::Continue(());
                    }
                    emit(Event::Result(previous))?;
                }
                self.pending = Some(result);
                self.pending_serial = self.suite_serial;
                ControlFlow::Continue(())
            }
            other => {
                self.flush(emit)?;
                emit(other)
            }
        }
    }

    /// Emits the held-back test case, if any.
    fn flush(&mut self, emit: &mut dyn FnMut(Event) -> ControlFlow<()>) -> ControlFlow<()> {
        match self.pending.take() {
            Some(result) => emit(Event::Result(result)),
            None => ControlFlow::Continue(()),
        }
    }

    fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
            stack: Vec::new(),
            suites: Vec::new(),
            root_seen: false,
            case: None,
            run_properties: Map::new(),
            run_property: None,
            pending: None,
            suite_serial: 0,
            pending_serial: 0,
        }
    }

    fn finish(
        &mut self,
        end: Position,
        emit: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Result<(), FileError> {
        if !self.root_seen {
            return Err(bad_request(
                end,
                "not a JUnit XML report: the file has no root element".to_string(),
            ));
        }
        if !self.stack.is_empty() {
            return Err(bad_request(
                end,
                "malformed XML: the file ends before its root element is closed".to_string(),
            ));
        }
        // Whether the consumer stops here or not, the file is done.
        let _ = self.flush(emit);
        Ok(())
    }

    fn event(
        &mut self,
        event: XmlEvent<'_>,
        at: Position,
        emit: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, FileError> {
        // quick-xml hands out bytes; every event is checked to be UTF-8, including those that
        // are skipped, so that a file in another encoding is refused whatever it contains.
        if let Err(e) = std::str::from_utf8(raw_bytes(&event)) {
            return Err(not_utf8(at, &e));
        }
        match event {
            XmlEvent::DocType(_) => Err(bad_request(
                at,
                "DTDs are not accepted (entity expansion)".to_string(),
            )),
            XmlEvent::Decl(decl) => {
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding
                        .map_err(|e| bad_request(at.clone(), format!("malformed XML: {e}")))?;
                    if !encoding.eq_ignore_ascii_case(b"utf-8") {
                        return Err(FileError {
                            position: Some(at),
                            code: "UNSUPPORTED_MEDIA_TYPE",
                            message: format!(
                                "the file declares the encoding {}; only UTF-8 is accepted",
                                truncate(&String::from_utf8_lossy(&encoding), 40)
                            ),
                        });
                    }
                }
                Ok(ControlFlow::Continue(()))
            }
            XmlEvent::Start(start) => self.start(&start, at, false, emit),
            XmlEvent::Empty(start) => self.start(&start, at, true, emit),
            XmlEvent::End(_) => self.end(emit),
            XmlEvent::Text(text) => {
                let text = text.xml10_content().map_err(|e| not_utf8(at.clone(), &e))?;
                self.text(&text, at)?;
                Ok(ControlFlow::Continue(()))
            }
            XmlEvent::CData(data) => {
                let text = data.xml10_content().map_err(|e| not_utf8(at.clone(), &e))?;
                if self.stack.is_empty() {
                    return Err(outside_root(at));
                }
                self.text(&text, at)?;
                Ok(ControlFlow::Continue(()))
            }
            XmlEvent::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference, &at)?;
                if self.stack.is_empty() {
                    return Err(outside_root(at));
                }
                let mut utf8 = [0u8; 4];
                let text = match resolved {
                    Resolved::Char(c) => &*c.encode_utf8(&mut utf8),
                    Resolved::Str(s) => s,
                };
                self.text(text, at)?;
                Ok(ControlFlow::Continue(()))
            }
            XmlEvent::Comment(_) | XmlEvent::PI(_) | XmlEvent::Eof => Ok(ControlFlow::Continue(())),
        }
    }

    fn start(
        &mut self,
        start: &BytesStart<'_>,
        at: Position,
        empty: bool,
        emit: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, FileError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(bad_request(
                at,
                format!(
                    "the XML is nested deeper than {} elements",
                    self.limits.max_depth
                ),
            ));
        }
        let local = start.local_name();
        let name = local.as_ref();
        let parent = self.stack.last().copied();
        let mut run_info = None;
        let frame = match parent {
            None if self.root_seen => {
                return Err(bad_request(
                    at,
                    "malformed XML: content after the root element".to_string(),
                ));
            }
            None => {
                self.root_seen = true;
                let frame = match name {
                    b"testsuites" => Frame::Suites,
                    b"testsuite" => Frame::Suite,
                    _ => {
                        let shown = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                        return Err(bad_request(
                            at,
                            format!(
                                "not a JUnit XML report: the root element is <{}>, expected \
                                 <testsuites> or <testsuite>",
                                truncate(&shown, 100)
                            ),
                        ));
                    }
                };
                let [run_name] = attributes(start, [b"name"], &at)?;
                let run_name = run_name.unwrap_or_default();
                if frame == Frame::Suite {
                    self.suites.push(run_name.clone());
                }
                if !run_name.is_empty() {
                    run_info = Some(crate::import::model::RunInfo {
                        name: Some(run_name),
                        ..Default::default()
                    });
                }
                frame
            }
            Some(Frame::Suites | Frame::Suite) => match name {
                b"testsuite" => {
                    let [suite] = attributes(start, [b"name"], &at)?;
                    self.suites.push(suite.unwrap_or_default());
                    self.suite_serial += 1;
                    Frame::Suite
                }
                b"testcase" => {
                    self.case = Some(self.new_case(start, at)?);
                    Frame::Case
                }
                b"properties" => Frame::SuiteProperties,
                _ => Frame::Ignored,
            },
            Some(Frame::SuiteProperties) => match name {
                b"property" => {
                    let [pname, value] = attributes(start, [b"name", b"value"], &at)?;
                    self.run_property = Some(PropertyBuf {
                        name: pname,
                        value,
                        text: BoundedText::default(),
                    });
                    Frame::SuiteProperty
                }
                _ => Frame::Ignored,
            },
            Some(Frame::Case) => self.case_child(start, name, &at)?,
            Some(Frame::CaseProperties) => match name {
                b"property" => {
                    let [pname, value] = attributes(start, [b"name", b"value"], &at)?;
                    if let Some(case) = &mut self.case {
                        case.property = Some(PropertyBuf {
                            name: pname,
                            value,
                            text: BoundedText::default(),
                        });
                    }
                    Frame::CaseProperty
                }
                _ => Frame::Ignored,
            },
            Some(Frame::Attempt) => match name {
                b"stackTrace" => Frame::AttemptText(Stream::Trace),
                b"system-out" => Frame::AttemptText(Stream::Out),
                b"system-err" => Frame::AttemptText(Stream::Err),
                _ => Frame::Ignored,
            },
            Some(_) => Frame::Ignored,
        };
        self.stack.push(frame);
        if let Some(info) = run_info
            && self.deliver(Event::Run(info), emit).is_break()
        {
            return Ok(ControlFlow::Break(()));
        }
        // An empty element (`<x/>`) is a start immediately followed by its end.
        if empty {
            return self.end(emit);
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The frame for a child element of `<testcase>`, updating the test case.
    fn case_child(
        &mut self,
        start: &BytesStart<'_>,
        name: &[u8],
        at: &Position,
    ) -> Result<Frame, FileError> {
        let limit = self.limits.max_text_bytes;
        let Some(case) = &mut self.case else {
            return Ok(Frame::Ignored);
        };
        Ok(match name {
            b"failure" | b"error" => {
                let [message] = attributes(start, [b"message"], at)?;
                if case.outcome == Outcome::Failed {
                    // A further failure of the same attempt: its trace joins the first one.
                    if !case.own.trace.is_empty() {
                        case.own.trace.push("\n\n", limit);
                    }
                    if case.own.message.is_none() {
                        case.own.message = message.map(|m| truncate(&m, limit));
                    }
                } else {
                    case.outcome = Outcome::Failed;
                    // A `skipped` seen before the failure does not describe this attempt.
                    case.own.message = message.map(|m| truncate(&m, limit));
                    case.own.trace = BoundedText::default();
                }
                Frame::Outcome
            }
            b"skipped" => {
                if case.outcome == Outcome::Failed {
                    Frame::Ignored
                } else {
                    let [message] = attributes(start, [b"message"], at)?;
                    case.outcome = Outcome::Skipped;
                    case.own.message = message.map(|m| truncate(&m, limit));
                    Frame::Outcome
                }
            }
            b"flakyFailure" | b"flakyError" | b"rerunFailure" | b"rerunError" => {
                let kind = if name.starts_with(b"flaky") {
                    AttemptKind::Flaky
                } else {
                    AttemptKind::Rerun
                };
                let [message, time] = attributes(start, [b"message", b"time"], at)?;
                let duration_ms = match time.as_deref().map(parse_seconds) {
                    Some(Ok(ms)) => ms,
                    Some(Err(e)) => {
                        case.reject(format!("a {}: {e}", String::from_utf8_lossy(name)));
                        None
                    }
                    None => None,
                };
                case.current = Some((
                    kind,
                    AttemptBuf {
                        duration_ms,
                        message: message.map(|m| truncate(&m, limit)),
                        ..Default::default()
                    },
                ));
                Frame::Attempt
            }
            b"system-out" => {
                case.stdout.get_or_insert_with(BoundedText::default);
                Frame::CaseText(Stream::Out)
            }
            b"system-err" => {
                case.stderr.get_or_insert_with(BoundedText::default);
                Frame::CaseText(Stream::Err)
            }
            b"properties" => Frame::CaseProperties,
            _ => Frame::Ignored,
        })
    }

    /// Reads a `<testcase>` start tag.
    fn new_case(&self, start: &BytesStart<'_>, at: Position) -> Result<CaseBuf, FileError> {
        let [name, classname, time, file] =
            attributes(start, [b"name", b"classname", b"time", b"file"], &at)?;
        let mut case = CaseBuf {
            position: at,
            name: name.unwrap_or_default(),
            suite: None,
            file: file.filter(|f| !f.is_empty()),
            error: None,
            outcome: Outcome::Passed,
            own: AttemptBuf::default(),
            stdout: None,
            stderr: None,
            flaky: Vec::new(),
            reruns: Vec::new(),
            current: None,
            properties: Map::new(),
            property: None,
            attachments: Vec::new(),
            scanner: AttachmentScanner::default(),
        };
        let suite = classname
            .filter(|c| !c.is_empty())
            .or_else(|| self.suites.last().filter(|s| !s.is_empty()).cloned());
        if case.name.is_empty() {
            case.reject("a testcase has no name".to_string());
        } else if case.name.chars().count() > MAX_NAME_CHARS {
            case.reject(format!(
                "the testcase name is longer than {MAX_NAME_CHARS} characters"
            ));
        }
        if let Some(suite) = &suite {
            let suite_chars = suite.chars().count();
            if suite_chars > MAX_KEY_CHARS {
                case.reject(format!(
                    "the testcase classname is longer than {MAX_KEY_CHARS} characters"
                ));
            } else if suite_chars + 2 + case.name.chars().count() > MAX_KEY_CHARS {
                case.reject(format!(
                    "the testcase key (classname::name) is longer than {MAX_KEY_CHARS} characters"
                ));
            }
        }
        case.suite = suite;
        match time.as_deref().map(parse_seconds) {
            Some(Ok(ms)) => case.own.duration_ms = ms,
            Some(Err(e)) => case.reject(format!("the testcase {e}")),
            None => {}
        }
        Ok(case)
    }

    fn end(
        &mut self,
        emit: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, FileError> {
        let Some(frame) = self.stack.pop() else {
            // quick-xml refuses unmatched end tags before we see them.
            return Ok(ControlFlow::Continue(()));
        };
        let limits = self.limits;
        match frame {
            Frame::Suite => {
                self.suites.pop();
                self.suite_serial += 1;
            }
            Frame::SuiteProperty => {
                if let Some((name, value)) = self.run_property.take().and_then(PropertyBuf::finish)
                {
                    self.run_properties.insert(name, value);
                    // A suite may have any number of properties: hand them out in chunks
                    // rather than hold them all.
                    if self.run_properties.len() >= limits.max_list.max(1) {
                        return Ok(self.flush_run(emit));
                    }
                }
            }
            Frame::SuiteProperties => return Ok(self.flush_run(emit)),
            Frame::Case => {
                if let Some(case) = self.case.take() {
                    let event = case.finish(limits);
                    return Ok(self.deliver(event, emit));
                }
            }
            Frame::CaseProperty => {
                if let Some(case) = &mut self.case
                    && let Some((name, value)) = case.property.take().and_then(PropertyBuf::finish)
                {
                    if case.properties.len() >= limits.max_list
                        && !case.properties.contains_key(&name)
                    {
                        case.reject(format!(
                            "the testcase has more than {} properties",
                            limits.max_list
                        ));
                    } else {
                        case.properties.insert(name, value);
                    }
                }
            }
            Frame::Attempt => {
                if let Some(case) = &mut self.case
                    && let Some((kind, attempt)) = case.current.take()
                {
                    let list = match kind {
                        AttemptKind::Flaky => &mut case.flaky,
                        AttemptKind::Rerun => &mut case.reruns,
                    };
                    // Past the bound the test is rejected anyway: keep no more.
                    if list.len() <= limits.max_list {
                        list.push(attempt);
                    } else {
                        case.reject(format!(
                            "the testcase has more than {} retries",
                            limits.max_list
                        ));
                    }
                }
            }
            Frame::CaseText(Stream::Out) => {
                if let Some(case) = &mut self.case {
                    case.scanner.end_line(&mut case.attachments);
                }
            }
            _ => {}
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Emits the suite properties gathered so far, if any.
    fn flush_run(&mut self, emit: &mut dyn FnMut(Event) -> ControlFlow<()>) -> ControlFlow<()> {
        if self.run_properties.is_empty() {
            return ControlFlow::Continue(());
        }
        let info = crate::import::model::RunInfo {
            properties: std::mem::take(&mut self.run_properties),
            ..Default::default()
        };
        self.deliver(Event::Run(info), emit)
    }

    /// Text (or CDATA, or a resolved reference) inside the current element.
    fn text(&mut self, text: &str, at: Position) -> Result<(), FileError> {
        let limit = self.limits.max_text_bytes;
        let max_list = self.limits.max_list;
        let Some(frame) = self.stack.last().copied() else {
            if text.trim().is_empty() {
                return Ok(());
            }
            return Err(outside_root(at));
        };
        match frame {
            Frame::SuiteProperty => {
                if let Some(p) = &mut self.run_property {
                    p.text.push(text, limit);
                }
            }
            Frame::CaseProperty => {
                if let Some(p) = self.case.as_mut().and_then(|c| c.property.as_mut()) {
                    p.text.push(text, limit);
                }
            }
            Frame::Outcome => {
                if let Some(case) = &mut self.case {
                    case.own.trace.push(text, limit);
                }
            }
            Frame::Attempt | Frame::AttemptText(_) => {
                if let Some((_, attempt)) = self.case.as_mut().and_then(|c| c.current.as_mut()) {
                    let target = match frame {
                        Frame::AttemptText(Stream::Out) => {
                            attempt.stdout.get_or_insert_with(BoundedText::default)
                        }
                        Frame::AttemptText(Stream::Err) => {
                            attempt.stderr.get_or_insert_with(BoundedText::default)
                        }
                        _ => &mut attempt.trace,
                    };
                    target.push(text, limit);
                }
            }
            Frame::CaseText(stream) => {
                if let Some(case) = &mut self.case {
                    match stream {
                        Stream::Err => case
                            .stderr
                            .get_or_insert_with(BoundedText::default)
                            .push(text, limit),
                        _ => {
                            case.stdout
                                .get_or_insert_with(BoundedText::default)
                                .push(text, limit);
                            // Stop collecting paths once the test is rejected for them.
                            if case.attachments.len() <= max_list {
                                case.scanner.push(text, &mut case.attachments);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn outside_root(at: Position) -> FileError {
    bad_request(
        at,
        "malformed XML: text outside the root element".to_string(),
    )
}

/// The bytes of an event, as they are in the file (for the UTF-8 check).
fn raw_bytes<'a>(event: &'a XmlEvent<'_>) -> &'a [u8] {
    match event {
        XmlEvent::Start(e) | XmlEvent::Empty(e) => e,
        XmlEvent::End(e) => e,
        XmlEvent::Text(e) | XmlEvent::Comment(e) | XmlEvent::DocType(e) => e,
        XmlEvent::CData(e) => e,
        XmlEvent::Decl(e) => e,
        XmlEvent::PI(e) => e,
        XmlEvent::GeneralRef(e) => e,
        XmlEvent::Eof => &[],
    }
}

enum Resolved {
    Char(char),
    Str(&'static str),
}

/// Resolves `&name;` or `&#n;`. Only XML's five predefined entities exist: with DTDs refused,
/// any other name is an error.
fn resolve_reference(reference: &BytesRef<'_>, at: &Position) -> Result<Resolved, FileError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(Resolved::Char(c)),
            _ => Err(bad_request(
                at.clone(),
                format!(
                    "malformed XML: invalid character reference &{};",
                    truncate(&String::from_utf8_lossy(reference), 40)
                ),
            )),
        };
    }
    let name = String::from_utf8_lossy(reference);
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(Resolved::Str)
        .ok_or_else(|| {
            bad_request(
                at.clone(),
                format!(
                    "malformed XML: unknown entity reference &{};",
                    truncate(&name, 40)
                ),
            )
        })
}

/// The unescaped values of the attributes named `names` (by local name), `None` for those
/// absent. A malformed attribute or an unknown entity in a value refuses the file.
fn attributes<const N: usize>(
    start: &BytesStart<'_>,
    names: [&[u8]; N],
    at: &Position,
) -> Result<[Option<String>; N], FileError> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for attribute in start.attributes() {
        let attribute =
            attribute.map_err(|e| bad_request(at.clone(), format!("malformed XML: {e}")))?;
        let key = attribute.key.local_name();
        if let Some(i) = names.iter().position(|n| *n == key.as_ref()) {
            let value = attribute.unescape_value().map_err(|e| match e {
                quick_xml::Error::Encoding(e) => not_utf8(at.clone(), &e),
                other => bad_request(at.clone(), format!("malformed XML: {other}")),
            })?;
            values[i] = Some(value.into_owned());
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::model::{rejected, results};
    use std::path::{Path, PathBuf};

    fn limits() -> Limits {
        Limits::default()
    }

    fn run_with(xml: &[u8], limits: &Limits) -> Result<Vec<Event>, FileError> {
        let mut events = Vec::new();
        parse(xml, limits, &mut |e| {
            events.push(e);
            ControlFlow::Continue(())
        })?;
        Ok(events)
    }

    fn run(xml: &str) -> Vec<Event> {
        match run_with(xml.as_bytes(), &limits()) {
            Ok(events) => events,
            Err(e) => panic!("unexpected file error: {e:?}"),
        }
    }

    fn fail_with(xml: &[u8], limits: &Limits) -> FileError {
        match run_with(xml, limits) {
            Ok(events) => panic!("expected a file error, got {events:?}"),
            Err(e) => e,
        }
    }

    fn fail(xml: &str) -> FileError {
        fail_with(xml.as_bytes(), &limits())
    }

    fn at(line: u64, column: u64) -> Position {
        Position::Line { line, column }
    }

    fn only(xml: &str) -> TestResult {
        let events = run(xml);
        let all = results(&events);
        assert_eq!(all.len(), 1, "{events:?}");
        all[0].clone()
    }

    #[test]
    fn outcomes_keys_times_and_positions() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="s">
    <testcase name="ok" classname="a.B" time="0.532" file="b.py"/>
    <testcase name="bad" classname="a.B" time="1"><failure message="boom" type="E">line 1
line 2</failure></testcase>
    <testcase name="err" classname="a.B"><error message="oops">trace</error></testcase>
    <testcase name="skip" classname="a.B" time=""><skipped message="later"/></testcase>
  </testsuite>
</testsuites>
"#;
        let events = run(xml);
        let r = results(&events);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].key, "a.B::ok");
        assert_eq!(r[0].suite.as_deref(), Some("a.B"));
        assert_eq!(r[0].file.as_deref(), Some("b.py"));
        assert_eq!(r[0].result.outcome, Outcome::Passed);
        assert_eq!(r[0].result.duration_ms, Some(532.0));
        assert_eq!(r[0].position, at(4, 5));
        assert_eq!(r[1].result.outcome, Outcome::Failed);
        assert_eq!(r[1].result.message.as_deref(), Some("boom"));
        assert_eq!(r[1].result.trace.as_deref(), Some("line 1\nline 2"));
        assert_eq!(r[1].result.duration_ms, Some(1000.0));
        assert_eq!(r[1].position, at(5, 5));
        assert_eq!(r[2].position, at(7, 5));
        assert_eq!(r[2].result.outcome, Outcome::Failed);
        assert_eq!(r[2].result.message.as_deref(), Some("oops"));
        assert_eq!(r[2].result.trace.as_deref(), Some("trace"));
        assert_eq!(r[2].result.duration_ms, None);
        assert_eq!(r[3].result.outcome, Outcome::Skipped);
        assert_eq!(r[3].result.message.as_deref(), Some("later"));
        assert_eq!(r[3].result.duration_ms, None);
        assert!(r.iter().all(|t| t.retries.is_empty() && !t.flaky));
    }

    #[test]
    fn columns_count_characters_and_skip_the_bom() {
        let xml = "\u{feff}<testsuite name=\"é\"><!-- ü -->\n\u{e9}\u{e9}<testcase name=\"x\"/></testsuite>";
        let r = only(xml);
        assert_eq!(r.position, at(2, 3));
        // Multi-line start tags: the position is where the tag starts.
        let xml = "<testsuite>\n  <testcase\n name=\"x\"\n classname=\"c\"/>\n  <testcase name=\"y\"/></testsuite>";
        let events = run(xml);
        let r = results(&events);
        assert_eq!(r[0].position, at(2, 3));
        assert_eq!(r[1].position, at(5, 3));
    }

    #[test]
    fn classname_falls_back_to_the_innermost_suite() {
        let xml = r#"<testsuite name="outer">
            <testcase name="a"/>
            <testsuite name="inner"><testcase name="b" classname=""/></testsuite>
            <testsuite><testcase name="c"/></testsuite>
        </testsuite>"#;
        let events = run(xml);
        let r = results(&events);
        assert_eq!(r[0].key, "outer::a");
        assert_eq!(r[0].suite.as_deref(), Some("outer"));
        assert_eq!(r[1].key, "inner::b");
        assert_eq!(r[2].key, "c");
        assert_eq!(r[2].suite, None);
    }

    #[test]
    fn root_name_is_a_run_event() {
        let events = run(
            r#"<testsuites name="my run"><testsuite name="s"><testcase name="t"/></testsuite></testsuites>"#,
        );
        assert_eq!(
            events[0],
            Event::Run(crate::import::model::RunInfo {
                name: Some("my run".to_string()),
                ..Default::default()
            })
        );
        assert_eq!(events.len(), 2);
        // No name, no event.
        let events = run("<testsuites><testcase name=\"t\"/></testsuites>");
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn other_roots_are_refused() {
        let e = fail("<?xml version=\"1.0\"?>\n<html><body/></html>");
        assert_eq!(e.code, "BAD_REQUEST");
        assert_eq!(
            e.message,
            "not a JUnit XML report: the root element is <html>, expected <testsuites> or <testsuite>"
        );
        assert_eq!(e.position, Some(at(2, 1)));
    }

    #[test]
    fn times() {
        let cases = [
            ("0.532", Some(532.0)),
            ("1", Some(1000.0)),
            ("", None),
            ("1,5", Some(1500.0)),
            (" 2 ", Some(2000.0)),
        ];
        for (time, expected) in cases {
            let r = only(&format!(
                r#"<testsuite><testcase name="t" time="{time}"/></testsuite>"#
            ));
            assert_eq!(r.result.duration_ms, expected, "{time}");
        }
        let r = only(r#"<testsuite><testcase name="t"/></testsuite>"#);
        assert_eq!(r.result.duration_ms, None);
        for time in ["abc", "-1", "NaN", "inf"] {
            let xml = format!(
                "<testsuite>\n<testcase name=\"t\" time=\"{time}\"/>\n<testcase name=\"u\"/></testsuite>"
            );
            let events = run(&xml);
            let bad = rejected(&events);
            assert_eq!(bad.len(), 1, "{time}");
            assert_eq!(bad[0].code, "BAD_USER_INPUT");
            assert_eq!(bad[0].position, at(2, 1));
            assert!(
                bad[0].message.contains("is not a number of seconds"),
                "{}",
                bad[0].message
            );
            // Parsing goes on.
            assert_eq!(results(&events).len(), 1);
            assert_eq!(results(&events)[0].name, "u");
        }
    }

    #[test]
    fn surefire_flaky_failure_is_an_earlier_attempt() {
        let xml = r#"<testsuite name="s">
  <testcase name="t" classname="C" time="0.5">
    <flakyFailure message="first" type="E">
      <stackTrace>at first</stackTrace>
      <system-out>out 1</system-out>
      <system-err>err 1</system-err>
    </flakyFailure>
    <flakyError message="second"><stackTrace>at second</stackTrace></flakyError>
    <system-out>final out</system-out>
  </testcase>
</testsuite>"#;
        let r = only(xml);
        assert!(r.flaky);
        assert_eq!(r.result.outcome, Outcome::Passed);
        assert_eq!(r.result.stdout.as_deref(), Some("final out"));
        assert_eq!(r.result.duration_ms, Some(500.0));
        assert_eq!(r.retries.len(), 2);
        assert_eq!(r.retries[0].outcome, Outcome::Failed);
        assert_eq!(r.retries[0].message.as_deref(), Some("first"));
        assert_eq!(r.retries[0].trace.as_deref(), Some("at first"));
        assert_eq!(r.retries[0].stdout.as_deref(), Some("out 1"));
        assert_eq!(r.retries[0].stderr.as_deref(), Some("err 1"));
        assert_eq!(r.retries[1].message.as_deref(), Some("second"));
        assert_eq!(r.retries[1].trace.as_deref(), Some("at second"));
    }

    #[test]
    fn reruns_follow_the_first_failure() {
        let xml = r#"<testsuite>
  <testcase name="t" classname="C" time="3">
    <failure message="run 1">trace 1</failure>
    <rerunFailure message="run 2" time="0.25">trace 2
      <system-out>out 2</system-out>
    </rerunFailure>
    <rerunError message="run 3">trace 3</rerunError>
    <system-out>case out</system-out>
    <system-err>case err</system-err>
  </testcase>
</testsuite>"#;
        let r = only(xml);
        assert!(!r.flaky);
        assert_eq!(r.result.outcome, Outcome::Failed);
        assert_eq!(r.result.message.as_deref(), Some("run 3"));
        assert_eq!(r.result.trace.as_deref(), Some("trace 3"));
        assert_eq!(r.result.stdout.as_deref(), Some("case out"));
        assert_eq!(r.result.stderr.as_deref(), Some("case err"));
        assert_eq!(r.retries.len(), 2);
        assert_eq!(r.retries[0].message.as_deref(), Some("run 1"));
        assert_eq!(r.retries[0].trace.as_deref(), Some("trace 1"));
        assert_eq!(r.retries[0].duration_ms, Some(3000.0));
        assert_eq!(r.retries[1].message.as_deref(), Some("run 2"));
        assert_eq!(r.retries[1].trace.as_deref(), Some("trace 2"));
        assert_eq!(r.retries[1].stdout.as_deref(), Some("out 2"));
        assert_eq!(r.retries[1].duration_ms, Some(250.0));
    }

    #[test]
    fn case_output_goes_to_the_first_failure_when_the_last_rerun_has_its_own() {
        let xml = r#"<testsuite><testcase name="t">
    <failure message="run 1"/>
    <rerunFailure message="run 2"><system-out>out 2</system-out></rerunFailure>
    <system-out>case out</system-out>
  </testcase></testsuite>"#;
        let r = only(xml);
        assert_eq!(r.result.stdout.as_deref(), Some("out 2"));
        assert_eq!(r.retries[0].stdout.as_deref(), Some("case out"));
    }

    #[test]
    fn several_failures_make_one_failed_attempt() {
        let r = only(
            r#"<testsuite><testcase name="t"><skipped message="s"/><failure message="f1">a</failure><error message="e2">b</error></testcase></testsuite>"#,
        );
        assert_eq!(r.result.outcome, Outcome::Failed);
        assert_eq!(r.result.message.as_deref(), Some("f1"));
        assert_eq!(r.result.trace.as_deref(), Some("a\n\nb"));
    }

    #[test]
    fn adjacent_repeats_are_reruns() {
        // pytest-rerunfailures: the failed attempt is written without a failure element.
        let xml = r#"<testsuites><testsuite name="s">
<testcase classname="m" name="flaky" time="0.1"><system-out>attempt 1</system-out></testcase>
<testcase classname="m" name="flaky" time="0.2"/>
<testcase classname="m" name="other"/>
<testcase classname="m" name="flaky"/>
</testsuite><testsuite name="s2"><testcase classname="m" name="flaky"/></testsuite></testsuites>"#;
        let events = run(xml);
        let r = results(&events);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].key, "m::flaky");
        assert!(r[0].flaky);
        assert_eq!(r[0].position, at(2, 1));
        assert_eq!(r[0].result.duration_ms, Some(200.0));
        assert_eq!(r[0].retries.len(), 1);
        assert_eq!(r[0].retries[0].outcome, Outcome::Failed);
        assert_eq!(r[0].retries[0].stdout.as_deref(), Some("attempt 1"));
        // Not adjacent, or across suites: separate tests.
        assert!(r[2].retries.is_empty() && r[3].retries.is_empty());
        // Failing on every attempt (Gradle test-retry): not flaky.
        let xml = r#"<testsuite><testcase classname="m" name="t"><failure message="1"/></testcase>
<testcase classname="m" name="t"><failure message="2"/></testcase></testsuite>"#;
        let r = only(xml);
        assert!(!r.flaky);
        assert_eq!(r.result.message.as_deref(), Some("2"));
        assert_eq!(r.retries[0].message.as_deref(), Some("1"));
    }

    #[test]
    fn output_truncation_and_suite_output_ignored() {
        let small = Limits {
            max_text_bytes: 5,
            ..limits()
        };
        let xml = "<testsuite><system-out>suite</system-out><testcase name=\"t\">\
<failure message=\"abcdéfgh\">0123456789</failure>\
<system-out>h&amp;llo world</system-out><system-err><![CDATA[ééé]]></system-err>\
</testcase></testsuite>";
        let events = run_with(xml.as_bytes(), &small).unwrap_or_default();
        let r = results(&events);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].result.message.as_deref(),
            Some("abcd\n[truncated: 5 bytes]")
        );
        assert_eq!(
            r[0].result.trace.as_deref(),
            Some("01234\n[truncated: 5 bytes]")
        );
        assert_eq!(
            r[0].result.stdout.as_deref(),
            Some("h&llo\n[truncated: 6 bytes]")
        );
        // "é" is 2 bytes: cut at a character boundary.
        assert_eq!(
            r[0].result.stderr.as_deref(),
            Some("éé\n[truncated: 2 bytes]")
        );
    }

    #[test]
    fn attachments_from_system_out() {
        let xml = "<testsuite><testcase name=\"t\"><system-out>log line\n\
[[ATTACHMENT|/tmp/shots/screen.png]]\n  [[ATTACHMENT|C:\\out\\trace.zip]]  \n\
not [[ATTACHMENT|x]]\n[[ATTACHMENT|rel/&amp;<![CDATA[a.txt]]>]]</system-out>\
<system-err>[[ATTACHMENT|/ignored]]</system-err></testcase></testsuite>";
        let r = only(xml);
        let found: Vec<(&str, &str)> = r
            .attachments
            .iter()
            .map(|a| (a.name.as_str(), a.path.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("screen.png", "/tmp/shots/screen.png"),
                ("trace.zip", "C:\\out\\trace.zip"),
                ("&a.txt", "rel/&a.txt"),
            ]
        );
        assert!(r.attachments.iter().all(|a| a.content_type.is_none()));
    }

    #[test]
    fn properties_of_cases_and_suites() {
        let xml = r#"<testsuites><testsuite name="s">
  <properties><property name="os" value="linux"/><property name="java">21</property><property value="nameless"/></properties>
  <testcase name="t"><properties><property name="a" value="1"/><property name="b">two &amp; more</property></properties></testcase>
</testsuite></testsuites>"#;
        let events = run(xml);
        let Event::Run(info) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            info.properties.get("os"),
            Some(&Value::String("linux".into()))
        );
        assert_eq!(
            info.properties.get("java"),
            Some(&Value::String("21".into()))
        );
        assert_eq!(info.properties.len(), 2);
        let r = results(&events);
        assert_eq!(r[0].properties.get("a"), Some(&Value::String("1".into())));
        assert_eq!(
            r[0].properties.get("b"),
            Some(&Value::String("two & more".into()))
        );
    }

    #[test]
    fn too_many_list_entries_reject_the_test() {
        let small = Limits {
            max_list: 2,
            ..limits()
        };
        let props = "<testsuite><testcase name=\"t\"><properties><property name=\"a\" value=\"1\"/><property name=\"b\" value=\"1\"/><property name=\"c\" value=\"1\"/></properties></testcase><testcase name=\"u\"/></testsuite>";
        let retries = "<testsuite><testcase name=\"t\"><flakyFailure/><flakyFailure/><flakyFailure/></testcase></testsuite>";
        let attachments = "<testsuite><testcase name=\"t\"><system-out>[[ATTACHMENT|a]]\n[[ATTACHMENT|b]]\n[[ATTACHMENT|c]]</system-out></testcase></testsuite>";
        for (xml, what) in [
            (props, "properties"),
            (retries, "retries"),
            (attachments, "attachments"),
        ] {
            let events = run_with(xml.as_bytes(), &small).unwrap_or_default();
            let bad = rejected(&events);
            assert_eq!(bad.len(), 1, "{what}: {events:?}");
            assert_eq!(bad[0].code, "BAD_USER_INPUT");
            assert_eq!(bad[0].position, at(1, 12));
            assert_eq!(
                bad[0].message,
                format!("the testcase has more than 2 {what}")
            );
        }
        // Suite properties are handed out in chunks instead.
        let xml = "<testsuite><properties><property name=\"a\" value=\"1\"/><property name=\"b\" value=\"1\"/><property name=\"c\" value=\"1\"/></properties></testsuite>";
        let events = run_with(xml.as_bytes(), &small).unwrap_or_default();
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn names_are_required_and_bounded() {
        let long_name = "n".repeat(1001);
        let long_class = "c".repeat(1001);
        let near_class = "c".repeat(990);
        let xml = format!(
            "<testsuite>\n<testcase classname=\"c\"/>\n<testcase name=\"\"/>\n<testcase name=\"{long_name}\"/>\n\
<testcase name=\"t\" classname=\"{long_class}\"/>\n<testcase name=\"tttttttttt\" classname=\"{near_class}\"/>\n\
<testcase name=\"{}\"/>\n</testsuite>",
            "n".repeat(255)
        );
        let events = run(&xml);
        let bad = rejected(&events);
        let got: Vec<(&str, Position)> = bad
            .iter()
            .map(|e| (e.message.as_str(), e.position.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("a testcase has no name", at(2, 1)),
                ("a testcase has no name", at(3, 1)),
                ("the testcase name is longer than 1000 characters", at(4, 1)),
                (
                    "the testcase classname is longer than 1000 characters",
                    at(5, 1)
                ),
                (
                    "the testcase key (classname::name) is longer than 1000 characters",
                    at(6, 1)
                ),
            ]
        );
        assert!(bad.iter().all(|e| e.code == "BAD_USER_INPUT"));
        assert_eq!(results(&events).len(), 1);
    }

    #[test]
    fn entities_and_cdata() {
        let r = only(
            "<testsuite><testcase name=\"a&lt;b&#x3e;&#99;&quot;&apos;\"><failure message=\"x &amp; y\">1 &lt; 2<![CDATA[ <raw> & ]]>&#233;</failure></testcase></testsuite>",
        );
        assert_eq!(r.name, "a<b>c\"'");
        assert_eq!(r.result.message.as_deref(), Some("x & y"));
        assert_eq!(r.result.trace.as_deref(), Some("1 < 2 <raw> & é"));
    }

    #[test]
    fn dtds_and_unknown_entities_are_refused() {
        let e =
            fail("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">]>\n<testsuite/>");
        assert_eq!(e.code, "BAD_REQUEST");
        assert_eq!(e.message, "DTDs are not accepted (entity expansion)");
        assert_eq!(e.position, Some(at(2, 1)));
        let e = fail("<testsuite>\n<testcase name=\"t\">&lol;</testcase></testsuite>");
        assert_eq!(e.code, "BAD_REQUEST");
        assert_eq!(e.message, "malformed XML: unknown entity reference &lol;");
        assert_eq!(e.position, Some(at(2, 20)));
        let e = fail("<testsuite>\n<testcase name=\"&lol;\"/></testsuite>");
        assert_eq!(e.code, "BAD_REQUEST");
        assert_eq!(e.position, Some(at(2, 1)));
        let e = fail("<testsuite>&#0;</testsuite>");
        assert_eq!(e.code, "BAD_REQUEST");
    }

    #[test]
    fn encodings_other_than_utf8_are_refused() {
        for decl in ["UTF-16", "ISO-8859-1", "windows-1252"] {
            let e = fail(&format!(
                "<?xml version=\"1.0\" encoding=\"{decl}\"?><testsuite/>"
            ));
            assert_eq!(e.code, "UNSUPPORTED_MEDIA_TYPE", "{decl}");
            assert_eq!(e.position, Some(at(1, 1)));
        }
        assert_eq!(
            run("<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuite/>").len(),
            0
        );
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<testsuite/>".bytes().flat_map(|b| [b, 0]))
            .collect();
        let e = fail_with(&utf16, &limits());
        assert_eq!(e.code, "UNSUPPORTED_MEDIA_TYPE");
        let no_bom: Vec<u8> = "<testsuite/>".bytes().flat_map(|b| [b, 0]).collect();
        assert_eq!(fail_with(&no_bom, &limits()).code, "UNSUPPORTED_MEDIA_TYPE");
        // Latin-1 bytes: in a value, in skipped text, in a comment.
        for (bad, position) in [
            (
                &b"<testsuite>\n<testcase name=\"caf\xe9\"/></testsuite>"[..],
                at(2, 1),
            ),
            (&b"<testsuite>\n<!-- caf\xe9 --></testsuite>"[..], at(2, 1)),
            // A text node starts right after the previous tag.
            (&b"<testsuite>\ncaf\xe9</testsuite>"[..], at(1, 12)),
        ] {
            let e = fail_with(bad, &limits());
            assert_eq!(e.code, "UNSUPPORTED_MEDIA_TYPE");
            assert_eq!(e.position, Some(position));
        }
    }

    #[test]
    fn depth_is_bounded() {
        let shallow = Limits {
            max_depth: 3,
            ..limits()
        };
        let ok = "<testsuites><testsuite><testcase name=\"t\"/></testsuite></testsuites>";
        assert_eq!(run_with(ok.as_bytes(), &shallow).map(|e| e.len()), Ok(1));
        let deep = "<testsuites><testsuite><testcase name=\"t\">\n  <failure/></testcase></testsuite></testsuites>";
        let e = fail_with(deep.as_bytes(), &shallow);
        assert_eq!(e.code, "BAD_REQUEST");
        assert_eq!(e.message, "the XML is nested deeper than 3 elements");
        assert_eq!(e.position, Some(at(2, 3)));
    }

    /// A reader over a pattern repeated forever, counting what was handed out.
    struct Endless {
        head: Vec<u8>,
        fill: u8,
        given: usize,
        buf: Vec<u8>,
    }

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.fill_buf()?.len().min(out.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Endless {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            if self.buf.is_empty() {
                self.buf = if self.given < self.head.len() {
                    self.head[self.given..].to_vec()
                } else {
                    vec![self.fill; 4096]
                };
            }
            Ok(&self.buf)
        }

        fn consume(&mut self, amount: usize) {
            self.given += amount;
            self.buf.drain(..amount.min(self.buf.len()));
        }
    }

    #[test]
    fn one_event_is_bounded_without_reading_it_whole() {
        let small = Limits {
            max_token_bytes: 1000,
            ..limits()
        };
        for (head, fill) in [
            ("<testsuite>\n<testcase name=\"", b'n'), // an endless attribute
            ("<testsuite>\n<testcase name=\"t\"><system-out>", b'o'), // an endless text
            ("<testsuite>\n<!--", b'c'),              // an endless comment
        ] {
            let mut input = Endless {
                head: head.as_bytes().to_vec(),
                fill,
                given: 0,
                buf: Vec::new(),
            };
            let mut count = 0;
            let result = parse(&mut input, &small, &mut |_| {
                count += 1;
                ControlFlow::Continue(())
            });
            let Err(e) = result else {
                panic!("expected an error for {head}")
            };
            assert_eq!(e.code, "PAYLOAD_TOO_LARGE");
            assert_eq!(
                e.message,
                "an XML element or text is longer than 1000 bytes"
            );
            assert!(
                input.given < head.len() + 1100,
                "read {} bytes",
                input.given
            );
            assert_eq!(count, 0);
        }
        // The bound is per event: many events of that size are fine.
        let xml = format!(
            "<testsuite>{}</testsuite>",
            format!("<testcase name=\"{}\"/>", "n".repeat(200)).repeat(50)
        );
        assert_eq!(run_with(xml.as_bytes(), &small).map(|e| e.len()), Ok(1));
    }

    #[test]
    fn malformed_xml() {
        let cases = [
            (
                "<testsuite>\n  <testcase name=\"t\"></testsuite>",
                at(2, 22),
                "malformed XML: ill-formed document: expected `</testcase>`",
            ),
            (
                "<testsuite>\n<testcase name=\"t\"/>",
                at(2, 21),
                "malformed XML: the file ends before its root element is closed",
            ),
            (
                "<testsuite/>\n<testsuite/>",
                at(2, 1),
                "malformed XML: content after the root element",
            ),
            (
                "<testsuite/>\ngarbage",
                at(1, 13),
                "malformed XML: text outside the root element",
            ),
            (
                "",
                at(1, 1),
                "not a JUnit XML report: the file has no root element",
            ),
            (
                "  \n ",
                at(2, 2),
                "not a JUnit XML report: the file has no root element",
            ),
            (
                "<testsuite>\n<testcase name=\"t\" name=\"u\"/></testsuite>",
                at(2, 1),
                "malformed XML",
            ),
            (
                "<testsuite>\n<testcase name=t/></testsuite>",
                at(2, 1),
                "malformed XML",
            ),
            (
                "<testsuite>\n<testcase name=\"t\"",
                at(2, 1),
                "malformed XML",
            ),
            ("<testsuite>\na & b</testsuite>", at(2, 3), "malformed XML"),
        ];
        for (xml, position, message) in cases {
            let e = fail(xml);
            assert_eq!(e.code, "BAD_REQUEST", "{xml}");
            assert_eq!(e.position, Some(position), "{xml}: {}", e.message);
            assert!(e.message.starts_with(message), "{xml}: {}", e.message);
        }
    }

    #[test]
    fn break_stops_parsing() {
        let xml = "<testsuites name=\"r\"><testsuite><testcase name=\"a\"/><testcase name=\"b\"/><testcase name=\"c\"/></testsuite></testsuites>";
        let mut seen = Vec::new();
        let result = parse(xml.as_bytes(), &limits(), &mut |e| {
            seen.push(e);
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(result, Ok(()));
        assert_eq!(seen.len(), 2);
        assert!(matches!(&seen[1], Event::Result(r) if r.name == "a"));
    }

    #[test]
    fn nothing_panics_on_cut_documents() {
        let xml = "<?xml version=\"1.0\"?><testsuites name=\"r\"><testsuite name=\"s\"><properties><property name=\"p\">v</property></properties><testcase name=\"t\" classname=\"c\" time=\"1\"><flakyFailure message=\"m\"><stackTrace>s</stackTrace></flakyFailure><system-out>[[ATTACHMENT|a]]</system-out></testcase></testsuite></testsuites>";
        for cut in 0..xml.len() {
            let _ = run_with(&xml.as_bytes()[..cut], &limits());
        }
        assert_eq!(run(xml).len(), 3);
    }

    /// The fixture directory of the service (`tests/fixtures/import` at the repository root).
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/import")
            .join(name)
    }

    /// Parses a fixture with the parser its format names.
    fn parse_fixture(name: &str, format: &str) -> Vec<Event> {
        let file = match std::fs::File::open(fixture(name)) {
            Ok(f) => f,
            Err(e) => panic!("{name}: {e}"),
        };
        let reader = io::BufReader::new(file);
        let mut events = Vec::new();
        let mut emit = |e| {
            events.push(e);
            ControlFlow::Continue(())
        };
        let result = match format {
            "junit" => parse(reader, &limits(), &mut emit),
            "ctrf" => crate::import::ctrf::parse(reader, &limits(), &mut emit),
            other => panic!("{name}: unknown format {other}"),
        };
        if let Err(e) = result {
            panic!("{name}: {e:?}");
        }
        events
    }

    /// Every fixture listed in expected.json parses to the counts and keys it lists.
    #[test]
    fn fixtures_match_expected_json() {
        let text = match std::fs::read_to_string(fixture("expected.json")) {
            Ok(text) => text,
            Err(e) => panic!("expected.json: {e}"),
        };
        let expected: Map<String, Value> = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("expected.json: {e}"),
        };
        assert!(!expected.is_empty());
        for (name, want) in &expected {
            let format = want["format"].as_str().unwrap_or_default();
            let events = parse_fixture(name, format);
            let all = results(&events);
            let count = |f: &dyn Fn(&TestResult) -> bool| all.iter().filter(|r| f(r)).count();
            let got = serde_json::json!({
                "tests": all.len(),
                "passed": count(&|r| r.result.outcome == Outcome::Passed),
                "failed": count(&|r| r.result.outcome == Outcome::Failed),
                "skipped": count(&|r| r.result.outcome == Outcome::Skipped),
                "retried": count(&|r| !r.retries.is_empty()),
                "flaky": count(&|r| r.flaky),
            });
            for field in ["tests", "passed", "failed", "skipped", "retried", "flaky"] {
                assert_eq!(got[field], want[field], "{name}: {field}");
            }
            assert!(
                rejected(&events).is_empty(),
                "{name}: {:?}",
                rejected(&events)
            );
            let keys: Vec<&str> = all.iter().map(|r| r.key.as_str()).collect();
            for key in want["keys"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                assert!(keys.contains(&key), "{name}: no key {key:?} in {keys:?}");
            }
            // Keys are unique within a report.
            let mut unique = keys.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), keys.len(), "{name}: duplicate keys");
        }
    }

    #[test]
    fn nextest_fixture_details() {
        let events = parse_fixture("nextest-junit.xml", "junit");
        let all = results(&events);
        let flaky = all
            .iter()
            .find(|r| r.key.ends_with("::flaky_fails_first_attempt_then_passes"));
        let Some(flaky) = flaky else {
            panic!("no flaky test")
        };
        assert_eq!(flaky.result.outcome, Outcome::Passed);
        assert_eq!(flaky.retries.len(), 1);
        assert!(flaky.retries[0].duration_ms.is_some());
        let Some(always) = all
            .iter()
            .find(|r| r.key.ends_with("::always_fails_on_every_attempt"))
        else {
            panic!("no always-failing test")
        };
        assert_eq!(always.result.outcome, Outcome::Failed);
        assert!(!always.flaky);
        assert_eq!(always.retries.len(), 2);
        let trace = always.result.trace.as_deref().unwrap_or_default();
        assert!(
            trace.starts_with("thread 'always_fails_on_every_attempt'"),
            "{trace}"
        );
        assert!(trace.contains("order status mismatch"), "{trace}");
        assert!(trace.ends_with("backtrace"), "{trace:?}");
        assert!(
            always
                .result
                .stdout
                .as_deref()
                .unwrap_or_default()
                .contains("FAILED")
        );
    }
}
