//! Artifacts' bytes: uploaded (`PUT .../content`, `POST .../executions/{id}/artifacts`,
//! `attachArtifact(file:)`), downloaded (token, signed URL, ranges, conditional), bounded,
//! hidden by row-level security, collected when nothing refers to them (deletion, archival,
//! purge, a failing store), and imported in bundles. Every scenario runs against the local
//! file store and against a real S3-compatible server (moto), through the same code.

use std::io::Read as _;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::catalog::{data, uuid};
use crate::helpers::import::code;
use crate::helpers::q::{query, query_scalar};
use crate::helpers::runs::{ATTACH, complete, run_of};
use crate::helpers::{TestApp, spawn_app_with};

/// Where a scenario's artifacts are stored.
#[derive(Debug, Clone, Copy)]
enum Store {
    File,
    S3,
}

/// A server over a store of `kind`, with `options` tweaked; the test's own handle on the same
/// store, to look into it; the file store's directory, kept for the test's life.
async fn app_on(
    kind: Store,
    tweak: impl FnOnce(&mut api::config::ServerOptions),
) -> (
    TestApp,
    api::artifacts::ArtifactStore,
    Option<tempfile::TempDir>,
) {
    let (artifacts, dir) = match kind {
        Store::File => {
            let dir = tempfile::tempdir().expect("temp dir");
            let options = api::config::ArtifactOptions {
                store: Some(format!("file://{}", dir.path().join("artifacts").display())),
                ..api::config::ArtifactOptions::default()
            };
            (options, Some(dir))
        }
        Store::S3 => (crate::helpers::s3::bucket_options().await, None),
    };
    let mut options = api::config::ServerOptions {
        artifacts,
        ..api::config::ServerOptions::default()
    };
    tweak(&mut options);
    let store = api::artifacts::ArtifactStore::open_with(
        options.artifacts.store.as_deref().expect("a store"),
        &options.artifacts.store_options,
    )
    .expect("the test's handle on the store");
    (spawn_app_with(options).await, store, dir)
}

fn sha256(bytes: &[u8]) -> String {
    api::artifacts::store::hex(&Sha256::digest(bytes))
}

/// `n` bytes that do not compress (a screenshot's worth of entropy).
fn noise(n: usize, seed: u8) -> Vec<u8> {
    let mut x = 0x9e37_79b9u32 ^ u32::from(seed);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// An artifact's metadata attached to `execution` (no bytes yet): its id.
async fn attach(app: &TestApp, execution: Uuid, kind: &str, name: &str, mime: &str) -> Uuid {
    let body = app
        .gql(
            ATTACH,
            json!({ "input": { "executionId": execution, "artifact": {
                "artifactType": kind, "fileName": name, "filePath": format!("out/{name}"),
                "mimeType": mime,
            } } }),
        )
        .await;
    uuid(&data(&body)["attachArtifact"]["id"])
}

async fn put_content(
    app: &TestApp,
    token: &str,
    artifact: Uuid,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let res = app
        .http_as(
            token,
            Method::PUT,
            &format!("/api/v1/artifacts/{artifact}/content{query}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http(Method::GET, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("download")
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn blob_rows(app: &TestApp) -> i64 {
    query_scalar("SELECT count(*) FROM artifact_blobs")
        .fetch_one(&app.db.pool().await)
        .await
        .expect("count")
}

async fn artifact_sha(app: &TestApp, artifact: Uuid) -> Option<String> {
    query_scalar(
        "SELECT blob_sha256 FROM test_artifacts WHERE id = $1
         UNION ALL SELECT blob_sha256 FROM test_artifacts_archive WHERE id = $1",
    )
    .bind(artifact)
    .fetch_one(&app.db.pool().await)
    .await
    .expect("the artifact")
}

/// The store's blob objects and staging objects.
async fn objects(store: &api::artifacts::ArtifactStore) -> (Vec<String>, Vec<String>) {
    (
        store.list("blobs").await.expect("list blobs"),
        store.list("staging").await.expect("list staging"),
    )
}

fn blob_location(sha: &str) -> String {
    format!("blobs/{}/{sha}", &sha[..2])
}

const ARTIFACTS_OF: &str = "query($id: UUID!) { testExecution(id: $id) {
    artifacts { id artifactType fileName mimeType fileSize sha256 downloadUrl } } }";

async fn upload_then_download_whole_ranged_conditional_and_signed(kind: Store) {
    let (app, store, _dir) = app_on(kind, |_| {}).await;
    let run = run_of(&app, 1, 1).await;
    let artifact = attach(
        &app,
        run.executions[0],
        "SCREENSHOT",
        "shot 1.png",
        "image/png",
    )
    .await;
    let bytes = noise(300_000, 1);
    let sha = sha256(&bytes);

    let (status, answer) = put_content(
        &app,
        &app.admin_token,
        artifact,
        &format!("?sha256={sha}"),
        bytes.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["id"], json!(artifact));
    assert_eq!(answer["size"], json!(300_000));
    assert_eq!(answer["sha256"], json!(sha));
    assert_eq!(answer["type"], json!("SCREENSHOT"));
    assert_eq!(
        objects(&store).await,
        (vec![blob_location(&sha)], vec![]),
        "one blob named by its digest, no staging left"
    );

    let listed = app
        .gql(ARTIFACTS_OF, json!({ "id": run.executions[0] }))
        .await;
    let listed = &data(&listed)["testExecution"]["artifacts"][0];
    assert_eq!(listed["sha256"], json!(sha));
    assert_eq!(listed["fileSize"], json!(300_000.0));
    let signed = listed["downloadUrl"]
        .as_str()
        .expect("a download URL")
        .to_owned();

    let path = format!("/api/v1/artifacts/{artifact}");
    let whole = get(&app, &path, &[]).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(header(&whole, "content-type"), "image/png");
    assert_eq!(header(&whole, "content-length"), "300000");
    assert_eq!(header(&whole, "etag"), format!("\"{sha}\""));
    assert_eq!(header(&whole, "accept-ranges"), "bytes");
    assert_eq!(header(&whole, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&whole, "content-disposition"),
        "inline; filename=\"shot 1.png\"; filename*=UTF-8''shot%201%2Epng"
    );
    assert_eq!(whole.bytes().await.expect("body").as_ref(), &bytes[..]);

    let part = get(&app, &path, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&part, "content-range"), "bytes 1000-1999/300000");
    assert_eq!(header(&part, "content-length"), "1000");
    assert_eq!(
        part.bytes().await.expect("body").as_ref(),
        &bytes[1000..2000]
    );
    let tail = get(&app, &path, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        tail.bytes().await.expect("body").as_ref(),
        &bytes[299_990..]
    );
    let outside = get(&app, &path, &[("range", "bytes=300000-")]).await;
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&outside, "content-range"), "bytes */300000");
    let stale_range = get(
        &app,
        &path,
        &[("range", "bytes=0-9"), ("if-range", "\"another\"")],
    )
    .await;
    assert_eq!(
        stale_range.status(),
        StatusCode::OK,
        "If-Range of another version: all of it"
    );

    let cached = get(&app, &path, &[("if-none-match", &format!("\"{sha}\""))]).await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&cached, "cache-control"), "private, no-cache");
    assert!(cached.bytes().await.expect("body").is_empty());
    let weak = get(
        &app,
        &path,
        &[("if-none-match", &format!("\"x\", W/\"{sha}\""))],
    )
    .await;
    assert_eq!(weak.status(), StatusCode::NOT_MODIFIED, "compared weakly");
    let head = app.http(Method::HEAD, &path).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "content-length"), "300000");

    // the signed URL needs no token, and only works as signed
    let anonymous = app
        .http_anonymous(Method::GET, &signed)
        .send()
        .await
        .expect("signed download");
    assert_eq!(anonymous.status(), StatusCode::OK);
    assert_eq!(anonymous.bytes().await.expect("body").as_ref(), &bytes[..]);
    let tampered = signed.replace("signature=", "signature=00");
    let res = app
        .http_anonymous(Method::GET, &tampered)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&res.json().await.expect("json")), "BAD_SIGNATURE");
    let other = Uuid::now_v7();
    let res = app
        .http_anonymous(
            Method::GET,
            &signed.replace(&artifact.to_string(), &other.to_string()),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a signature is for one artifact"
    );
    let key: Vec<u8> = query_scalar("SELECT secret FROM server_secrets")
        .fetch_one(&app.db.pool().await)
        .await
        .expect("the signing key");
    let past = chrono::Utc::now().timestamp() - 1;
    let expired = format!(
        "{path}?expires={past}&signature={}",
        api::artifacts::signing::UrlSigner::with_key(&key).sign(artifact, past)
    );
    let res = app
        .http_anonymous(Method::GET, &expired)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&res.json().await.expect("json")), "URL_EXPIRED");
    let res = app
        .http_anonymous(Method::GET, &path)
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "neither a token nor a signature"
    );

    // an artifact without bytes says so
    let empty = attach(&app, run.executions[0], "LOG", "later.log", "text/plain").await;
    let res = get(&app, &format!("/api/v1/artifacts/{empty}"), &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        code(&res.json().await.expect("json")),
        "NO_CONTENT_UPLOADED"
    );
    let listed = app
        .gql(ARTIFACTS_OF, json!({ "id": run.executions[0] }))
        .await;
    assert!(data(&listed)["testExecution"]["artifacts"][1]["downloadUrl"].is_null());
}

async fn create_by_post_then_typed_located_and_the_same_bytes_stored_once(kind: Store) {
    let (app, store, _dir) = app_on(kind, |_| {}).await;
    let run = run_of(&app, 2, 1).await;
    let bytes = noise(50_000, 2);
    let sha = sha256(&bytes);
    let post = |execution: Uuid, query: &str, body: Vec<u8>, mime: Option<&str>| {
        let mut request = app.http(
            Method::POST,
            &format!("/api/v1/executions/{execution}/artifacts?{query}"),
        );
        if let Some(mime) = mime {
            request = request.header("content-type", mime);
        }
        async move {
            let res = request.body(body).send().await.expect("create");
            let status = res.status();
            let location = header(&res, "location").to_owned();
            (status, location, res.json::<Value>().await.expect("json"))
        }
    };
    let (status, location, first) = post(
        run.executions[0],
        "name=trace.zip",
        bytes.clone(),
        Some("application/zip"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        location,
        format!("/api/v1/artifacts/{}", first["id"].as_str().expect("id"))
    );
    assert_eq!(first["type"], json!("TRACE"));
    assert_eq!(first["mimeType"], json!("application/zip"));
    assert_eq!(first["sha256"], json!(sha));
    assert_eq!(first["executionId"], json!(run.executions[0]));
    // the same bytes on another execution, the media type found from the name
    let (status, _, second) =
        post(run.executions[1], "name=trace-2.zip", bytes.clone(), None).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["mimeType"], json!("application/zip"));
    assert_eq!(second["sha256"], json!(sha));
    assert_ne!(second["id"], first["id"]);
    assert_eq!(blob_rows(&app).await, 1, "one blob for both");
    assert_eq!(objects(&store).await, (vec![blob_location(&sha)], vec![]));
    let downloaded = get(&app, &location, &[]).await;
    assert_eq!(downloaded.bytes().await.expect("body").as_ref(), &bytes[..]);

    // a step result's artifact
    let step: Uuid = query_scalar(
        "INSERT INTO test_step_executions(test_execution_id, test_step_id, status)
         VALUES ($1, $2, 'failed') RETURNING id",
    )
    .bind(run.executions[0])
    .bind(run.steps[0][0])
    .fetch_one(&app.db.pool().await)
    .await
    .expect("a step result");
    let (status, _, on_step) = post(
        run.executions[0],
        &format!("name=step.log&type=log&stepExecutionId={step}"),
        b"step output".to_vec(),
        Some("text/plain; charset=utf-8"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{on_step}");
    assert_eq!(on_step["stepExecutionId"], json!(step));
    assert_eq!(on_step["type"], json!("LOG"));
    assert_eq!(on_step["mimeType"], json!("text/plain"));

    // bad requests: coded, nothing stored
    let before = blob_rows(&app).await;
    for (query, field) in [
        ("", "name"),
        ("name=a.png&type=bogus", "type"),
        ("name=a.png&colour=red", "colour"),
        (
            &format!("name=a.png&stepExecutionId={step}")[..],
            "stepExecutionId",
        ),
    ] {
        let execution = if field == "stepExecutionId" {
            run.executions[1]
        } else {
            run.executions[0]
        };
        let (status, _, answer) = post(execution, query, b"x".to_vec(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["field"],
            json!(field),
            "{answer}"
        );
    }
    let (status, _, answer) = post(Uuid::now_v7(), "name=a.png", b"x".to_vec(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(blob_rows(&app).await, before);
    let res = app
        .http(
            Method::DELETE,
            &format!("/api/v1/executions/{}/artifacts", run.executions[0]),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&res, "allow"), "POST");
}

/// A GraphQL multipart request of `attachArtifact` with `file`.
async fn attach_with_file(app: &TestApp, input: Value, file: Vec<u8>) -> Value {
    let operations = json!({
        "query": "mutation($input: AttachArtifactInput!, $file: Upload) {
            attachArtifact(input: $input, file: $file) { id fileSize sha256 downloadUrl } }",
        "variables": { "input": input, "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(file).file_name("video.webm"),
        );
    app.http(Method::POST, "/graphql")
        .multipart(form)
        .send()
        .await
        .expect("multipart request")
        .json()
        .await
        .expect("json")
}

async fn attach_with_a_file_over_graphql_then_stored_and_its_declared_size_checked(kind: Store) {
    let (app, store, _dir) = app_on(kind, |_| {}).await;
    let run = run_of(&app, 1, 1).await;
    let bytes = noise(120_000, 3);
    let input = |size: Option<u64>| {
        json!({ "executionId": run.executions[0], "artifact": {
            "artifactType": "VIDEO", "fileName": "video.webm", "filePath": "video.webm",
            "mimeType": "video/webm", "fileSize": size,
        } })
    };
    let body = attach_with_file(&app, input(Some(120_000)), bytes.clone()).await;
    let attached = &data(&body)["attachArtifact"];
    assert_eq!(attached["sha256"], json!(sha256(&bytes)));
    assert_eq!(attached["fileSize"], json!(120_000.0));
    let url = attached["downloadUrl"].as_str().expect("url");
    let res = app
        .http_anonymous(Method::GET, url)
        .send()
        .await
        .expect("get");
    assert_eq!(header(&res, "content-type"), "video/webm");
    assert_eq!(res.bytes().await.expect("body").as_ref(), &bytes[..]);

    let artifacts_before: i64 = query_scalar("SELECT count(*) FROM test_artifacts")
        .fetch_one(&app.db.pool().await)
        .await
        .expect("count");
    let body = attach_with_file(&app, input(Some(5)), noise(1_000, 4)).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("BAD_USER_INPUT"),
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        json!("artifact.fileSize")
    );
    let artifacts_after: i64 = query_scalar("SELECT count(*) FROM test_artifacts")
        .fetch_one(&app.db.pool().await)
        .await
        .expect("count");
    assert_eq!(artifacts_after, artifacts_before, "nothing attached");
    assert_eq!(blob_rows(&app).await, 1);
    let (blobs, staging) = objects(&store).await;
    assert_eq!(
        (blobs.len(), staging.len()),
        (1, 0),
        "{blobs:?} {staging:?}"
    );
}

async fn uploads_past_limits_or_not_matching_their_digest_then_refused_with_nothing_stored(
    kind: Store,
) {
    let (app, store, _dir) = app_on(kind, |o| {
        o.artifacts.max_bytes = 1024 * 1024;
        o.artifacts.type_max_bytes = vec![(entity::enums::ArtifactType::Screenshot, 1_000)];
    })
    .await;
    let run = run_of(&app, 1, 1).await;
    let shot = attach(&app, run.executions[0], "SCREENSHOT", "s.png", "image/png").await;
    let log = attach(&app, run.executions[0], "LOG", "l.log", "text/plain").await;

    // declared too large: refused before the body is read
    let (status, answer) = put_content(&app, &app.admin_token, shot, "", noise(2_000, 5)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(code(&answer), "PAYLOAD_TOO_LARGE");
    // streamed without a length: refused at the first byte past the limit
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..4).map(|i| Ok(noise(500, 6 + i))).collect();
    let streamed = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (status, answer) = put_content(&app, &app.admin_token, shot, "", streamed).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    // the overall limit
    let (status, _) = put_content(&app, &app.admin_token, log, "", noise(1024 * 1024 + 1, 7)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // a digest the bytes do not match
    let bytes = noise(800, 8);
    let wrong = sha256(b"something else");
    let (status, answer) = put_content(
        &app,
        &app.admin_token,
        shot,
        &format!("?sha256={wrong}"),
        bytes.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["field"], json!("sha256"));
    use base64::Engine as _;
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"other"));
    let res = app
        .http(Method::PUT, &format!("/api/v1/artifacts/{shot}/content"))
        .header("content-digest", format!("sha-256=:{digest}:"))
        .body(bytes.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (status, answer) =
        put_content(&app, &app.admin_token, shot, "?sha256=xyz", bytes.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let res = app
        .http(Method::PUT, "/api/v1/artifacts/not-a-uuid/content")
        .body(bytes.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let answer: Value = res.json().await.expect("json");
    assert_eq!(
        answer["errors"][0]["extensions"]["field"],
        json!("id"),
        "{answer}"
    );

    assert_eq!(artifact_sha(&app, shot).await, None);
    assert_eq!(blob_rows(&app).await, 0);
    assert_eq!(
        objects(&store).await,
        (vec![], vec![]),
        "no staging left behind"
    );

    // within the limits, with a matching Content-Digest: stored
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
    let res = app
        .http(Method::PUT, &format!("/api/v1/artifacts/{shot}/content"))
        .header("content-digest", format!("sha-256=:{digest}:"))
        .body(bytes.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _) = put_content(&app, &app.admin_token, log, "", noise(2_000, 9)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a log may be larger than a screenshot"
    );
    assert_eq!(blob_rows(&app).await, 2);
}

async fn someone_elses_artifact_then_the_same_answer_as_a_missing_one(kind: Store) {
    let (app, _store, _dir) = app_on(kind, |_| {}).await;
    let run = run_of(&app, 1, 1).await;
    let artifact = attach(&app, run.executions[0], "LOG", "secret.log", "text/plain").await;
    let (status, _) = put_content(&app, &app.admin_token, artifact, "", b"secret".to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    let mallory = app.token("mallory", &[api::auth::Role::Member]).await;
    let missing = Uuid::now_v7();
    let answer = |res: reqwest::Response| async move {
        let status = res.status();
        let mut body: Value = res.json().await.expect("json");
        // the id differs; nothing else may
        body["errors"][0]["message"] = Value::Null;
        (status, body)
    };
    for (method, suffix) in [(Method::GET, ""), (Method::PUT, "/content")] {
        let theirs = answer(
            app.http_as(
                &mallory,
                method.clone(),
                &format!("/api/v1/artifacts/{artifact}{suffix}"),
            )
            .body("x")
            .send()
            .await
            .expect("send"),
        )
        .await;
        let nobodys = answer(
            app.http_as(
                &mallory,
                method.clone(),
                &format!("/api/v1/artifacts/{missing}{suffix}"),
            )
            .body("x")
            .send()
            .await
            .expect("send"),
        )
        .await;
        assert_eq!(theirs.0, StatusCode::NOT_FOUND, "{method} {suffix}");
        assert_eq!(theirs, nobodys, "{method} {suffix}");
    }
    let theirs = answer(
        app.http_as(
            &mallory,
            Method::POST,
            &format!(
                "/api/v1/executions/{}/artifacts?name=x.log",
                run.executions[0]
            ),
        )
        .body("x")
        .send()
        .await
        .expect("send"),
    )
    .await;
    let nobodys = answer(
        app.http_as(
            &mallory,
            Method::POST,
            &format!("/api/v1/executions/{missing}/artifacts?name=x.log"),
        )
        .body("x")
        .send()
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(theirs.0, StatusCode::NOT_FOUND);
    assert_eq!(theirs, nobodys);
    assert_eq!(
        artifact_sha(&app, artifact).await,
        Some(sha256(b"secret")),
        "unchanged"
    );
}

async fn a_viewer_then_forbidden_to_upload_and_a_member_uploads(kind: Store) {
    let (app, store, _dir) = app_on(kind, |_| {}).await;
    crate::helpers::projects::project(&app, "web").await;
    crate::helpers::projects::member(&app, "web", "vera", "VIEWER").await;
    crate::helpers::projects::member(&app, "web", "milo", "MEMBER").await;
    let (status, answer) = crate::helpers::import::import(
        &app,
        "project=web&runKey=web-1",
        crate::helpers::import::fixture_bytes("jest-junit.xml"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let execution: Uuid = query_scalar(
        "SELECT e.id FROM test_executions e JOIN test_runs r ON r.id = e.test_run_id
         WHERE r.run_key = 'web-1' ORDER BY e.id LIMIT 1",
    )
    .fetch_one(&app.db.pool().await)
    .await
    .expect("an execution");
    let vera = crate::helpers::projects::token(&app, "vera", None, None).await;
    let milo = crate::helpers::projects::token(&app, "milo", None, None).await;
    let path = format!("/api/v1/executions/{execution}/artifacts?name=shot.png");
    let res = app
        .http_as(&vera, Method::POST, &path)
        .body(noise(1_000, 30))
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a viewer reads the run, writes nothing"
    );
    assert_eq!(code(&res.json().await.expect("json")), "FORBIDDEN");
    let res = app
        .http_as(&milo, Method::POST, &path)
        .body(noise(1_000, 31))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = uuid(&res.json::<Value>().await.expect("json")["id"]);
    // the viewer downloads what they may read
    let res = app
        .http_as(&vera, Method::GET, &format!("/api/v1/artifacts/{id}"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .http_as(
            &vera,
            Method::PUT,
            &format!("/api/v1/artifacts/{id}/content"),
        )
        .body(noise(1_000, 32))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // over GraphQL too, before the file reaches the store
    let operations = json!({
        "query": "mutation($input: AttachArtifactInput!, $file: Upload) {
            attachArtifact(input: $input, file: $file) { id } }",
        "variables": { "input": { "executionId": execution, "artifact": {
            "artifactType": "SCREENSHOT", "fileName": "s.png", "filePath": "s.png" } }, "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(noise(1_000, 33)).file_name("s.png"),
        );
    let body: Value = app
        .http_as(&vera, Method::POST, "/graphql")
        .multipart(form)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("FORBIDDEN"),
        "{body}"
    );
    assert_eq!(blob_rows(&app).await, 1);
    assert_eq!(
        objects(&store).await.1,
        Vec::<String>::new(),
        "nothing staged"
    );
}

#[tokio::test]
async fn servers_starting_together_on_a_fresh_database_then_one_signing_key() {
    let (app, _store, _dir) = app_on(Store::File, |_| {}).await;
    query("DELETE FROM server_secrets")
        .execute(&app.db.pool().await)
        .await
        .expect("a database without its key");
    let loads = (0..8).map(|_| async {
        let db = app.db.sea().await;
        let signer = api::artifacts::signing::UrlSigner::load(&db)
            .await
            .map_err(|e| format!("{e:?}"))
            .expect("a key");
        let _ = db.close().await;
        signer
    });
    let signers = futures::future::join_all(loads).await;
    let id = Uuid::nil();
    let signatures: std::collections::HashSet<String> =
        signers.iter().map(|s| s.sign(id, 1)).collect();
    assert_eq!(signatures.len(), 1, "one key for all");
}

/// Uploads `bytes` as a new log artifact of `execution`: its id.
async fn upload(app: &TestApp, execution: Uuid, name: &str, bytes: &[u8]) -> Uuid {
    let res = app
        .http(
            Method::POST,
            &format!("/api/v1/executions/{execution}/artifacts?name={name}&type=log"),
        )
        .body(bytes.to_vec())
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), StatusCode::CREATED);
    uuid(&res.json::<Value>().await.expect("json")["id"])
}

async fn collect(
    app: &TestApp,
    store: &api::artifacts::ArtifactStore,
) -> api::artifacts::Collected {
    let db = app.db.sea().await;
    let collected = api::artifacts::collect(&db, store, false)
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("collecting");
    let _ = db.close().await;
    collected
}

async fn deleted_archived_purged_then_blobs_go_with_their_last_reference(kind: Store) {
    let (app, store, _dir) = app_on(kind, |_| {}).await;
    let run = run_of(&app, 2, 1).await;
    let (x, y) = (noise(10_000, 10), noise(10_000, 11));
    let x_on_first = upload(&app, run.executions[0], "x.log", &x).await;
    upload(&app, run.executions[0], "y.log", &y).await;
    let x_on_second = upload(&app, run.executions[1], "x.log", &x).await;
    assert_eq!(blob_rows(&app).await, 2);

    // the first case goes with its execution: y has no reference left, x has one
    let body = app
        .gql(
            "mutation($id: UUID!) { deleteTestCase(id: $id) }",
            json!({ "id": run.cases[0] }),
        )
        .await;
    data(&body);
    assert_eq!(artifact_sha(&app, x_on_second).await, Some(sha256(&x)));
    let collected = collect(&app, &store).await;
    assert_eq!(collected.blobs, 1, "{collected:?}");
    assert_eq!(collected.bytes, 10_000);
    assert_eq!(objects(&store).await.0, vec![blob_location(&sha256(&x))]);
    let _ = x_on_first;

    // archived: still referenced, still downloadable; restored likewise
    complete(&app, run.executions[1], "PASSED").await;
    let db = app.db.sea().await;
    let archived = api::archive::archive(&db, std::time::Duration::ZERO, false, "test")
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("archive");
    assert_eq!(archived.artifacts, 1);
    assert_eq!(collect(&app, &store).await.blobs, 0);
    let res = get(&app, &format!("/api/v1/artifacts/{x_on_second}"), &[]).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "an archived artifact downloads"
    );
    assert_eq!(res.bytes().await.expect("body").as_ref(), &x[..]);
    api::archive::restore(&db, Some(run.id), None, "test")
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("restore");
    assert_eq!(collect(&app, &store).await.blobs, 0);
    assert_eq!(artifact_sha(&app, x_on_second).await, Some(sha256(&x)));

    // purged: the finished run goes, a pinned one stays
    let pinned = run_of(&app, 1, 1).await;
    let z = noise(5_000, 12);
    let z_artifact = upload(&app, pinned.executions[0], "z.log", &z).await;
    for r in [run.id, pinned.id] {
        data(
            &app.gql(
                "mutation($id: UUID!) { finishTestRun(id: $id) { id } }",
                json!({ "id": r }),
            )
            .await,
        );
    }
    data(
        &app.gql(
            "mutation($id: UUID!) { pinTestRun(id: $id, pinned: true) { id } }",
            json!({ "id": pinned.id }),
        )
        .await,
    );
    let dry = api::archive::service::purge(&db, &store, std::time::Duration::ZERO, true, "test")
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("dry purge");
    assert_eq!(
        (dry.runs, dry.executions, dry.artifacts),
        (1, 1, 1),
        "{dry:?}"
    );
    assert_eq!(blob_rows(&app).await, 2, "a dry run changes nothing");
    let purged =
        api::archive::service::purge(&db, &store, std::time::Duration::ZERO, false, "test")
            .await
            .map_err(|e| format!("{e:?}"))
            .expect("purge");
    assert_eq!(
        (
            purged.runs,
            purged.executions,
            purged.artifacts,
            purged.blobs,
            purged.bytes
        ),
        (1, 1, 1, 1, 10_000),
        "{purged:?}"
    );
    assert_eq!(objects(&store).await.0, vec![blob_location(&sha256(&z))]);
    assert_eq!(artifact_sha(&app, z_artifact).await, Some(sha256(&z)));
    let audited: i64 = query_scalar("SELECT count(*) FROM audit_log WHERE operation = 'PURGE'")
        .fetch_one(&app.db.pool().await)
        .await
        .expect("count");
    assert_eq!(audited, 1);
    let _ = db.close().await;
}

async fn a_deleted_case_then_the_server_collects_its_blobs_by_itself(kind: Store) {
    let (app, store, _dir) = app_on(kind, |o| {
        o.artifacts.collect_every = std::time::Duration::from_millis(100);
    })
    .await;
    let run = run_of(&app, 1, 1).await;
    upload(&app, run.executions[0], "a.log", b"collected by the server").await;
    data(
        &app.gql(
            "mutation($id: UUID!) { deleteTestCase(id: $id) }",
            json!({ "id": run.cases[0] }),
        )
        .await,
    );
    crate::helpers::eventually(
        "the server to collect the released blob",
        std::time::Duration::from_secs(20),
        || async { blob_rows(&app).await == 0 && objects(&store).await.0.is_empty() },
    )
    .await;
}

/// A store whose deletes fail: the store going away between the database and it.
#[derive(Debug)]
struct FailingDeletes(Arc<dyn object_store::ObjectStore>);

impl std::fmt::Display for FailingDeletes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FailingDeletes({})", self.0)
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for FailingDeletes {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.0.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.0.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<
            'static,
            object_store::Result<object_store::path::Path>,
        >,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        use futures::StreamExt;
        locations
            .map(|_| {
                Err(object_store::Error::Generic {
                    store: "test",
                    source: "the store is unreachable".into(),
                })
            })
            .boxed()
    }
    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

async fn the_store_failing_between_the_database_and_it_then_nothing_lost_and_the_rest_swept(
    kind: Store,
) {
    let (app, store, _dir) = app_on(kind, |_| {}).await;
    let run = run_of(&app, 2, 1).await;
    let gone = noise(4_000, 13);
    upload(&app, run.executions[0], "gone.log", &gone).await;
    let kept = noise(4_000, 14);
    let kept_artifact = upload(&app, run.executions[1], "kept.log", &kept).await;
    data(
        &app.gql(
            "mutation($id: UUID!) { deleteTestCase(id: $id) }",
            json!({ "id": run.cases[0] }),
        )
        .await,
    );

    // the store fails after the rows were deleted: they come back, the object stays
    let failing = store.wrap(|inner| Arc::new(FailingDeletes(inner)));
    let db = app.db.sea().await;
    let err = api::artifacts::collect(&db, &failing, false)
        .await
        .expect_err("the store failed");
    assert_eq!(err.code(), "SERVICE_UNAVAILABLE");
    assert_eq!(blob_rows(&app).await, 2, "the row is back");
    assert_eq!(objects(&store).await.0.len(), 2, "the object is there");
    // once the store answers, the next collection finishes the work
    assert_eq!(collect(&app, &store).await.blobs, 1);
    assert_eq!(objects(&store).await.0, vec![blob_location(&sha256(&kept))]);

    // a crash after the object went and before the row did: the row is collected later
    let lost = noise(3_000, 15);
    upload(&app, run.executions[1], "lost.log", &lost).await;
    query("DELETE FROM test_artifacts WHERE file_name = 'lost.log'")
        .execute(&app.db.pool().await)
        .await
        .expect("delete");
    store
        .delete(&sha256(&lost))
        .await
        .expect("delete the object");
    assert_eq!(collect(&app, &store).await.blobs, 1);

    // leftovers of crashes: an object without a row, an unfinished upload; and a referenced
    // blob whose object went missing (reported, then healed by the same bytes uploaded)
    let orphan = store
        .put_stream(
            futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                b"orphan",
            ))]),
            u64::MAX,
        )
        .await
        .expect("an orphan");
    let _unfinished = store
        .stage(
            futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"half"))]),
            u64::MAX,
        )
        .await
        .expect("a staged upload");
    store.delete(&sha256(&kept)).await.expect("lose an object");
    let young = api::artifacts::sweep(&db, &store, std::time::Duration::from_secs(3600))
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("sweep");
    assert_eq!(
        (young.orphans, young.staging, young.missing),
        (0, 0, 1),
        "young objects are left to their uploads: {young:?}"
    );
    let swept = api::artifacts::sweep(&db, &store, std::time::Duration::ZERO)
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("sweep");
    assert_eq!(
        (swept.orphans, swept.staging, swept.missing),
        (1, 1, 1),
        "{swept:?}"
    );
    assert!(
        !objects(&store)
            .await
            .0
            .contains(&blob_location(&orphan.sha256))
    );
    assert_eq!(objects(&store).await.1, Vec::<String>::new());
    upload(&app, run.executions[1], "kept-again.log", &kept).await;
    let res = get(&app, &format!("/api/v1/artifacts/{kept_artifact}"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK, "the object is back");
    assert_eq!(res.bytes().await.expect("body").as_ref(), &kept[..]);
    let _ = db.close().await;
}

/// A zip of `files` (path, bytes), as `zip` writes them.
fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(*name, options).expect("zip entry");
        zip.write_all(bytes).expect("zip write");
    }
    zip.finish().expect("zip").into_inner()
}

/// The kinds of tar entries a bundle test writes.
enum TarEntry<'a> {
    File(&'a str, Vec<u8>),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    /// A file whose name is written as is (no checks), such as `../evil`.
    RawName(&'a str, Vec<u8>),
    /// A GNU long-name entry of this many bytes (zeros), which readers keep whole.
    LongName(usize),
}

fn tar_gz_of(entries: Vec<TarEntry<'_>>) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        match entry {
            TarEntry::File(name, bytes) => {
                header.set_size(bytes.len() as u64);
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut header, name, bytes.as_slice())
                    .expect("tar entry");
            }
            TarEntry::Symlink(name, target) | TarEntry::HardLink(name, target) => {
                let kind = if matches!(entry, TarEntry::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                header.set_size(0);
                header.set_entry_type(kind);
                tar.append_link(&mut header, name, target)
                    .expect("tar link");
            }
            TarEntry::LongName(n) => {
                header.set_size(n as u64);
                header.set_entry_type(tar::EntryType::GNULongName);
                header.set_path("././@LongLink").expect("path");
                header.set_cksum();
                tar.append(&header, std::io::repeat(0).take(n as u64))
                    .expect("tar entry");
            }
            TarEntry::RawName(name, bytes) => {
                header.set_size(bytes.len() as u64);
                header.set_entry_type(tar::EntryType::Regular);
                let raw = &mut header.as_old_mut().name;
                raw[..name.len()].copy_from_slice(name.as_bytes());
                header.set_cksum();
                tar.append(&header, bytes.as_slice()).expect("tar entry");
            }
        }
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

/// The files of a fixture directory, relative to it.
fn fixture_dir(name: &str) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("fixture dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("relative");
                out.push((
                    relative.to_string_lossy().into_owned(),
                    std::fs::read(&path).expect("fixture file"),
                ));
            }
        }
    }
    let root = crate::helpers::import::fixture(name);
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

async fn a_zip_of_pytest_output_then_its_results_and_screenshots_attached(kind: Store) {
    let (app, _store, _dir) = app_on(kind, |_| {}).await;
    let files = fixture_dir("pytest-attachments");
    let bundle = zip_of(
        &files
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect::<Vec<_>>(),
    );
    let (status, answer) =
        crate::helpers::import::import(&app, "runKey=ui-1&finish=true", bundle.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], json!(5), "{answer}");
    assert_eq!(answer["run"]["failedTests"], json!(1));
    assert_eq!(
        answer["files"],
        json!({ "report": "report.xml", "attached": 4, "notFound": [], "refused": [] })
    );
    // the screenshots, by the paths pytest's tests printed (absolute, on the machine that ran
    // them), on their tests' executions; the two identical ones stored once
    let pool = app.db.pool().await;
    let rows: Vec<(String, String, Option<String>)> = crate::helpers::q::query_as(
        "SELECT tc.name, a.file_name, a.blob_sha256 FROM test_artifacts a
         JOIN test_executions e ON e.id = a.test_execution_id JOIN test_cases tc ON tc.id = e.test_case_id
         ORDER BY tc.name",
    )
    .fetch_all(&pool)
    .await
    .expect("artifacts");
    let expected = |name: &str| {
        let bytes = &files
            .iter()
            .find(|(n, _)| n == &format!("test-results/{name}"))
            .expect("a screenshot")
            .1;
        Some(sha256(bytes))
    };
    assert_eq!(
        rows,
        vec![
            (
                "test_cart_shows_items".to_owned(),
                "cart.png".to_owned(),
                expected("cart.png")
            ),
            (
                "test_checkout_total".to_owned(),
                "checkout-total.png".to_owned(),
                expected("checkout-total.png")
            ),
            (
                "test_price_in[EUR]".to_owned(),
                "price-EUR.png".to_owned(),
                expected("price-EUR.png")
            ),
            (
                "test_price_in[USD]".to_owned(),
                "price-USD.png".to_owned(),
                expected("price-USD.png")
            ),
        ]
    );
    assert_eq!(expected("price-EUR.png"), expected("price-USD.png"));
    assert_eq!(blob_rows(&app).await, 3);
    let cart: Uuid = query_scalar("SELECT id FROM test_artifacts WHERE file_name = 'cart.png'")
        .fetch_one(&pool)
        .await
        .expect("cart");
    let res = get(&app, &format!("/api/v1/artifacts/{cart}"), &[]).await;
    assert_eq!(header(&res, "content-type"), "image/png");
    assert_eq!(
        sha256(&res.bytes().await.expect("body")),
        expected("cart.png").expect("sha")
    );

    // the same bundle again: nothing new
    let (status, again) = crate::helpers::import::import(&app, "runKey=ui-1", bundle).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (json!(0), json!(5))
    );
    assert_eq!(again["files"]["attached"], json!(0));
}

async fn a_tar_gz_with_a_ctrf_report_then_relative_paths_attached_and_missing_ones_listed(
    kind: Store,
) {
    let (app, _store, _dir) = app_on(kind, |_| {}).await;
    let report = crate::helpers::import::fixture_bytes("handwritten-ctrf-steps-attachments.json");
    let (valid, invalid) = (noise(2_000, 20), noise(3_000, 21));
    let bundle = tar_gz_of(vec![
        TarEntry::File("ctrf/report.json", report),
        TarEntry::File(
            "ctrf/test-results/login-valid/screenshot.png",
            valid.clone(),
        ),
        TarEntry::File(
            "ctrf/test-results/login-invalid/test-failed-1.png",
            invalid.clone(),
        ),
    ]);
    let (status, answer) = crate::helpers::import::import(&app, "runKey=ctrf-1", bundle).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let files = &answer["files"];
    assert_eq!(files["report"], json!("ctrf/report.json"));
    assert_eq!(files["attached"], json!(2), "{answer}");
    let not_found: Vec<&str> = files["notFound"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        not_found.contains(&"test-results/login-invalid/trace.zip"),
        "{not_found:?}"
    );
    assert!(
        not_found.contains(&"https://ci.example.invalid/artifacts/42/server.log"),
        "{not_found:?}"
    );
    let stored: Vec<(String, Option<String>)> = crate::helpers::q::query_as(
        "SELECT file_path, blob_sha256 FROM test_artifacts WHERE blob_sha256 IS NOT NULL ORDER BY file_path",
    )
    .fetch_all(&app.db.pool().await)
    .await
    .expect("artifacts");
    assert_eq!(
        stored,
        vec![
            (
                "test-results/login-invalid/test-failed-1.png".to_owned(),
                Some(sha256(&invalid))
            ),
            (
                "test-results/login-valid/screenshot.png".to_owned(),
                Some(sha256(&valid))
            ),
        ]
    );
}

async fn unsafe_or_oversized_bundles_then_refused_whole_with_nothing_written(kind: Store) {
    let (app, store, _dir) = app_on(kind, |o| o.import.max_bytes = 1024 * 1024).await;
    let report = crate::helpers::import::fixture_bytes("jest-junit.xml");
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "zip slip",
            zip_of(&[
                ("report.xml", report.clone()),
                ("../evil.txt", b"x".to_vec()),
            ]),
            StatusCode::BAD_REQUEST,
            "UNSAFE_BUNDLE",
        ),
        (
            "absolute path",
            zip_of(&[
                ("report.xml", report.clone()),
                ("/tmp/evil.txt", b"x".to_vec()),
            ]),
            StatusCode::BAD_REQUEST,
            "UNSAFE_BUNDLE",
        ),
        (
            "tar slip",
            tar_gz_of(vec![
                TarEntry::File("report.xml", report.clone()),
                TarEntry::RawName("../../evil.txt", b"x".to_vec()),
            ]),
            StatusCode::BAD_REQUEST,
            "UNSAFE_BUNDLE",
        ),
        (
            "symlink",
            tar_gz_of(vec![
                TarEntry::File("report.xml", report.clone()),
                TarEntry::Symlink("shot.png", "/etc/passwd"),
            ]),
            StatusCode::BAD_REQUEST,
            "UNSAFE_BUNDLE",
        ),
        (
            "hard link",
            tar_gz_of(vec![
                TarEntry::File("report.xml", report.clone()),
                TarEntry::HardLink("shot.png", "report.xml"),
            ]),
            StatusCode::BAD_REQUEST,
            "UNSAFE_BUNDLE",
        ),
        (
            "twice",
            zip_of(&[
                ("report.xml", report.clone()),
                ("./report.xml", report.clone()),
            ]),
            StatusCode::BAD_REQUEST,
            "UNSAFE_BUNDLE",
        ),
        (
            "zip bomb",
            // 64 MiB of zeros deflate to some 64 KiB; unpacked, they pass the 1 MiB bound
            zip_of(&[
                ("report.xml", report.clone()),
                ("zeros.bin", vec![0u8; 64 * 1024 * 1024]),
            ]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "tar bomb",
            tar_gz_of(vec![
                TarEntry::File("report.xml", report.clone()),
                TarEntry::File("zeros.bin", vec![0u8; 64 * 1024 * 1024]),
            ]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "a long name the size of a bomb",
            tar_gz_of(vec![
                TarEntry::File("report.xml", report.clone()),
                TarEntry::LongName(64 * 1024 * 1024),
                TarEntry::File("shot.png", b"png".to_vec()),
            ]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "too many entries",
            {
                let names: Vec<String> = (0..10_001).map(|i| format!("{i}")).collect();
                let mut files: Vec<(&str, Vec<u8>)> =
                    names.iter().map(|n| (n.as_str(), Vec::new())).collect();
                files.push(("report.xml", report.clone()));
                zip_of(&files)
            },
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "a file where a directory must be",
            zip_of(&[
                ("report.xml", report.clone()),
                ("a", b"x".to_vec()),
                ("a/b.png", b"y".to_vec()),
            ]),
            StatusCode::BAD_REQUEST,
            "UNSAFE_BUNDLE",
        ),
        (
            "two reports",
            zip_of(&[("a.xml", report.clone()), ("b.xml", report.clone())]),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (
            "no report",
            zip_of(&[("shot.png", b"png".to_vec())]),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (
            "not a zip",
            b"PK\x03\x04 and then nothing".to_vec(),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
    ];
    for (what, body, status, expected) in cases {
        assert!(
            body.len() < 1024 * 1024,
            "{what}: the bundle itself is within the bound"
        );
        let (got, answer) = crate::helpers::import::import(&app, "runKey=bad", body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(code(&answer), expected, "{what}: {answer}");
    }
    let runs: i64 = query_scalar("SELECT count(*) FROM test_runs")
        .fetch_one(&app.db.pool().await)
        .await
        .expect("count");
    assert_eq!(runs, 0, "nothing written");
    assert_eq!(blob_rows(&app).await, 0);
    assert_eq!(objects(&store).await, (vec![], vec![]));
    assert!(!std::env::temp_dir().join("evil.txt").exists());

    // named, one of two reports is imported
    let (status, answer) = crate::helpers::import::import(
        &app,
        "runKey=named&report=b.xml",
        zip_of(&[
            ("a.xml", b"not even xml".to_vec()),
            ("b.xml", report.clone()),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["files"]["report"], json!("b.xml"));
    let (status, answer) =
        crate::helpers::import::import(&app, "runKey=named&report=b.xml", report).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "report names a file inside a bundle: {answer}"
    );
}

/// The pytest bundle as a zip.
fn pytest_zip() -> Vec<u8> {
    let files = fixture_dir("pytest-attachments");
    zip_of(
        &files
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect::<Vec<_>>(),
    )
}

async fn a_bundle_through_the_reporter_cli_and_graphql_then_attached_alike(kind: Store) {
    let (app, _store, dir) = app_on(kind, |_| {}).await;
    let scratch = tempfile::tempdir().expect("temp dir");
    let zip = scratch.path().join("results.zip");
    std::fs::write(&zip, pytest_zip()).expect("write the bundle");
    let tgz = scratch.path().join("results.tar.gz");
    let files = fixture_dir("pytest-attachments");
    std::fs::write(
        &tgz,
        tar_gz_of(
            files
                .iter()
                .map(|(n, b)| TarEntry::File(n.as_str(), b.clone()))
                .collect(),
        ),
    )
    .expect("write the bundle");
    for (path, key) in [(&zip, "cli-zip"), (&tgz, "cli-tgz")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"));
        cmd.args([
            "report",
            &path.display().to_string(),
            "--run-key",
            key,
            "--url",
        ])
        .arg(app.url(""))
        .env("JBTS_TOKEN", &app.admin_token)
        .env_remove("DATABASE_URL");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("the reporter");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{key}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let attached: i64 = query_scalar(
            "SELECT count(*) FROM test_artifacts a JOIN test_executions e ON e.id = a.test_execution_id
             JOIN test_runs r ON r.id = e.test_run_id WHERE r.run_key = $1 AND a.blob_sha256 IS NOT NULL",
        )
        .bind(key)
        .fetch_one(&app.db.pool().await)
        .await
        .expect("count");
        assert_eq!(attached, 4, "{key}");
    }

    // over GraphQL's multipart request
    let operations = json!({
        "query": "mutation($file: Upload!) { importResults(file: $file, runKey: \"gql\") {
            accepted files { report attached notFound refused } } }",
        "variables": { "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(pytest_zip()).file_name("results.zip"),
        );
    let body: Value = app
        .http(Method::POST, "/graphql")
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    assert_eq!(
        data(&body)["importResults"],
        json!({ "accepted": 5, "files": { "report": "report.xml", "attached": 4, "notFound": [], "refused": [] } })
    );

    // a zip compressed again on the way cannot be unpacked as a stream: said so
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &pytest_zip()).expect("gzip");
    let res = app
        .http(Method::POST, "/api/v1/import?runKey=gz")
        .header("content-encoding", "gzip")
        .body(gz.finish().expect("gzip"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    drop(dir);
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod file_store {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Store::File).await
                }
            )*
        }
        mod s3_store {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Store::S3).await
                }
            )*
        }
    };
}

on_both_stores!(
    upload_then_download_whole_ranged_conditional_and_signed,
    create_by_post_then_typed_located_and_the_same_bytes_stored_once,
    attach_with_a_file_over_graphql_then_stored_and_its_declared_size_checked,
    uploads_past_limits_or_not_matching_their_digest_then_refused_with_nothing_stored,
    someone_elses_artifact_then_the_same_answer_as_a_missing_one,
    a_viewer_then_forbidden_to_upload_and_a_member_uploads,
    deleted_archived_purged_then_blobs_go_with_their_last_reference,
    a_deleted_case_then_the_server_collects_its_blobs_by_itself,
    the_store_failing_between_the_database_and_it_then_nothing_lost_and_the_rest_swept,
    a_zip_of_pytest_output_then_its_results_and_screenshots_attached,
    a_tar_gz_with_a_ctrf_report_then_relative_paths_attached_and_missing_ones_listed,
    unsafe_or_oversized_bundles_then_refused_whole_with_nothing_written,
    a_bundle_through_the_reporter_cli_and_graphql_then_attached_alike,
);
