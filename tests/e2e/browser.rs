//! The pages a person sees, in a real browser (headless Chromium): GraphiQL runs a query and
//! a subscription with nothing loaded from outside the server; the dashboard shows a run
//! reported through the API, its bar moving live to 100% with the database's counts, and the
//! run's page with its failing step. Each test saves screenshots (their paths are printed) and
//! the dashboard's test prints its first render and commit-to-paint times.

use std::time::Duration;

use serde_json::json;

use crate::helpers::browser::Browser;
use crate::helpers::runs::{REPORT_STEP, complete, counters, run_of, start_execution};
use crate::helpers::spawn_app;

const WAIT: Duration = Duration::from_secs(30);

/// Whether every resource the page loaded came from its own origin.
const SAME_ORIGIN_ONLY: &str = "return performance.getEntriesByType('resource')
    .filter(e => new URL(e.name).origin !== location.origin).map(e => e.name);";

/// The text of GraphiQL's result pane.
const RESULT: &str = "const r = document.querySelector('.result-window .CodeMirror');
    return r ? r.CodeMirror.getValue() : '';";

async fn run_in_graphiql(browser: &Browser, document: &str) {
    let document = serde_json::to_string(document).unwrap();
    let set = format!(
        "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue({document});
         return true;"
    );
    browser.eval(&set).await;
    // GraphiQL takes the editor's document (and its operation's name) after a short debounce,
    // then keeps it in storage: run before that, it would name the previous operation
    browser
        .until(
            "GraphiQL to take the document",
            WAIT,
            &format!("return localStorage.getItem('graphiql:query') === {document};"),
        )
        .await;
    browser
        .eval("document.querySelector('.graphiql-execute-button').click(); return true;")
        .await;
}

#[tokio::test]
async fn graphiql_works_offline_runs_a_query_and_a_subscription() {
    let app = spawn_app().await;
    let browser = Browser::start("graphiql").await;
    browser
        .client
        .goto(&app.url("/graphql"))
        .await
        .expect("open");
    browser
        .until(
            "GraphiQL's editor",
            WAIT,
            "return !!document.querySelector('.graphiql-editor .CodeMirror');",
        )
        .await;
    let elsewhere = browser.eval(SAME_ORIGIN_ONLY).await;
    assert_eq!(elsewhere, json!([]), "loaded from elsewhere");
    // the default document is a first query, valid as it is
    let default = browser
        .eval(
            "return document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue();",
        )
        .await;
    assert!(
        default.as_str().unwrap_or("").contains("testRuns"),
        "{default}"
    );

    // without a token: the server's own refusal, not a malformed placeholder
    browser
        .eval("document.querySelector('.graphiql-execute-button').click(); return true;")
        .await;
    let refused = browser
        .until("the refusal", WAIT, &format!("{RESULT} "))
        .await;
    let refused = refused.as_str().unwrap_or("").to_owned();
    assert!(
        refused.contains("authentication required"),
        "without a token: {refused}"
    );

    // the token typed into its field, as a person does
    let field = browser
        .client
        .find(fantoccini::Locator::Css("#jbts-token"))
        .await
        .expect("token field");
    field
        .send_keys(&format!("{}\u{E007}", app.admin_token))
        .await
        .expect("typed");
    browser
        .until(
            "the token accepted",
            WAIT,
            "return document.querySelector('#jbts-status[data-state=\"ok\"]') !== null;",
        )
        .await;
    run_in_graphiql(
        &browser,
        "query First { testRuns(first: 5) { totalCount } }",
    )
    .await;
    let answer = browser
        .until(
            "the query's answer",
            WAIT,
            &format!(
                "const v = (() => {{ {RESULT} }})(); return v.includes('totalCount') ? v : '';"
            ),
        )
        .await;
    assert!(
        answer.as_str().unwrap().contains("\"totalCount\": 0"),
        "{answer}"
    );

    // a subscription over the WebSocket, then a run reported through the API
    run_in_graphiql(
        &browser,
        "subscription Live { testRunsUpdates { runId name status } }",
    )
    .await;
    // the subscription sends changes only: the run is reported once the server follows it
    crate::helpers::eventually("the subscription to start", WAIT, || async {
        app.readyz().await.1["subscribers"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    let run = run_of(&app, 2, 1).await;
    let seen = browser
        .until(
            "the run in the subscription's answer",
            WAIT,
            &format!(
                "const v = (() => {{ {RESULT} }})(); return v.includes('{}') ? v : '';",
                run.id
            ),
        )
        .await;
    assert!(seen.as_str().unwrap().contains("testRunsUpdates"), "{seen}");
    let elsewhere = browser.eval(SAME_ORIGIN_ONLY).await;
    assert_eq!(elsewhere, json!([]), "loaded from elsewhere");
    browser.screenshot("graphiql").await;
    browser.close().await;
}

#[tokio::test]
async fn the_dashboard_follows_a_reported_run_live_to_its_end() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 8, 1).await;
    let browser = Browser::start("dashboard").await;
    browser
        .client
        .goto(&app.url(&format!("/#token={}", app.admin_token)))
        .await
        .expect("open");
    browser
        .until(
            "the runs list, live",
            WAIT,
            "return window.jbtsTiming && window.jbtsTiming.firstRender !== null
                && document.querySelector('#live-status[data-state=\"live\"]') !== null;",
        )
        .await;
    // the token went from the address into the browser's storage
    let stored = browser
        .eval("return [localStorage.getItem('jbts.token'), location.hash];")
        .await;
    assert_eq!(stored[0], app.admin_token.as_str());
    assert!(!stored[1].as_str().unwrap().contains("token"), "{stored}");
    let first_render = browser.eval("return window.jbtsTiming.firstRender;").await;
    let bar = format!("[data-run-id=\"{}\"] [data-progress]", run.id);
    browser
        .until(
            "the run's row",
            WAIT,
            &format!("return document.querySelector('{bar}') !== null;"),
        )
        .await;
    let elsewhere = browser.eval(SAME_ORIGIN_ONLY).await;
    assert_eq!(elsewhere, json!([]), "loaded from elsewhere");

    // results reported one by one: the bar follows each commit
    let mut commits = Vec::new();
    for (i, execution) in run.executions.iter().enumerate() {
        start_execution(&app, *execution).await;
        let outcome = match i {
            1 => "FAILED",
            5 => "SKIPPED",
            _ => "PASSED",
        };
        if outcome == "FAILED" {
            let body = app
                .gql(
                    REPORT_STEP,
                    json!({ "e": execution, "s": run.steps[i][0], "status": "FAILED",
                            "error": "expected the basket to hold 2 items, found 1" }),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
        }
        let body = complete(&app, *execution, outcome).await;
        assert!(body["errors"].is_null(), "{body}");
        // the answer comes after the commit
        let committed = chrono::Utc::now().timestamp_millis();
        // (the dashboard rounds half up, as Math.round does)
        let total = run.executions.len();
        let percent = ((i + 1) * 100 + total / 2) / total;
        commits.push((committed, percent));
        if i == 3 {
            browser.screenshot("dashboard-live").await;
        }
        // results come as from a CI, a little apart: each commit gets a paint of its own
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    browser
        .until(
            "the bar at 100%",
            WAIT,
            &format!(
                "const b = document.querySelector('{bar}'); return b && b.dataset.percent === '100';"
            ),
        )
        .await;
    let shown = browser
        .eval(&format!(
            "const b = document.querySelector('{bar}').dataset;
             return [b.total, b.passed, b.failed, b.skipped].map(Number);"
        ))
        .await;
    let stored = counters(&pool, run.id).await;
    assert_eq!(
        shown,
        json!([stored.total, stored.passed, stored.failed, stored.skipped]),
        "the bar's counts are the database's"
    );
    assert_eq!(shown, json!([8, 6, 1, 1]));

    // commit to paint: each commit against the first paint showing its share
    let paints = browser
        .eval(&format!(
            "return window.jbtsTiming.paints.filter(p => p.runId === '{}');",
            run.id
        ))
        .await;
    let paints = paints.as_array().expect("paints").clone();
    let mut latencies: Vec<i64> = commits
        .iter()
        .filter_map(|(at, percent)| {
            paints
                .iter()
                .find(|p| p["percent"].as_u64() == Some(*percent as u64))
                .map(|p| p["at"].as_i64().unwrap_or(0) - at)
        })
        .collect();
    assert!(
        !latencies.is_empty(),
        "no paint matched a commit: {paints:?}"
    );
    latencies.sort_unstable();
    eprintln!(
        "dashboard: first render {first_render} ms after navigation; commit to paint over {} \
         updates: median {} ms, max {} ms",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    browser.screenshot("dashboard").await;

    // the run's page: every execution's status, and the failing step with its error
    browser
        .client
        .goto(&app.url(&format!("/#/runs/{}", run.id)))
        .await
        .expect("run page");
    browser
        .until(
            "the run's page",
            WAIT,
            &format!(
                "return document.querySelector('[data-run-page=\"{}\"]') !== null;",
                run.id
            ),
        )
        .await;
    browser
        .until(
            "the failing step's error",
            WAIT,
            "const f = document.querySelector('#run-failures');
             return f && f.textContent.includes('expected the basket to hold 2 items');",
        )
        .await;
    let statuses = browser
        .eval(
            "return [...document.querySelectorAll('[data-execution-id]')].map(e => e.dataset.status).sort();",
        )
        .await;
    assert_eq!(
        statuses,
        json!([
            "FAILED", "PASSED", "PASSED", "PASSED", "PASSED", "PASSED", "PASSED", "SKIPPED"
        ])
    );
    browser.screenshot("run-page").await;
    browser.close().await;
}

#[tokio::test]
async fn the_dashboard_says_what_is_wrong_with_a_token() {
    let app = spawn_app().await;
    let browser = Browser::start("dashboard-token").await;
    browser.client.goto(&app.url("/")).await.expect("open");
    let notice = browser
        .until(
            "the notice asking for a token",
            WAIT,
            "const n = document.querySelector('#notice'); return n && n.offsetParent !== null ? n.textContent : '';",
        )
        .await;
    assert!(
        notice.as_str().unwrap().contains("token create"),
        "no hint how to make a token: {notice}"
    );
    browser
        .client
        .goto(&app.url("/#token=not-a-token"))
        .await
        .expect("open");
    browser.client.refresh().await.expect("reload");
    let notice = browser
        .until(
            "the server's refusal",
            WAIT,
            "const n = document.querySelector('#notice-text'); return n && n.textContent.includes('malformed') ? n.textContent : '';",
        )
        .await;
    assert!(notice.as_str().unwrap().contains("malformed"), "{notice}");
    browser.screenshot("bad-token").await;

    // a link carrying another token does not replace the stored one unless the person agrees
    let stored = "return localStorage.getItem('jbts.token');";
    browser
        .client
        .goto(&app.url(&format!("/#token={}", app.admin_token)))
        .await
        .expect("link");
    let asked = browser.dialog(WAIT).await;
    assert!(
        asked.contains("other than the one this browser keeps"),
        "{asked}"
    );
    browser.client.dismiss_alert().await.expect("declined");
    assert_eq!(browser.eval(stored).await, "not-a-token");
    browser
        .client
        .goto(&app.url(&format!("/#/&token={}", app.admin_token)))
        .await
        .expect("link");
    browser.dialog(WAIT).await;
    browser.client.accept_alert().await.expect("accepted");
    assert_eq!(browser.eval(stored).await, app.admin_token.as_str());
    browser.close().await;
}

/// Starts an ad-hoc run on `main` at `commit`, reports `results` (test key, outcome, error)
/// and finishes it; answers the run's id.
async fn finished_run(
    app: &crate::helpers::TestApp,
    name: &str,
    commit: &str,
    results: &[(&str, &str, Option<&str>)],
) -> String {
    let body = app
        .gql(
            "mutation($input: StartTestRunInput!) { startTestRun(input: $input) { id } }",
            json!({ "input": { "name": name, "branch": "main", "commitSha": commit,
                               "buildUrl": format!("https://ci.example.test/builds/{commit}") } }),
        )
        .await;
    let run = body["data"]["startTestRun"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let items: Vec<_> = results
        .iter()
        .map(|(key, outcome, error)| {
            json!({ "idempotencyKey": format!("{name}:{key}"), "testKey": key,
                    "status": outcome, "errorMessage": error, "durationMs": 120 })
        })
        .collect();
    let body = app
        .gql(
            "mutation($run: UUID!, $results: [ReportResultInput!]!) {
               reportResults(runId: $run, results: $results) { rejected } }",
            json!({ "run": run, "results": items }),
        )
        .await;
    assert_eq!(body["data"]["reportResults"]["rejected"], 0, "{body}");
    let body = app
        .gql(
            "mutation($id: UUID!) { finishTestRun(id: $id) { status } }",
            json!({ "id": run }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    run
}

#[tokio::test]
async fn the_run_page_compares_with_the_previous_run_and_shows_quarantined_failures() {
    let app = spawn_app().await;
    finished_run(
        &app,
        "Nightly",
        "1111111111111111111111111111111111111111",
        &[
            ("checkout::pays", "PASSED", None),
            ("checkout::coupon", "FAILED", Some("coupon rejected")),
            ("search::finds", "PASSED", None),
            ("search::old", "PASSED", None),
            ("login::sso", "PASSED", None),
        ],
    )
    .await;
    // the case that fails next is quarantined first: its failure is shown, not held against
    // the run
    let case = app
        .gql(
            "{ testCases(filter: { search: \"sso\" }, first: 5) { nodes { id identityKey } } }",
            json!({}),
        )
        .await;
    let sso = case["data"]["testCases"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["identityKey"] == "login::sso"))
        .map(|n| n["id"].clone())
        .unwrap_or_else(|| panic!("{case}"));
    let body = app
        .gql(
            "mutation($id: UUID!) { quarantineTestCase(id: $id, reason: \"the SSO sandbox is down\") { id } }",
            json!({ "id": sso }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let head = finished_run(
        &app,
        "Nightly",
        "2222222222222222222222222222222222222222",
        &[
            ("checkout::pays", "FAILED", Some("expected 200, got 502")),
            ("checkout::coupon", "PASSED", None),
            ("search::finds", "PASSED", None),
            ("search::new", "PASSED", None),
            ("login::sso", "FAILED", Some("SSO timed out")),
        ],
    )
    .await;

    let browser = Browser::start("run-comparison").await;
    browser
        .client
        .goto(&app.url(&format!("/#token={}", app.admin_token)))
        .await
        .expect("open");
    browser
        .client
        .goto(&app.url(&format!("/#/runs/{head}")))
        .await
        .expect("run page");
    let chips = browser
        .until(
            "the comparison's counts",
            WAIT,
            "const chips = document.querySelectorAll('#run-comparison .chip');
             return chips.length ? Object.fromEntries([...chips].map(c => [c.dataset.kind, Number(c.dataset.count)])) : null;",
        )
        .await;
    // pays and sso newly fail, coupon is fixed, search::old is missing, search::new is new
    assert_eq!(
        chips,
        json!({ "new-failures": 2, "fixed": 1, "still-failing": 0, "new-tests": 1,
                "missing-tests": 1, "slower": 0, "unchanged": 1 }),
    );
    let named = browser
        .eval(
            "const names = kind => [...document.querySelectorAll(`.comparison__list[data-kind=\"${kind}\"] .case__name`)]
                 .map(n => n.textContent).sort();
             return [names('new-failures'), names('fixed'), document.querySelector('#comparison-base a').textContent];",
        )
        .await;
    assert_eq!(
        named,
        json!([
            ["checkout::pays", "login::sso"],
            ["checkout::coupon"],
            "Nightly"
        ])
    );
    // pays' failure fails the run; sso's is shown beside it as quarantined
    let header = browser
        .until(
            "the run's header",
            WAIT,
            "const q = document.querySelector('.figure[data-kind=\"quarantined\"] dd');
             const b = document.querySelector('#run-build');
             return q && b ? [q.textContent, b.getAttribute('href'),
                 document.querySelector('#run-meta').textContent.includes('branch main')] : null;",
        )
        .await;
    assert_eq!(
        header,
        json!([
            "1 of the failed",
            "https://ci.example.test/builds/2222222222222222222222222222222222222222",
            true
        ])
    );
    // the build's link is followed only by a click: nothing loads from its host
    let elsewhere = browser.eval(SAME_ORIGIN_ONLY).await;
    assert_eq!(elsewhere, json!([]), "loaded from elsewhere");
    browser.screenshot("run-comparison").await;
    browser.close().await;
}
