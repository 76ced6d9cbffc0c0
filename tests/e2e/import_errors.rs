//! Imports that must be refused, whole (a coded 4xx, with the position when there is one, and
//! nothing written), or item by item (the good items written, the others reported with their
//! position): malformed files, XML bombs, other encodings, the wrong format, bodies past the
//! bound (declared, streamed or inflated), deep nesting, bad parameters, unknown tests.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::count;
use crate::helpers::import::{code, fixture_bytes, import, junit};
use crate::helpers::q::query_scalar;
use crate::helpers::runs::{counters, recount};
use crate::helpers::{spawn_app, spawn_app_with};

/// Nothing of a refused import was written.
async fn nothing_written(pool: &sqlx::PgPool) {
    for table in [
        "test_runs",
        "test_cases",
        "test_executions",
        "test_result_reports",
    ] {
        assert_eq!(count(pool, table).await, 0, "{table} was written");
    }
}

#[tokio::test]
async fn a_malformed_file_is_refused_with_its_position_and_writes_nothing() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    // 3,000 good test cases, then the root is never closed: the end of the file is wrong
    let mut xml = junit("cut", 3_000, 3);
    xml.truncate(xml.rfind("</testsuites>").expect("root end"));
    xml.push_str("<testcase name=\"x\"></testsuite>\n");
    let lines = xml.lines().count() as u64;
    let (status, answer) = import(&app, "runKey=r1", xml).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(code(&answer), "BAD_REQUEST");
    let line = answer["errors"][0]["extensions"]["line"]
        .as_u64()
        .expect("line");
    assert!(line + 1 >= lines, "line {line} of {lines}: {answer}");
    assert!(
        answer["errors"][0]["extensions"]["column"]
            .as_u64()
            .is_some()
    );
    nothing_written(&pool).await;

    // the same for JSON: a position for a syntax error after many good tests
    let mut ctrf = String::from(r#"{"results":{"tool":{"name":"t"},"tests":["#);
    for i in 0..500 {
        ctrf.push_str(&format!(
            r#"{{"name":"t{i}","status":"passed","duration":1}},"#
        ));
    }
    ctrf.push_str(r#"{"name":"last","status":"passed""#);
    let (status, answer) = import(&app, "format=ctrf", ctrf).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"][0]["extensions"]["line"].is_u64(),
        "{answer}"
    );
    nothing_written(&pool).await;
}

#[tokio::test]
async fn xml_bombs_other_encodings_and_deep_nesting_are_refused() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite name="s"><testcase classname="c" name="&lol3;"/></testsuite>"#;
    let (status, answer) = import(&app, "", bomb).await;
    assert_eq!(
        (status.as_u16(), code(&answer)),
        (400, "BAD_REQUEST"),
        "{answer}"
    );
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("DTD"),
        "{answer}"
    );

    let latin = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite name=\"s\"/>";
    let (status, answer) = import(&app, "", latin).await;
    assert_eq!(
        (status.as_u16(), code(&answer)),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        "{answer}"
    );

    let mut utf16 = vec![0xFF, 0xFE];
    for u in "<testsuite name=\"s\"/>".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let (status, answer) = import(&app, "", utf16).await;
    assert_eq!(status, 415, "{answer}");

    let deep = format!(
        "<testsuites>{}{}</testsuites>",
        "<testsuite name=\"d\">".repeat(10_000),
        "</testsuite>".repeat(10_000)
    );
    let (status, answer) = import(&app, "", deep).await;
    assert_eq!(
        (status.as_u16(), code(&answer)),
        (400, "BAD_REQUEST"),
        "{answer}"
    );

    // one attribute of 20 MB: refused without being held whole
    let huge = format!(
        "<testsuite name=\"s\"><testcase classname=\"c\" name=\"{}\"/></testsuite>",
        "a".repeat(20 * 1024 * 1024)
    );
    let (status, answer) = import(&app, "", huge).await;
    assert_eq!(
        (status.as_u16(), code(&answer)),
        (413, "PAYLOAD_TOO_LARGE"),
        "{answer}"
    );
    nothing_written(&pool).await;

    // the server serves on
    let (status, answer) = import(&app, "", junit("after", 5, 1)).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn the_wrong_format_is_refused_with_what_the_file_looks_like() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let (status, answer) = import(&app, "format=ctrf", fixture_bytes("pytest-xunit1.xml")).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("junit"),
        "{answer}"
    );
    let (status, answer) = import(&app, "", vec![0u8, 159, 146, 150, 1, 2, 3]).await;
    assert_eq!(
        (status.as_u16(), code(&answer)),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        "{answer}"
    );
    let (status, answer) = import(&app, "", "").await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = import(&app, "", "<html><body>hi</body></html>").await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("<testsuites>"),
        "{answer}"
    );
    let (status, answer) = import(&app, "format=ctrf", r#"{"name": "not ctrf"}"#).await;
    assert_eq!(status, 400, "{answer}");
    nothing_written(&pool).await;
}

#[tokio::test]
async fn bodies_past_the_bound_are_refused_declared_streamed_or_inflated() {
    use std::io::Write;
    let options = api::config::ServerOptions {
        import: api::config::ImportLimits {
            max_bytes: 1024 * 1024,
            ..Default::default()
        },
        ..Default::default()
    };
    let app = spawn_app_with(options).await;
    let pool = app.db.pool().await;

    // 1 GB streamed without a length: refused once the bound is passed, not read to the end
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let chunk = vec![b' '; 64 * 1024];
    let stream = futures::stream::iter(std::iter::repeat_n(chunk, 16 * 1024).map(move |c| {
        counter.fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok::<_, std::io::Error>(c)
    }));
    let res = app
        .http(reqwest::Method::POST, "/api/v1/import")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    if let Ok(res) = res {
        // the answer may come before the client notices the closed connection
        assert_eq!(res.status(), 413);
        let answer: Value = res.json().await.expect("json");
        assert_eq!(code(&answer), "PAYLOAD_TOO_LARGE");
    }
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sent < 256 * 1024 * 1024,
        "the server read {sent} bytes of a 1 GB body"
    );

    // a declared length past the bound: answered before any of the body is sent
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut socket = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /api/v1/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Length: {}\r\n\r\n",
            app.admin_token,
            1u64 << 30
        );
        socket.write_all(head.as_bytes()).await.expect("head");
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut answer))
            .await
            .expect("an answer without the body")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
    }

    // a small gzip body that inflates past the bound
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"<testsuite name=\"s\">").expect("gzip");
    gz.write_all(&vec![b' '; 8 * 1024 * 1024]).expect("gzip");
    gz.write_all(b"</testsuite>").expect("gzip");
    let gz = gz.finish().expect("gzip");
    assert!(gz.len() < 100_000);
    let (status, answer) = import(&app, "", gz).await;
    assert_eq!(
        (status.as_u16(), code(&answer)),
        (413, "PAYLOAD_TOO_LARGE"),
        "{answer}"
    );
    nothing_written(&pool).await;
}

#[tokio::test]
async fn bad_items_are_reported_with_their_position_and_the_others_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let xml = "<testsuite name=\"s\">\n\
        <testcase classname=\"c\" name=\"good_1\" time=\"1\"/>\n\
        <testcase classname=\"c\" time=\"1\"/>\n\
        <testcase classname=\"c\" name=\"bad_time\" time=\"soon\"/>\n\
        <testcase classname=\"c\" name=\"good_2\" time=\"0.5\"><failure message=\"no\"/></testcase>\n\
        <testcase classname=\"c\" name=\"good_1\" time=\"1\"/>\n\
        </testsuite>";
    let (status, answer) = import(&app, "runKey=items", xml).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["accepted"], &answer["rejected"]),
        (&json!(2), &json!(3)),
        "{answer}"
    );
    let errors = answer["errors"].as_array().expect("errors");
    let lines: Vec<u64> = errors.iter().filter_map(|e| e["line"].as_u64()).collect();
    assert_eq!(lines, [3, 4, 6], "{answer}");
    assert!(
        errors.iter().all(|e| e["code"] == "BAD_USER_INPUT"),
        "{answer}"
    );
    assert_eq!(count(&pool, "test_executions").await, 2);

    // CTRF items name their place with a JSON pointer
    let ctrf = json!({ "results": { "tool": { "name": "t" }, "tests": [
        { "name": "fine", "status": "passed", "duration": 3 },
        { "name": "odd", "status": "exploded", "duration": 3 },
        { "name": "negative", "status": "passed", "duration": -4 },
    ] } });
    let (status, answer) = import(&app, "", ctrf.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let pointers: Vec<&str> = answer["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert_eq!(pointers.len(), 2, "{answer}");
    assert!(pointers[0].starts_with("/results/tests/1"), "{pointers:?}");
    assert!(pointers[1].starts_with("/results/tests/2"), "{pointers:?}");
}

#[tokio::test]
async fn parameters_tokens_and_runs_are_checked_before_anything_is_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let body = junit("p", 3, 1);
    for (query, status, code_) in [
        ("bogus=1", 400, "BAD_REQUEST"),
        ("format=yaml", 400, "BAD_REQUEST"),
        ("run=not-a-uuid", 400, "BAD_REQUEST"),
        ("run=00000000-0000-0000-0000-00000000abcd", 404, "NOT_FOUND"),
        (
            "run=00000000-0000-0000-0000-00000000abcd&runKey=k",
            400,
            "BAD_REQUEST",
        ),
        ("finish=maybe", 400, "BAD_REQUEST"),
        ("project=nope", 400, "BAD_USER_INPUT"),
    ] {
        let (got, answer) = import(&app, query, body.clone()).await;
        assert_eq!(
            (got.as_u16(), code(&answer)),
            (status, code_),
            "{query}: {answer}"
        );
    }
    let res = app
        .http_anonymous(reqwest::Method::POST, "/api/v1/import")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    let res = app
        .http(reqwest::Method::POST, "/api/v1/import")
        .header("content-encoding", "br")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 415);
    nothing_written(&pool).await;

    // a finished run takes no more results, item by item; what it holds comes back as
    // duplicates (a retried upload changes nothing)
    let (_, answer) = import(&app, "runKey=done&finish=true", body.clone()).await;
    let run = answer["run"]["id"].as_str().expect("run").to_owned();
    let (status, answer) = import(&app, &format!("run={run}"), junit("q", 2, 1)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["accepted"], &answer["rejected"]),
        (&json!(0), &json!(2))
    );
    assert_eq!(answer["errors"][0]["code"], "CONFLICT", "{answer}");
    let (status, answer) = import(&app, "runKey=done", body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["duplicates"], &answer["rejected"]),
        (&json!(3), &json!(0))
    );
}

#[tokio::test]
async fn known_tests_only_refuses_results_for_tests_without_a_case() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let (status, _) = import(&app, "runKey=first", junit("k", 4, 1)).await;
    assert_eq!(status, 200);
    let cases = count(&pool, "test_cases").await;
    let mut xml = junit("k", 4, 1);
    xml = xml.replace(
        "</testsuite>",
        "<testcase classname=\"k.Class0\" name=\"brand_new\" time=\"1\"/></testsuite>",
    );
    let (status, answer) = import(&app, "runKey=second&knownTestsOnly=true", xml).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["accepted"], &answer["rejected"]),
        (&json!(4), &json!(1)),
        "{answer}"
    );
    assert_eq!(answer["errors"][0]["code"], "NOT_FOUND", "{answer}");
    assert_eq!(
        answer["errors"][0]["testKey"], "k.Class0::brand_new",
        "{answer}"
    );
    assert_eq!(count(&pool, "test_cases").await, cases);
}

#[tokio::test]
async fn an_import_stopped_part_way_leaves_its_runs_counters_exact() {
    // batches recount the run at intervals: an import cut short by its time bound must still
    // leave the counters of what it wrote exact
    let options = api::config::ServerOptions {
        import: api::config::ImportLimits {
            // far less than the file takes, far more than reading it and writing two batches
            timeout: std::time::Duration::from_secs(25),
            // only the first batch recounts: every later one leaves the counters behind
            recount_every: std::time::Duration::from_secs(3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = spawn_app_with(options).await;
    let pool = app.db.pool().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener.listen("jbts_live").await.expect("listen");
    let (status, answer) = import(&app, "runKey=cut", junit("cut", 300_000, 3_000)).await;
    assert_eq!(status, 504, "{answer}");
    assert_eq!(code(&answer), "TIMEOUT");
    let run: Uuid = query_scalar("SELECT id FROM test_runs WHERE run_key = 'cut'")
        .fetch_one(&pool)
        .await
        .expect("the run");
    // the recount follows the stopped import (announced as the run's change); the executions
    // it wrote stay
    loop {
        let (stored, actual) = (counters(&pool, run).await, recount(&pool, run).await);
        if stored == actual {
            break;
        }
        tokio::time::timeout(std::time::Duration::from_secs(20), listener.recv())
            .await
            .unwrap_or_else(|_| panic!("counters {stored:?}, executions {actual:?}"))
            .expect("an announcement");
    }
    let written = recount(&pool, run).await;
    assert!(
        written.total > api::import::BATCH_RESULTS as i32 && written.total < 300_000,
        "the import was cut part way: {written:?}"
    );
}
