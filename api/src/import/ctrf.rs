//! Streaming parser for CTRF (Common Test Report Format) JSON reports.
//!
//! serde_json reads the file through hand-written visitors: the top-level object and
//! `results` are walked key by key, and `results.tests` element by element. Each test is
//! deserialized on its own (into a `Value`, bounded as below), checked, emitted, and dropped
//! before the next one is read, so the document is never held whole.
//!
//! Memory bound: serde_json buffers a whole string (and here a whole test) before handing it
//! over, so the reader is wrapped in [`Bounded`], which fails the read once more than
//! `max_token_bytes` have been read since the last boundary: the start of each test and each
//! key of the top-level and `results` objects. One test, or one top-level value, can thus
//! never take more than about `max_token_bytes` of input (and a string, which is part of
//! one, neither); past it the file is refused with `PAYLOAD_TOO_LARGE`.
//!
//! Rules that the format leaves open, as implemented here:
//! - `RunInfo` is emitted piece by piece as found (`reportId`/`runId`, `tool.name`,
//!   `environment`), since the keys may come in any order, including after the tests.
//! - The key is `id` when present (a string or a number), else `suite::name` or `name`, then
//!   `[k=v,...]` with the `parameters` sorted by name (string values unquoted, others as JSON).
//! - `retryAttempts` lists earlier attempts oldest first. Whether its last element repeats
//!   the final result is decided by `retries` when present: `len == retries + 1` means it
//!   does (it is dropped), `len == retries` means it does not. Without a usable `retries`,
//!   the last attempt is dropped when its status, message and trace equal the test's.
//! - `retries: n` without `retryAttempts` stands for n earlier failed attempts of which
//!   nothing else is known (a test is only retried after failing).
//! - `extra` becomes the test's properties with string values (non-strings as JSON text), as
//!   the model asks; `environment` values are kept as they are.
//! - Depth counts objects and arrays from the top-level object (depth 1), so a test object
//!   is at depth 4; a test with containers deeper than `max_depth` is rejected, any other
//!   value that deep refuses the file.
//! - A UTF-8 byte order mark is skipped; UTF-16/UTF-32 input and bytes that are not UTF-8 in
//!   a string refuse the file with `UNSUPPORTED_MEDIA_TYPE`.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::ops::ControlFlow;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::import::junit::truncate;
use crate::import::model::{
    Attachment, Attempt, Event, FileError, ItemError, Limits, Outcome, Position, RunInfo, Step,
    TestResult,
};

/// Longest test name accepted, in characters (as for JUnit).
const MAX_NAME_CHARS: usize = crate::input::TEST_KEY_MAX;
/// Longest key or suite accepted, in characters.
const MAX_KEY_CHARS: usize = crate::input::TEST_KEY_MAX;
/// Depth of a test object in the document: top-level object, `results`, `tests`, the test.
const TEST_DEPTH: usize = 4;

/// Parses a CTRF report, calling `emit` for each event in file order.
///
/// Returns `Ok(())` at the end of the file or as soon as `emit` returns `Break`; a
/// [`FileError`] when the file as a whole cannot be accepted.
pub fn parse<R: BufRead>(
    mut reader: R,
    limits: &Limits,
    emit: &mut dyn FnMut(Event) -> ControlFlow<()>,
) -> Result<(), FileError> {
    skip_bom(&mut reader)?;
    let budget = Rc::new(Budget {
        max: u64::try_from(limits.max_token_bytes).unwrap_or(u64::MAX),
        ..Budget::default()
    });
    let input = Bounded {
        inner: reader,
        budget: Rc::clone(&budget),
    };
    let mut de = serde_json::Deserializer::from_reader(input);
    let mut ctx = Ctx {
        limits,
        emit,
        budget: Rc::clone(&budget),
        stopped: false,
        failure: None,
    };
    let outcome = Top { ctx: &mut ctx }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match outcome {
        Ok(()) => Ok(()),
        Err(_) if ctx.stopped => Ok(()),
        Err(e) => Err(ctx
            .failure
            .take()
            .unwrap_or_else(|| json_error(&e, &budget, limits))),
    }
}

/// Refuses UTF-16/UTF-32 input and drops a UTF-8 byte order mark, which serde_json rejects.
fn skip_bom<R: BufRead>(reader: &mut R) -> Result<(), FileError> {
    let head = reader.fill_buf().map_err(|e| read_error(&e))?;
    let wide = head.starts_with(&[0xFF, 0xFE])
        || head.starts_with(&[0xFE, 0xFF])
        || head.starts_with(&[0x00, 0x00, 0xFE, 0xFF])
        || (head.len() >= 2 && (head[0] == 0 || head[1] == 0));
    if wide {
        return Err(FileError {
            position: Some(Position::Line { line: 1, column: 1 }),
            code: "UNSUPPORTED_MEDIA_TYPE",
            message: "the file is UTF-16 or UTF-32; only UTF-8 is accepted".to_string(),
        });
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    Ok(())
}

fn read_error(e: &dyn fmt::Display) -> FileError {
    FileError {
        position: None,
        code: "BAD_REQUEST",
        message: format!("could not read the file: {e}"),
    }
}

fn not_ctrf(message: &str) -> FileError {
    FileError {
        position: None,
        code: "BAD_REQUEST",
        message: format!("not a CTRF report: {message}"),
    }
}

/// Turns a serde_json error that no visitor explained into the file error to report.
fn json_error(e: &serde_json::Error, budget: &Budget, limits: &Limits) -> FileError {
    if budget.over.get() {
        let position = match budget.test.get() {
            Some(i) => Position::Pointer(format!("/results/tests/{i}")),
            None => Position::Line {
                line: budget.line.get(),
                column: budget.column.get(),
            },
        };
        return FileError {
            position: Some(position),
            code: "PAYLOAD_TOO_LARGE",
            message: format!(
                "a JSON value is longer than {} bytes",
                limits.max_token_bytes
            ),
        };
    }
    if e.is_io() {
        return read_error(e);
    }
    let position = Some(Position::Line {
        line: e.line() as u64,
        column: e.column() as u64,
    });
    let text = e.to_string();
    if text.starts_with("invalid type") {
        // a value of the wrong kind where the report's object or tests array belongs
        let what = text.split(" at line ").next().unwrap_or(&text);
        return FileError {
            position,
            code: "BAD_REQUEST",
            message: format!("not a CTRF report: {what}"),
        };
    }
    if text.starts_with("invalid unicode code point") {
        return FileError {
            position,
            code: "UNSUPPORTED_MEDIA_TYPE",
            message: "the file is not valid UTF-8; only UTF-8 is accepted".to_string(),
        };
    }
    FileError {
        position,
        code: "BAD_REQUEST",
        message: format!("malformed JSON: {text}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded input
// ---------------------------------------------------------------------------------------------

/// What the reader and the visitors share: bytes read, where the current value started, and
/// the line/column reached (for errors that serde_json cannot place).
#[derive(Debug, Default)]
struct Budget {
    read: Cell<u64>,
    mark: Cell<u64>,
    max: u64,
    over: Cell<bool>,
    line: Cell<u64>,
    column: Cell<u64>,
    /// Index of the test being read, for positions.
    test: Cell<Option<usize>>,
}

impl Budget {
    /// Starts a new value: the bound applies from here.
    fn mark(&self) {
        self.mark.set(self.read.get());
    }
}

/// A reader that fails once more than `budget.max` bytes were read since the last mark.
struct Bounded<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: BufRead> Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let b = &self.budget;
        let used = b.read.get().saturating_sub(b.mark.get());
        if used > b.max {
            b.over.set(true);
            return Err(io::Error::other("JSON value longer than the limit"));
        }
        let room = usize::try_from(b.max - used + 1).unwrap_or(usize::MAX);
        let available = self.inner.fill_buf()?;
        let n = available.len().min(out.len()).min(room);
        out[..n].copy_from_slice(&available[..n]);
        if b.line.get() == 0 {
            b.line.set(1);
            b.column.set(1);
        }
        for &byte in &available[..n] {
            if byte == b'\n' {
                b.line.set(b.line.get() + 1);
                b.column.set(1);
            } else {
                b.column.set(b.column.get() + 1);
            }
        }
        b.read.set(b.read.get() + n as u64);
        self.inner.consume(n);
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Visitors
// ---------------------------------------------------------------------------------------------

/// State shared by the visitors.
struct Ctx<'a> {
    limits: &'a Limits,
    emit: &'a mut dyn FnMut(Event) -> ControlFlow<()>,
    budget: Rc<Budget>,
    /// `emit` asked to stop: the error unwinding the deserializer is not one.
    stopped: bool,
    /// The file error to report, when a visitor found one.
    failure: Option<FileError>,
}

impl Ctx<'_> {
    /// Emits an event; on `Break`, returns the error that unwinds serde.
    fn send<E: de::Error>(&mut self, event: Event) -> Result<(), E> {
        if (self.emit)(event).is_break() {
            self.stopped = true;
            return Err(E::custom("stopped by the consumer"));
        }
        Ok(())
    }

    /// Records a file error and returns the error that unwinds serde.
    fn fail<E: de::Error>(&mut self, error: FileError) -> E {
        let message = error.message.clone();
        self.failure = Some(error);
        E::custom(message)
    }

    fn run_id<E: de::Error>(&mut self, value: Value) -> Result<(), E> {
        let id = match value {
            Value::String(s) if !s.is_empty() => s,
            Value::Number(n) => n.to_string(),
            _ => return Ok(()),
        };
        self.send(Event::Run(RunInfo {
            run_id: Some(id),
            ..Default::default()
        }))
    }

    /// Refuses a value outside the tests nested deeper than allowed (`depth` is that of the
    /// value itself).
    fn check_depth<E: de::Error>(
        &mut self,
        value: &Value,
        depth: usize,
        at: &str,
    ) -> Result<(), E> {
        if (depth + value_depth(value)).saturating_sub(1) > self.limits.max_depth {
            return Err(self.fail(FileError {
                position: Some(Position::Pointer(at.to_string())),
                code: "BAD_REQUEST",
                message: format!(
                    "the JSON is nested deeper than {} levels",
                    self.limits.max_depth
                ),
            }));
        }
        Ok(())
    }
}

/// Levels of containers in a value (as serde_json counts them): 0 for a scalar, 1 for a
/// flat array or object.
fn value_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The top-level object.
struct Top<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CTRF report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut saw_results = false;
        loop {
            self.ctx.budget.mark();
            let Some(key) = map.next_key::<String>()? else {
                break;
            };
            match key.as_str() {
                "results" => {
                    map.next_value_seed(Results { ctx: self.ctx })?;
                    saw_results = true;
                }
                "reportId" | "runId" => {
                    let value: Value = map.next_value()?;
                    self.ctx.run_id(value)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !saw_results {
            return Err(self.ctx.fail(not_ctrf("no results object")));
        }
        Ok(())
    }
}

/// The `results` object.
struct Results<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
}

impl<'de> DeserializeSeed<'de> for Results<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Results<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the CTRF results object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut saw_tests = false;
        loop {
            self.ctx.budget.mark();
            let Some(key) = map.next_key::<String>()? else {
                break;
            };
            match key.as_str() {
                "tests" => {
                    map.next_value_seed(Tests { ctx: self.ctx })?;
                    saw_tests = true;
                }
                "tool" => {
                    let tool: Value = map.next_value()?;
                    self.ctx.check_depth(&tool, 3, "/results/tool")?;
                    if let Some(name) = tool.get("name").and_then(Value::as_str)
                        && !name.is_empty()
                    {
                        self.ctx.send(Event::Run(RunInfo {
                            name: Some(name.to_string()),
                            ..Default::default()
                        }))?;
                    }
                }
                "environment" => {
                    let environment: Value = map.next_value()?;
                    self.ctx
                        .check_depth(&environment, 3, "/results/environment")?;
                    if let Value::Object(properties) = environment
                        && !properties.is_empty()
                    {
                        self.ctx.send(Event::Run(RunInfo {
                            properties,
                            ..Default::default()
                        }))?;
                    }
                }
                "reportId" | "runId" => {
                    let value: Value = map.next_value()?;
                    self.ctx.run_id(value)?;
                }
                "extra" => {
                    let extra: Value = map.next_value()?;
                    self.ctx.check_depth(&extra, 3, "/results/extra")?;
                    for field in ["reportId", "runId"] {
                        if let Some(value) = extra.get(field) {
                            self.ctx.run_id(value.clone())?;
                        }
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !saw_tests {
            return Err(self.ctx.fail(not_ctrf("no results.tests array")));
        }
        Ok(())
    }
}

/// The `results.tests` array, visited element by element.
struct Tests<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
}

impl<'de> DeserializeSeed<'de> for Tests<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Tests<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the CTRF results.tests array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            self.ctx.budget.mark();
            self.ctx.budget.test.set(Some(index));
            let Some(test) = seq.next_element::<Value>()? else {
                break;
            };
            let event = match build_test(test, index, self.ctx.limits) {
                Ok(result) => Event::Result(Box::new(result)),
                Err(rejected) => Event::Rejected(rejected),
            };
            self.ctx.send(event)?;
            index += 1;
        }
        self.ctx.budget.test.set(None);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// One test
// ---------------------------------------------------------------------------------------------

/// Reads the fields of one test, building the item error for the first bad one.
struct Fields<'t> {
    map: &'t Map<String, Value>,
    base: String,
    limits: &'t Limits,
}

impl<'t> Fields<'t> {
    fn error(&self, field: &str, message: String) -> ItemError {
        let pointer = if field.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{field}", self.base)
        };
        ItemError {
            position: Position::Pointer(pointer),
            code: "BAD_USER_INPUT",
            message,
        }
    }

    /// An optional string field (`null` is absent).
    fn string(&self, field: &str) -> Result<Option<&'t str>, ItemError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(field, format!("{field} is not a string"))),
        }
    }

    /// An optional text field, truncated.
    fn text(&self, field: &str) -> Result<Option<String>, ItemError> {
        Ok(self
            .string(field)?
            .map(|s| truncate(s, self.limits.max_text_bytes)))
    }

    /// An optional number ≥ 0 (milliseconds).
    fn duration(&self, field: &str) -> Result<Option<f64>, ItemError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Some(ms)),
                _ => Err(self.error(field, format!("{field} is not a number ≥ 0"))),
            },
            Some(_) => Err(self.error(field, format!("{field} is not a number ≥ 0"))),
        }
    }

    /// A string or an array of strings joined with `sep` (CTRF allows both for `suite`,
    /// `stdout`, `stderr`).
    fn joined(&self, field: &str, sep: &str) -> Result<Option<String>, ItemError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(items)) => {
                let mut parts = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => parts.push(s.as_str()),
                        _ => {
                            return Err(self.error(
                                &format!("{field}/{i}"),
                                format!("{field} is not a string or an array of strings"),
                            ));
                        }
                    }
                }
                Ok(Some(parts.join(sep)))
            }
            Some(_) => Err(self.error(
                field,
                format!("{field} is not a string or an array of strings"),
            )),
        }
    }

    /// An optional array, at most `max_list` long.
    fn list(&self, field: &str) -> Result<&'t [Value], ItemError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) if items.len() > self.limits.max_list => Err(self.error(
                field,
                format!("{field} has more than {} entries", self.limits.max_list),
            )),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(self.error(field, format!("{field} is not an array"))),
        }
    }

    /// An optional object.
    fn object(&self, field: &str) -> Result<Option<&'t Map<String, Value>>, ItemError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(self.error(field, format!("{field} is not an object"))),
        }
    }

    /// A required status.
    fn status(&self, field: &str) -> Result<(Outcome, bool), ItemError> {
        match self.map.get(field) {
            Some(Value::String(s)) => status(s).ok_or_else(|| {
                self.error(
                    field,
                    format!(
                        "status \"{}\" is not one of passed, failed, skipped, pending, other",
                        truncate(s, 40)
                    ),
                )
            }),
            None | Some(Value::Null) => Err(self.error("", "a test has no status".to_string())),
            Some(_) => Err(self.error(field, "status is not a string".to_string())),
        }
    }
}

/// A CTRF status as an outcome, and whether it was `other` (kept as a property, since the
/// model has no such outcome).
fn status(s: &str) -> Option<(Outcome, bool)> {
    match s {
        "passed" => Some((Outcome::Passed, false)),
        "failed" => Some((Outcome::Failed, false)),
        "skipped" | "pending" => Some((Outcome::Skipped, false)),
        "other" => Some((Outcome::Skipped, true)),
        _ => None,
    }
}

/// A JSON value as property text: strings as they are, anything else as JSON.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks and converts one element of `results.tests`.
fn build_test(test: Value, index: usize, limits: &Limits) -> Result<TestResult, ItemError> {
    let base = format!("/results/tests/{index}");
    let Value::Object(map) = test else {
        return Err(ItemError {
            position: Position::Pointer(base),
            code: "BAD_USER_INPUT",
            message: "a test is not an object".to_string(),
        });
    };
    let f = Fields {
        map: &map,
        base,
        limits,
    };
    let depth = 1 + map.values().map(value_depth).max().unwrap_or(0);
    if TEST_DEPTH + depth - 1 > limits.max_depth {
        return Err(f.error(
            "",
            format!("the test is nested deeper than {} levels", limits.max_depth),
        ));
    }

    let name = match f.string("name")? {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => return Err(f.error("", "a test has no name".to_string())),
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(f.error(
            "name",
            format!("the test name is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    let (outcome, other) = f.status("status")?;
    let suite = f.joined("suite", " > ")?.filter(|s| !s.is_empty());
    if suite
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_KEY_CHARS)
    {
        return Err(f.error(
            "suite",
            format!("the test suite is longer than {MAX_KEY_CHARS} characters"),
        ));
    }

    let parameters = f.object("parameters")?.cloned().unwrap_or_default();
    let key = match f.map.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            let mut key = match &suite {
                Some(suite) => format!("{suite}::{name}"),
                None => name.clone(),
            };
            if !parameters.is_empty() {
                let mut pairs: Vec<(&String, &Value)> = parameters.iter().collect();
                pairs.sort_by(|a, b| a.0.cmp(b.0));
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", as_text(v)))
                    .collect();
                key.push_str(&format!("[{}]", inner.join(",")));
            }
            key
        }
        Some(_) => return Err(f.error("id", "id is not a string".to_string())),
    };
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(f.error(
            "",
            format!("the test key is longer than {MAX_KEY_CHARS} characters"),
        ));
    }

    let result = Attempt {
        outcome,
        duration_ms: f.duration("duration")?,
        message: f.text("message")?,
        trace: f.text("trace")?,
        stdout: f
            .joined("stdout", "\n")?
            .map(|s| truncate(&s, limits.max_text_bytes)),
        stderr: f
            .joined("stderr", "\n")?
            .map(|s| truncate(&s, limits.max_text_bytes)),
    };

    let flaky = match f.map.get("flaky") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(f.error("flaky", "flaky is not a boolean".to_string())),
    };
    let declared_retries = match f.map.get("retries") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(_) => return Err(f.error("retries", "retries is not a number".to_string())),
    };

    let retries = retry_attempts(&f, &result, declared_retries)?;

    let mut tags = Vec::new();
    for (i, tag) in f.list("tags")?.iter().enumerate() {
        match tag {
            Value::String(s) => tags.push(s.clone()),
            _ => return Err(f.error(&format!("tags/{i}"), "a tag is not a string".to_string())),
        }
    }
    match f.map.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => {
            tags.extend(labels.iter().map(|(k, v)| format!("{k}={}", as_text(v))));
        }
        Some(Value::Array(_)) => {
            for (i, label) in f.list("labels")?.iter().enumerate() {
                match label {
                    Value::String(s) => tags.push(s.clone()),
                    _ => {
                        return Err(f.error(
                            &format!("labels/{i}"),
                            "a label is not a string".to_string(),
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(f.error("labels", "labels is not an array or an object".to_string()));
        }
    }
    if tags.len() > limits.max_list {
        return Err(f.error(
            "",
            format!("the test has more than {} tags and labels", limits.max_list),
        ));
    }

    let mut steps = Vec::new();
    for (i, step) in f.list("steps")?.iter().enumerate() {
        steps.push(build_step(&f, step, i)?);
    }

    let mut attachments = Vec::new();
    for (i, attachment) in f.list("attachments")?.iter().enumerate() {
        attachments.push(build_attachment(&f, attachment, i)?);
    }

    let mut properties = Map::new();
    if let Some(extra) = f.object("extra")? {
        if extra.len() > limits.max_list {
            return Err(f.error(
                "extra",
                format!("extra has more than {} entries", limits.max_list),
            ));
        }
        for (k, v) in extra {
            properties.insert(k.clone(), Value::String(as_text(v)));
        }
    }
    if other {
        properties.insert("ctrfStatus".to_string(), Value::String("other".to_string()));
    }

    Ok(TestResult {
        position: Position::Pointer(f.base.clone()),
        key,
        name,
        suite,
        file: f
            .string("filePath")?
            .filter(|p| !p.is_empty())
            .map(str::to_string),
        result,
        retries,
        flaky,
        properties,
        parameters,
        tags,
        steps,
        attachments,
    })
}

/// `retryAttempts`, oldest first, without a last element that repeats the final result
/// (see the module documentation for the rule).
fn retry_attempts(
    f: &Fields<'_>,
    result: &Attempt,
    declared: Option<u64>,
) -> Result<Vec<Attempt>, ItemError> {
    let items = match f.map.get("retryAttempts") {
        None | Some(Value::Null) => return unknown_attempts(f, declared),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(f.error("retryAttempts", "retryAttempts is not an array".to_string()));
        }
    };
    // The bound applies to the retries kept, which may be one fewer than listed.
    if items.len() > f.limits.max_list + 1 {
        return Err(f.error(
            "retryAttempts",
            format!("the test has more than {} retries", f.limits.max_list),
        ));
    }
    let mut attempts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(f.error(
                &format!("retryAttempts/{i}"),
                "a retry attempt is not an object".to_string(),
            ));
        };
        let g = Fields {
            map,
            base: format!("{}/retryAttempts/{i}", f.base),
            limits: f.limits,
        };
        let (outcome, _) = g.status("status")?;
        attempts.push(Attempt {
            outcome,
            duration_ms: g.duration("duration")?,
            message: g.text("message")?,
            trace: g.text("trace")?,
            stdout: g
                .joined("stdout", "\n")?
                .map(|s| truncate(&s, f.limits.max_text_bytes)),
            stderr: g
                .joined("stderr", "\n")?
                .map(|s| truncate(&s, f.limits.max_text_bytes)),
        });
    }
    let len = attempts.len() as u64;
    let repeats_final = match declared {
        Some(n) if len == n.saturating_add(1) => true,
        Some(n) if len == n => false,
        _ => attempts.last().is_some_and(|last| {
            last.outcome == result.outcome
                && last.message == result.message
                && last.trace == result.trace
        }),
    };
    if repeats_final {
        attempts.pop();
    }
    if attempts.len() > f.limits.max_list {
        return Err(f.error(
            "retryAttempts",
            format!("the test has more than {} retries", f.limits.max_list),
        ));
    }
    Ok(attempts)
}

/// Attempts known only by their number (`retries` without `retryAttempts`, as jest's and
/// mocha's reporters write): a test is retried only after an attempt that did not pass, so
/// each is a failed attempt with nothing else known.
fn unknown_attempts(f: &Fields<'_>, declared: Option<u64>) -> Result<Vec<Attempt>, ItemError> {
    let count = declared.unwrap_or(0);
    if count > f.limits.max_list as u64 {
        return Err(f.error(
            "retries",
            format!("the test has more than {} retries", f.limits.max_list),
        ));
    }
    let unknown = Attempt {
        outcome: Outcome::Failed,
        duration_ms: None,
        message: None,
        trace: None,
        stdout: None,
        stderr: None,
    };
    Ok(vec![unknown; count as usize])
}

fn build_step(f: &Fields<'_>, step: &Value, i: usize) -> Result<Step, ItemError> {
    let Value::Object(map) = step else {
        return Err(f.error(&format!("steps/{i}"), "a step is not an object".to_string()));
    };
    let g = Fields {
        map,
        base: format!("{}/steps/{i}", f.base),
        limits: f.limits,
    };
    let name = match g.string("name")? {
        Some(name) if !name.is_empty() => truncate(name, f.limits.max_text_bytes),
        _ => return Err(g.error("", "a step has no name".to_string())),
    };
    let (outcome, _) = g.status("status")?;
    Ok(Step {
        name,
        outcome,
        duration_ms: g.duration("duration")?,
        message: g.text("message")?,
    })
}

fn build_attachment(f: &Fields<'_>, attachment: &Value, i: usize) -> Result<Attachment, ItemError> {
    let Value::Object(map) = attachment else {
        return Err(f.error(
            &format!("attachments/{i}"),
            "an attachment is not an object".to_string(),
        ));
    };
    let g = Fields {
        map,
        base: format!("{}/attachments/{i}", f.base),
        limits: f.limits,
    };
    let path = match g.string("path")? {
        Some(path) if !path.is_empty() => path.to_string(),
        _ => return Err(g.error("", "an attachment has no path".to_string())),
    };
    let name = match g.string("name")? {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => path
            .rsplit(['/', '\\'])
            .find(|p| !p.is_empty())
            .unwrap_or(&path)
            .to_string(),
    };
    Ok(Attachment {
        name,
        path,
        content_type: g
            .string("contentType")?
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::model::{rejected, results};
    use serde_json::json;

    fn run_with(doc: &[u8], limits: &Limits) -> Result<Vec<Event>, FileError> {
        let mut events = Vec::new();
        parse(doc, limits, &mut |e| {
            events.push(e);
            ControlFlow::Continue(())
        })?;
        Ok(events)
    }

    fn run(doc: &str) -> Vec<Event> {
        match run_with(doc.as_bytes(), &Limits::default()) {
            Ok(events) => events,
            Err(e) => panic!("unexpected file error: {e:?}"),
        }
    }

    fn fail_with(doc: &[u8], limits: &Limits) -> FileError {
        match run_with(doc, limits) {
            Ok(events) => panic!("expected a file error, got {events:?}"),
            Err(e) => e,
        }
    }

    fn fail(doc: &str) -> FileError {
        fail_with(doc.as_bytes(), &Limits::default())
    }

    /// A report around the given tests.
    fn report(tests: Value) -> String {
        json!({"results": {"tool": {"name": "t"}, "tests": tests}}).to_string()
    }

    fn only(test: Value) -> TestResult {
        let events = run(&report(json!([test])));
        let all = results(&events);
        assert_eq!(all.len(), 1, "{events:?}");
        all[0].clone()
    }

    fn only_error(test: Value) -> ItemError {
        let events = run(&report(json!([{"name": "ok", "status": "passed"}, test])));
        let bad = rejected(&events);
        assert_eq!(bad.len(), 1, "{events:?}");
        assert_eq!(results(&events).len(), 1);
        assert_eq!(bad[0].code, "BAD_USER_INPUT");
        bad[0].clone()
    }

    fn pointer(p: &str) -> Position {
        Position::Pointer(p.to_string())
    }

    #[test]
    fn a_full_test() {
        let r = only(json!({
            "name": "adds", "status": "failed", "duration": 12.5,
            "message": "boom", "trace": "at x", "suite": ["a", "b"], "filePath": "a.js",
            "flaky": true, "tags": ["fast"], "labels": {"owner": "me"},
            "steps": [{"name": "open", "status": "passed", "duration": 3}, {"name": "check", "status": "failed", "message": "no"}],
            "attachments": [{"name": "shot", "contentType": "image/png", "path": "/tmp/s.png"}, {"path": "C:\\x\\log.txt"}],
            "stdout": ["one", "two"], "stderr": "err", "extra": {"owner": "team", "n": 3},
            "unknown": {"deep": [1, 2, 3]}
        }));
        assert_eq!(r.position, pointer("/results/tests/0"));
        assert_eq!(r.key, "a > b::adds");
        assert_eq!(r.suite.as_deref(), Some("a > b"));
        assert_eq!(r.file.as_deref(), Some("a.js"));
        assert_eq!(r.result.outcome, Outcome::Failed);
        assert_eq!(r.result.duration_ms, Some(12.5));
        assert_eq!(r.result.message.as_deref(), Some("boom"));
        assert_eq!(r.result.trace.as_deref(), Some("at x"));
        assert_eq!(r.result.stdout.as_deref(), Some("one\ntwo"));
        assert_eq!(r.result.stderr.as_deref(), Some("err"));
        assert!(r.flaky);
        assert_eq!(r.tags, ["fast", "owner=me"]);
        assert_eq!(r.steps.len(), 2);
        assert_eq!(r.steps[0].duration_ms, Some(3.0));
        assert_eq!(r.steps[1].outcome, Outcome::Failed);
        assert_eq!(r.steps[1].message.as_deref(), Some("no"));
        assert_eq!(r.attachments[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(r.attachments[1].name, "log.txt");
        assert_eq!(r.properties.get("owner"), Some(&json!("team")));
        assert_eq!(r.properties.get("n"), Some(&json!("3")));
    }

    #[test]
    fn run_info() {
        let doc = json!({
            "reportId": "r-1",
            "results": {"tool": {"name": "jest", "version": "1"}, "environment": {"os": "linux"},
                        "tests": [], "extra": {"runId": "x-2"}}
        })
        .to_string();
        let events = run(&doc);
        let info: Vec<&RunInfo> = events
            .iter()
            .filter_map(|e| match e {
                Event::Run(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(info.len(), 4);
        assert_eq!(info[0].run_id.as_deref(), Some("r-1"));
        assert!(info.iter().any(|i| i.name.as_deref() == Some("jest")));
        assert!(
            info.iter()
                .any(|i| i.properties.get("os") == Some(&json!("linux")))
        );
        assert!(info.iter().any(|i| i.run_id.as_deref() == Some("x-2")));
    }

    #[test]
    fn not_ctrf() {
        for doc in ["{}", "{\"tests\": []}"] {
            let e = fail(doc);
            assert_eq!(e.code, "BAD_REQUEST", "{doc}");
            assert_eq!(e.message, "not a CTRF report: no results object", "{doc}");
        }
        // a value of the wrong kind: named, with its place
        for (doc, message) in [
            (
                "[]",
                "invalid type: sequence, expected a CTRF report object",
            ),
            (
                "3",
                "invalid type: integer `3`, expected a CTRF report object",
            ),
            (
                "{\"results\": 1}",
                "invalid type: integer `1`, expected the CTRF results object",
            ),
            (
                "{\"results\": {\"tests\": {}}}",
                "invalid type: map, expected the CTRF results.tests array",
            ),
        ] {
            let e = fail(doc);
            assert_eq!(e.code, "BAD_REQUEST", "{doc}");
            assert_eq!(e.message, format!("not a CTRF report: {message}"), "{doc}");
            assert!(matches!(e.position, Some(Position::Line { .. })), "{doc}");
        }
        let e = fail("{\"results\": {\"tool\": {}}}");
        assert_eq!(e.message, "not a CTRF report: no results.tests array");
    }

    #[test]
    fn keys() {
        assert_eq!(only(json!({"name": "n", "status": "passed"})).key, "n");
        assert_eq!(
            only(json!({"name": "n", "status": "passed", "suite": ""})).key,
            "n"
        );
        assert_eq!(
            only(json!({"name": "n", "status": "passed", "suite": "s"})).key,
            "s::n"
        );
        assert_eq!(
            only(json!({"name": "n", "status": "passed", "id": "abc", "suite": "s"})).key,
            "abc"
        );
        let r = only(
            json!({"name": "n", "status": "passed", "suite": "s", "parameters": {"z": 1, "a": "x", "m": [1]}}),
        );
        assert_eq!(r.key, "s::n[a=x,m=[1],z=1]");
        assert_eq!(r.parameters.len(), 3);
    }

    #[test]
    fn statuses() {
        let outcome = |s: &str| only(json!({"name": "n", "status": s}));
        assert_eq!(outcome("passed").result.outcome, Outcome::Passed);
        assert_eq!(outcome("failed").result.outcome, Outcome::Failed);
        assert_eq!(outcome("skipped").result.outcome, Outcome::Skipped);
        assert_eq!(outcome("pending").result.outcome, Outcome::Skipped);
        let other = outcome("other");
        assert_eq!(other.result.outcome, Outcome::Skipped);
        assert_eq!(other.properties.get("ctrfStatus"), Some(&json!("other")));
        let e = only_error(json!({"name": "n", "status": "broken"}));
        assert_eq!(e.position, pointer("/results/tests/1/status"));
        assert!(e.message.starts_with("status \"broken\" is not one of"));
        let e = only_error(json!({"name": "n"}));
        assert_eq!(e.position, pointer("/results/tests/1"));
        assert_eq!(e.message, "a test has no status");
    }

    #[test]
    fn bad_values_reject_one_test() {
        let cases = [
            (json!(17), "/results/tests/1", "a test is not an object"),
            (
                json!({"status": "passed"}),
                "/results/tests/1",
                "a test has no name",
            ),
            (
                json!({"name": "", "status": "passed"}),
                "/results/tests/1",
                "a test has no name",
            ),
            (
                json!({"name": "n", "status": "passed", "duration": -1}),
                "/results/tests/1/duration",
                "duration is not a number ≥ 0",
            ),
            (
                json!({"name": "n", "status": "passed", "duration": "5"}),
                "/results/tests/1/duration",
                "duration is not a number ≥ 0",
            ),
            (
                json!({"name": "n", "status": "passed", "message": 5}),
                "/results/tests/1/message",
                "message is not a string",
            ),
            (
                json!({"name": "n", "status": "passed", "suite": ["a", 1]}),
                "/results/tests/1/suite/1",
                "suite is not a string or an array of strings",
            ),
            (
                json!({"name": "n", "status": "passed", "flaky": "yes"}),
                "/results/tests/1/flaky",
                "flaky is not a boolean",
            ),
            (
                json!({"name": "n", "status": "passed", "tags": [1]}),
                "/results/tests/1/tags/0",
                "a tag is not a string",
            ),
            (
                json!({"name": "n", "status": "passed", "steps": [{"name": "s", "status": "nope"}]}),
                "/results/tests/1/steps/0/status",
                "status \"nope\" is not one of passed, failed, skipped, pending, other",
            ),
            (
                json!({"name": "n", "status": "passed", "attachments": [{"name": "a"}]}),
                "/results/tests/1/attachments/0",
                "an attachment has no path",
            ),
            (
                json!({"name": "n", "status": "passed", "retryAttempts": [{"status": "failed", "duration": -2}]}),
                "/results/tests/1/retryAttempts/0/duration",
                "duration is not a number ≥ 0",
            ),
            (
                json!({"name": "n".repeat(1001), "status": "passed"}),
                "/results/tests/1/name",
                "the test name is longer than 1000 characters",
            ),
            (
                json!({"name": "n", "status": "passed", "id": "i".repeat(1001)}),
                "/results/tests/1",
                "the test key is longer than 1000 characters",
            ),
        ];
        for (test, at, message) in cases {
            let e = only_error(test.clone());
            assert_eq!(e.position, pointer(at), "{test}");
            assert_eq!(e.message, message, "{test}");
        }
    }

    #[test]
    fn list_bounds() {
        let small = Limits {
            max_list: 2,
            ..Limits::default()
        };
        let tests = json!([
            {"name": "a", "status": "passed", "tags": ["1", "2", "3"]},
            {"name": "b", "status": "passed", "tags": ["1"], "labels": ["2", "3"]},
            {"name": "c", "status": "failed", "retries": 3},
            {"name": "d", "status": "passed", "extra": {"a": 1, "b": 2, "c": 3}},
            {"name": "e", "status": "passed", "retryAttempts": [{"status": "failed"}, {"status": "failed"}, {"status": "passed"}]},
        ]);
        let events = run_with(report(tests).as_bytes(), &small).unwrap_or_default();
        let bad = rejected(&events);
        let at: Vec<Position> = bad.iter().map(|e| e.position.clone()).collect();
        assert_eq!(
            at,
            [
                pointer("/results/tests/0/tags"),
                pointer("/results/tests/1"),
                pointer("/results/tests/2/retries"),
                pointer("/results/tests/3/extra"),
            ]
        );
        // Three attempts of which the last repeats the final result: two retries, allowed.
        assert_eq!(results(&events).len(), 1);
        assert_eq!(results(&events)[0].retries.len(), 2);
    }

    #[test]
    fn retry_attempts() {
        let attempts = json!([
            {"status": "failed", "message": "m1", "duration": 5, "stdout": ["a", "b"]},
            {"status": "passed"}
        ]);
        // `retries` says the list includes the final attempt.
        let r =
            only(json!({"name": "n", "status": "passed", "retries": 1, "retryAttempts": attempts}));
        assert_eq!(r.retries.len(), 1);
        assert_eq!(r.retries[0].outcome, Outcome::Failed);
        assert_eq!(r.retries[0].message.as_deref(), Some("m1"));
        assert_eq!(r.retries[0].duration_ms, Some(5.0));
        assert_eq!(r.retries[0].stdout.as_deref(), Some("a\nb"));
        // `retries` says it does not.
        let r =
            only(json!({"name": "n", "status": "passed", "retries": 2, "retryAttempts": attempts}));
        assert_eq!(r.retries.len(), 2);
        // No `retries`: the last attempt is dropped only when it equals the final result.
        let r = only(json!({"name": "n", "status": "passed", "retryAttempts": attempts}));
        assert_eq!(r.retries.len(), 1);
        let r = only(
            json!({"name": "n", "status": "failed", "message": "m2", "retryAttempts": [{"status": "failed", "message": "m1"}]}),
        );
        assert_eq!(r.retries.len(), 1);
        // Only a count: that many failed attempts of which nothing else is known.
        let r = only(json!({"name": "n", "status": "failed", "retries": 2}));
        assert_eq!(r.retries.len(), 2);
        assert!(
            r.retries
                .iter()
                .all(|a| a.outcome == Outcome::Failed && a.message.is_none())
        );
    }

    #[test]
    fn texts_are_truncated() {
        let small = Limits {
            max_text_bytes: 4,
            ..Limits::default()
        };
        let tests =
            json!([{"name": "n", "status": "failed", "message": "ééé", "stdout": ["ab", "cd"]}]);
        let events = run_with(report(tests).as_bytes(), &small).unwrap_or_default();
        let r = results(&events);
        assert_eq!(
            r[0].result.message.as_deref(),
            Some("éé\n[truncated: 2 bytes]")
        );
        assert_eq!(
            r[0].result.stdout.as_deref(),
            Some("ab\nc\n[truncated: 1 bytes]")
        );
        let tests = json!([{"name": "n", "status": "failed", "message": "ééé!"}]);
        let events = run_with(report(tests).as_bytes(), &small).unwrap_or_default();
        assert_eq!(
            results(&events)[0].result.message.as_deref(),
            Some("éé\n[truncated: 3 bytes]")
        );
    }

    #[test]
    fn malformed_json() {
        let cases = [
            (
                "{\"results\": {\"tests\": [\n  {\"name\": \"a\",, }]}}",
                2,
                16,
            ),
            (
                "{\"results\": {\"tests\": [{\"name\": \"a\", \"status\": \"passed\"}",
                1,
                56,
            ),
            ("", 1, 0),
            ("{\"results\": {\"tests\": []}} x", 1, 28),
        ];
        for (doc, line, column) in cases {
            let e = fail(doc);
            assert_eq!(e.code, "BAD_REQUEST", "{doc}");
            assert!(
                e.message.starts_with("malformed JSON"),
                "{doc}: {}",
                e.message
            );
            assert_eq!(e.position, Some(Position::Line { line, column }), "{doc}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let shallow = Limits {
            max_depth: 6,
            ..Limits::default()
        };
        // The test object is at depth 4; its extra at 5, values inside extra at 6.
        let tests = json!([
            {"name": "ok", "status": "passed", "extra": {"a": [1]}},
            {"name": "deep", "status": "passed", "extra": {"a": [[1]]}},
        ]);
        let events = run_with(report(tests).as_bytes(), &shallow).unwrap_or_default();
        assert_eq!(results(&events).len(), 1);
        let bad = rejected(&events);
        assert_eq!(bad[0].position, pointer("/results/tests/1"));
        assert_eq!(bad[0].message, "the test is nested deeper than 6 levels");
        let doc = json!({"results": {"environment": {"a": {"b": {"c": {"d": {}}}}}, "tests": []}})
            .to_string();
        let e = fail_with(doc.as_bytes(), &shallow);
        assert_eq!(e.code, "BAD_REQUEST");
        assert_eq!(e.position, Some(pointer("/results/environment")));
        // serde_json's own limit holds for anything deeper than 128.
        let doc = format!(
            "{{\"results\": {{\"tests\": [{}{}]}}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(fail(&doc).code, "BAD_REQUEST");
    }

    #[test]
    fn long_values_are_refused_without_reading_them_whole() {
        let small = Limits {
            max_token_bytes: 1000,
            ..Limits::default()
        };
        let long = "x".repeat(5000);
        let tests = json!([{"name": "a", "status": "passed"}, {"name": "b", "status": "passed", "stdout": long}]);
        let e = fail_with(report(tests).as_bytes(), &small);
        assert_eq!(e.code, "PAYLOAD_TOO_LARGE");
        assert_eq!(e.message, "a JSON value is longer than 1000 bytes");
        assert_eq!(e.position, Some(pointer("/results/tests/1")));
        let doc = format!("{{\"reportId\": \"{long}\", \"results\": {{\"tests\": []}}}}");
        let e = fail_with(doc.as_bytes(), &small);
        assert_eq!(e.code, "PAYLOAD_TOO_LARGE");
        assert!(matches!(e.position, Some(Position::Line { line: 1, .. })));
        // Many tests, each under the bound, are fine.
        let many: Vec<Value> = (0..100)
            .map(|i| json!({"name": format!("t{i}"), "status": "passed", "message": "m".repeat(500)}))
            .collect();
        let events = run_with(report(Value::Array(many)).as_bytes(), &small).unwrap_or_default();
        assert_eq!(results(&events).len(), 100);
    }

    #[test]
    fn encodings() {
        let doc = report(json!([{"name": "n", "status": "passed"}]));
        let with_bom: Vec<u8> = [0xEF, 0xBB, 0xBF]
            .iter()
            .copied()
            .chain(doc.bytes())
            .collect();
        assert_eq!(
            run_with(&with_bom, &Limits::default()).map(|e| e.len()),
            Ok(2)
        );
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(doc.bytes().flat_map(|b| [b, 0]))
            .collect();
        assert_eq!(
            fail_with(&utf16, &Limits::default()).code,
            "UNSUPPORTED_MEDIA_TYPE"
        );
        let latin1 =
            b"{\"results\": {\"tests\": [{\"name\": \"caf\xe9\", \"status\": \"passed\"}]}}";
        let e = fail_with(latin1, &Limits::default());
        assert_eq!(e.code, "UNSUPPORTED_MEDIA_TYPE");
    }

    #[test]
    fn break_stops_parsing() {
        let doc = report(
            json!([{"name": "a", "status": "passed"}, {"name": "b", "status": "passed"}, "junk"]),
        );
        let mut seen = Vec::new();
        let result = parse(doc.as_bytes(), &Limits::default(), &mut |e| {
            seen.push(e);
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(result, Ok(()));
        assert_eq!(seen.len(), 2);
        assert!(matches!(&seen[1], Event::Result(r) if r.name == "b"));
    }

    #[test]
    fn nothing_panics_on_cut_documents() {
        let doc = report(
            json!([{"name": "a", "status": "failed", "suite": ["x"], "retryAttempts": [{"status": "failed"}], "steps": [{"name": "s", "status": "passed"}]}]),
        );
        for cut in 0..doc.len() {
            let _ = run_with(&doc.as_bytes()[..cut], &Limits::default());
        }
    }

    #[test]
    fn handwritten_fixture_details() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/import/handwritten-ctrf-steps-attachments.json");
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let mut events = Vec::new();
        let result = parse(io::BufReader::new(file), &Limits::default(), &mut |e| {
            events.push(e);
            ControlFlow::Continue(())
        });
        assert_eq!(result, Ok(()));
        let all = results(&events);
        assert!(all.iter().any(|r| !r.steps.is_empty()));
        assert!(all.iter().any(|r| !r.attachments.is_empty()));
        assert!(
            all.iter()
                .any(|r| r.key == "e2e > checkout::checkout total[currency=EUR,items=3]")
        );
    }
}
