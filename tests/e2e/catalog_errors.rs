//! Errors of the catalogue, table-driven: every error carries `extensions.code` (and `field`
//! where the input names one), constraint violations and over-long text are mapped, never a
//! 500, and a failed mutation writes nothing. Malformed input is in `catalog_input_errors`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::app::TestApp;
use crate::helpers::catalog::{
    create_case, create_case_with_steps, create_configuration, create_suite, data, first_error,
    post, snapshot,
};
use crate::helpers::spawn_app;

pub(crate) const CREATE_CASE: &str =
    "mutation($input: CreateTestCaseInput!) { createTestCase(input: $input) { id } }";
pub(crate) const UPDATE_CASE: &str = "mutation($id: UUID!, $input: UpdateTestCaseInput!) {
  updateTestCase(id: $id, input: $input) { id } }";
pub(crate) const CREATE_SUITE: &str =
    "mutation($input: CreateTestSuiteInput!) { createTestSuite(input: $input) { id } }";
pub(crate) const CREATE_CONFIGURATION: &str =
    "mutation($input: CreateConfigurationInput!) { createConfiguration(input: $input) { id } }";
pub(crate) const ADD_CASES: &str = "mutation($suite: UUID!, $ids: [UUID!]!) {
  addTestCasesToSuite(suiteId: $suite, testCaseIds: $ids) { id } }";
pub(crate) const ADD_STEP: &str = "mutation($case: UUID!, $input: TestStepInput!) {
  addTestStep(testCaseId: $case, input: $input) { id } }";
pub(crate) const REORDER_STEPS: &str = "mutation($case: UUID!, $ids: [UUID!]!) {
  reorderTestSteps(testCaseId: $case, stepIds: $ids) { id } }";
pub(crate) const LIST_CASES: &str = "query($filter: TestCaseFilter, $first: Int) {
  testCases(filter: $filter, first: $first) { edges { node { id } } } }";

/// Records every error row hangs on.
pub(crate) struct Fixture {
    pub case: Uuid,
    pub steps: Vec<Uuid>,
    pub suite: Uuid,
}

pub(crate) async fn fixture(app: &TestApp) -> Fixture {
    let (case, steps) = create_case_with_steps(app, "login", &["open", "submit"]).await;
    let body = app
        .gql(
            UPDATE_CASE,
            json!({ "id": case, "input": { "category": "auth" } }),
        )
        .await;
    data(&body);
    create_case(app, json!({ "name": "uncategorised" })).await;
    let suite = create_suite(app, json!({ "name": "smoke", "testCaseIds": [case] })).await;
    create_configuration(app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    Fixture { case, steps, suite }
}

/// One request that must fail: what it is, the request, the expected code and field.
pub(crate) struct Row {
    what: &'static str,
    query: String,
    variables: Value,
    code: &'static str,
    field: Option<&'static str>,
}

pub(crate) fn row(
    what: &'static str,
    query: &str,
    variables: Value,
    code: &'static str,
    field: Option<&'static str>,
) -> Row {
    Row {
        what,
        query: query.to_owned(),
        variables,
        code,
        field,
    }
}

/// Sends each row, checks the status is not 5xx, every error is coded as expected, and the
/// catalogue holds exactly what it held before.
pub(crate) async fn check(app: &TestApp, rows: Vec<Row>) {
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for r in rows {
        let (status, body) = post(app, &r.query, r.variables.clone()).await;
        assert!(
            status == reqwest::StatusCode::OK || status == reqwest::StatusCode::BAD_REQUEST,
            "{}: status {status}: {body}",
            r.what
        );
        let error = first_error(&body);
        assert_eq!(error["extensions"]["code"], r.code, "{}: {body}", r.what);
        if let Some(field) = r.field {
            assert_eq!(error["extensions"]["field"], field, "{}: {body}", r.what);
        }
        assert_eq!(
            snapshot(&pool).await,
            before,
            "{}: something was written",
            r.what
        );
    }
}

#[tokio::test]
async fn constraint_violations_then_mapped_to_coded_errors_naming_the_field() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let bad = "BAD_USER_INPUT";
    let unknown = Uuid::now_v7();
    let rows = vec![
        row(
            "retryCount 11",
            CREATE_CASE,
            json!({ "input": { "name": "n", "retryCount": 11 } }),
            bad,
            Some("retryCount"),
        ),
        row(
            "retryCount -1",
            CREATE_CASE,
            json!({ "input": { "name": "n", "retryCount": -1 } }),
            bad,
            Some("retryCount"),
        ),
        row(
            "update retryCount 11",
            UPDATE_CASE,
            json!({ "id": f.case, "input": { "retryCount": 11 } }),
            bad,
            Some("retryCount"),
        ),
        row(
            "expectedDurationSeconds 0",
            CREATE_CASE,
            json!({ "input": { "name": "n", "expectedDurationSeconds": 0 } }),
            bad,
            Some("expectedDurationSeconds"),
        ),
        row(
            "update expectedDurationSeconds -5",
            UPDATE_CASE,
            json!({ "id": f.case, "input": { "expectedDurationSeconds": -5 } }),
            bad,
            Some("expectedDurationSeconds"),
        ),
        row(
            "duplicate name in category",
            CREATE_CASE,
            json!({ "input": { "name": "login", "category": "auth" } }),
            "CONFLICT",
            Some("name"),
        ),
        row(
            "duplicate name without category",
            CREATE_CASE,
            json!({ "input": { "name": "uncategorised" } }),
            "CONFLICT",
            Some("name"),
        ),
        row(
            "rename onto a taken name",
            UPDATE_CASE,
            json!({ "id": f.case, "input": { "name": "uncategorised", "category": null } }),
            "CONFLICT",
            Some("name"),
        ),
        row(
            "metadata an array",
            CREATE_CASE,
            json!({ "input": { "name": "n", "metadata": [1] } }),
            bad,
            Some("metadata"),
        ),
        row(
            "metadata a string",
            CREATE_CASE,
            json!({ "input": { "name": "n", "metadata": "x" } }),
            bad,
            Some("metadata"),
        ),
        row(
            "update metadata a number",
            UPDATE_CASE,
            json!({ "id": f.case, "input": { "metadata": 5 } }),
            bad,
            Some("metadata"),
        ),
        row(
            "unknown configurationId",
            CREATE_CASE,
            json!({ "input": { "name": "n", "configurationId": unknown } }),
            bad,
            Some("configurationId"),
        ),
        row(
            "update unknown configurationId",
            UPDATE_CASE,
            json!({ "id": f.case, "input": { "configurationId": unknown } }),
            bad,
            Some("configurationId"),
        ),
        row(
            "duplicate active configuration",
            CREATE_CONFIGURATION,
            json!({ "input": { "name": "chrome", "configType": "BROWSER" } }),
            "CONFLICT",
            Some("name"),
        ),
        row(
            "unknown case in suite",
            ADD_CASES,
            json!({ "suite": f.suite, "ids": [unknown] }),
            bad,
            Some("testCaseIds"),
        ),
        row(
            "case already in suite",
            ADD_CASES,
            json!({ "suite": f.suite, "ids": [f.case] }),
            "CONFLICT",
            Some("testCaseIds"),
        ),
        row(
            "unknown case in new suite",
            CREATE_SUITE,
            json!({ "input": { "name": "s", "testCaseIds": [unknown] } }),
            bad,
            Some("testCaseIds"),
        ),
        row(
            "unknown step in reorder",
            REORDER_STEPS,
            json!({ "case": f.case, "ids": [f.steps[0], unknown] }),
            bad,
            Some("stepIds"),
        ),
    ];
    check(&app, rows).await;
}

#[tokio::test]
async fn over_long_or_blank_text_then_bad_user_input_naming_the_field() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let bad = "BAD_USER_INPUT";
    let long = "x".repeat(256);
    let short_max = "y".repeat(101);
    let rows = vec![
        row(
            "256-char case name",
            CREATE_CASE,
            json!({ "input": { "name": long } }),
            bad,
            Some("name"),
        ),
        row(
            "255 spaces",
            CREATE_CASE,
            json!({ "input": { "name": " ".repeat(255) } }),
            bad,
            Some("name"),
        ),
        row(
            "empty case name",
            CREATE_CASE,
            json!({ "input": { "name": "" } }),
            bad,
            Some("name"),
        ),
        row(
            "256-char rename",
            UPDATE_CASE,
            json!({ "id": f.case, "input": { "name": long } }),
            bad,
            Some("name"),
        ),
        row(
            "101-char author",
            CREATE_CASE,
            json!({ "input": { "name": "n", "author": short_max } }),
            bad,
            Some("author"),
        ),
        row(
            "101-char category",
            UPDATE_CASE,
            json!({ "id": f.case, "input": { "category": short_max } }),
            bad,
            Some("category"),
        ),
        row(
            "256-char suite name",
            CREATE_SUITE,
            json!({ "input": { "name": long } }),
            bad,
            Some("name"),
        ),
        row(
            "101-char suite creator",
            CREATE_SUITE,
            json!({ "input": { "name": "s", "createdBy": short_max } }),
            bad,
            Some("createdBy"),
        ),
        row(
            "256-char configuration name",
            CREATE_CONFIGURATION,
            json!({ "input": { "name": long, "configType": "BROWSER" } }),
            bad,
            Some("name"),
        ),
        row(
            "256-char step name",
            ADD_STEP,
            json!({ "case": f.case, "input": { "name": long, "stepType": "CLICK" } }),
            bad,
            Some("input.name"),
        ),
    ];
    check(&app, rows).await;
}

#[tokio::test]
async fn odd_search_text_then_no_error() {
    let app = spawn_app().await;
    fixture(&app).await;
    for text in [
        "\"unterminated",
        "OR OR -",
        ":*&|!()",
        "-",
        "the",
        "'; DROP TABLE test_cases; --",
        "\\",
    ] {
        let (status, body) = post(&app, LIST_CASES, json!({ "filter": { "search": text } })).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{text}: {body}");
        data(&body);
    }
}

#[tokio::test]
async fn two_mutations_when_the_second_fails_then_the_first_stays_and_the_second_writes_nothing() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "mutation { ok: createTestCase(input: { name: \"kept\" }) { id }
               bad: createTestCase(input: { name: \"dropped\", steps: [
                 { name: \"a\", stepType: CLICK }, { name: \"b\", stepType: CLICK, timeoutSeconds: 0 }
               ] }) { id } }",
            json!({}),
        )
        .await;
    let error = first_error(&body);
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(error["path"], json!(["bad"]));
    let pool = app.db.pool().await;
    let names: Vec<String> = crate::helpers::q::query_scalar("SELECT name FROM test_cases")
        .fetch_all(&pool)
        .await
        .expect("names");
    assert_eq!(names, ["kept"]);
    assert_eq!(crate::helpers::catalog::count(&pool, "test_steps").await, 0);
}
