//! Artifacts' bytes over plain HTTP, with the bearer token as everywhere:
//!
//! - `PUT /api/v1/artifacts/{id}/content`: the raw body becomes the bytes of an artifact
//!   created by `attachArtifact` (again: they replace the old ones).
//! - `POST /api/v1/executions/{executionId}/artifacts?name=...[&type=...][&stepExecutionId=...]`:
//!   creates an artifact of the execution (or of one of its step results) with the raw body
//!   as its bytes; its media type is the request's `Content-Type` (else found from the name),
//!   its type found from both unless given. Answered 201 with `Location`.
//! - `GET /api/v1/artifacts/{id}` (and HEAD): the bytes, with the token, or with the
//!   `expires` and `signature` of a signed URL (`TestArtifact.downloadUrl`) and no token.
//!   `Range` (one range) is answered 206; `ETag` is the SHA-256 in hex, `If-None-Match`
//!   answered 304.
//!
//! Uploads answer JSON with the artifact's `id`, `size` and `sha256`; a declared size
//! (`Content-Length`) over the type's limit is refused before the body is read, and a declared
//! digest (`sha256=<hex>` parameter or `Content-Digest: sha-256=:<base64>:`) that the bytes do
//! not match is refused with nothing stored. Errors are coded as everywhere: 400, 401, 404 (a
//! missing artifact and one the caller may not see alike), 413, 429, 503 (the store failed).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::HttpState;
use super::graphql::{Peer, drain};
use crate::artifacts::service::{self, Declared, check_declared, put_error};
use crate::artifacts::store::Staged;
use crate::auth::{Identity, RequestDb};
use crate::error::{AppError, AppResult};
use crate::runs::enums::ArtifactType;

pub use crate::artifacts::ARTIFACTS_PATH;

/// Path of executions (`/{id}/artifacts` to upload a new artifact of one).
pub const EXECUTIONS_PATH: &str = "/api/v1/executions";

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// The parameters of a query string, or a coded 400 naming those not taken.
fn params_of(params: Params, taken: &[&str]) -> Result<HashMap<String, String>, AppError> {
    let Query(params) =
        params.map_err(|e| AppError::bad_input("query", format!("bad query string: {e}")))?;
    if let Some((unknown, message)) = super::unknown_parameter(params.keys(), taken) {
        return Err(AppError::bad_input(unknown, message));
    }
    Ok(params)
}

fn id_of(raw: &str, what: &str) -> Result<Uuid, AppError> {
    raw.parse()
        .map_err(|_| AppError::bad_input(what, format!("{what} must be a UUID, not '{raw}'")))
}

/// The digest the client declared: the `sha256` parameter (hex) or an RFC 9530
/// `Content-Digest: sha-256=:<base64>:` header.
fn declared_sha256(
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Option<String>, AppError> {
    if let Some(hex) = params.get("sha256") {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::bad_input(
                "sha256",
                "sha256 must be 64 hex digits (the SHA-256 of the body)",
            ));
        }
        return Ok(Some(hex.to_ascii_lowercase()));
    }
    let Some(digest) = headers.get("content-digest") else {
        return Ok(None);
    };
    use base64::Engine as _;
    let digest = digest.to_str().unwrap_or("");
    for item in digest.split(',') {
        let Some((algorithm, value)) = item.trim().split_once('=') else {
            continue;
        };
        if !algorithm.trim().eq_ignore_ascii_case("sha-256") {
            continue;
        }
        let bytes = value
            .trim()
            .strip_prefix(':')
            .and_then(|v| v.strip_suffix(':'))
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                AppError::bad_input(
                    "Content-Digest",
                    "Content-Digest's sha-256 must be :<base64 of 32 bytes>:",
                )
            })?;
        return Ok(Some(crate::artifacts::store::hex(&bytes)));
    }
    Err(AppError::bad_input(
        "Content-Digest",
        "Content-Digest names no sha-256 digest (the one taken)",
    ))
}

/// The uploaded artifact's JSON.
fn uploaded(state: &HttpState, a: &entity::test_artifact::Model) -> serde_json::Value {
    let kind: ArtifactType = a.artifact_type.into();
    json!({
        "id": a.id,
        "executionId": a.test_execution_id,
        "stepExecutionId": a.test_step_execution_id,
        "type": async_graphql::InputType::to_value(&kind).into_json().ok(),
        "fileName": a.file_name,
        "mimeType": a.mime_type,
        "size": a.file_size,
        "sha256": a.blob_sha256,
        "downloadUrl": state.app.artifacts.signer.url(a.id, state.app.artifacts.options.url_ttl),
    })
}

/// Streams `body` to the store as a staged upload of at most `limit` bytes (refused before
/// it is read when its declared length is larger).
async fn stage(
    state: &HttpState,
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> AppResult<Staged> {
    if super::declared_length(headers).is_some_and(|n| n > limit) {
        // not read: the connection closes after the answer
        return Err(AppError::TooLarge {
            message: format!("the artifact exceeds {limit} bytes (its declared Content-Length)"),
            limit,
        });
    }
    state
        .app
        .artifacts
        .store
        .stage(body.into_data_stream(), limit)
        .await
        .map_err(|e| put_error(e, "body"))
}

/// Runs `write` with `staged` in a transaction of `identity` and commits it; the staging
/// object is removed whatever happened.
async fn commit_with<T, F>(
    state: &HttpState,
    identity: Identity,
    staged: Staged,
    write: F,
) -> AppResult<T>
where
    T: Send + 'static,
    F: for<'a> FnOnce(
            &'a sea_orm::DatabaseTransaction,
            Staged,
        ) -> crate::auth::context::TxFuture<'a, T>
        + Send,
{
    let copy = staged.clone();
    let written = crate::projects::service::write_as(
        &state.app.db,
        &identity,
        state.app.options.statements,
        move |tx| write(tx, copy),
    )
    .await;
    if let Err(e) = state.app.artifacts.store.discard(staged).await {
        tracing::warn!(error = %e, "removing a staged upload failed; the orphan sweep will");
    }
    written
}

async fn precheck<T: Send + 'static, F>(
    state: &HttpState,
    identity: &Identity,
    check: F,
) -> AppResult<T>
where
    F: for<'a> FnOnce(&'a sea_orm::DatabaseTransaction) -> crate::auth::context::TxFuture<'a, T>
        + Send,
{
    crate::projects::service::read_as(&state.app.db, identity, state.app.options.statements, check)
        .await
}

/// `PUT /api/v1/artifacts/{id}/content`.
pub(crate) async fn upload(
    State(state): State<HttpState>,
    peer: Peer,
    Path(id): Path<String>,
    params: Params,
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
            match put_content(&state, identity, &id, params, headers, body).await {
                Ok(a) => (StatusCode::OK, Json(uploaded(&state, &a))).into_response(),
                Err(e) => super::app_error_response(&e),
            }
        },
    )
    .await
}

async fn put_content(
    state: &HttpState,
    identity: Identity,
    id: &str,
    params: Params,
    headers: &HeaderMap,
    body: Body,
) -> AppResult<entity::test_artifact::Model> {
    let checked = async {
        let id = id_of(id, "id")?;
        let params = params_of(params, &["sha256"])?;
        let sha256 = declared_sha256(&params, headers)?;
        let artifact = precheck(state, &identity, |tx| {
            Box::pin(async move {
                use sea_orm::EntityTrait;
                let artifact = entity::test_artifact::Entity::find_by_id(id)
                    .one(tx)
                    .await?
                    .ok_or_else(|| AppError::not_found("TestArtifact", id))?;
                if let Some(execution) = artifact.test_execution_id {
                    crate::runs::service::lifecycle::lock_execution_run(tx, execution).await?;
                }
                Ok(artifact)
            })
        })
        .await?;
        Ok::<_, AppError>((id, sha256, artifact))
    }
    .await;
    let (id, sha256, artifact) = match checked {
        Ok(v) => v,
        Err(e) => {
            drain(body, state.max_body_bytes).await;
            return Err(e);
        }
    };
    let limit = state.app.artifacts.options.limit(artifact.artifact_type);
    let staged = stage(state, headers, body, limit).await?;
    let declared = Declared { size: None, sha256 };
    if let Err(e) = check_declared(&staged, &declared, "sha256") {
        let _ = state.app.artifacts.store.discard(staged).await;
        return Err(e);
    }
    let store = state.app.artifacts.store.clone();
    commit_with(state, identity, staged, move |tx, staged| {
        Box::pin(async move { service::attach_content(tx, &store, id, &staged).await })
    })
    .await
}

/// `POST /api/v1/executions/{executionId}/artifacts`.
pub(crate) async fn create(
    State(state): State<HttpState>,
    peer: Peer,
    Path(execution): Path<String>,
    params: Params,
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
            match create_with_content(&state, identity, &execution, params, headers, body).await {
                Ok(a) => {
                    let mut res = (StatusCode::CREATED, Json(uploaded(&state, &a))).into_response();
                    if let Ok(location) =
                        HeaderValue::from_str(&format!("{ARTIFACTS_PATH}/{}", a.id))
                    {
                        res.headers_mut().insert(header::LOCATION, location);
                    }
                    res
                }
                Err(e) => super::app_error_response(&e),
            }
        },
    )
    .await
}

/// What `POST .../artifacts` creates, from its parameters and headers.
fn new_artifact(
    execution: &str,
    params: Params,
    headers: &HeaderMap,
) -> AppResult<(crate::runs::types::AttachArtifactInput, Option<String>)> {
    let execution = id_of(execution, "executionId")?;
    let params = params_of(params, &["name", "type", "stepExecutionId", "sha256"])?;
    let sha256 = declared_sha256(&params, headers)?;
    let name = params
        .get("name")
        .cloned()
        .ok_or_else(|| AppError::bad_input("name", "name (the file's name) is required"))?;
    let mime_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| {
            !v.is_empty()
                && v != "application/octet-stream"
                && v != "application/x-www-form-urlencoded"
        })
        .unwrap_or_else(|| crate::artifacts::mime_of(&name));
    if mime_type.starts_with("multipart/") {
        return Err(AppError::bad_input(
            "Content-Type",
            "send the file itself as the body (curl --data-binary @shot.png), not a form (curl -F)",
        ));
    }
    let artifact_type = match params.get("type") {
        Some(t) => crate::config::artifact_type_named(t)
            .map(ArtifactType::from)
            .ok_or_else(|| {
                AppError::bad_input(
                    "type",
                    format!(
                        "'{t}' is not an artifact type: the types are {}",
                        crate::config::ARTIFACT_TYPES.map(|(n, _)| n).join(", ")
                    ),
                )
            })?,
        None => crate::artifacts::type_of(Some(&mime_type), &name),
    };
    let step = params
        .get("stepExecutionId")
        .map(|s| id_of(s, "stepExecutionId"))
        .transpose()?;
    let input = crate::runs::types::AttachArtifactInput {
        execution_id: if step.is_some() {
            None
        } else {
            Some(execution)
        },
        step_execution_id: step,
        artifact: crate::runs::types::ArtifactInput {
            artifact_type,
            file_path: name.clone(),
            file_name: name,
            mime_type: Some(mime_type),
            file_size: None,
            metadata: None,
        },
    };
    crate::runs::service::lifecycle::check_artifact("", &input.artifact)?;
    Ok((input, sha256))
}

async fn create_with_content(
    state: &HttpState,
    identity: Identity,
    execution: &str,
    params: Params,
    headers: &HeaderMap,
    body: Body,
) -> AppResult<entity::test_artifact::Model> {
    let checked = async {
        let (input, sha256) = new_artifact(execution, params, headers)?;
        let execution_id = id_of(execution, "executionId")?;
        let step = input.step_execution_id;
        precheck(state, &identity, move |tx| {
            Box::pin(async move {
                let e = crate::runs::service::get_execution(tx, execution_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("TestExecution", execution_id))?;
                if let Some(step) = step {
                    use sea_orm::EntityTrait;
                    let s = entity::test_step_execution::Entity::find_by_id(step)
                        .one(tx)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestStepExecution", step))?;
                    if s.test_execution_id != e.id {
                        return Err(AppError::bad_input(
                            "stepExecutionId",
                            format!("step result {step} is not one of execution {execution_id}"),
                        ));
                    }
                }
                crate::runs::service::lifecycle::lock_execution_run(tx, e.id).await
            })
        })
        .await?;
        Ok::<_, AppError>((input, sha256))
    }
    .await;
    let (input, sha256) = match checked {
        Ok(v) => v,
        Err(e) => {
            drain(body, state.max_body_bytes).await;
            return Err(e);
        }
    };
    let limit = state
        .app
        .artifacts
        .options
        .limit(input.artifact.artifact_type.into());
    let staged = stage(state, headers, body, limit).await?;
    if let Err(e) = check_declared(&staged, &Declared { size: None, sha256 }, "sha256") {
        let _ = state.app.artifacts.store.discard(staged).await;
        return Err(e);
    }
    let store = state.app.artifacts.store.clone();
    commit_with(state, identity, staged, move |tx, staged| {
        Box::pin(async move {
            let created = crate::runs::service::lifecycle::attach_artifact(tx, input).await?;
            service::attach_content(tx, &store, created.id, &staged).await
        })
    })
    .await
}

/// Anything but the endpoint's method: 405, saying which.
pub(crate) async fn wrong_method(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    let (allow, message) = if path.ends_with("/content") {
        (
            "PUT",
            "upload an artifact's bytes with PUT, the file as the body: curl -T shot.png ...",
        )
    } else if path.starts_with(EXECUTIONS_PATH) {
        (
            "POST",
            "create an artifact with POST, the file as the body: curl --data-binary @shot.png \
             '.../artifacts?name=shot.png'",
        )
    } else {
        ("GET, HEAD", "download an artifact with GET")
    };
    let mut res = super::error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        message,
        "application/json",
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// `GET /api/v1/artifacts/{id}`.
pub(crate) async fn download(
    State(state): State<HttpState>,
    peer: Peer,
    method: axum::http::Method,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Response {
    let head = method == axum::http::Method::HEAD;
    super::admitted(state, peer, None, |state, _, mut quota| async move {
        let response = match send(&state, &id, params, &headers, head, &mut quota).await {
            Ok(response) | Err(response) => response,
        };
        (response, quota)
    })
    .await
}

async fn send(
    state: &HttpState,
    id: &str,
    params: Params,
    headers: &HeaderMap,
    head: bool,
    quota: &mut Option<crate::rate_limit::Quota>,
) -> Result<Response, Response> {
    let refused = |e: AppError| super::app_error_response(&e);
    let id = id_of(id, "id").map_err(refused)?;
    let params = params_of(params, &["expires", "signature"]).map_err(refused)?;
    let found = match (params.get("expires"), params.get("signature")) {
        (Some(expires), Some(signature)) => {
            let expires: i64 = expires
                .parse()
                .map_err(|_| refused(AppError::bad_input("expires", "expires must be a number")))?;
            match state.app.artifacts.signer.verify(id, expires, signature) {
                Ok(()) => {}
                Err(crate::artifacts::signing::SignatureError::Expired) => {
                    return Err(super::error_response(
                        StatusCode::FORBIDDEN,
                        "URL_EXPIRED",
                        "this download URL has expired: ask for the artifact's downloadUrl again",
                        "application/json",
                    ));
                }
                Err(crate::artifacts::signing::SignatureError::Invalid) => {
                    return Err(super::error_response(
                        StatusCode::FORBIDDEN,
                        "BAD_SIGNATURE",
                        "this download URL's signature is not valid for this artifact",
                        "application/json",
                    ));
                }
            }
            // signed for one who may read it: read as the owner
            service::find_download(&state.app.db, id)
                .await
                .map_err(refused)?
        }
        (None, None) => {
            let identity = super::bearer_caller(state, headers, quota).await?;
            let db = RequestDb::new(
                state.app.db.clone(),
                Some(identity),
                state.app.options.statements,
            );
            let found = {
                let conn = db.conn().await.map_err(refused)?;
                service::find_download(&*conn, id).await
            };
            let _ = db.finish().await;
            found.map_err(refused)?
        }
        _ => {
            return Err(refused(AppError::bad_input(
                "signature",
                "a signed URL has both expires and signature",
            )));
        }
    };
    let found = found.ok_or_else(|| refused(AppError::not_found("TestArtifact", id)))?;
    let Some(sha256) = found.sha256.clone() else {
        return Err(super::error_response(
            StatusCode::NOT_FOUND,
            "NO_CONTENT_UPLOADED",
            &format!(
                "artifact {id} has no bytes: upload them with PUT {ARTIFACTS_PATH}/{id}/content"
            ),
            "application/json",
        ));
    };
    let etag = format!("\"{sha256}\"");
    if super::not_modified(headers, &etag) {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        for (name, value) in [
            (header::ETAG, etag.as_str()),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                res.headers_mut().insert(name, v);
            }
        }
        return Ok(res);
    }
    let size = found.size.unwrap_or(0).max(0) as u64;
    // If-Range with another validator: the whole representation
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok => match byte_range(r, size) {
            RangeAsked::One(range) => Some(range),
            RangeAsked::Whole => None,
            RangeAsked::Unsatisfiable => {
                let mut res = super::error_response(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "RANGE_NOT_SATISFIABLE",
                    &format!("the range is outside the artifact's {size} bytes"),
                    "application/json",
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    res.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Err(res);
            }
        },
        _ => None,
    };
    let (body, served, total) = if head {
        // the headers only: the store is not read
        (Body::empty(), range.clone().unwrap_or(0..size), size)
    } else {
        let got = state
            .app
            .artifacts
            .store
            .get(&sha256, range.clone())
            .await
            .map_err(|e| refused(service::store_error(e)))?;
        let Some(got) = got else {
            tracing::error!(artifact = %id, sha256 = %sha256, "an artifact's blob is missing from the store");
            return Err(super::error_response(
                StatusCode::NOT_FOUND,
                "CONTENT_MISSING",
                &format!("artifact {id}'s bytes are missing from the artifact store"),
                "application/json",
            ));
        };
        let (served, total) = (got.range.clone(), got.meta.size);
        (Body::from_stream(got.into_stream()), served, total)
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    let mime = served_type(found.mime_type.as_deref(), &found.file_name);
    for (name, value) in [
        (header::CONTENT_TYPE, mime.clone()),
        (header::CONTENT_LENGTH, (served.end - served.start).to_string()),
        (header::ETAG, etag),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (header::CACHE_CONTROL, CACHE_CONTROL.to_owned()),
        (header::CONTENT_DISPOSITION, disposition(&mime, &found.file_name)),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        // what a browser renders of an upload runs in a sandbox of its own
        (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'".to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if range.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{total}",
            served.start,
            served.end.saturating_sub(1)
        )) {
            h.insert(header::CONTENT_RANGE, v);
        }
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(res)
}

/// How downloads may be cached: by the one who downloaded them, checked again each time (the
/// ETag makes that a 304).
const CACHE_CONTROL: &str = "private, no-cache";

/// The media type a download is served as: the artifact's, reduced to its essence in lowercase
/// (parameters dropped), else found from its name; `application/octet-stream` when what was
/// recorded is not a media type.
fn served_type(recorded: Option<&str>, name: &str) -> String {
    match recorded {
        Some(t) => t
            .parse::<mime_guess::mime::Mime>()
            .map(|m| m.essence_str().to_ascii_lowercase())
            .unwrap_or_else(|_| "application/octet-stream".to_owned()),
        None => crate::artifacts::mime_of(name),
    }
}

/// `inline` for what a browser shows safely (images but SVG, video, audio, plain text, PDF),
/// `attachment` for the rest; the name as RFC 6266 says (an ASCII fallback and UTF-8).
fn disposition(mime: &str, name: &str) -> String {
    let inline = (mime.starts_with("image/") && mime != "image/svg+xml")
        || mime.starts_with("video/")
        || mime.starts_with("audio/")
        || mime == "text/plain"
        || mime == "application/pdf";
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!(
        "{}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    )
}

/// What a `Range` header asks of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsked {
    /// One satisfiable range (end exclusive).
    One(std::ops::Range<u64>),
    /// The whole representation: several ranges, another unit, or a header not understood
    /// (RFC 9110 lets a server ignore them).
    Whole,
    /// Nothing of it is inside the bytes.
    Unsatisfiable,
}

fn byte_range(header: &str, size: u64) -> RangeAsked {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAsked::Whole;
    };
    if spec.contains(',') {
        return RangeAsked::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsked::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // the last `n` bytes
        let Ok(n) = last.parse::<u64>() else {
            return RangeAsked::Whole;
        };
        if n == 0 {
            return RangeAsked::Unsatisfiable;
        }
        size.saturating_sub(n)..size
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return RangeAsked::Whole;
        };
        let end = if last.is_empty() {
            size
        } else {
            match last.parse::<u64>() {
                Ok(l) if l >= start => l.saturating_add(1).min(size),
                _ => return RangeAsked::Whole,
            }
        };
        start..end
    };
    if range.start >= size || range.is_empty() {
        RangeAsked::Unsatisfiable
    } else {
        RangeAsked::One(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_range_then_the_bytes_rfc_9110_gives() {
        assert_eq!(byte_range("bytes=0-99", 1000), RangeAsked::One(0..100));
        assert_eq!(byte_range("bytes=900-", 1000), RangeAsked::One(900..1000));
        assert_eq!(byte_range("bytes=-100", 1000), RangeAsked::One(900..1000));
        assert_eq!(byte_range("bytes=-5000", 1000), RangeAsked::One(0..1000));
        assert_eq!(
            byte_range("bytes=990-5000", 1000),
            RangeAsked::One(990..1000)
        );
        assert_eq!(byte_range("bytes=1000-", 1000), RangeAsked::Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 1000), RangeAsked::Unsatisfiable);
        assert_eq!(byte_range("bytes=5-1", 1000), RangeAsked::Whole);
        assert_eq!(byte_range("bytes=0-1,5-9", 1000), RangeAsked::Whole);
        assert_eq!(byte_range("items=0-1", 1000), RangeAsked::Whole);
        assert_eq!(byte_range("bytes=x-1", 1000), RangeAsked::Whole);
    }

    #[test]
    fn served_type_then_a_lowercase_essence_or_octet_stream() {
        assert_eq!(
            served_type(Some("image/SVG+xml; charset=utf-8"), "a"),
            "image/svg+xml"
        );
        assert!(
            disposition(&served_type(Some("Image/SVG+XML"), "a"), "a").starts_with("attachment")
        );
        assert_eq!(
            served_type(Some("not a type\r\n"), "a.png"),
            "application/octet-stream"
        );
        assert_eq!(served_type(None, "a.png"), "image/png");
    }

    #[test]
    fn disposition_then_inline_only_for_what_a_browser_shows_safely() {
        assert_eq!(
            disposition("image/png", "shot 1.png"),
            "inline; filename=\"shot 1.png\"; filename*=UTF-8''shot%201%2Epng"
        );
        assert!(disposition("image/svg+xml", "a.svg").starts_with("attachment;"));
        assert!(disposition("text/html", "r.html").starts_with("attachment;"));
        assert!(disposition("video/webm", "v.webm").starts_with("inline;"));
        let named = disposition("text/plain", "résumé\".txt");
        assert!(named.contains("filename=\"r_sum__.txt\""), "{named}");
        assert!(
            named.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%22%2Etxt"),
            "{named}"
        );
    }
}
