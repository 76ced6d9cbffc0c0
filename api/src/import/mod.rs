//! Results in from the files test frameworks write: JUnit XML and CTRF JSON.
//!
//! - `model`: what a report says, whatever its format; `junit`, `ctrf`: streaming parsers.
//! - This module: an import. The report is spooled to a temporary file first (the HTTP body
//!   or the GraphQL upload), then read twice, as a stream both times: once to check that the
//!   whole file is well-formed (a malformed file is refused with its position and writes
//!   nothing), once to write its results in batches through the one write path of results
//!   (`runs::service::bulk::write`), each batch committed on its own, so that live
//!   subscribers see the run fill up and memory stays bounded whatever the file's size.
//!   Importing a file twice changes nothing: each test's result is keyed by its identity key
//!   in the run.

pub mod bundle;
pub mod ctrf;
pub mod junit;
pub mod model;
pub mod mutation;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::sync::Arc;

use entity::enums::{ExecutionStatus, StepExecutionStatus};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::Identity;
use crate::config::StatementLimits;
use crate::error::{AppError, AppResult};
use crate::runs::service::bulk::{
    AttemptData, ResultItem, StepData, StepRef, TestKey, TestRef, WriteOptions,
};
use crate::runs::types::{ArtifactInput, StartTestRunInput};
use model::{Attempt, Event, FileError, Outcome, Position, TestResult};

/// Results written per transaction: each batch is committed (and announced) on its own. A
/// batch's fixed costs (the security context, the run's lock and recount) are spread over
/// this many results; live subscribers still see a large report arrive in steps.
pub const BATCH_RESULTS: usize = 5_000;

/// Bytes of text a batch may hold before it is written, whatever its count.
const BATCH_TEXT_BYTES: usize = 8 * 1024 * 1024;

/// Item errors an import answers with (the first ones, in file order).
pub const ERRORS_SHOWN: usize = 100;

/// Longest an import waits for its turn before it is answered 429.
const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    /// JUnit XML (Ant/JUnit, Maven Surefire, pytest, jest-junit, cargo-nextest, ...).
    Junit,
    /// Common Test Report Format (JSON).
    Ctrf,
}

impl ImportFormat {
    /// From the `format` parameter: `junit`, `ctrf`, or `auto` (`None`).
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        match s.to_ascii_lowercase().as_str() {
            "junit" | "xml" => Ok(Some(Self::Junit)),
            "ctrf" | "json" => Ok(Some(Self::Ctrf)),
            "auto" | "" => Ok(None),
            other => Err(format!("unknown format '{other}': use junit, ctrf or auto")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Junit => "junit",
            Self::Ctrf => "ctrf",
        }
    }
}

/// The run an import writes into.
#[derive(Debug, Clone)]
pub enum RunTarget {
    /// An existing run, by id.
    Id(Uuid),
    /// The run with this client key in the project, created on first use (ad hoc).
    Key { key: String, name: Option<String> },
    /// A new ad-hoc run.
    New { name: Option<String> },
}

/// What to import, and how.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// `None`: found from the file's first bytes.
    pub format: Option<ImportFormat>,
    /// The project of a new run (its key); default: the token's project, else `default`.
    pub project_key: Option<String>,
    pub run: RunTarget,
    /// End the run afterwards with the outcome its results imply.
    pub finish: bool,
    /// Reject results for unknown keys instead of creating cases.
    pub known_only: bool,
    /// The run's commit, branch, build URL and environment (checked); a run that has them
    /// keeps its own.
    pub context: crate::runs::service::context::RunContext,
}

/// Where the import runs: the pool, who imports, and the limits of their statements.
#[derive(Clone)]
pub struct Importer {
    pub pool: sea_orm::DatabaseConnection,
    pub identity: Identity,
    pub limits: StatementLimits,
    /// Largest report, after decompression too.
    pub max_bytes: u64,
    /// How often the run's counters are recounted during the import.
    pub recount_every: std::time::Duration,
    /// Imports that may run at once.
    pub slots: Arc<tokio::sync::Semaphore>,
}

/// One item of a report that was not imported.
#[derive(Debug, Clone, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
#[graphql(name = "ImportItemError")]
pub struct ItemProblem {
    /// Where it is: `line 12, column 5` (XML) or a JSON pointer (CTRF).
    pub position: String,
    /// Its line in the file (XML), from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Its column in the line (XML), from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Its JSON pointer (CTRF), such as `/results/tests/17`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The test's identity key, when the item has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_key: Option<String>,
    /// BAD_USER_INPUT, CONFLICT or NOT_FOUND.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub format: ImportFormat,
    pub run: entity::test_run::Model,
    /// Results written now.
    pub accepted: u64,
    /// Results a former import of the same run had written (nothing changed).
    pub duplicates: u64,
    /// Items not imported.
    pub rejected: u64,
    /// The first items not imported, with their place in the report.
    pub errors: Vec<ItemProblem>,
    /// What became of a bundle's files (`None` for a report alone).
    pub files: Option<BundleFiles>,
}

/// What became of the files a bundle's report refers to.
#[derive(Debug, Clone, Default, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct BundleFiles {
    /// The report's path in the bundle.
    pub report: String,
    /// Artifacts whose bytes were stored from the bundle.
    pub attached: u64,
    /// Attachment paths the bundle does not hold (the first 100): their artifacts keep their
    /// metadata, without bytes.
    pub not_found: Vec<String>,
    /// Files of the bundle not stored, with why (the first 100), such as being larger than
    /// their type's limit.
    pub refused: Vec<String>,
}

/// Most paths listed in each of [`BundleFiles`]' lists.
const FILES_LISTED: usize = 100;

/// Artifacts whose bytes one transaction attaches.
const ATTACH_BATCH: usize = 50;

/// A report file or a bundle (`.zip`, `.tar.gz`: the report and the files it refers to)
/// imported: the report's results, then the bytes of the artifacts whose paths the bundle
/// holds. `report` names the report in a bundle (default: the one `.xml` or `.json` file
/// nearest its root).
pub async fn import_upload(
    importer: &Importer,
    artifacts: &crate::artifacts::Artifacts,
    file: std::fs::File,
    gzip_declared: bool,
    request: ImportRequest,
    report: Option<String>,
) -> Result<ImportSummary, Refusal> {
    let imported = import_file(importer, artifacts, file, gzip_declared, request, report).await;
    match &imported {
        Ok(summary) => {
            metrics::counter!(crate::telemetry::IMPORTS, "outcome" => "ok").increment(1);
            for (kind, n) in [
                ("accepted", summary.accepted),
                ("duplicate", summary.duplicates),
                ("rejected", summary.rejected),
            ] {
                metrics::counter!(crate::telemetry::IMPORT_RESULTS, "result" => kind).increment(n);
            }
        }
        Err(refusal) => {
            metrics::counter!(crate::telemetry::IMPORTS, "outcome" => refusal.code).increment(1);
        }
    }
    imported
}

async fn import_file(
    importer: &Importer,
    artifacts: &crate::artifacts::Artifacts,
    file: std::fs::File,
    gzip_declared: bool,
    request: ImportRequest,
    report: Option<String>,
) -> Result<ImportSummary, Refusal> {
    let max_bytes = importer.max_bytes;
    let unpacked = tokio::task::spawn_blocking(move || {
        let mut file = file;
        match bundle::kind_of(&mut file)
            .map_err(|e| Refusal::new(400, "BAD_REQUEST", e.to_string()))?
        {
            None if report.is_some() => Err(Refusal::new(
                400,
                "BAD_REQUEST",
                "the report parameter names a report inside a bundle (.zip, .tar.gz); the body \
                 is a report itself",
            )),
            None if gzip_declared && bundle::gzipped_zip(&mut file).unwrap_or(false) => {
                Err(Refusal::new(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "a zip bundle sent with Content-Encoding: gzip: send the zip as it is",
                ))
            }
            None => Ok((file, None)),
            Some(kind) => {
                let unpacked = bundle::unpack(
                    file,
                    kind,
                    report.as_deref(),
                    bundle::BundleLimits {
                        max_bytes,
                        max_entries: bundle::MAX_ENTRIES,
                    },
                )?;
                let report = unpacked
                    .report_file()
                    .map_err(|e| Refusal::new(500, "INTERNAL_SERVER_ERROR", e.to_string()))?;
                Ok((report, Some(unpacked)))
            }
        }
    })
    .await
    .map_err(|e| Refusal::new(500, "INTERNAL_SERVER_ERROR", e.to_string()))??;
    let (file, unpacked) = unpacked;
    let spooled = Spooled::new(file, gzip_declared && unpacked.is_none()).map_err(|e| {
        tracing::error!(error = %e, "spooling an import failed");
        Refusal::new(500, "INTERNAL_SERVER_ERROR", "internal server error")
    })?;
    let mut summary = import(importer, spooled, request).await?;
    if let Some(unpacked) = unpacked {
        summary.files = Some(
            attach_files(importer, artifacts, summary.run.id, &unpacked)
                .await
                .map_err(Refusal::from_app)?,
        );
        summary.run = in_transaction(importer, {
            let run = summary.run.id;
            move |tx| {
                Box::pin(async move {
                    crate::runs::service::get_run(tx, run)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestRun", run))
                })
            }
        })
        .await
        .map_err(Refusal::from_app)?;
    }
    Ok(summary)
}

/// Stores the bytes of the run's artifacts that have none and whose paths the bundle holds.
async fn attach_files(
    importer: &Importer,
    artifacts: &crate::artifacts::Artifacts,
    run: Uuid,
    unpacked: &bundle::Bundle,
) -> AppResult<BundleFiles> {
    let mut files = BundleFiles {
        report: unpacked.report.clone(),
        ..BundleFiles::default()
    };
    // the run's artifacts without bytes, a page at a time
    let mut after = Uuid::nil();
    loop {
        let page = in_transaction(importer, move |tx| {
            Box::pin(async move {
                use sea_orm::ConnectionTrait;
                let rows = tx
                    .query_all_raw(crate::sql::statement(
                        "SELECT a.id, a.file_path, a.artifact_type FROM test_artifacts a
                         JOIN test_executions e ON e.id = a.test_execution_id
                         WHERE e.test_run_id = $1 AND a.blob_sha256 IS NULL AND a.id > $2
                         ORDER BY a.id LIMIT $3",
                        vec![run.into(), after.into(), (ATTACH_BATCH as i64).into()],
                    ))
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get::<Uuid>("", "id")?,
                            r.try_get::<String>("", "file_path")?,
                            r.try_get::<entity::enums::ArtifactType>("", "artifact_type")?,
                        ))
                    })
                    .collect::<Result<Vec<_>, sea_orm::DbErr>>()
                    .map_err(AppError::from)
            })
        })
        .await?;
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = *last;
        let full = page.len() == ATTACH_BATCH;
        files.attached += attach_page(importer, artifacts, unpacked, page, &mut files).await?;
        if !full {
            break;
        }
    }
    Ok(files)
}

/// Stores the bytes of one page of artifacts from the bundle, in one transaction.
async fn attach_page(
    importer: &Importer,
    artifacts: &crate::artifacts::Artifacts,
    unpacked: &bundle::Bundle,
    page: Vec<(Uuid, String, entity::enums::ArtifactType)>,
    files: &mut BundleFiles,
) -> AppResult<u64> {
    let note = |list: &mut Vec<String>, item: String| {
        if list.len() < FILES_LISTED {
            list.push(item);
        }
    };
    let store = &artifacts.store;
    let mut staged = Vec::new();
    let mut failed = None;
    for (id, path, kind) in page {
        let Some(file) = unpacked.resolve(&path) else {
            note(&mut files.not_found, path);
            continue;
        };
        let content = match tokio::fs::File::open(&file).await {
            Ok(f) => f,
            Err(e) => {
                failed = Some(AppError::internal(format!(
                    "opening {}: {e}",
                    file.display()
                )));
                break;
            }
        };
        match store
            .stage(
                tokio_util::io::ReaderStream::new(content),
                artifacts.options.limit(kind),
            )
            .await
        {
            Ok(s) => staged.push((id, s)),
            Err(crate::artifacts::PutError::TooLarge { limit }) => note(
                &mut files.refused,
                format!("{path}: larger than {limit} bytes"),
            ),
            Err(e) => {
                failed = Some(crate::artifacts::service::put_error(e, "file"));
                break;
            }
        }
    }
    let attached = match failed {
        Some(e) => Err(e),
        None => {
            // blobs claimed in one order by every writer: two imports sharing files wait for
            // each other rather than deadlock
            let mut attaching = staged.clone();
            attaching.sort_by(|a, b| a.1.blob.sha256.cmp(&b.1.blob.sha256));
            let store = store.clone();
            in_transaction(importer, move |tx| {
                Box::pin(async move {
                    for (id, s) in &attaching {
                        crate::artifacts::service::attach_content(tx, &store, *id, s).await?;
                    }
                    Ok(attaching.len() as u64)
                })
            })
            .await
        }
    };
    for (_, s) in staged {
        if let Err(e) = store.discard(s).await {
            tracing::warn!(error = %e, "removing a staged upload failed; the orphan sweep will");
        }
    }
    attached
}

/// Why a report is refused whole: nothing of it was written.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// An HTTP status for it.
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub position: Option<Position>,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            position: None,
        }
    }

    fn from_file(e: FileError) -> Self {
        let status = match e.code {
            "UNSUPPORTED_MEDIA_TYPE" => 415,
            "PAYLOAD_TOO_LARGE" => 413,
            _ => 400,
        };
        let message = match &e.position {
            Some(p) => format!("{} (at {p})", e.message),
            None => e.message,
        };
        Self {
            status,
            code: e.code,
            message,
            position: e.position,
        }
    }

    fn from_app(e: AppError) -> Self {
        if let AppError::Internal { cause } = &e {
            tracing::error!(%cause, "an import failed");
        }
        Self {
            status: e.http_status(),
            code: e.code(),
            message: e.message(),
            position: None,
        }
    }
}

impl Refusal {
    /// The refusal of an import that stopped after writing `written` results: it says so.
    fn after(mut self, written: u64) -> Self {
        if written > 0 {
            self.message = format!(
                "{} ({written} results were written before this; importing the file again \
                 completes it)",
                self.message
            );
        }
        self
    }
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        Self::from_app(e)
    }
}

/// A report spooled to a file: its bytes, read as often as needed.
pub struct Spooled {
    file: std::fs::File,
    gzip: bool,
}

impl Spooled {
    /// A spooled file; gzip when `gzip_declared` (`Content-Encoding: gzip`) or when it starts
    /// with gzip's magic bytes.
    pub fn new(mut file: std::fs::File, gzip_declared: bool) -> std::io::Result<Self> {
        file.seek(SeekFrom::Start(0))?;
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Self {
            file,
            gzip: gzip_declared || (n == 2 && magic == [0x1f, 0x8b]),
        })
    }

    /// The report's bytes from the start (decompressed), at most `max` of them.
    fn reader(&self, max: u64) -> std::io::Result<Box<dyn BufRead + Send>> {
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        let raw: Box<dyn Read + Send> = if self.gzip {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
        } else {
            Box::new(file)
        };
        Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            Bounded {
                inner: raw,
                left: max,
                max,
            },
        )))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A reader that fails past `max` bytes (a compressed report that inflates without end).
struct Bounded<R> {
    inner: R,
    left: u64,
    max: u64,
}

/// The message of the error [`Bounded`] fails with.
const TOO_LARGE: &str = "the report exceeds";

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // one byte more tells a report of exactly `max` bytes from a larger one
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "{TOO_LARGE} {} bytes (uncompressed)",
                    self.max
                ))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The format a report is in, from its first bytes: `<` is XML, `{` JSON.
fn sniff(reader: &mut dyn BufRead) -> Result<ImportFormat, Refusal> {
    let buf = reader.fill_buf().map_err(|e| read_refusal(&e))?;
    let text = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Ok(ImportFormat::Junit),
        Some(b'{') => Ok(ImportFormat::Ctrf),
        None if buf.is_empty() => Err(Refusal::new(400, "BAD_REQUEST", "the report is empty")),
        _ => Err(Refusal::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "not a report this server reads: expected JUnit XML or CTRF JSON (UTF-8, \
             optionally gzip-compressed)",
        )),
    }
}

fn read_refusal(e: &std::io::Error) -> Refusal {
    let message = e.to_string();
    if message.starts_with(TOO_LARGE) {
        Refusal::new(413, "PAYLOAD_TOO_LARGE", message)
    } else {
        Refusal::new(
            400,
            "BAD_REQUEST",
            format!("the report cannot be read: {message}"),
        )
    }
}

/// The bounds the parsers keep on an import.
fn limits() -> model::Limits {
    model::Limits {
        // stdout, stderr, message and trace of a result stay well within what an execution
        // keeps (its error text, its metadata object)
        max_text_bytes: 16 * 1024,
        ..model::Limits::default()
    }
}

/// What receives a report's events, in file order.
trait Sink: Send + 'static {
    fn event(&mut self, event: Event) -> ControlFlow<()>;
    /// The report was read to its end.
    fn end(&mut self) {}
}

/// Parses the whole report into `sink` on a blocking thread; answers the format and the sink.
async fn parse_with<S: Sink>(
    spooled: Arc<Spooled>,
    max: u64,
    format: Option<ImportFormat>,
    mut sink: S,
) -> Result<(ImportFormat, S), Refusal> {
    tokio::task::spawn_blocking(move || {
        let mut reader = spooled.reader(max).map_err(|e| read_refusal(&e))?;
        let found = sniff(&mut *reader)?;
        let format = format.unwrap_or(found);
        if format != found {
            return Err(Refusal::new(
                400,
                "BAD_REQUEST",
                format!(
                    "the report is not {}: it looks like {}",
                    format.name(),
                    found.name()
                ),
            ));
        }
        let limits = limits();
        let mut emit = |event| sink.event(event);
        let parsed = match format {
            ImportFormat::Junit => junit::parse(reader, &limits, &mut emit),
            ImportFormat::Ctrf => ctrf::parse(reader, &limits, &mut emit),
        };
        parsed.map_err(|e| {
            if e.message.contains(TOO_LARGE) {
                Refusal::new(
                    413,
                    "PAYLOAD_TOO_LARGE",
                    format!("the report exceeds {max} bytes (uncompressed)"),
                )
            } else {
                Refusal::from_file(e)
            }
        })?;
        sink.end();
        Ok((format, sink))
    })
    .await
    .map_err(|e| Refusal::from_app(AppError::internal(format!("the parser stopped: {e}"))))?
}

/// The first reading: checks the whole file, and learns the report's own name for the run
/// and its properties.
#[derive(Default)]
struct FirstPass {
    name: Option<String>,
    properties: Map<String, Value>,
    /// Bytes of the properties kept.
    kept: usize,
    cancel: Arc<std::sync::atomic::AtomicBool>,
}

/// Bytes of a report's run properties kept in the run's configuration (a JSON object of at
/// most 64 KiB): the first ones, each value cut to [`PROPERTY_MAX`].
const RUN_PROPERTIES_BYTES: usize = 32 * 1024;

/// Longest property value kept, in bytes (a class path is longer, and says little).
const PROPERTY_MAX: usize = 1024;

/// A property value cut to [`PROPERTY_MAX`] bytes.
fn bounded(v: Value) -> Value {
    match v {
        Value::String(s) if s.len() > PROPERTY_MAX => {
            let mut end = PROPERTY_MAX;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Value::String(format!("{}…", &s[..end]))
        }
        Value::String(s) => Value::String(s),
        other => {
            let text = other.to_string();
            if text.len() > PROPERTY_MAX {
                bounded(Value::String(text))
            } else {
                other
            }
        }
    }
}

/// Properties with their values cut to [`PROPERTY_MAX`], at most `budget` bytes of them.
fn bounded_map(map: &Map<String, Value>, budget: usize) -> Map<String, Value> {
    let mut out = Map::new();
    let mut used = 0;
    for (k, v) in map {
        let v = bounded(v.clone());
        let size = k.len() + v.to_string().len();
        if used + size > budget {
            break;
        }
        used += size;
        out.insert(k.clone(), v);
    }
    out
}

impl Sink for FirstPass {
    fn event(&mut self, event: Event) -> ControlFlow<()> {
        if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        if let Event::Run(info) = event {
            if self.name.is_none() {
                self.name = info.name;
            }
            for (k, v) in info.properties {
                let v = bounded(v);
                let size = k.len() + v.to_string().len();
                if self.kept + size <= RUN_PROPERTIES_BYTES && !self.properties.contains_key(&k) {
                    self.kept += size;
                    self.properties.insert(k, v);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The results of a report, a batch at a time.
#[derive(Default)]
struct Batch {
    items: Vec<ResultItem>,
    /// Items the parser or the importer refused: the first [`ERRORS_SHOWN`] of the report
    /// with what is wrong, the others counted.
    problems: Vec<ItemProblem>,
    more_problems: u64,
    text_bytes: usize,
}

/// Distinct tests a report may name and still be told apart from its repeats; past it a
/// repeat is found by its key in the run (answered as a duplicate). Bounds the memory of the
/// check at a few megabytes whatever the file.
const KEYS_TRACKED: usize = 500_000;

/// The second reading: batches of results sent to the writer.
struct SecondPass {
    batch: Batch,
    /// Hashes of the keys seen (at most [`KEYS_TRACKED`]).
    keys: HashSet<u64>,
    /// Problems seen so far in the report.
    problems: u64,
    cancel: Arc<std::sync::atomic::AtomicBool>,
    /// Dropped at the end, which tells the writer that no batch follows.
    tx: Option<tokio::sync::mpsc::Sender<Batch>>,
}

impl SecondPass {
    fn problem(&mut self, problem: impl FnOnce() -> ItemProblem) {
        self.problems += 1;
        if self.problems <= ERRORS_SHOWN as u64 {
            self.batch.problems.push(problem());
        } else {
            self.batch.more_problems += 1;
        }
    }

    /// Whether the key was seen before in the report (as far as it is tracked).
    fn repeated(&mut self, key: &str) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let hash = h.finish();
        if self.keys.contains(&hash) {
            return true;
        }
        if self.keys.len() < KEYS_TRACKED {
            self.keys.insert(hash);
        }
        false
    }

    fn send(&mut self) -> ControlFlow<()> {
        let batch = std::mem::take(&mut self.batch);
        let Some(tx) = &self.tx else {
            return ControlFlow::Break(());
        };
        if tx.blocking_send(batch).is_err() {
            // the writer stopped (it failed): nothing more to read
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

impl Sink for SecondPass {
    fn event(&mut self, event: Event) -> ControlFlow<()> {
        if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        match event {
            Event::Result(result) => {
                let result = *result;
                if self.repeated(&result.key) {
                    self.problem(|| {
                        problem(
                            &result.position,
                            Some(result.key),
                            "BAD_USER_INPUT",
                            "the test appears more than once in the report; only its first \
                             result is imported"
                                .to_owned(),
                        )
                    });
                } else {
                    self.batch.text_bytes += text_bytes(&result);
                    self.batch.items.push(to_item(result));
                }
            }
            Event::Rejected(e) => {
                self.problem(|| problem(&e.position, None, e.code, e.message));
            }
            Event::Run(_) => {}
        }
        if self.batch.items.len() >= BATCH_RESULTS || self.batch.text_bytes >= BATCH_TEXT_BYTES {
            return self.send();
        }
        ControlFlow::Continue(())
    }

    fn end(&mut self) {
        let _ = self.send();
        self.tx = None;
    }
}

/// Imports a spooled report.
pub async fn import(
    importer: &Importer,
    spooled: Spooled,
    request: ImportRequest,
) -> Result<ImportSummary, Refusal> {
    // imports take turns past the server's bound (the report waits on disk, not in memory)
    let slot = tokio::time::timeout(SLOT_WAIT, importer.slots.clone().acquire_owned()).await;
    let Ok(Ok(_slot)) = slot else {
        return Err(Refusal::new(
            429,
            "RATE_LIMITED",
            "as many imports as this server takes at once have been in progress for a while: \
             try again shortly",
        ));
    };
    let spooled = Arc::new(spooled);
    // the parser threads stop when the import is dropped (its request timed out, its client
    // went away)
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _stop = StopOnDrop(cancel.clone());
    // the whole file must be well-formed before anything is written
    let first = FirstPass {
        cancel: cancel.clone(),
        ..FirstPass::default()
    };
    let (format, first) =
        parse_with(spooled.clone(), importer.max_bytes, request.format, first).await?;
    let run = target_run(importer, &request, first).await?;
    // batches recount the run at intervals: whatever ends the import (an error, the client
    // going away, success) leaves its counters exact
    let stale = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _recount = RecountWhenDropped {
        importer: importer.clone(),
        run: run.id,
        stale: stale.clone(),
    };

    // batches through a bounded channel, written as they come
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let second = SecondPass {
        batch: Batch::default(),
        keys: HashSet::new(),
        problems: 0,
        cancel,
        tx: Some(tx),
    };
    let parser = parse_with(spooled.clone(), importer.max_bytes, Some(format), second);
    let known_only = request.known_only;
    let run_id = run.id;
    let writer = async move {
        let mut rx = rx;
        let mut tally = Tally {
            stale,
            ..Tally::default()
        };
        while let Some(batch) = rx.recv().await {
            if let Err(e) = tally.write(importer, run_id, batch, known_only).await {
                // the parser's next batch finds the channel closed and stops reading
                rx.close();
                return Err(e.after(tally.accepted));
            }
        }
        Ok::<_, Refusal>(tally)
    };
    let (parsed, written) = tokio::join!(parser, writer);
    let tally = written?;
    parsed?;
    let stale = tally.stale.load(std::sync::atomic::Ordering::Acquire);
    let run = end_run(importer, run.id, request.finish, stale).await?;
    tally
        .stale
        .store(false, std::sync::atomic::Ordering::Release);
    Ok(ImportSummary {
        format,
        run,
        accepted: tally.accepted,
        duplicates: tally.duplicates,
        rejected: tally.rejected,
        errors: tally.errors,
        files: None,
    })
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Recounts the run when dropped while batches written since its last recount are not
/// counted yet (an import that failed or was dropped part way).
struct RecountWhenDropped {
    importer: Importer,
    run: Uuid,
    stale: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for RecountWhenDropped {
    fn drop(&mut self) {
        if !self.stale.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let importer = self.importer.clone();
        let run = self.run;
        runtime.spawn(async move {
            let recounted = in_transaction(&importer, move |tx| {
                Box::pin(async move { crate::runs::service::refresh_run(tx, run).await })
            })
            .await;
            if let Err(e) = recounted {
                tracing::warn!(error = ?e, %run, "recounting the run of a stopped import failed");
            }
        });
    }
}

/// What the batches did.
#[derive(Default)]
struct Tally {
    /// When the run was last recounted.
    recounted: Option<std::time::Instant>,
    /// Whether a batch was written since (shared with the import's [`RecountWhenDropped`]).
    stale: Arc<std::sync::atomic::AtomicBool>,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    errors: Vec<ItemProblem>,
}

impl Tally {
    fn note(&mut self, problem: ItemProblem) {
        self.rejected += 1;
        if self.errors.len() < ERRORS_SHOWN {
            self.errors.push(problem);
        }
    }

    async fn write(
        &mut self,
        importer: &Importer,
        run: Uuid,
        batch: Batch,
        known_only: bool,
    ) -> Result<(), Refusal> {
        for p in batch.problems {
            self.note(p);
        }
        self.rejected += batch.more_problems;
        if batch.items.is_empty() {
            return Ok(());
        }
        let places: Vec<(String, Option<String>)> = batch
            .items
            .iter()
            .map(|i| {
                let key = match &i.test {
                    TestRef::Key(k) => Some(k.key.clone()),
                    TestRef::Case(_) => None,
                };
                (i.field.clone(), key)
            })
            .collect();
        let items = batch.items;
        let recount = self
            .recounted
            .is_none_or(|t| t.elapsed() >= importer.recount_every);
        let options = WriteOptions {
            known_only,
            recount,
        };
        let outcomes = in_transaction(importer, move |tx| {
            Box::pin(
                async move { crate::runs::service::bulk::write(tx, run, items, options).await },
            )
        })
        .await?;
        if recount {
            self.recounted = Some(std::time::Instant::now());
        }
        if outcomes.iter().any(|o| o.ok && !o.duplicate) {
            self.stale
                .store(!recount, std::sync::atomic::Ordering::Release);
        }
        for (outcome, (place, key)) in outcomes.into_iter().zip(places) {
            if outcome.duplicate {
                self.duplicates += 1;
            } else if outcome.ok {
                self.accepted += 1;
            } else {
                let message = outcome.error_message.unwrap_or_default();
                let message = match outcome.error_field {
                    // the field names a part of the result (`line 3, column 5.testKey`)
                    Some(field) if field.len() > place.len() => {
                        format!("{message} ({})", &field[place.len() + 1..])
                    }
                    _ => message,
                };
                self.note(ItemProblem {
                    test_key: key,
                    code: outcome.error_code.unwrap_or_default(),
                    message,
                    ..place_of(&place)
                });
            }
        }
        Ok(())
    }
}

/// Runs `f` in a transaction of its own, as the importer, committed when it succeeds.
async fn in_transaction<T: Send + 'static>(
    importer: &Importer,
    f: impl for<'a> FnOnce(&'a sea_orm::DatabaseTransaction) -> crate::auth::context::TxFuture<'a, T>
    + Send,
) -> AppResult<T> {
    crate::projects::service::write_as(&importer.pool, &importer.identity, importer.limits, f).await
}

/// The run to import into: by id (it must take results), by key (created on first use), or
/// a new ad-hoc run.
async fn target_run(
    importer: &Importer,
    request: &ImportRequest,
    first: FirstPass,
) -> Result<entity::test_run::Model, Refusal> {
    let identity = importer.identity.clone();
    let project_key = request.project_key.clone();
    let configuration = if first.properties.is_empty() {
        None
    } else {
        Some(async_graphql::Json(Value::Object(first.properties)))
    };
    let (run_key, name) = match &request.run {
        RunTarget::Id(id) => {
            let id = *id;
            let context = request.context.clone();
            let run = in_transaction(importer, move |tx| {
                Box::pin(async move {
                    let run = crate::runs::service::lock_run(tx, id).await?;
                    crate::runs::service::context::fill(tx, run, &context).await
                })
            })
            .await?;
            return Ok(run);
        }
        RunTarget::Key { key, name } => (Some(key.clone()), name.clone().or(Some(key.clone()))),
        RunTarget::New { name } => (None, name.clone()),
    };
    let name = name
        .or(first.name)
        .unwrap_or_else(|| format!("Import {}", chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")));
    let name: String = name.chars().take(crate::input::NAME_MAX).collect();
    let input = StartTestRunInput {
        suite_id: None,
        name,
        run_configuration: configuration,
        configuration_id: None,
        triggered_by: None,
        run_key,
        project_key,
        commit_sha: request.context.commit_sha.clone(),
        branch: request.context.branch.clone(),
        build_url: request.context.build_url.clone(),
        environment: request.context.environment.clone(),
    };
    let run = in_transaction(importer, move |tx| {
        Box::pin(
            async move { crate::runs::service::lifecycle::start_run(tx, &identity, input).await },
        )
    })
    .await?;
    // a finished run answers its results again as duplicates and refuses new ones, item by
    // item: a retried upload of what it holds changes nothing
    Ok(run)
}

/// The run after the import, finished when asked (recounted first when `stale`: batches
/// written since the last recount).
async fn end_run(
    importer: &Importer,
    run: Uuid,
    finish: bool,
    stale: bool,
) -> Result<entity::test_run::Model, Refusal> {
    Ok(in_transaction(importer, move |tx| {
        Box::pin(async move {
            if finish {
                crate::runs::service::lifecycle::finish_run(tx, run).await
            } else {
                if stale {
                    crate::runs::service::refresh_run(tx, run).await?;
                }
                crate::runs::service::get_run(tx, run)
                    .await?
                    .ok_or_else(|| AppError::not_found("TestRun", run))
            }
        })
    })
    .await?)
}

fn problem(
    position: &Position,
    test_key: Option<String>,
    code: &str,
    message: String,
) -> ItemProblem {
    ItemProblem {
        test_key,
        code: code.to_owned(),
        message,
        ..place_of(&position.to_string())
    }
}

/// An item's place, from how the import names it (`line 3, column 5` or a pointer).
fn place_of(place: &str) -> ItemProblem {
    let mut out = ItemProblem {
        position: place.to_owned(),
        line: None,
        column: None,
        pointer: None,
        test_key: None,
        code: String::new(),
        message: String::new(),
    };
    if let Some(rest) = place.strip_prefix("line ")
        && let Some((line, column)) = rest.split_once(", column ")
    {
        out.line = line.parse().ok();
        out.column = column.parse().ok();
    } else if place.starts_with('/') {
        out.pointer = Some(place.to_owned());
    }
    out
}

/// Bytes of text a result carries.
fn text_bytes(r: &TestResult) -> usize {
    let attempt = |a: &Attempt| {
        [&a.message, &a.trace, &a.stdout, &a.stderr]
            .iter()
            .map(|t| t.as_ref().map_or(0, String::len))
            .sum::<usize>()
    };
    fn texts(m: &Map<String, Value>) -> usize {
        m.iter().map(|(k, v)| k.len() + v.to_string().len()).sum()
    }
    r.key.len()
        + r.name.len()
        + attempt(&r.result)
        + r.retries.iter().map(attempt).sum::<usize>()
        + texts(&r.properties)
        + texts(&r.parameters)
        + r.tags.iter().map(String::len).sum::<usize>()
        + r.steps
            .iter()
            .map(|s| s.name.len() + s.message.as_ref().map_or(0, String::len))
            .sum::<usize>()
        + r.attachments
            .iter()
            .map(|a| a.name.len() + a.path.len())
            .sum::<usize>()
}

/// A duration in whole milliseconds (a parser's are finite and not negative; the bound is
/// the executions').
fn millis(ms: Option<f64>) -> Option<i32> {
    let max = f64::from(crate::input::DURATION_MAX_SECONDS) * 1000.0;
    ms.map(|m| m.round().clamp(0.0, max) as i32)
}

/// An attempt's error text: its message, then its trace.
fn error_text(a: &Attempt) -> Option<String> {
    match (&a.message, &a.trace) {
        (Some(m), Some(t)) if t.contains(m.as_str()) => Some(t.clone()),
        (Some(m), Some(t)) => Some(format!("{m}\n\n{t}")),
        (Some(m), None) => Some(m.clone()),
        (None, Some(t)) => Some(t.clone()),
        (None, None) => None,
    }
}

fn attempt_data(a: &Attempt, extra: Map<String, Value>) -> AttemptData {
    let mut metadata = extra;
    if let Some(out) = &a.stdout {
        metadata.insert("stdout".to_owned(), json!(out));
    }
    if let Some(err) = &a.stderr {
        metadata.insert("stderr".to_owned(), json!(err));
    }
    AttemptData {
        status: match a.outcome {
            Outcome::Passed => ExecutionStatus::Passed,
            Outcome::Failed => ExecutionStatus::Failed,
            Outcome::Skipped => ExecutionStatus::Skipped,
        },
        duration_ms: millis(a.duration_ms),
        // a skipped test's reason is kept as its message too
        error_message: error_text(a),
        metadata: if metadata.is_empty() {
            None
        } else {
            Some(Value::Object(metadata))
        },
    }
}

/// The category of a case created for a test: its suite or class path, the end kept when it
/// is longer than a category may be (the class name says more than the package).
fn category(suite: Option<String>) -> Option<String> {
    let suite = suite?;
    let max = crate::runs::service::bulk::CATEGORY_MAX;
    let n = suite.chars().count();
    if n <= max {
        return Some(suite);
    }
    Some(format!(
        "…{}",
        suite.chars().skip(n - (max - 1)).collect::<String>()
    ))
}

/// The idempotency key of a test's result in a run: its identity key (hashed when longer
/// than fits) and a digest of what the result says. The same report sent again finds its
/// keys (duplicates, nothing changes); a re-run job's different result for the test is a new
/// key, which an ad-hoc run takes as the test's next attempt.
fn idempotency_key(r: &TestResult) -> String {
    use sha2::Digest;
    let mut said = sha2::Sha256::new();
    for a in r.retries.iter().chain([&r.result]) {
        said.update(format!("{:?}|{:?}|", a.outcome, a.duration_ms));
        said.update(a.message.as_deref().unwrap_or("").as_bytes());
        said.update(b"\n");
    }
    let said = crate::artifacts::store::hex(&said.finalize()[..8]);
    if r.key.len() <= 180 {
        format!("{}#{said}", r.key)
    } else {
        let key = sha2::Sha256::digest(r.key.as_bytes());
        format!("sha256:{}#{said}", crate::artifacts::store::hex(&key[..20]))
    }
}

/// A parsed result as an item of the write path.
fn to_item(r: TestResult) -> ResultItem {
    // within an execution's metadata (a JSON object of at most 64 KiB) with its output
    let mut extra = Map::new();
    if !r.properties.is_empty() {
        extra.insert(
            "properties".to_owned(),
            Value::Object(bounded_map(&r.properties, 12 * 1024)),
        );
    }
    if !r.parameters.is_empty() {
        extra.insert(
            "parameters".to_owned(),
            Value::Object(bounded_map(&r.parameters, 8 * 1024)),
        );
    }
    if r.flaky {
        extra.insert("flaky".to_owned(), json!(true));
    }
    if let Some(file) = &r.file {
        extra.insert("file".to_owned(), json!(file));
    }
    let earlier = r
        .retries
        .iter()
        .map(|a| attempt_data(a, Map::new()))
        .collect();
    let steps = r
        .steps
        .iter()
        .map(|s| StepData {
            step: StepRef::Name(s.name.chars().take(crate::input::NAME_MAX).collect()),
            status: match s.outcome {
                Outcome::Passed => StepExecutionStatus::Passed,
                Outcome::Failed => StepExecutionStatus::Failed,
                Outcome::Skipped => StepExecutionStatus::Skipped,
            },
            duration_ms: millis(s.duration_ms),
            error_message: s.message.clone(),
            actual_result: None,
            metadata: None,
        })
        .collect();
    let artifacts = r
        .attachments
        .iter()
        .map(|a| ArtifactInput {
            artifact_type: crate::artifacts::type_of(a.content_type.as_deref(), &a.path),
            file_name: a.name.clone(),
            file_path: a.path.clone(),
            mime_type: a.content_type.clone(),
            file_size: None,
            metadata: None,
        })
        .collect();
    ResultItem {
        idempotency_key: idempotency_key(&r),
        field: r.position.to_string(),
        test: TestRef::Key(TestKey {
            key: r.key,
            // a case's name is shorter than a test's may be (the key keeps it whole)
            name: if r.name.chars().count() > crate::input::NAME_MAX {
                let head: String = r.name.chars().take(crate::input::NAME_MAX - 1).collect();
                format!("{head}…")
            } else {
                r.name
            },
            suite: category(r.suite),
            file: r.file,
            tags: r.tags,
        }),
        started_at: None,
        earlier,
        last: attempt_data(&r.result, extra),
        steps,
        artifacts,
        invalid: None,
    }
}
