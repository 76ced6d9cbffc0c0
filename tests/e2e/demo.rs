//! `jbtestsuite demo`: the seeded catalogue and history with their analytics, seeding twice, a
//! simulated run seen live, and the command itself on a data directory of its own.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::helpers::db::temp_data_dir;
use crate::helpers::q::query_scalar;
use crate::helpers::runs::{counters, recount};
use crate::helpers::ws::WsClient;
use crate::helpers::{TestApp, spawn_app};

/// A cold start runs initdb and the migrations, then the demo seeds its history.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// A clean stop writes a checkpoint and stops PostgreSQL.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a test waits for the simulated CI's first run to show (it starts at once).
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

const PROGRESS: &str = "subscription($id: UUID!) { testRunProgress(runId: $id) {
    status totalTests passedTests failedTests skippedTests pendingTests runningTests snapshot } }";

/// The demo's writer over `app`'s database.
async fn demo_of(app: &TestApp) -> api::demo::Demo {
    let pool = api::db::connect(&app.db.url, 5)
        .await
        .expect("the demo's pool");
    api::demo::Demo::new(pool, api::config::ServerOptions::default())
        .await
        .expect("the demo's writer")
}

fn data(body: &Value) -> &Value {
    assert!(body["errors"].is_null(), "{body}");
    &body["data"]
}

fn is_finished(status: &Value) -> bool {
    matches!(
        status.as_str(),
        Some("PASSED" | "FAILED" | "CANCELLED" | "ABORTED")
    )
}

#[tokio::test]
async fn demo_seeded_has_its_catalogue_history_and_analytics_to_show() {
    let app = spawn_app().await;
    let catalogue = demo_of(&app).await.seed().await.expect("seeding");
    assert_eq!(catalogue.suites.len(), 4);
    assert_eq!(catalogue.case_count(), 40);
    let today = chrono::Utc::now().date_naive();
    let body = app
        .gql(
            "query($key: String!, $from: NaiveDate!, $to: NaiveDate!) {
               testCases(filter: { projectKey: $key }) { totalCount nodes { steps { id } tags } }
               testSuites(filter: { projectKey: $key }) { totalCount }
               configurations(filter: { projectKey: $key }) { totalCount }
               testRuns(filter: { projectKey: $key }) { totalCount nodes { status startedAt } }
               flakiestTestCases(projectKey: $key) { flakiness { flakyScore reasons } }
               mostFailingTestCases(projectKey: $key) { testCase { name } failures }
               failureGroups(filter: { projectKey: $key }) { count affectedTestCases }
               passRateTrend(from: $from, to: $to) { day passed failed }
             }",
            json!({
                "key": api::demo::PROJECT_KEY,
                "from": today - chrono::Duration::days(7),
                "to": today,
            }),
        )
        .await;
    let d = data(&body);
    assert_eq!(d["testCases"]["totalCount"], 40);
    let cases = d["testCases"]["nodes"].as_array().expect("cases");
    assert!(
        cases
            .iter()
            .all(|c| c["steps"].as_array().is_some_and(|s| s.len() >= 2)
                && c["tags"].as_array().is_some_and(|t| !t.is_empty())),
        "{cases:?}"
    );
    assert_eq!(d["testSuites"]["totalCount"], 4);
    assert_eq!(d["configurations"]["totalCount"], 3);
    assert_eq!(d["testRuns"]["totalCount"], api::demo::HISTORY_RUNS as i64);
    let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
    let midnight = today.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    for run in d["testRuns"]["nodes"].as_array().expect("runs") {
        assert!(is_finished(&run["status"]), "{run}");
        let started: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(run["startedAt"].clone()).expect("startedAt");
        assert!(
            started > week_ago && started < midnight,
            "a history run started at {started}"
        );
    }
    let flaky = d["flakiestTestCases"].as_array().expect("flakiest");
    let reasons: Vec<&Value> = flaky
        .iter()
        .flat_map(|f| f["flakiness"]["reasons"].as_array().expect("reasons"))
        .collect();
    assert!(reasons.contains(&&json!("STATUS_FLIPS")), "{flaky:?}");
    assert!(reasons.contains(&&json!("PASSED_ON_RETRY")), "{flaky:?}");
    let failing = d["mostFailingTestCases"].as_array().expect("most failing");
    assert!(
        failing
            .iter()
            .any(|f| f["testCase"]["name"] == "An expired coupon is refused"),
        "{failing:?}"
    );
    assert!(
        !d["failureGroups"].as_array().expect("groups").is_empty(),
        "{d}"
    );
    let days_with_results = d["passRateTrend"]
        .as_array()
        .expect("trend")
        .iter()
        .filter(|day| day["passed"].as_i64().unwrap_or(0) + day["failed"].as_i64().unwrap_or(0) > 0)
        .count();
    assert!(days_with_results >= 5, "{}", d["passRateTrend"]);
}

/// Rows of what seeding writes, table by table.
async fn seeded_rows(app: &TestApp) -> Vec<(String, i64)> {
    let pool = app.db.pool().await;
    let mut out = Vec::new();
    for table in [
        "projects",
        "configurations",
        "test_cases",
        "test_steps",
        "test_suites",
        "test_suite_test_cases",
        "test_runs",
        "test_executions",
        "test_step_executions",
    ] {
        let n: i64 = query_scalar(format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .expect("counting rows");
        out.push((table.to_owned(), n));
    }
    out
}

#[tokio::test]
async fn demo_seeded_twice_writes_nothing_the_second_time() {
    let app = spawn_app().await;
    let demo = demo_of(&app).await;
    let first = demo.seed().await.expect("first seeding");
    let after_first = seeded_rows(&app).await;
    let second = demo.seed().await.expect("second seeding");
    assert_eq!(seeded_rows(&app).await, after_first);
    assert_eq!(first.project, second.project);
    let ids = |c: &api::demo::Catalogue| c.suites.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&second));
}

#[tokio::test]
async fn demo_run_seen_live_goes_from_nothing_to_finished_with_the_stored_counters() {
    let app = spawn_app().await;
    let demo = demo_of(&app).await;
    let catalogue = demo.seed().await.expect("seeding");
    let run = demo
        .start_live_run(&catalogue, 5_000, 7)
        .await
        .expect("starting a run");
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("p", PROGRESS, json!({ "id": run.id })).await;
    let first = ws.next_data("p").await.expect("the run's state");
    let first = &first["data"]["testRunProgress"];
    assert_eq!(first["status"], "PENDING", "{first}");
    assert_eq!(first["totalTests"], run.open.len() as i64, "{first}");
    assert_eq!(first["pendingTests"], first["totalTests"], "{first}");
    for counter in ["passedTests", "failedTests", "skippedTests"] {
        assert_eq!(first[counter], 0, "{first}");
    }

    let id = run.id;
    let playing = tokio::spawn(async move {
        demo.play(
            &catalogue,
            &run,
            api::demo::Mode::Live,
            Duration::from_secs(2),
            7,
        )
        .await
    });
    let last = ws
        .until("p", |p| {
            is_finished(&p["data"]["testRunProgress"]["status"])
        })
        .await;
    playing
        .await
        .expect("joining the run")
        .expect("playing the run");
    let last = &last["data"]["testRunProgress"];
    let pool = app.db.pool().await;
    let stored = counters(&pool, id).await;
    assert_eq!(stored, recount(&pool, id).await);
    assert_eq!(last["totalTests"], stored.total, "{last}");
    assert_eq!(last["passedTests"], stored.passed, "{last}");
    assert_eq!(last["failedTests"], stored.failed, "{last}");
    assert_eq!(last["skippedTests"], stored.skipped, "{last}");
    assert_eq!(
        stored.passed + stored.failed + stored.skipped,
        stored.total,
        "every case has an outcome"
    );
}

/// `jbtestsuite demo` on a data directory of its own (see [`crate::helpers::binary`]).
type DemoServer = crate::helpers::binary::Running;

impl DemoServer {
    fn start(data_dir: &Path, every: &str) -> Self {
        crate::helpers::binary::run(
            "demo",
            &["demo", "--every", every],
            data_dir,
            "warn,api::startup=info",
        )
    }

    /// The dashboard URL the demo prints once it is ready.
    async fn dashboard_url(&mut self) -> String {
        let find = |all: &Vec<String>| {
            // the demo's banner line (a first start also prints its admin token's link)
            all.iter()
                .filter(|l| l.trim_start().starts_with("Dashboard "))
                .find_map(|l| l.split_whitespace().find(|w| w.contains("/#token=")))
                .map(str::to_owned)
        };
        let mut lines = self.stderr.clone();
        let printed = lines.wait_for(|all| find(all).is_some());
        tokio::select! {
            status = self.child.wait() => panic!("the demo exited during start: {status:?}"),
            result = tokio::time::timeout(START_TIMEOUT, printed) => {
                let all = result.expect("no dashboard URL in time").expect("stderr");
                find(&all).expect("the URL")
            }
        }
    }

    async fn stop(mut self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        let status = tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .expect("the demo did not stop in time")
            .expect("waiting for the demo");
        assert!(status.success(), "exit status {status}");
    }

    /// The first update of a simulated run, seen with `token` over a WebSocket.
    async fn first_run(&self, token: &str) -> Value {
        let addr = format!("127.0.0.1:{}", self.port).parse().expect("addr");
        let mut ws = WsClient::connect(addr, token).await;
        ws.subscribe(
            "runs",
            "subscription($key: String!) { testRunsUpdates(projectKey: $key) {
               runId name status triggeredBy } }",
            json!({ "key": api::demo::PROJECT_KEY }),
        )
        .await;
        let update = tokio::time::timeout(RUN_TIMEOUT, ws.next_data("runs"))
            .await
            .expect("no run reported in time")
            .expect("an update of a run");
        update["data"]["testRunsUpdates"].clone()
    }

    /// The token of the printed URL, checked to be its address.
    async fn token(&mut self) -> String {
        let url = self.dashboard_url().await;
        let prefix = format!("http://127.0.0.1:{}/#token=", self.port);
        url.strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{url} is not under {prefix}"))
            .to_owned()
    }
}

#[tokio::test]
async fn demo_command_prints_a_url_whose_token_works_and_a_run_reports_live() {
    let dir = temp_data_dir("demo");
    let mut server = DemoServer::start(&dir, "1s");
    let token = server.token().await;
    let viewer: Value = server
        .gql(&token, "{ viewer { userId roles } }", json!({}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        viewer["data"]["viewer"]["userId"],
        api::demo::DEMO_USER,
        "{viewer}"
    );
    assert_eq!(
        viewer["data"]["viewer"]["roles"],
        json!(["ADMIN"]),
        "{viewer}"
    );

    let update = server.first_run(&token).await;
    assert_eq!(update["triggeredBy"], api::demo::CI_USER, "{update}");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn demo_command_started_again_revokes_its_token_and_adds_only_runs() {
    let dir = temp_data_dir("demo-again");
    // an hour: each start reports one run (the first turn comes at once), left open by the stop
    let mut first = DemoServer::start(&dir, "1h");
    let old = first.token().await;
    first.first_run(&old).await;
    first.stop().await;

    let mut again = DemoServer::start(&dir, "1h");
    let new = again.token().await;
    assert_ne!(old, new);
    let refused = again.gql(&old, "{ viewer { userId } }", json!({})).await;
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let body: Value = again
        .gql(
            &new,
            "query($key: String!) {
               testCases(filter: { projectKey: $key }) { totalCount }
               testRuns(first: 100, filter: { projectKey: $key }) { nodes { runKey name status } }
             }",
            json!({ "key": api::demo::PROJECT_KEY }),
        )
        .await
        .json()
        .await
        .expect("json");
    let d = data(&body);
    assert_eq!(d["testCases"]["totalCount"], 40, "{d}");
    let runs = d["testRuns"]["nodes"].as_array().expect("runs");
    let history = runs.iter().filter(|r| !r["runKey"].is_null()).count();
    assert_eq!(history, api::demo::HISTORY_RUNS, "{runs:?}");
    // the run the first start left open was closed by the second
    let first_live = format!(
        "#{}",
        api::demo::FIRST_BUILD + api::demo::HISTORY_RUNS as u64
    );
    let left = runs
        .iter()
        .find(|r| r["name"].as_str().is_some_and(|n| n.ends_with(&first_live)))
        .expect("the first start's run");
    assert_eq!(
        left["status"], "CANCELLED",
        "{left}; all the project's runs: {runs:?}"
    );
    again.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
