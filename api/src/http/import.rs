//! `POST /api/v1/import`: a report file as the raw body (`curl --data-binary @report.xml`),
//! optionally `Content-Encoding: gzip`, with the bearer token as everywhere.
//!
//! Parameters (query string): `format` (`junit`, `ctrf`, `auto`: the default), `project` (the
//! project's key, for a new run), `run` (an existing run's id) or `runKey` (a client key,
//! such as a CI build id: the run is created on first use, so parallel shards and retried
//! uploads land in one run) with `runName`, `finish` (`true`: end the run with the outcome its
//! results imply), `knownTestsOnly` (`true`: reject results for unknown tests instead of
//! creating their cases), `report` (the report's path inside a bundle), and the run's context:
//! `commitSha`, `branch`, `buildUrl`, `environment` (a run that has them keeps its own; see
//! `crate::runs::service::context`).
//!
//! The body may also be a bundle, a `.zip` or `.tar.gz` of the report and the files it refers
//! to (screenshots, videos, traces): their bytes are stored as the artifacts' (see
//! `crate::import::bundle` for what is refused). The answer's `files` says what was attached.
//!
//! The answer: 200 with the run, `accepted`, `duplicates`, `rejected` and the first item
//! errors with their position, when the file was read (even if some items were refused); a
//! coded 4xx, with the position when there is one, when the file is refused whole (nothing
//! was written): 400 malformed or wrong format, 401 no token, 404 no such run, 409 a finished
//! run, 413 too large, 415 unknown encoding or format, 429 rate limited.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::HttpState;
use super::graphql::{Peer, drain};
use crate::import::{ImportFormat, ImportRequest, Importer, Refusal, RunTarget};

/// Path of the import endpoint.
pub const IMPORT_PATH: &str = "/api/v1/import";

/// The parameters the endpoint takes.
const PARAMETERS: &[&str] = &[
    "format",
    "project",
    "run",
    "runKey",
    "runName",
    "finish",
    "knownTestsOnly",
    "report",
    "commitSha",
    "branch",
    "buildUrl",
    "environment",
];

fn refused(status: StatusCode, code: &str, message: &str) -> Response {
    super::error_response(status, code, message, "application/json")
}

fn refusal(r: Refusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut extensions = json!({ "code": r.code });
    match &r.position {
        Some(crate::import::model::Position::Line { line, column }) => {
            extensions["line"] = json!(line);
            extensions["column"] = json!(column);
        }
        Some(crate::import::model::Position::Pointer(p)) => extensions["pointer"] = json!(p),
        None => {}
    }
    (
        status,
        Json(json!({ "errors": [{ "message": r.message, "extensions": extensions }] })),
    )
        .into_response()
}

fn flag(params: &HashMap<String, String>, name: &str) -> Result<bool, String> {
    match params.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v.is_empty() || v == "true" || v == "1" => Ok(true),
        Some(v) if v == "false" || v == "0" => Ok(false),
        Some(v) => Err(format!("{name} must be true or false, not '{v}'")),
    }
}

/// The import request the parameters describe, or why they do not describe one.
fn request_of(params: &HashMap<String, String>) -> Result<ImportRequest, String> {
    if let Some((_, message)) = super::unknown_parameter(params.keys(), PARAMETERS) {
        return Err(message);
    }
    let format = ImportFormat::parse(params.get("format").map_or("auto", String::as_str))?;
    let name = params.get("runName").cloned();
    let run = match (params.get("run"), params.get("runKey")) {
        (Some(_), Some(_)) => return Err("give run or runKey, not both".to_owned()),
        (Some(id), None) => RunTarget::Id(
            id.parse()
                .map_err(|_| format!("run must be a run's id (a UUID), not '{id}'"))?,
        ),
        (None, Some(key)) => RunTarget::Key {
            key: key.clone(),
            name,
        },
        (None, None) => RunTarget::New { name },
    };
    let param = |name: &str| params.get(name).map(String::as_str);
    let context = crate::runs::service::context::RunContext::checked(
        "",
        param("commitSha"),
        param("branch"),
        param("buildUrl"),
        param("environment"),
    )
    .map_err(|e| e.message())?;
    Ok(ImportRequest {
        format,
        project_key: params.get("project").cloned(),
        run,
        finish: flag(params, "finish")?,
        known_only: flag(params, "knownTestsOnly")?,
        context,
    })
}

pub(crate) async fn import(
    State(state): State<HttpState>,
    peer: Peer,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let headers = &headers;
    super::with_caller(
        state,
        peer,
        headers,
        body,
        |state, identity, body| async move {
            let limit = state.app.options.import.max_bytes;
            answer(&state, identity, params, headers, body, limit).await
        },
    )
    .await
}

async fn answer(
    state: &HttpState,
    identity: crate::auth::Identity,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Response {
    let (request, report) = match params {
        Ok(Query(params)) => match request_of(&params) {
            Ok(r) => (r, params.get("report").cloned()),
            Err(message) => {
                drain(body, state.max_body_bytes).await;
                return refused(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
            }
        },
        Err(e) => {
            drain(body, state.max_body_bytes).await;
            return refused(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("bad query string: {e}"),
            );
        }
    };
    // a form upload (`curl -F`) is not a report: the file is the body itself
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    if multipart {
        drain(body, state.max_body_bytes).await;
        return refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the report itself as the body (curl --data-binary @report.xml), not a form \
             (curl -F); GraphQL's importResults takes a multipart upload",
        );
    }
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e == "identity" || e.is_empty() => false,
        Some(e) if e == "gzip" || e == "x-gzip" => true,
        Some(e) => {
            drain(body, state.max_body_bytes).await;
            return refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                &format!("Content-Encoding '{e}' is not accepted: send the report as is, or gzip"),
            );
        }
    };
    if super::declared_length(headers).is_some_and(|n| n > limit) {
        // not read: the connection closes after the answer
        return too_large(limit);
    }
    let spooled = match spool(body, limit).await {
        Ok(Some(file)) => file,
        Ok(None) => {
            return too_large(limit);
        }
        Err(e) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the request body could not be read: {e}"),
            );
        }
    };
    let importer = Importer {
        pool: state.app.db.clone(),
        identity,
        limits: state.app.options.statements,
        max_bytes: limit,
        recount_every: state.app.options.import.recount_every,
        slots: state.app.import_slots.clone(),
    };
    let timeout = state.app.options.import.timeout;
    let imported = crate::import::import_upload(
        &importer,
        &state.app.artifacts,
        spooled,
        gzip,
        request,
        report,
    );
    let summary = match tokio::time::timeout(timeout, imported).await {
        Ok(Ok(summary)) => summary,
        Ok(Err(r)) => return refusal(r),
        Err(_) => {
            return refused(
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                &format!(
                    "the import took longer than {} s and was stopped; the batches written \
                     so far are kept (importing the file again completes it)",
                    timeout.as_secs()
                ),
            );
        }
    };
    let run = &summary.run;
    (
        StatusCode::OK,
        Json(json!({
            "format": summary.format,
            "run": {
                "id": run.id,
                "name": run.name,
                "runKey": run.run_key,
                "status": crate::runs::service::status_name(run.status),
                "totalTests": run.total_tests,
                "passedTests": run.passed_tests,
                "failedTests": run.failed_tests,
                "skippedTests": run.skipped_tests,
            },
            "accepted": summary.accepted,
            "duplicates": summary.duplicates,
            "rejected": summary.rejected,
            "errors": summary.errors,
            "files": summary.files,
        })),
    )
        .into_response()
}

/// Anything but POST: 405, saying how to send a report.
pub(crate) async fn wrong_method() -> Response {
    let mut res = refused(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "send a report with POST, the file as the body: curl --data-binary @report.xml ...",
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}

fn too_large(limit: u64) -> Response {
    refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        &format!("the report exceeds {limit} bytes (--import-max-bytes)"),
    )
}

/// The body in a temporary file (removed when dropped); `None` past `limit` bytes.
async fn spool(body: Body, limit: u64) -> std::io::Result<Option<std::fs::File>> {
    use futures::StreamExt;
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(std::io::Error::other)??;
    let mut out = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        written += chunk.len() as u64;
        if written > limit {
            return Ok(None);
        }
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(Some(out.into_std().await))
}
