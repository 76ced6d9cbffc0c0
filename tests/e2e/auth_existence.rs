//! Existence oracles (erratum 11 of `docs/architecture.md`): nothing a member sends answers
//! differently for a row that exists but is hidden from them and for one that does not exist.
//! Two members, Alice and Bob: for each path, Bob's answer about Alice's row equals his answer
//! about a random id or a free name (the whole response, ids masked), and the database is left
//! as it was.

use api::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::bulk::{REPORT_RESULTS, item};
use crate::helpers::catalog::{assert_error, data, uuid};
use crate::helpers::runs::{
    ATTACH, CANCEL, COMPLETE, REPORT_STEP, RETRY, START_EXECUTION, START_RUN, artifact,
    first_attempts,
};
use crate::helpers::{TestApp, spawn_app};

const CREATE_CASE: &str = "mutation($input: CreateTestCaseInput!) {
  createTestCase(input: $input) { id name category author status steps { id } } }";
const UPDATE_CASE: &str = "mutation($id: UUID!, $input: UpdateTestCaseInput!) {
  updateTestCase(id: $id, input: $input) { id name category status } }";
const CREATE_SUITE: &str = "mutation($input: CreateTestSuiteInput!) {
  createTestSuite(input: $input) { id name testCases { totalCount } } }";
const SUITE_MEMBERS: &str = "testCases(first: 100) { totalCount edges { position node { id } } }";

struct World {
    app: TestApp,
    alice: String,
    bob: String,
    /// Alice's active case "login" in "auth", with one step.
    a_case: Uuid,
    a_step: Uuid,
    /// Alice's suite of her case, her run of it, its execution and a step result of it.
    a_suite: Uuid,
    a_run: Uuid,
    a_execution: Uuid,
    a_step_execution: Uuid,
    /// Alice's API token.
    a_token: Uuid,
    /// Bob's active case with one step, his suite of it (which the admin also gave Alice's
    /// case), his run of it and its execution.
    b_case: Uuid,
    b_step: Uuid,
    b_suite: Uuid,
    b_run: Uuid,
    b_execution: Uuid,
    /// Bob's suite without cases.
    b_empty_suite: Uuid,
}

/// Creates an active case with one step as the holder of `token`: (case, step).
async fn create_case(app: &TestApp, token: &str, name: &str, category: &str) -> (Uuid, Uuid) {
    let body = app
        .gql_as(
            token,
            CREATE_CASE,
            json!({ "input": { "name": name, "category": category, "status": "ACTIVE",
                               "steps": [{ "name": "open", "stepType": "NAVIGATE" }] } }),
        )
        .await;
    let case = &data(&body)["createTestCase"];
    (uuid(&case["id"]), uuid(&case["steps"][0]["id"]))
}

async fn create_suite(app: &TestApp, token: &str, name: &str, cases: &[Uuid]) -> Uuid {
    let body = app
        .gql_as(
            token,
            CREATE_SUITE,
            json!({ "input": { "name": name, "testCaseIds": cases } }),
        )
        .await;
    uuid(&data(&body)["createTestSuite"]["id"])
}

/// Starts a run of `suite` as the holder of `token`: (run, its first execution).
async fn start_run(app: &TestApp, token: &str, suite: Uuid) -> (Uuid, Uuid) {
    let body = app
        .gql_as(
            token,
            START_RUN,
            json!({ "input": { "suiteId": suite, "name": "nightly" } }),
        )
        .await;
    let run = uuid(&data(&body)["startTestRun"]["id"]);
    let pool = app.db.pool().await;
    let execution = *first_attempts(&pool, run)
        .await
        .values()
        .next()
        .expect("an execution");
    (run, execution)
}

/// Whose rows are hidden from whom.
#[derive(Clone, Copy)]
enum Setting {
    /// Two members of no project, in the default project: the author rule hides each one's
    /// rows from the other.
    Authors,
    /// Alice maintains project `alpha`, Bob `beta`, each with a token limited to their project
    /// (so their rows go there): membership hides each project from the other.
    Projects,
}

/// A token of `user` limited to project `key`, of which they are made a maintainer (who
/// writes cases, runs and suites there).
async fn project_token(app: &TestApp, user: &str, key: &str) -> String {
    crate::helpers::projects::member(app, key, user, "MAINTAINER").await;
    crate::helpers::projects::token(app, user, Some(key), None).await
}

async fn world(setting: Setting) -> World {
    let app = spawn_app().await;
    let (alice, bob) = match setting {
        Setting::Authors => (
            app.token("alice", &[Role::Member]).await,
            app.token("bob", &[Role::Member]).await,
        ),
        Setting::Projects => {
            for key in ["alpha", "beta"] {
                crate::helpers::projects::project(&app, key).await;
            }
            (
                project_token(&app, "alice", "alpha").await,
                project_token(&app, "bob", "beta").await,
            )
        }
    };
    let (a_case, a_step) = create_case(&app, &alice, "login", "auth").await;
    let a_suite = create_suite(&app, &alice, "alice suite", &[a_case]).await;
    let (a_run, a_execution) = start_run(&app, &alice, a_suite).await;
    let body = app
        .gql_as(
            &alice,
            REPORT_STEP,
            json!({ "e": a_execution, "s": a_step, "status": "PASSED" }),
        )
        .await;
    let a_step_execution = uuid(&data(&body)["reportStepResult"]["id"]);
    let (b_case, b_step) = create_case(&app, &bob, "checkout", "shop").await;
    let b_suite = create_suite(&app, &bob, "bob suite", &[b_case]).await;
    let (b_run, b_execution) = start_run(&app, &bob, b_suite).await;
    let b_empty_suite = create_suite(&app, &bob, "bob empty suite", &[]).await;
    let pool = app.db.pool().await;
    // a shared suite, as an admin may make one: Alice's case after Bob's in Bob's suite
    crate::helpers::q::query(
        "INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index) VALUES ($1, $2, 2)",
    )
    .bind(b_suite)
    .bind(a_case)
    .execute(&pool)
    .await
    .expect("sharing Bob's suite");
    let a_token: Uuid =
        crate::helpers::q::query_scalar("SELECT id FROM api_tokens WHERE user_id = 'alice'")
            .fetch_one(&pool)
            .await
            .expect("Alice's token");
    World {
        app,
        alice,
        bob,
        a_case,
        a_step,
        a_suite,
        a_run,
        a_execution,
        a_step_execution,
        a_token,
        b_case,
        b_step,
        b_suite,
        b_run,
        b_execution,
        b_empty_suite,
    }
}

/// One path asked about: Bob sends `query` with `hidden` (naming Alice's rows) and with
/// `missing` (naming random ids or free names in their place).
struct Probe {
    what: &'static str,
    query: &'static str,
    hidden: Value,
    missing: Value,
}

fn probe(what: &'static str, query: &'static str, hidden: Value, missing: Value) -> Probe {
    Probe {
        what,
        query,
        hidden,
        missing,
    }
}

/// A response as text with each of `ids` replaced by `<id>`.
fn masked(body: &Value, ids: &[Uuid]) -> String {
    let mut text = body.to_string();
    for id in ids {
        text = text.replace(&id.to_string(), "<id>");
    }
    text
}

/// Everything the catalogue and run tables hold, and the API tokens.
async fn everything(app: &TestApp) -> String {
    let pool = app.db.pool().await;
    let tokens: String = crate::helpers::q::query_scalar(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'revoked', revoked_at) ORDER BY id), '[]')::text FROM api_tokens",
    )
    .fetch_one(&pool)
    .await
    .expect("tokens");
    format!(
        "{}{}api_tokens: {tokens}\n",
        crate::helpers::catalog::snapshot(&pool).await,
        crate::helpers::runs::snapshot(&pool).await
    )
}

/// Asserts that Bob gets the same answer for each probe's hidden and missing rows (with `ids`
/// masked), and that neither changed anything.
async fn assert_same_answers(w: &World, ids: &[Uuid], probes: Vec<Probe>) {
    let before = everything(&w.app).await;
    for p in probes {
        let hidden = w.app.gql_as(&w.bob, p.query, p.hidden).await;
        let missing = w.app.gql_as(&w.bob, p.query, p.missing).await;
        assert_eq!(
            masked(&hidden, ids),
            masked(&missing, ids),
            "{}: Bob's answers about Alice's row and about none differ",
            p.what
        );
        assert_eq!(everything(&w.app).await, before, "{}: changed data", p.what);
    }
}

impl World {
    /// Alice's ids and the random ones used in their place.
    fn masks(&self, random: &[Uuid]) -> Vec<Uuid> {
        let mut ids = vec![
            self.a_case,
            self.a_step,
            self.a_suite,
            self.a_run,
            self.a_execution,
            self.a_step_execution,
            self.a_token,
            self.b_empty_suite,
        ];
        ids.extend_from_slice(random);
        ids
    }
}

#[tokio::test]
async fn member_creating_a_case_named_and_filed_like_anothers_hidden_case_then_it_is_created() {
    member_creating_a_case_named_and_filed_like_anothers_hidden_case_then_it_is_created_in(
        Setting::Authors,
    )
    .await;
}

#[tokio::test]
async fn member_creating_a_case_named_and_filed_like_anothers_hidden_case_then_it_is_created_across_projects()
 {
    member_creating_a_case_named_and_filed_like_anothers_hidden_case_then_it_is_created_in(
        Setting::Projects,
    )
    .await;
}

async fn member_creating_a_case_named_and_filed_like_anothers_hidden_case_then_it_is_created_in(
    setting: Setting,
) {
    let w = world(setting).await;
    let taken = w
        .app
        .gql_as(
            &w.bob,
            CREATE_CASE,
            json!({ "input": { "name": "login", "category": "auth" } }),
        )
        .await;
    let free = w
        .app
        .gql_as(
            &w.bob,
            CREATE_CASE,
            json!({ "input": { "name": "never used", "category": "auth" } }),
        )
        .await;
    assert_eq!(data(&taken)["createTestCase"]["author"], "bob", "{taken}");
    assert_eq!(data(&free)["createTestCase"]["author"], "bob", "{free}");
    // names stay unique among the cases their writer sees
    let again = w
        .app
        .gql_as(
            &w.bob,
            CREATE_CASE,
            json!({ "input": { "name": "login", "category": "auth" } }),
        )
        .await;
    assert_error(&again, "CONFLICT", "name");
    let pool = w.app.db.pool().await;
    let logins: Vec<(String, String)> = crate::helpers::q::query_as(
        "SELECT author::text, status::text FROM test_cases WHERE name = 'login' AND category = 'auth' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("cases");
    assert_eq!(
        logins,
        [
            ("alice".to_owned(), "active".to_owned()),
            ("bob".to_owned(), "draft".to_owned())
        ]
    );
}

#[tokio::test]
async fn member_renaming_moving_or_restoring_a_case_onto_anothers_hidden_name_then_it_succeeds() {
    member_renaming_moving_or_restoring_a_case_onto_anothers_hidden_name_then_it_succeeds_in(
        Setting::Authors,
    )
    .await;
}

#[tokio::test]
async fn member_renaming_moving_or_restoring_a_case_onto_anothers_hidden_name_then_it_succeeds_across_projects()
 {
    member_renaming_moving_or_restoring_a_case_onto_anothers_hidden_name_then_it_succeeds_in(
        Setting::Projects,
    )
    .await;
}

async fn member_renaming_moving_or_restoring_a_case_onto_anothers_hidden_name_then_it_succeeds_in(
    setting: Setting,
) {
    let w = world(setting).await;
    create_case(&w.app, &w.alice, "logout", "auth").await;
    let body = w
        .app
        .gql_as(
            &w.alice,
            CREATE_CASE,
            json!({ "input": { "name": "reset", "category": null } }),
        )
        .await;
    data(&body);
    let (renamed, _) = create_case(&w.app, &w.bob, "sign in", "auth").await;
    let (moved, _) = create_case(&w.app, &w.bob, "logout", "misc").await;
    let (restored, _) = create_case(&w.app, &w.bob, "reset later", "shop").await;
    let (own, _) = create_case(&w.app, &w.bob, "other", "auth").await;
    let changes = [
        (renamed, json!({ "name": "login" })),
        (moved, json!({ "category": "auth" })),
        (
            restored,
            json!({ "name": "reset", "category": null, "status": "ARCHIVED" }),
        ),
        (restored, json!({ "status": "ACTIVE" })),
    ];
    for (case, input) in changes {
        let body = w
            .app
            .gql_as(&w.bob, UPDATE_CASE, json!({ "id": case, "input": input }))
            .await;
        data(&body);
    }
    // names stay unique among the cases their writer sees
    let body = w
        .app
        .gql_as(
            &w.bob,
            UPDATE_CASE,
            json!({ "id": own, "input": { "name": "login" } }),
        )
        .await;
    assert_error(&body, "CONFLICT", "name");
    let pool = w.app.db.pool().await;
    let active: Vec<(String, Option<String>, String)> = crate::helpers::q::query_as(
        "SELECT name::text, category::text, author::text FROM test_cases
         WHERE name IN ('login', 'logout', 'reset') AND status <> 'archived' ORDER BY 1, 2, 3",
    )
    .fetch_all(&pool)
    .await
    .expect("cases");
    let expected: Vec<(String, Option<String>, String)> = [
        ("login", Some("auth"), "alice"),
        ("login", Some("auth"), "bob"),
        ("logout", Some("auth"), "alice"),
        ("logout", Some("auth"), "bob"),
        ("reset", None, "alice"),
        ("reset", None, "bob"),
    ]
    .into_iter()
    .map(|(n, c, a)| (n.to_owned(), c.map(str::to_owned), a.to_owned()))
    .collect();
    assert_eq!(active, expected);
}

#[tokio::test]
async fn member_changing_anothers_case_or_its_steps_then_the_answer_of_a_random_id() {
    member_changing_anothers_case_or_its_steps_then_the_answer_of_a_random_id_in(Setting::Authors)
        .await;
}

#[tokio::test]
async fn member_changing_anothers_case_or_its_steps_then_the_answer_of_a_random_id_across_projects()
{
    member_changing_anothers_case_or_its_steps_then_the_answer_of_a_random_id_in(Setting::Projects)
        .await;
}

async fn member_changing_anothers_case_or_its_steps_then_the_answer_of_a_random_id_in(
    setting: Setting,
) {
    let w = world(setting).await;
    let (r1, r2) = (Uuid::new_v4(), Uuid::new_v4());
    let query_case = "query($id: UUID!) { testCase(id: $id) { id name } }";
    let delete = "mutation($id: UUID!) { deleteTestCase(id: $id) }";
    let add_step = "mutation($id: UUID!) { addTestStep(testCaseId: $id, input: {name: \"x\", stepType: CLICK}) { id } }";
    let update_step =
        "mutation($id: UUID!) { updateTestStep(id: $id, input: {name: \"x\"}) { id } }";
    let remove_step = "mutation($id: UUID!) { removeTestStep(id: $id) { id } }";
    let reorder = "mutation($case: UUID!, $ids: [UUID!]!) { reorderTestSteps(testCaseId: $case, stepIds: $ids) { id } }";
    let probes = vec![
        probe(
            "read",
            query_case,
            json!({ "id": w.a_case }),
            json!({ "id": r1 }),
        ),
        probe(
            "rename",
            UPDATE_CASE,
            json!({ "id": w.a_case, "input": { "name": "mine now" } }),
            json!({ "id": r1, "input": { "name": "mine now" } }),
        ),
        probe(
            "move",
            UPDATE_CASE,
            json!({ "id": w.a_case, "input": { "category": "shop" } }),
            json!({ "id": r1, "input": { "category": "shop" } }),
        ),
        probe(
            "rename onto Bob's own name",
            UPDATE_CASE,
            json!({ "id": w.a_case, "input": { "name": "checkout", "category": "shop" } }),
            json!({ "id": r1, "input": { "name": "checkout", "category": "shop" } }),
        ),
        probe(
            "archive",
            UPDATE_CASE,
            json!({ "id": w.a_case, "input": { "status": "ARCHIVED" } }),
            json!({ "id": r1, "input": { "status": "ARCHIVED" } }),
        ),
        probe(
            "take over",
            UPDATE_CASE,
            json!({ "id": w.a_case, "input": { "author": "bob" } }),
            json!({ "id": r1, "input": { "author": "bob" } }),
        ),
        probe(
            "empty update",
            UPDATE_CASE,
            json!({ "id": w.a_case, "input": {} }),
            json!({ "id": r1, "input": {} }),
        ),
        probe(
            "delete",
            delete,
            json!({ "id": w.a_case }),
            json!({ "id": r1 }),
        ),
        probe(
            "add a step",
            add_step,
            json!({ "id": w.a_case }),
            json!({ "id": r1 }),
        ),
        probe(
            "update a step",
            update_step,
            json!({ "id": w.a_step }),
            json!({ "id": r1 }),
        ),
        probe(
            "remove a step",
            remove_step,
            json!({ "id": w.a_step }),
            json!({ "id": r1 }),
        ),
        probe(
            "reorder the steps",
            reorder,
            json!({ "case": w.a_case, "ids": [w.a_step] }),
            json!({ "case": r1, "ids": [r2] }),
        ),
        probe(
            "reorder own steps with another's",
            reorder,
            json!({ "case": w.b_case, "ids": [w.b_step, w.a_step] }),
            json!({ "case": w.b_case, "ids": [w.b_step, r2] }),
        ),
    ];
    assert_same_answers(&w, &w.masks(&[r1, r2]), probes).await;
}

#[tokio::test]
async fn member_putting_anothers_case_in_a_suite_or_running_it_then_the_answer_of_a_random_id() {
    member_putting_anothers_case_in_a_suite_or_running_it_then_the_answer_of_a_random_id_in(
        Setting::Authors,
    )
    .await;
}

#[tokio::test]
async fn member_putting_anothers_case_in_a_suite_or_running_it_then_the_answer_of_a_random_id_across_projects()
 {
    member_putting_anothers_case_in_a_suite_or_running_it_then_the_answer_of_a_random_id_in(
        Setting::Projects,
    )
    .await;
}

async fn member_putting_anothers_case_in_a_suite_or_running_it_then_the_answer_of_a_random_id_in(
    setting: Setting,
) {
    let w = world(setting).await;
    let r1 = Uuid::new_v4();
    let add = "mutation($suite: UUID!, $ids: [UUID!]!) {
      addTestCasesToSuite(suiteId: $suite, testCaseIds: $ids) { id } }";
    let remove = "mutation($suite: UUID!, $ids: [UUID!]!) {
      removeTestCasesFromSuite(suiteId: $suite, testCaseIds: $ids) { id } }";
    let reorder = "mutation($suite: UUID!, $ids: [UUID!]!) {
      reorderSuiteTestCases(suiteId: $suite, testCaseIds: $ids) { id } }";
    let suites = "query($id: UUID!) { testSuites(filter: {containsTestCase: $id}) { totalCount } }";
    let probes = vec![
        probe(
            "a new suite of it",
            CREATE_SUITE,
            json!({ "input": { "name": "s", "testCaseIds": [w.a_case] } }),
            json!({ "input": { "name": "s", "testCaseIds": [r1] } }),
        ),
        probe(
            "add it to own suite, where it already is",
            add,
            json!({ "suite": w.b_suite, "ids": [w.a_case] }),
            json!({ "suite": w.b_suite, "ids": [r1] }),
        ),
        probe(
            "add it to own empty suite",
            add,
            json!({ "suite": w.b_empty_suite, "ids": [w.a_case] }),
            json!({ "suite": w.b_empty_suite, "ids": [r1] }),
        ),
        probe(
            "remove it from own suite",
            remove,
            json!({ "suite": w.b_suite, "ids": [w.a_case] }),
            json!({ "suite": w.b_suite, "ids": [r1] }),
        ),
        probe(
            "reorder own suite with it",
            reorder,
            json!({ "suite": w.b_suite, "ids": [w.a_case, w.b_case] }),
            json!({ "suite": w.b_suite, "ids": [r1, w.b_case] }),
        ),
        probe(
            "suites holding it",
            suites,
            json!({ "id": w.a_case }),
            json!({ "id": r1 }),
        ),
        // the default project's suites are shared, so such a suite is no secret: a suite of
        // hidden cases runs like one of none; another project's suite is no suite at all
        probe(
            "run a suite of hidden cases",
            START_RUN,
            json!({ "input": { "suiteId": w.a_suite, "name": "r" } }),
            match setting {
                Setting::Authors => json!({ "input": { "suiteId": w.b_empty_suite, "name": "r" } }),
                Setting::Projects => json!({ "input": { "suiteId": r1, "name": "r" } }),
            },
        ),
    ];
    assert_same_answers(&w, &w.masks(&[r1]), probes).await;
}

#[tokio::test]
async fn member_acting_on_anothers_run_execution_or_step_result_then_the_answer_of_a_random_id() {
    member_acting_on_anothers_run_execution_or_step_result_then_the_answer_of_a_random_id_in(
        Setting::Authors,
    )
    .await;
}

#[tokio::test]
async fn member_acting_on_anothers_run_execution_or_step_result_then_the_answer_of_a_random_id_across_projects()
 {
    member_acting_on_anothers_run_execution_or_step_result_then_the_answer_of_a_random_id_in(
        Setting::Projects,
    )
    .await;
}

async fn member_acting_on_anothers_run_execution_or_step_result_then_the_answer_of_a_random_id_in(
    setting: Setting,
) {
    let w = world(setting).await;
    let (r1, r2) = (Uuid::new_v4(), Uuid::new_v4());
    let pin = "mutation($id: UUID!) { pinTestRun(id: $id) { id } }";
    let reads = "query($run: UUID!, $execution: UUID!) {
      testRun(id: $run) { id } testExecution(id: $execution) { id } }";
    let probes = vec![
        probe(
            "read",
            reads,
            json!({ "run": w.a_run, "execution": w.a_execution }),
            json!({ "run": r1, "execution": r2 }),
        ),
        probe(
            "start",
            START_EXECUTION,
            json!({ "id": w.a_execution }),
            json!({ "id": r1 }),
        ),
        probe(
            "complete",
            COMPLETE,
            json!({ "id": w.a_execution, "status": "PASSED" }),
            json!({ "id": r1, "status": "PASSED" }),
        ),
        probe(
            "retry",
            RETRY,
            json!({ "id": w.a_execution }),
            json!({ "id": r1 }),
        ),
        probe(
            "report a step of it",
            REPORT_STEP,
            json!({ "e": w.a_execution, "s": w.a_step, "status": "FAILED" }),
            json!({ "e": r1, "s": r2, "status": "FAILED" }),
        ),
        probe(
            "report another's step in own execution",
            REPORT_STEP,
            json!({ "e": w.b_execution, "s": w.a_step, "status": "FAILED" }),
            json!({ "e": w.b_execution, "s": r2, "status": "FAILED" }),
        ),
        probe(
            "cancel",
            CANCEL,
            json!({ "id": w.a_run }),
            json!({ "id": r1 }),
        ),
        probe("pin", pin, json!({ "id": w.a_run }), json!({ "id": r1 })),
        probe(
            "attach to the execution",
            ATTACH,
            json!({ "input": { "executionId": w.a_execution, "artifact": artifact("LOG", "x") } }),
            json!({ "input": { "executionId": r1, "artifact": artifact("LOG", "x") } }),
        ),
        probe(
            "attach to the step result",
            ATTACH,
            json!({ "input": { "stepExecutionId": w.a_step_execution, "artifact": artifact("LOG", "x") } }),
            json!({ "input": { "stepExecutionId": r1, "artifact": artifact("LOG", "x") } }),
        ),
        probe(
            "report into the run",
            REPORT_RESULTS,
            json!({ "run": w.a_run, "results": [item("k", w.a_case, "PASSED")] }),
            json!({ "run": r1, "results": [item("k", r2, "PASSED")] }),
        ),
    ];
    assert_same_answers(&w, &w.masks(&[r1, r2]), probes).await;
}

#[tokio::test]
async fn member_reporting_anothers_case_or_step_into_own_run_then_the_answer_of_a_random_id() {
    member_reporting_anothers_case_or_step_into_own_run_then_the_answer_of_a_random_id_in(
        Setting::Authors,
    )
    .await;
}

#[tokio::test]
async fn member_reporting_anothers_case_or_step_into_own_run_then_the_answer_of_a_random_id_across_projects()
 {
    member_reporting_anothers_case_or_step_into_own_run_then_the_answer_of_a_random_id_in(
        Setting::Projects,
    )
    .await;
}

async fn member_reporting_anothers_case_or_step_into_own_run_then_the_answer_of_a_random_id_in(
    setting: Setting,
) {
    let w = world(setting).await;
    let r1 = Uuid::new_v4();
    let with_step = |step: Uuid| {
        json!([{ "idempotencyKey": "k", "testCaseId": w.b_case, "status": "PASSED",
                 "steps": [{ "stepId": step, "status": "PASSED" }] }])
    };
    let probes = vec![
        probe(
            "a result of another's case",
            REPORT_RESULTS,
            json!({ "run": w.b_run, "results": [item("k", w.a_case, "PASSED")] }),
            json!({ "run": w.b_run, "results": [item("k", r1, "PASSED")] }),
        ),
        probe(
            "a result of own case with another's step",
            REPORT_RESULTS,
            json!({ "run": w.b_run, "results": with_step(w.a_step) }),
            json!({ "run": w.b_run, "results": with_step(r1) }),
        ),
    ];
    assert_same_answers(&w, &w.masks(&[r1]), probes).await;
}

#[tokio::test]
async fn member_revoking_anothers_token_then_the_answer_of_a_random_id() {
    member_revoking_anothers_token_then_the_answer_of_a_random_id_in(Setting::Authors).await;
}

#[tokio::test]
async fn member_revoking_anothers_token_then_the_answer_of_a_random_id_across_projects() {
    member_revoking_anothers_token_then_the_answer_of_a_random_id_in(Setting::Projects).await;
}

async fn member_revoking_anothers_token_then_the_answer_of_a_random_id_in(setting: Setting) {
    let w = world(setting).await;
    let r1 = Uuid::new_v4();
    let revoke = "mutation($id: UUID!) { revokeApiToken(id: $id) { id revokedAt } }";
    let probes = vec![probe(
        "revoke",
        revoke,
        json!({ "id": w.a_token }),
        json!({ "id": r1 }),
    )];
    assert_same_answers(&w, &w.masks(&[r1]), probes).await;
    // Alice's token still works
    let body = w
        .app
        .gql_as(&w.alice, "{ viewer { userId } }", json!({}))
        .await;
    assert_eq!(data(&body)["viewer"]["userId"], "alice");
}

/// A run of Bob's suite (his case and Alice's), which the admin started for Bob and reported
/// Alice's case into under `key`.
async fn run_for_bob_with_a_hidden_result(w: &World, key: &str) -> Uuid {
    let body = w
        .app
        .gql(
            START_RUN,
            json!({ "input": { "suiteId": w.b_suite, "name": "shared", "triggeredBy": "bob" } }),
        )
        .await;
    let run = uuid(&data(&body)["startTestRun"]["id"]);
    let body = w
        .app
        .gql(
            REPORT_RESULTS,
            json!({ "run": run, "results": [item(key, w.a_case, "PASSED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    run
}

#[tokio::test]
async fn member_reporting_a_key_recorded_in_own_run_for_a_hidden_case_then_a_duplicate_naming_no_execution()
 {
    member_reporting_a_key_recorded_in_own_run_for_a_hidden_case_then_a_duplicate_naming_no_execution_in(Setting::Authors).await;
}

async fn member_reporting_a_key_recorded_in_own_run_for_a_hidden_case_then_a_duplicate_naming_no_execution_in(
    setting: Setting,
) {
    let w = world(setting).await;
    let run = run_for_bob_with_a_hidden_result(&w, "shard-1").await;
    let before = everything(&w.app).await;
    let body = w
        .app
        .gql_as(
            &w.bob,
            REPORT_RESULTS,
            json!({ "run": run, "results": [item("shard-1", w.b_case, "FAILED")] }),
        )
        .await;
    let payload = &data(&body)["reportResults"];
    assert_eq!(
        payload["results"],
        json!([{ "idempotencyKey": "shard-1", "ok": true, "duplicate": true,
                 "executionId": null, "errorCode": null, "errorField": null }]),
        "the key is the run's, the execution it names is Alice's: {body}"
    );
    assert_eq!(
        everything(&w.app).await,
        before,
        "a duplicate writes nothing"
    );
    // a fresh key is written
    let body = w
        .app
        .gql_as(
            &w.bob,
            REPORT_RESULTS,
            json!({ "run": run, "results": [item("shard-2", w.b_case, "FAILED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
}

/// The error `sql` gets, as the API reports it, and its SQLSTATE: as Bob under his policies,
/// or as the tables' owner.
async fn refused(conn: &sea_orm::DatabaseConnection, as_bob: bool, sql: &str) -> (String, String) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let tx = conn.begin().await.expect("begin");
    if as_bob {
        tx.execute_unprepared(
            "SELECT app_begin_request('bob', 'member', 'application_users', NULL, NULL, '15s')",
        )
        .await
        .expect("Bob's identity");
    }
    let err = tx.execute_unprepared(sql).await.expect_err(sql);
    let state = api::error::pg_error(&err)
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
        .unwrap_or_default();
    let _ = tx.rollback().await;
    (format!("{:?}", api::error::AppError::from(err)), state)
}

/// Below the services' checks: a member's row under a hidden parent, and under a missing one,
/// are refused by the policy (which checks the parent before the foreign key can), and are
/// reported as the foreign key reports a missing parent, not as a row of another user.
#[tokio::test]
async fn row_under_a_hidden_or_missing_parent_then_both_reported_as_a_missing_parent() {
    let w = world(Setting::Authors).await;
    let conn = w.app.db.sea().await;
    let r1 = Uuid::new_v4();
    // (table, row under Alice's parent, the same row under a parent that does not exist)
    let rows = [
        (
            "test_steps",
            format!(
                "INSERT INTO test_steps(test_case_id, order_index, name, step_type) VALUES ('{}', 9, 's', 'click')",
                w.a_case
            ),
            format!(
                "INSERT INTO test_steps(test_case_id, order_index, name, step_type) VALUES ('{r1}', 9, 's', 'click')"
            ),
        ),
        (
            "test_suite_test_cases",
            format!(
                "INSERT INTO test_suite_test_cases(test_suite_id, test_case_id) VALUES ('{}', '{}')",
                w.b_empty_suite, w.a_case
            ),
            format!(
                "INSERT INTO test_suite_test_cases(test_suite_id, test_case_id) VALUES ('{}', '{r1}')",
                w.b_empty_suite
            ),
        ),
        (
            "test_executions",
            format!(
                "INSERT INTO test_executions(test_case_id, test_run_id) VALUES ('{}', '{}')",
                w.a_case, w.b_run
            ),
            format!(
                "INSERT INTO test_executions(test_case_id, test_run_id) VALUES ('{r1}', '{}')",
                w.b_run
            ),
        ),
        (
            "test_step_executions",
            format!(
                "INSERT INTO test_step_executions(test_execution_id, test_step_id) VALUES ('{}', '{}')",
                w.a_execution, w.b_step
            ),
            format!(
                "INSERT INTO test_step_executions(test_execution_id, test_step_id) VALUES ('{r1}', '{}')",
                w.b_step
            ),
        ),
        (
            "test_artifacts",
            format!(
                "INSERT INTO test_artifacts(test_execution_id, artifact_type, file_name, file_path) VALUES ('{}', 'log', 'f', '/f')",
                w.a_execution
            ),
            format!(
                "INSERT INTO test_artifacts(test_execution_id, artifact_type, file_name, file_path) VALUES ('{r1}', 'log', 'f', '/f')"
            ),
        ),
    ];
    for (table, hidden, missing) in rows {
        let (key, key_state) = refused(&conn, false, &missing).await;
        let (hidden, hidden_state) = refused(&conn, true, &hidden).await;
        let (missing, missing_state) = refused(&conn, true, &missing).await;
        assert_eq!(
            (
                key_state.as_str(),
                hidden_state.as_str(),
                missing_state.as_str()
            ),
            ("23503", "42501", "42501"),
            "{table}: the key refuses a missing parent, the policy refuses Bob both"
        );
        assert!(key.starts_with("BadUserInput"), "{table}: {key}");
        assert_eq!(hidden, key, "{table}: a hidden parent");
        assert_eq!(missing, key, "{table}: a missing parent");
    }
    // results' keys hold no foreign key (migration 18): the policy alone refuses Bob's key under
    // Alice's run and under a run that does not exist, and both are answered as a missing run
    let key_row = |run: Uuid| {
        format!(
            "INSERT INTO test_result_reports(test_run_id, idempotency_key, test_execution_id) VALUES ('{run}', 'k', '{}')",
            w.b_execution
        )
    };
    let (hidden, hidden_state) = refused(&conn, true, &key_row(w.a_run)).await;
    let (missing, missing_state) = refused(&conn, true, &key_row(r1)).await;
    assert_eq!(
        (hidden_state.as_str(), missing_state.as_str()),
        ("42501", "42501")
    );
    assert!(
        hidden.starts_with("BadUserInput") && hidden.contains("no such test run"),
        "{hidden}"
    );
    assert_eq!(missing, hidden, "a missing run is answered as a hidden one");
    let _ = conn.close().await;
}

#[tokio::test]
async fn member_reading_a_suite_with_hidden_cases_then_positions_and_cursors_count_only_visible_ones()
 {
    member_reading_a_suite_with_hidden_cases_then_positions_and_cursors_count_only_visible_ones_in(
        Setting::Authors,
    )
    .await;
}

#[tokio::test]
async fn member_reading_a_suite_with_hidden_cases_then_positions_and_cursors_count_only_visible_ones_across_projects()
 {
    member_reading_a_suite_with_hidden_cases_then_positions_and_cursors_count_only_visible_ones_in(
        Setting::Projects,
    )
    .await;
}

async fn member_reading_a_suite_with_hidden_cases_then_positions_and_cursors_count_only_visible_ones_in(
    setting: Setting,
) {
    let w = world(setting).await;
    let (b_second, _) = create_case(&w.app, &w.bob, "pay", "shop").await;
    // the same order of Bob's two cases, with Alice's case before, between and after them, and
    // without her case
    let add = "mutation($suite: UUID!, $ids: [UUID!]!) {
      addTestCasesToSuite(suiteId: $suite, testCaseIds: $ids) { id } }";
    let (c1, _) = create_case(&w.app, &w.alice, "first", "auth").await;
    let (c2, _) = create_case(&w.app, &w.alice, "second", "auth").await;
    // an admin's suites are the default project's; across projects, suites of Bob's project,
    // which an admin fills with cases of both (only an admin may mix projects)
    let owner = match setting {
        Setting::Authors => &w.app.admin_token,
        Setting::Projects => &w.bob,
    };
    let mixed = create_suite(&w.app, owner, "mixed", &[]).await;
    let plain = create_suite(&w.app, owner, "plain", &[]).await;
    for (suite, ids) in [
        (mixed, vec![c1, w.b_case, c2, b_second, w.a_case]),
        (plain, vec![w.b_case, b_second]),
    ] {
        data(&w.app.gql(add, json!({ "suite": suite, "ids": ids })).await);
    }
    let page = "query($id: UUID!, $after: String) { testSuite(id: $id) {
      testCases(first: 1, after: $after) { totalCount edges { cursor position node { id } }
        pageInfo { hasNextPage endCursor } } } }";
    let mut answers = Vec::new();
    for suite in [mixed, plain] {
        let mut after = Value::Null;
        let mut pages = Vec::new();
        loop {
            let body = w
                .app
                .gql_as(&w.bob, page, json!({ "id": suite, "after": after }))
                .await;
            let connection = data(&body)["testSuite"]["testCases"].clone();
            after = connection["pageInfo"]["endCursor"].clone();
            let more = connection["pageInfo"]["hasNextPage"] == true;
            pages.push(connection);
            if !more {
                break;
            }
        }
        answers.push(pages);
    }
    assert_eq!(
        answers[0], answers[1],
        "Bob sees the mixed suite as the plain one"
    );
    assert_eq!(answers[0].len(), 2, "{:?}", answers[0]);
    assert_eq!(answers[0][1]["edges"][0]["position"], 2);
    // Alice sees her three in her own count (across projects, she does not see Bob's suite)
    let body = w
        .app
        .gql_as(
            &w.alice,
            &format!("query($id: UUID!) {{ testSuite(id: $id) {{ {SUITE_MEMBERS} }} }}"),
            json!({ "id": mixed }),
        )
        .await;
    if let Setting::Projects = setting {
        assert_eq!(data(&body)["testSuite"], Value::Null, "{body}");
        return;
    }
    let positions: Vec<(Value, Uuid)> = data(&body)["testSuite"]["testCases"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| (e["position"].clone(), uuid(&e["node"]["id"])))
        .collect();
    assert_eq!(
        positions,
        [(json!(1), c1), (json!(2), c2), (json!(3), w.a_case)]
    );
}
