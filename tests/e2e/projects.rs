//! Projects and teams: two projects, users in one, both or none, with each role, and a CI token
//! that may only report into one project. Row-level security decides (migration 16); the API
//! explains a refusal when the caller sees the project and answers as for a missing row when
//! they do not.

use api::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::bulk::{REPORT_RESULTS, item};
use crate::helpers::catalog::{data, uuid};
use crate::helpers::projects::{member, project, token};
use crate::helpers::runs::START_RUN;
use crate::helpers::{TestApp, spawn_app};

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or("<none>")
}

const CREATE_CASE: &str = "mutation($input: CreateTestCaseInput!) {
  createTestCase(input: $input) { id name project { key } } }";
const CREATE_SUITE: &str = "mutation($input: CreateTestSuiteInput!) {
  createTestSuite(input: $input) { id project { key } } }";

struct World {
    app: TestApp,
    /// Maintainer of web-shop.
    carol: String,
    /// Member of web-shop.
    dave: String,
    /// Another member of web-shop.
    erin: String,
    /// Viewer of web-shop.
    vera: String,
    /// Member of mobile only.
    bob: String,
    /// Member of both projects.
    both: String,
    /// Member of no project.
    nobody: String,
    /// Dave's web-shop case (active), in Carol's web-shop suite.
    shop_case: Uuid,
    shop_suite: Uuid,
    /// Bob's mobile case (active), in his mobile suite (Bob maintains nothing: the admin made
    /// the suite).
    mobile_case: Uuid,
    mobile_suite: Uuid,
}

async fn case(app: &TestApp, token: &str, name: &str, project: &str) -> Uuid {
    let body = app
        .gql_as(
            token,
            CREATE_CASE,
            json!({ "input": { "name": name, "category": "cart", "status": "ACTIVE",
                               "projectKey": project, "tags": ["smoke"],
                               "metadata": { "team": project } } }),
        )
        .await;
    assert_eq!(data(&body)["createTestCase"]["project"]["key"], project);
    uuid(&data(&body)["createTestCase"]["id"])
}

async fn suite(app: &TestApp, token: &str, project: &str, cases: &[Uuid]) -> Uuid {
    let body = app
        .gql_as(
            token,
            CREATE_SUITE,
            json!({ "input": { "name": format!("{project} suite"), "projectKey": project,
                               "testCaseIds": cases } }),
        )
        .await;
    assert_eq!(data(&body)["createTestSuite"]["project"]["key"], project);
    uuid(&data(&body)["createTestSuite"]["id"])
}

async fn world() -> World {
    let app = spawn_app().await;
    project(&app, "web-shop").await;
    project(&app, "mobile").await;
    for (user, key, role) in [
        ("carol", "web-shop", "MAINTAINER"),
        ("dave", "web-shop", "MEMBER"),
        ("erin", "web-shop", "MEMBER"),
        ("vera", "web-shop", "VIEWER"),
        ("bob", "mobile", "MEMBER"),
        ("both", "web-shop", "MEMBER"),
        ("both", "mobile", "MEMBER"),
    ] {
        member(&app, key, user, role).await;
    }
    let carol = app.token("carol", &[Role::Member]).await;
    let dave = app.token("dave", &[Role::Member]).await;
    let erin = app.token("erin", &[Role::Member]).await;
    let vera = app.token("vera", &[Role::Member]).await;
    let bob = app.token("bob", &[Role::Member]).await;
    let both = app.token("both", &[Role::Member]).await;
    let nobody = app.token("nobody", &[Role::Member]).await;
    let shop_case = case(&app, &dave, "checkout", "web-shop").await;
    let shop_suite = suite(&app, &carol, "web-shop", &[shop_case]).await;
    let mobile_case = case(&app, &bob, "checkout", "mobile").await;
    let mobile_suite = suite(&app, &app.admin_token, "mobile", &[mobile_case]).await;
    World {
        app,
        carol,
        dave,
        erin,
        vera,
        bob,
        both,
        nobody,
        shop_case,
        shop_suite,
        mobile_case,
        mobile_suite,
    }
}

const LIST: &str = "query($f: TestCaseFilter) { testCases(filter: $f, first: 100) {
  totalCount edges { node { id name project { key } } } } }";

fn ids(body: &Value) -> Vec<Uuid> {
    data(body)["testCases"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| uuid(&e["node"]["id"]))
        .collect()
}

#[tokio::test]
async fn a_member_runs_a_suite_whose_cases_a_colleague_wrote_and_reports_into_it() {
    let w = world().await;
    // the everyday case that failed before projects: Erin runs the suite of Dave's case
    let body = w
        .app
        .gql_as(
            &w.erin,
            START_RUN,
            json!({ "input": { "suiteId": w.shop_suite, "name": "ci #1" } }),
        )
        .await;
    let run = &data(&body)["startTestRun"];
    assert_eq!(run["totalTests"], 1, "{body}");
    let run_id = uuid(&run["id"]);
    let body = w
        .app
        .gql_as(
            &w.erin,
            REPORT_RESULTS,
            json!({ "run": run_id, "results": [item("k1", w.shop_case, "PASSED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    // the whole team sees the run and its result; the other project does not
    let q = "query($id: UUID!) { testRun(id: $id) { project { key } passedTests executions { totalCount } } }";
    for token in [&w.dave, &w.carol, &w.vera, &w.both] {
        let body = w.app.gql_as(token, q, json!({ "id": run_id })).await;
        assert_eq!(
            data(&body)["testRun"]["project"]["key"],
            "web-shop",
            "{body}"
        );
        assert_eq!(data(&body)["testRun"]["passedTests"], 1, "{body}");
    }
    for token in [&w.bob, &w.nobody] {
        let body = w.app.gql_as(token, q, json!({ "id": run_id })).await;
        assert_eq!(data(&body)["testRun"], Value::Null, "{body}");
    }
}

#[tokio::test]
async fn each_role_sees_its_projects_and_writes_what_its_role_allows() {
    let w = world().await;
    // reads: members of a project see all of it; others see nothing of it
    for (token, expected) in [
        (&w.carol, vec![w.shop_case]),
        (&w.vera, vec![w.shop_case]),
        (&w.bob, vec![w.mobile_case]),
        (&w.nobody, vec![]),
    ] {
        let body = w.app.gql_as(token, LIST, json!({})).await;
        assert_eq!(ids(&body), expected, "{body}");
    }
    let body = w.app.gql_as(&w.both, LIST, json!({})).await;
    assert_eq!(data(&body)["testCases"]["totalCount"], 2, "{body}");
    // a viewer reads but writes nothing, and is told why
    let body = w
        .app
        .gql_as(
            &w.vera,
            CREATE_CASE,
            json!({ "input": { "name": "new", "projectKey": "web-shop" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(message(&body).contains("web-shop"), "{body}");
    let body = w
        .app
        .gql_as(
            &w.vera,
            START_RUN,
            json!({ "input": { "suiteId": w.shop_suite, "name": "viewer" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = w
        .app
        .gql_as(
            &w.vera,
            "mutation($id: UUID!) { updateTestCase(id: $id, input: { name: \"renamed\" }) { id } }",
            json!({ "id": w.shop_case }),
        )
        .await;
    assert!(body["errors"].is_array(), "a viewer renamed a case: {body}");
    // a member writes cases but does not manage suites or members
    let body = w
        .app
        .gql_as(
            &w.dave,
            CREATE_SUITE,
            json!({ "input": { "name": "mine", "projectKey": "web-shop" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(message(&body).contains("maintainer"), "{body}");
    let add = "mutation($key: String!, $user: String!) {
      setProjectMember(projectKey: $key, userId: $user, role: MAINTAINER) { role } }";
    let body = w
        .app
        .gql_as(&w.dave, add, json!({ "key": "web-shop", "user": "dave" }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // a maintainer does both
    let body = w
        .app
        .gql_as(&w.carol, add, json!({ "key": "web-shop", "user": "frank" }))
        .await;
    assert_eq!(
        data(&body)["setProjectMember"]["role"],
        "MAINTAINER",
        "{body}"
    );
    // a project one does not belong to is no project at all, for every role
    for token in [&w.carol, &w.vera, &w.nobody] {
        let hidden = w
            .app
            .gql_as(token, add, json!({ "key": "mobile", "user": "x" }))
            .await;
        let missing = w
            .app
            .gql_as(token, add, json!({ "key": "no-such", "user": "x" }))
            .await;
        assert_eq!(
            hidden.to_string().replace("mobile", "K"),
            missing.to_string().replace("no-such", "K"),
        );
    }
}

#[tokio::test]
async fn a_report_token_reports_into_its_project_and_does_nothing_else() {
    let w = world().await;
    let ci = token(&w.app, "dave", Some("web-shop"), Some(&["REPORT"])).await;
    let body = w
        .app
        .gql_as(&ci, "{ viewer { userId capabilities tokenProject { key } projects { project { key } role } } }", json!({}))
        .await;
    assert_eq!(
        data(&body)["viewer"],
        json!({ "userId": "dave", "capabilities": ["REPORT"], "tokenProject": { "key": "web-shop" },
                "projects": [{ "project": { "key": "web-shop" }, "role": "MEMBER" }] }),
        "{body}"
    );
    // it starts a run of its project's suite and reports into it
    let body = w
        .app
        .gql_as(
            &ci,
            START_RUN,
            json!({ "input": { "suiteId": w.shop_suite, "name": "ci" } }),
        )
        .await;
    let run = uuid(&data(&body)["startTestRun"]["id"]);
    let body = w
        .app
        .gql_as(
            &ci,
            REPORT_RESULTS,
            json!({ "run": run, "results": [item("k", w.shop_case, "FAILED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    // it reads the catalogue it reports against, and the runs it reported, not the others
    let body = w.app.gql_as(&ci, LIST, json!({})).await;
    assert_eq!(ids(&body), vec![w.shop_case], "{body}");
    let body = w
        .app
        .gql_as(
            &w.erin,
            START_RUN,
            json!({ "input": { "suiteId": w.shop_suite, "name": "erin's" } }),
        )
        .await;
    let erins = uuid(&data(&body)["startTestRun"]["id"]);
    let runs = "{ testRuns(first: 50) { edges { node { id } } } }";
    let body = w.app.gql_as(&ci, runs, json!({})).await;
    let seen: Vec<Uuid> = data(&body)["testRuns"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| uuid(&e["node"]["id"]))
        .collect();
    assert_eq!(seen, vec![run], "{body}");
    let body = w
        .app
        .gql_as(
            &ci,
            "query($id: UUID!) { testRun(id: $id) { id } }",
            json!({ "id": erins }),
        )
        .await;
    assert_eq!(data(&body)["testRun"], Value::Null, "{body}");
    // it changes no case, suite or member, and cannot reach the other project
    let body = w
        .app
        .gql_as(&ci, CREATE_CASE, json!({ "input": { "name": "sneaky" } }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = w
        .app
        .gql_as(
            &ci,
            "mutation($id: UUID!) { deleteTestCase(id: $id) }",
            json!({ "id": w.shop_case }),
        )
        .await;
    assert!(body["errors"].is_array(), "{body}");
    let body = w
        .app
        .gql_as(
            &ci,
            START_RUN,
            json!({ "input": { "suiteId": w.mobile_suite, "name": "other" } }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    // nor the default project, where Dave's own unscoped token could write
    let body = w
        .app
        .gql_as(&ci, "{ project(key: \"default\") { key } }", json!({}))
        .await;
    assert_eq!(data(&body)["project"], Value::Null, "{body}");
    // the database agrees: nothing was written by the refused calls
    let pool = w.app.db.pool().await;
    let cases: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_cases")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(cases, 2);
}

#[tokio::test]
async fn a_project_token_needs_a_member_and_a_capability_and_acts_only_there() {
    let w = world().await;
    let make = "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { capabilities project { key } } } }";
    let body = w
        .app
        .gql(
            make,
            json!({ "input": { "userId": "bob", "roles": ["MEMBER"], "projectKey": "web-shop" } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "projectKey");
    let body = w
        .app
        .gql(
            make,
            json!({ "input": { "userId": "bob", "roles": ["MEMBER"], "capabilities": [] } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // an unscoped read-only token reads what its user sees and writes nothing
    let reader = token(&w.app, "both", None, Some(&["READ"])).await;
    let body = w.app.gql_as(&reader, LIST, json!({})).await;
    assert_eq!(data(&body)["testCases"]["totalCount"], 2, "{body}");
    let body = w
        .app
        .gql_as(
            &reader,
            CREATE_CASE,
            json!({ "input": { "name": "x", "projectKey": "mobile" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // a token of both's limited to mobile sees only mobile, and creates there by default
    let mobile = token(&w.app, "both", Some("mobile"), None).await;
    let body = w.app.gql_as(&mobile, LIST, json!({})).await;
    assert_eq!(ids(&body), vec![w.mobile_case], "{body}");
    let body = w
        .app
        .gql_as(
            &mobile,
            CREATE_CASE,
            json!({ "input": { "name": "tablet" } }),
        )
        .await;
    assert_eq!(
        data(&body)["createTestCase"]["project"]["key"],
        "mobile",
        "{body}"
    );
    let body = w
        .app
        .gql_as(
            &mobile,
            CREATE_CASE,
            json!({ "input": { "name": "web", "projectKey": "web-shop" } }),
        )
        .await;
    // the token says which project it is limited to, the same for a key that exists and one
    // that does not
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        message(&body).contains("limited to project 'mobile'"),
        "{body}"
    );
    let missing = w
        .app
        .gql_as(
            &mobile,
            CREATE_CASE,
            json!({ "input": { "name": "web", "projectKey": "no-such" } }),
        )
        .await;
    assert_eq!(missing, body);
    // an admin's project token acts as a maintainer there, not as an admin
    let body = w
        .app
        .gql(
            "mutation { createApiToken(input: { userId: \"root\", roles: [ADMIN], projectKey: \"mobile\" }) { token } }",
            json!({}),
        )
        .await;
    let admin_mobile = data(&body)["createApiToken"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let body = w
        .app
        .gql_as(
            &admin_mobile,
            "{ viewer { isAdmin } testCases { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&body)["viewer"]["isAdmin"], false, "{body}");
    assert_eq!(data(&body)["testCases"]["totalCount"], 2, "{body}");
}

#[tokio::test]
async fn case_names_are_unique_per_project_and_a_hidden_name_is_free() {
    let w = world().await;
    // "checkout" in "cart" exists in both projects; a third in web-shop conflicts for its
    // members, who see the first
    let body = w
        .app
        .gql_as(
            &w.erin,
            CREATE_CASE,
            json!({ "input": { "name": "checkout", "category": "cart", "projectKey": "web-shop" } }),
        )
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    // a user of another project, or of none, creates the same name as if it were free
    let body = w
        .app
        .gql_as(
            &w.nobody,
            CREATE_CASE,
            json!({ "input": { "name": "checkout", "category": "cart" } }),
        )
        .await;
    assert_eq!(
        data(&body)["createTestCase"]["project"]["key"],
        "default",
        "{body}"
    );
    // renaming onto a name of another project succeeds too
    let other = case(&w.app, &w.bob, "login", "mobile").await;
    let body = w
        .app
        .gql_as(
            &w.bob,
            "mutation($id: UUID!) { updateTestCase(id: $id, input: { name: \"checkout\", category: \"shop\" }) { name } }",
            json!({ "id": other }),
        )
        .await;
    assert_eq!(data(&body)["updateTestCase"]["name"], "checkout", "{body}");
}

#[tokio::test]
async fn lists_analytics_and_search_filter_by_project_and_a_hidden_key_is_an_unknown_one() {
    let w = world().await;
    // failures in both projects
    for (suite, case) in [(w.shop_suite, w.shop_case), (w.mobile_suite, w.mobile_case)] {
        let body = w
            .app
            .gql(
                START_RUN,
                json!({ "input": { "suiteId": suite, "name": "n" } }),
            )
            .await;
        let run = uuid(&data(&body)["startTestRun"]["id"]);
        let body = w
            .app
            .gql(
                REPORT_RESULTS,
                json!({ "run": run, "results": [{ "idempotencyKey": "f", "testCaseId": case,
                         "status": "FAILED", "errorMessage": "boom" }] }),
            )
            .await;
        assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    }
    let body = w
        .app
        .gql_as(&w.both, LIST, json!({ "f": { "projectKey": "mobile" } }))
        .await;
    assert_eq!(ids(&body), vec![w.mobile_case], "{body}");
    let q = "query($k: String) {
      mostFailingTestCases(projectKey: $k) { testCase { id } }
      failureGroups(filter: { projectKey: $k }) { count }
      testRuns(filter: { projectKey: $k }) { totalCount }
      testSuites(filter: { projectKey: $k }) { totalCount }
      testCaseStats(filter: { projectKey: $k }) { totalCount } }";
    let body = w.app.gql_as(&w.both, q, json!({ "k": "mobile" })).await;
    assert_eq!(
        data(&body)["mostFailingTestCases"],
        json!([{ "testCase": { "id": w.mobile_case } }]),
        "{body}"
    );
    assert_eq!(
        data(&body)["failureGroups"],
        json!([{ "count": 1 }]),
        "{body}"
    );
    assert_eq!(data(&body)["testRuns"]["totalCount"], 1, "{body}");
    assert_eq!(data(&body)["testSuites"]["totalCount"], 1, "{body}");
    assert_eq!(data(&body)["testCaseStats"]["totalCount"], 1, "{body}");
    // the audit trail of one project: its cases' entries, none of the other's
    let body = w
        .app
        .gql(
            "query($k: String) { auditLog(filter: { projectKey: $k }, first: 100) { nodes { recordId recordType } } }",
            json!({ "k": "mobile" }),
        )
        .await;
    let records: Vec<String> = data(&body)["auditLog"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["recordId"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(records.contains(&w.mobile_case.to_string()), "{body}");
    assert!(!records.contains(&w.shop_case.to_string()), "{body}");
    assert!(
        data(&body)["auditLog"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|n| n["recordType"] == "TEST_EXECUTION"),
        "the results of mobile's run: {body}"
    );
    // without a filter, each sees their own projects' failures, search hits and tags
    let body = w
        .app
        .gql_as(
            &w.bob,
            "{ mostFailingTestCases { testCase { id } } failureGroups { count } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&body)["mostFailingTestCases"],
        json!([{ "testCase": { "id": w.mobile_case } }]),
        "{body}"
    );
    assert_eq!(
        data(&body)["failureGroups"],
        json!([{ "count": 1 }]),
        "{body}"
    );
    for filter in [
        json!({ "search": "checkout" }),
        json!({ "tagsAll": ["smoke"] }),
        json!({ "metadataContains": { "team": "web-shop" } }),
    ] {
        let body = w.app.gql_as(&w.bob, LIST, json!({ "f": filter })).await;
        assert!(
            !ids(&body).contains(&w.shop_case),
            "{filter}: Bob found web-shop's case: {body}"
        );
    }
    // a key one does not see answers as a key that does not exist
    let hidden = w
        .app
        .gql_as(&w.bob, LIST, json!({ "f": { "projectKey": "web-shop" } }))
        .await;
    let missing = w
        .app
        .gql_as(&w.bob, LIST, json!({ "f": { "projectKey": "no-such" } }))
        .await;
    assert_eq!(code(&hidden), "BAD_USER_INPUT", "{hidden}");
    assert_eq!(
        hidden.to_string().replace("web-shop", "K"),
        missing.to_string().replace("no-such", "K")
    );
    let body = w
        .app
        .gql_as(&w.bob, "{ project(key: \"web-shop\") { key } }", json!({}))
        .await;
    assert_eq!(data(&body)["project"], Value::Null, "{body}");
}

#[tokio::test]
async fn projects_list_their_members_and_the_viewer_their_roles() {
    let w = world().await;
    let body = w
        .app
        .gql_as(
            &w.both,
            "{ viewer { projects { project { key } role } }
               projects { totalCount edges { node { key viewerRole members { userId role } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&body)["viewer"]["projects"],
        json!([{ "project": { "key": "mobile" }, "role": "MEMBER" },
               { "project": { "key": "web-shop" }, "role": "MEMBER" }]),
        "{body}"
    );
    let projects = &data(&body)["projects"];
    assert_eq!(
        projects["totalCount"], 3,
        "default, mobile, web-shop: {body}"
    );
    assert_eq!(projects["edges"][1]["node"]["key"], "mobile");
    assert_eq!(
        projects["edges"][1]["node"]["members"],
        json!([{ "userId": "bob", "role": "MEMBER" }, { "userId": "both", "role": "MEMBER" }])
    );
    // a member of one project sees that one and the default, nothing of the other
    let body = w
        .app
        .gql_as(&w.bob, "{ projects { edges { node { key } } } }", json!({}))
        .await;
    assert_eq!(
        data(&body)["projects"]["edges"],
        json!([{ "node": { "key": "default" } }, { "node": { "key": "mobile" } }])
    );
}

#[tokio::test]
async fn an_archived_project_is_read_only_until_a_maintainer_restores_it() {
    let w = world().await;
    let archive =
        "mutation($a: Boolean!) { archiveProject(key: \"web-shop\", archived: $a) { archived } }";
    let body = w.app.gql_as(&w.dave, archive, json!({ "a": true })).await;
    assert_eq!(code(&body), "FORBIDDEN", "a member archived: {body}");
    let body = w.app.gql_as(&w.carol, archive, json!({ "a": true })).await;
    assert_eq!(data(&body)["archiveProject"]["archived"], true, "{body}");
    let body = w
        .app
        .gql_as(
            &w.dave,
            CREATE_CASE,
            json!({ "input": { "name": "late", "projectKey": "web-shop" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(message(&body).contains("archived"), "{body}");
    let body = w.app.gql_as(&w.dave, LIST, json!({})).await;
    assert_eq!(ids(&body), vec![w.shop_case], "still readable: {body}");
    let body = w.app.gql_as(&w.carol, archive, json!({ "a": false })).await;
    assert_eq!(data(&body)["archiveProject"]["archived"], false, "{body}");
    let body = w
        .app
        .gql_as(
            &w.dave,
            CREATE_CASE,
            json!({ "input": { "name": "late", "projectKey": "web-shop" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = w
        .app
        .gql(
            "mutation { archiveProject(key: \"default\") { archived } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn membership_changes_are_in_the_audit_trail_of_the_projects_members() {
    let w = world().await;
    let body = w
        .app
        .gql_as(
            &w.carol,
            "mutation { removeProjectMember(projectKey: \"web-shop\", userId: \"erin\") { role } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&body)["removeProjectMember"]["role"],
        Value::Null,
        "{body}"
    );
    // Erin lost the project at once
    let body = w.app.gql_as(&w.erin, LIST, json!({})).await;
    assert_eq!(ids(&body), Vec::<Uuid>::new(), "{body}");
    let pool = w.app.db.pool().await;
    let entries: Vec<(String, Option<String>)> = crate::helpers::q::query_as(
        "SELECT operation::text, changed_by::text FROM audit_log
         WHERE table_name = 'project_members' AND old_values ->> 'user_id' = 'erin'",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(
        entries,
        vec![("DELETE".to_owned(), Some("carol".to_owned()))]
    );
}

/// The membership policies read the request's projects once per statement, as an array the
/// planner compares with the project index; a member without projects keeps the author rule's
/// plan.
#[tokio::test]
async fn membership_policies_are_planned_on_the_project_index() {
    let db = crate::helpers::TestDb::new().await;
    let pool = db.pool().await;
    for statement in [
        "INSERT INTO projects(key, name) SELECT 'p' || n, 'p' || n FROM generate_series(1, 50) n",
        "INSERT INTO project_members(project_id, user_id, role)
           SELECT id, 'member-3', 'member' FROM projects WHERE key IN ('p1', 'p2', 'p3')",
        "INSERT INTO test_cases(name, author, status, priority, project_id)
           SELECT 'case ' || n, 'author-' || (n % 50),
                  CASE WHEN n % 3 = 0 THEN 'draft' ELSE 'active' END,
                  CASE WHEN n % 2 = 0 THEN 'high' ELSE 'low' END,
                  (SELECT id FROM projects WHERE key = 'p' || (1 + n % 50))
           FROM generate_series(1, 20000) n",
        "ANALYZE test_cases",
        "ANALYZE projects",
        "ANALYZE project_members",
    ] {
        crate::helpers::q::query(statement)
            .execute(&pool)
            .await
            .expect("seed");
    }
    let plan = async |user: &str, sql: &str| -> String {
        let mut tx = pool.begin().await.expect("begin");
        crate::helpers::q::query(
            "SELECT app_begin_request($1, 'member', 'application_users', NULL, NULL, '15s')",
        )
        .bind(user)
        .execute(&mut *tx)
        .await
        .expect("context");
        let rows: Vec<String> = crate::helpers::q::query_scalar(format!("EXPLAIN {sql}"))
            .fetch_all(&mut *tx)
            .await
            .expect("explain");
        let role: String = crate::helpers::q::query_scalar("SELECT current_user::text")
            .fetch_one(&mut *tx)
            .await
            .expect("role");
        let _ = tx.rollback().await;
        format!("{role}\n{}", rows.join("\n"))
    };
    let count = "SELECT count(*) FROM test_cases WHERE status = 'active'";
    let page = "SELECT * FROM test_cases WHERE status = 'active' ORDER BY name LIMIT 20";
    for sql in [count, page] {
        let member = plan("member-3", sql).await;
        assert!(member.starts_with("application_project_users"), "{member}");
        // the projects are an init plan's array, compared per row as a plain value
        assert!(member.contains("project_id = ANY ($"), "{member}");
        assert!(!member.contains("SubPlan"), "a per-row subplan: {member}");
        let filters: Vec<&str> = member.lines().filter(|l| l.contains("Filter")).collect();
        assert!(
            filters.iter().all(|l| !l.contains("app_")),
            "a function per row: {member}"
        );
    }
    // a count over 3 of 50 projects reads the project index, not the table
    let member = plan("member-3", count).await;
    assert!(member.contains("ix_test_cases_project_id"), "{member}");
    let loner = plan("author-7", count).await;
    assert!(loner.starts_with("application_users"), "{loner}");
    assert!(loner.contains("ix_test_cases_author"), "{loner}");
    assert!(!loner.contains("project"), "{loner}");
}

/// What the README tells a CI job to do, on the command line: a project, a member, a token
/// that may only report there.
#[tokio::test]
async fn the_command_line_makes_a_report_token_for_a_project_member() {
    let db = crate::helpers::TestDb::new().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
            .args(args)
            .arg("--database-url")
            .arg(&db.url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running the command");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let token_args = [
        "token",
        "create",
        "--user",
        "ci-bot",
        "--role",
        "member",
        "--project",
        "web-shop",
        "--capability",
        "report",
    ];
    let (ok, _, err) = run(&token_args);
    assert!(!ok, "a token for a project that does not exist");
    assert!(err.contains("no such project"), "{err}");
    let (ok, out, err) = run(&["project", "create", "web-shop", "--name", "Web shop"]);
    assert!(ok, "{err}");
    assert!(out.contains("web-shop"), "{out}");
    let (ok, _, err) = run(&token_args);
    assert!(!ok, "a token for a non-member");
    assert!(err.contains("not a member"), "{err}");
    let (ok, _, err) = run(&[
        "project",
        "add-member",
        "web-shop",
        "ci-bot",
        "--role",
        "member",
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&token_args);
    assert!(ok, "{err}");
    assert!(out.trim().starts_with("jbts_"), "{out}");
    let (ok, out, err) = run(&["token", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("ci-bot") && out.contains("report"), "{out}");
    let (ok, out, _) = run(&["project", "list"]);
    assert!(ok);
    assert!(out.contains("ci-bot (member)"), "{out}");
}

#[tokio::test]
async fn run_updates_of_one_project_reach_its_members_only() {
    use crate::helpers::ws::WsClient;
    let w = world().await;
    let subscription =
        "subscription($k: String) { testRunsUpdates(projectKey: $k) { runId projectId name } }";
    let mut both = WsClient::connect(w.app.addr, &w.both).await;
    both.subscribe("s", subscription, json!({ "k": "mobile" }))
        .await;
    let mut bob = WsClient::connect(w.app.addr, &w.bob).await;
    bob.subscribe("s", subscription, json!({ "k": "web-shop" }))
        .await;
    let refused = bob.next_about("s").await.expect("an answer");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert!(
        refused.to_string().contains("no such project 'web-shop'"),
        "{refused}"
    );
    // a web-shop run, then a mobile run: the mobile subscriber gets the mobile one only
    for suite in [w.shop_suite, w.mobile_suite] {
        let body = w
            .app
            .gql(
                START_RUN,
                json!({ "input": { "suiteId": suite, "name": "live" } }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let update = both.next_data("s").await.expect("an update");
    let pool = w.app.db.pool().await;
    let mobile: Uuid =
        crate::helpers::q::query_scalar("SELECT id FROM projects WHERE key = 'mobile'")
            .fetch_one(&pool)
            .await
            .expect("mobile");
    assert_eq!(
        update["data"]["testRunsUpdates"]["projectId"],
        json!(mobile),
        "{update}"
    );
}

/// Ids of the other project's rows answer like random ids, for a member of one project and for
/// a user of none (the existence tests cover every path for both settings; this one the
/// project-specific ones).
#[tokio::test]
async fn another_projects_ids_answer_as_missing_ones() {
    let w = world().await;
    let random = Uuid::new_v4();
    let probes: &[(&str, &str)] = &[
        ("case", "query($id: UUID!) { testCase(id: $id) { id } }"),
        ("suite", "query($id: UUID!) { testSuite(id: $id) { id } }"),
        (
            "rename",
            "mutation($id: UUID!) { updateTestCase(id: $id, input: { name: \"x\" }) { id } }",
        ),
        ("delete", "mutation($id: UUID!) { deleteTestCase(id: $id) }"),
        (
            "add step",
            "mutation($id: UUID!) { addTestStep(testCaseId: $id, input: { name: \"s\", stepType: CLICK }) { id } }",
        ),
        (
            "run",
            "mutation($id: UUID!) { startTestRun(input: { suiteId: $id, name: \"r\" }) { id } }",
        ),
        (
            "stats",
            "query($id: UUID!) { testCase(id: $id) { stats { totalExecutions } } }",
        ),
        (
            "audit trail",
            "query($id: UUID!) { auditLog(filter: { recordId: $id }) { totalCount nodes { operation } } }",
        ),
        (
            "suites holding it",
            "query($id: UUID!) { testSuites(filter: { containsTestCase: $id }) { totalCount } }",
        ),
        (
            "failures",
            "query($id: UUID!) { failureGroups(filter: { testCaseId: $id }) { count } }",
        ),
    ];
    for token in [&w.bob, &w.nobody] {
        for (what, query) in probes {
            for id in [w.shop_case, w.shop_suite] {
                let hidden = w.app.gql_as(token, query, json!({ "id": id })).await;
                let missing = w.app.gql_as(token, query, json!({ "id": random })).await;
                assert_eq!(
                    hidden.to_string().replace(&id.to_string(), "<id>"),
                    missing.to_string().replace(&random.to_string(), "<id>"),
                    "{what}"
                );
            }
        }
    }
    // the cases are untouched
    let body = w
        .app
        .gql_as(&w.dave, LIST, json!({ "f": { "projectKey": "web-shop" } }))
        .await;
    assert_eq!(ids(&body), vec![w.shop_case], "{body}");
    let body = w
        .app
        .gql_as(
            &w.dave,
            "query($id: UUID!) { testCase(id: $id) { name } }",
            json!({ "id": w.shop_case }),
        )
        .await;
    assert_eq!(data(&body)["testCase"]["name"], "checkout");
    let _ = &w.mobile_case;
}

/// Tokens act only with what they were given, in every policy: an admin's project token is no
/// admin for the audit log or the tokens, a report-only token reads no results it did not
/// report, and a reference to another project's configuration is refused.
#[tokio::test]
async fn a_limited_token_gains_nothing_through_settings_flakiness_or_references() {
    let w = world().await;
    // a failed result in web-shop, reported by Erin
    let body = w
        .app
        .gql_as(
            &w.erin,
            START_RUN,
            json!({ "input": { "suiteId": w.shop_suite, "name": "n" } }),
        )
        .await;
    let run = uuid(&data(&body)["startTestRun"]["id"]);
    let body = w
        .app
        .gql_as(
            &w.erin,
            REPORT_RESULTS,
            json!({ "run": run, "results": [item("f", w.shop_case, "FAILED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    // an admin's token limited to mobile: no one else's tokens, no audit of web-shop
    let body = w
        .app
        .gql(
            "mutation { createApiToken(input: { userId: \"root\", roles: [ADMIN], projectKey: \"mobile\", capabilities: [REPORT] }) { token } }",
            json!({}),
        )
        .await;
    let limited = data(&body)["createApiToken"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let body = w
        .app
        .gql_as(
            &limited,
            "{ apiTokens { userId } auditLog(first: 100) { totalCount } }",
            json!({}),
        )
        .await;
    let users: Vec<&str> = data(&body)["apiTokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["userId"].as_str().expect("user"))
        .collect();
    assert!(users.iter().all(|u| *u == "root"), "{body}");
    let body_admin = w
        .app
        .gql("{ auditLog(first: 100) { totalCount } }", json!({}))
        .await;
    assert!(
        data(&body)["auditLog"]["totalCount"].as_i64()
            < data(&body_admin)["auditLog"]["totalCount"].as_i64(),
        "{body} {body_admin}"
    );
    // Dave's report-only token: the catalogue, but not the flakiness or results of Erin's run
    let ci = token(&w.app, "dave", Some("web-shop"), Some(&["REPORT"])).await;
    let q = "query($id: UUID!) { testCase(id: $id) { name executions { totalCount } flakiness { failures } } }";
    let body = w.app.gql_as(&ci, q, json!({ "id": w.shop_case })).await;
    assert_eq!(data(&body)["testCase"]["name"], "checkout", "{body}");
    assert_eq!(
        data(&body)["testCase"]["executions"]["totalCount"],
        0,
        "{body}"
    );
    let full = w.app.gql_as(&w.dave, q, json!({ "id": w.shop_case })).await;
    assert_eq!(
        data(&full)["testCase"]["executions"]["totalCount"],
        1,
        "{full}"
    );
    assert_ne!(
        data(&body)["testCase"]["flakiness"],
        data(&full)["testCase"]["flakiness"],
        "the report token read the case's results through its flakiness: {body}"
    );
    // a configuration of another project: refused, as a missing one for those who do not see it
    let body = w
        .app
        .gql(
            "mutation { createConfiguration(input: { name: \"chrome\", configType: BROWSER, projectKey: \"mobile\" }) { id } }",
            json!({}),
        )
        .await;
    let mobile_config = uuid(&data(&body)["createConfiguration"]["id"]);
    let start = |config: Uuid| json!({ "input": { "suiteId": w.shop_suite, "name": "c", "configurationId": config } });
    let body = w.app.gql_as(&w.both, START_RUN, start(mobile_config)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(message(&body).contains("another project"), "{body}");
    let random = Uuid::new_v4();
    let hidden = w.app.gql_as(&w.dave, START_RUN, start(mobile_config)).await;
    let missing = w.app.gql_as(&w.dave, START_RUN, start(random)).await;
    assert_eq!(code(&hidden), "BAD_USER_INPUT", "{hidden}");
    assert_eq!(
        hidden
            .to_string()
            .replace(&mobile_config.to_string(), "<id>"),
        missing.to_string().replace(&random.to_string(), "<id>")
    );
}

/// A viewer of the default project reads there, even their own cases, and changes nothing.
#[tokio::test]
async fn a_viewer_of_the_default_project_writes_nothing_there() {
    let w = world().await;
    let own = w
        .app
        .gql_as(
            &w.nobody,
            CREATE_CASE,
            json!({ "input": { "name": "mine" } }),
        )
        .await;
    let own = uuid(&data(&own)["createTestCase"]["id"]);
    member(&w.app, "default", "nobody", "VIEWER").await;
    let body = w
        .app
        .gql_as(
            &w.nobody,
            CREATE_CASE,
            json!({ "input": { "name": "more" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = w
        .app
        .gql_as(
            &w.nobody,
            "mutation($id: UUID!) { updateTestCase(id: $id, input: { name: \"renamed\" }) { name } }",
            json!({ "id": own }),
        )
        .await;
    assert!(body["errors"].is_array(), "{body}");
    let body = w
        .app
        .gql_as(
            &w.nobody,
            "query($id: UUID!) { testCase(id: $id) { name } }",
            json!({ "id": own }),
        )
        .await;
    assert_eq!(data(&body)["testCase"]["name"], "mine", "{body}");
}

/// A change of a row the caller reads but may not change is refused for what it is, with the
/// reason, not as a missing row; a row they do not read stays missing.
#[tokio::test]
async fn a_readable_row_one_may_not_change_is_forbidden_with_the_reason() {
    let w = world().await;
    let body = w
        .app
        .gql_as(
            &w.erin,
            START_RUN,
            json!({ "input": { "suiteId": w.shop_suite, "name": "erin's" } }),
        )
        .await;
    let run = uuid(&data(&body)["startTestRun"]["id"]);
    // a viewer reads the run and may not report into it
    let body = w
        .app
        .gql_as(
            &w.vera,
            REPORT_RESULTS,
            json!({ "run": run, "results": [item("v", w.shop_case, "PASSED")] }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(message(&body).contains("web-shop"), "{body}");
    // a report token reads the case and may not change it
    let ci = token(&w.app, "dave", Some("web-shop"), Some(&["REPORT"])).await;
    for query in [
        "mutation($id: UUID!) { updateTestCase(id: $id, input: { name: \"x\" }) { id } }",
        "mutation($id: UUID!) { deleteTestCase(id: $id) }",
    ] {
        let body = w.app.gql_as(&ci, query, json!({ "id": w.shop_case })).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
        assert!(message(&body).contains("report"), "{body}");
        // the other project's member: the case does not exist for them
        let body = w
            .app
            .gql_as(&w.bob, query, json!({ "id": w.shop_case }))
            .await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
    }
    // a viewer sees the execution and may not attach to it
    let pool = w.app.db.pool().await;
    let execution = *crate::helpers::runs::first_attempts(&pool, run)
        .await
        .values()
        .next()
        .expect("an execution");
    let body = w
        .app
        .gql_as(
            &w.vera,
            crate::helpers::runs::ATTACH,
            json!({ "input": { "executionId": execution,
                               "artifact": crate::helpers::runs::artifact("LOG", "v.log") } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // everyone reads the default project's suites; only their creator changes them
    let body = w
        .app
        .gql_as(
            &w.carol,
            CREATE_SUITE,
            json!({ "input": { "name": "carol's default suite" } }),
        )
        .await;
    let default_suite = uuid(&data(&body)["createTestSuite"]["id"]);
    let body = w
        .app
        .gql_as(
            &w.nobody,
            "mutation($id: UUID!) { updateTestSuite(id: $id, input: { name: \"mine now\" }) { name } }",
            json!({ "id": default_suite }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(message(&body).contains("creator"), "{body}");
    // a member may not change a suite, a maintainer may
    let rename =
        "mutation($id: UUID!) { updateTestSuite(id: $id, input: { name: \"renamed\" }) { name } }";
    let body = w
        .app
        .gql_as(&w.dave, rename, json!({ "id": w.shop_suite }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(message(&body).contains("maintainer"), "{body}");
    let body = w
        .app
        .gql_as(&w.carol, rename, json!({ "id": w.shop_suite }))
        .await;
    assert_eq!(data(&body)["updateTestSuite"]["name"], "renamed", "{body}");
}
