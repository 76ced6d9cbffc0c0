//! Test steps over GraphQL: add at a position, update, remove closing the gap, reorder under
//! `UNIQUE(test_case_id, order_index)`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{
    assert_bad_input, assert_code, create_case, create_case_with_steps, data, ids, snapshot,
    step_order, uuid,
};
use crate::helpers::spawn_app;

const ADD: &str = "mutation($case: UUID!, $input: TestStepInput!, $position: Int) {
  addTestStep(testCaseId: $case, input: $input, position: $position) {
    id testCaseId orderIndex name stepType testCase { id steps { id orderIndex } }
  }
}";

const UPDATE: &str = "mutation($id: UUID!, $input: UpdateTestStepInput!) {
  updateTestStep(id: $id, input: $input) {
    id orderIndex name description stepType selector inputData expectedResult configuration
    timeoutSeconds isOptional continueOnFailure
  }
}";

const REORDER: &str = "mutation($case: UUID!, $ids: [UUID!]!) {
  reorderTestSteps(testCaseId: $case, stepIds: $ids) { id steps { id orderIndex } }
}";

/// Step ids in order, after checking the indexes are exactly 1..n.
async fn stored_order(app: &crate::helpers::app::TestApp, case: Uuid) -> Vec<Uuid> {
    let order = step_order(&app.db.pool().await, case).await;
    let indexes: Vec<i32> = order.iter().map(|(_, i)| *i).collect();
    assert_eq!(
        indexes,
        (1..=order.len() as i32).collect::<Vec<_>>(),
        "gaps"
    );
    order.into_iter().map(|(id, _)| id).collect()
}

#[tokio::test]
async fn add_test_step_without_a_position_then_it_is_appended() {
    let app = spawn_app().await;
    let (case, steps) = create_case_with_steps(&app, "login", &["a", "b"]).await;
    let body = app
        .gql(
            ADD,
            json!({ "case": case, "input": { "name": "c", "stepType": "ASSERT" } }),
        )
        .await;
    let step = &data(&body)["addTestStep"];
    assert_eq!(step["orderIndex"], 3);
    assert_eq!(step["testCaseId"], json!(case));
    assert_eq!(step["stepType"], "ASSERT");
    let new = uuid(&step["id"]);
    assert_eq!(stored_order(&app, case).await, [steps[0], steps[1], new]);
}

#[tokio::test]
async fn add_test_step_at_a_position_then_it_is_inserted_and_later_steps_shift() {
    let app = spawn_app().await;
    let (case, steps) = create_case_with_steps(&app, "login", &["a", "b", "c"]).await;
    for (position, name) in [(1, "first"), (3, "middle"), (6, "last")] {
        let body = app
            .gql(
                ADD,
                json!({ "case": case, "input": { "name": name, "stepType": "WAIT" }, "position": position }),
            )
            .await;
        let step = &data(&body)["addTestStep"];
        assert_eq!(step["orderIndex"], position, "{body}");
        let returned = ids(&step["testCase"]["steps"]);
        assert_eq!(returned[position as usize - 1], uuid(&step["id"]));
    }
    let order = stored_order(&app, case).await;
    assert_eq!(order.len(), 6);
    assert_eq!(order[1], steps[0]);
    assert_eq!(order[3], steps[1]);
    assert_eq!(order[4], steps[2]);
}

#[tokio::test]
async fn add_test_step_to_a_case_without_steps_then_it_is_first() {
    let app = spawn_app().await;
    let case = create_case(&app, json!({ "name": "login" })).await;
    let body = app
        .gql(
            ADD,
            json!({ "case": case, "input": { "name": "a", "stepType": "CLICK" }, "position": 1 }),
        )
        .await;
    assert_eq!(data(&body)["addTestStep"]["orderIndex"], 1);
}

#[tokio::test]
async fn add_test_step_at_a_position_out_of_range_then_bad_user_input_and_nothing_changes() {
    let app = spawn_app().await;
    let (case, _) = create_case_with_steps(&app, "login", &["a", "b"]).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for position in [0, -1, 4, i32::MAX] {
        let body = app
            .gql(
                ADD,
                json!({ "case": case, "input": { "name": "x", "stepType": "CLICK" }, "position": position }),
            )
            .await;
        assert_bad_input(&body, "position");
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn add_test_step_with_invalid_input_then_bad_user_input_naming_the_field() {
    let app = spawn_app().await;
    let (case, _) = create_case_with_steps(&app, "login", &["a"]).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for (input, field) in [
        (json!({ "name": "", "stepType": "CLICK" }), "input.name"),
        (
            json!({ "name": "n".repeat(256), "stepType": "CLICK" }),
            "input.name",
        ),
        (
            json!({ "name": "x", "stepType": "CLICK", "timeoutSeconds": -5 }),
            "input.timeoutSeconds",
        ),
        (
            json!({ "name": "x", "stepType": "CLICK", "selector": "s".repeat(501) }),
            "input.selector",
        ),
        (
            json!({ "name": "x", "stepType": "CLICK", "configuration": "on" }),
            "input.configuration",
        ),
    ] {
        let body = app.gql(ADD, json!({ "case": case, "input": input })).await;
        assert_bad_input(&body, field);
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn add_test_step_when_the_case_is_absent_then_not_found() {
    let app = spawn_app().await;
    let body = app
        .gql(
            ADD,
            json!({ "case": Uuid::now_v7(), "input": { "name": "x", "stepType": "CLICK" } }),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
    assert_eq!(
        crate::helpers::catalog::count(&app.db.pool().await, "test_steps").await,
        0
    );
}

#[tokio::test]
async fn update_test_step_then_given_fields_change_and_absent_ones_stay() {
    let app = spawn_app().await;
    let (case, steps) = create_case_with_steps(&app, "login", &["a", "b"]).await;
    let input = json!({ "name": "renamed", "selector": "#go", "inputData": "42",
        "expectedResult": "ok", "configuration": { "retry": true }, "timeoutSeconds": 9,
        "isOptional": true, "continueOnFailure": true, "stepType": "TYPE", "description": "d" });
    let body = app
        .gql(UPDATE, json!({ "id": steps[1], "input": input }))
        .await;
    let step = data(&body)["updateTestStep"].clone();
    for (field, value) in input.as_object().expect("object") {
        assert_eq!(&step[field], value, "{field}");
    }
    assert_eq!(step["orderIndex"], 2);
    let body = app
        .gql(
            UPDATE,
            json!({ "id": steps[1], "input": { "inputData": "43" } }),
        )
        .await;
    let again = &data(&body)["updateTestStep"];
    assert_eq!(again["inputData"], "43");
    for field in [
        "name",
        "selector",
        "expectedResult",
        "configuration",
        "timeoutSeconds",
        "stepType",
    ] {
        assert_eq!(again[field], step[field], "{field} changed");
    }
    assert_eq!(stored_order(&app, case).await, steps, "order unchanged");
}

#[tokio::test]
async fn update_test_step_when_nullable_fields_are_null_then_they_are_cleared() {
    let app = spawn_app().await;
    let (_, steps) = create_case_with_steps(&app, "login", &["a"]).await;
    let set = json!({ "description": "d", "selector": "#s", "inputData": "i",
        "expectedResult": "e", "configuration": { "k": 1 }, "timeoutSeconds": 3 });
    data(
        &app.gql(UPDATE, json!({ "id": steps[0], "input": set }))
            .await,
    );
    let clear = json!({ "description": null, "selector": null, "inputData": null,
        "expectedResult": null, "configuration": null, "timeoutSeconds": null });
    let body = app
        .gql(UPDATE, json!({ "id": steps[0], "input": clear }))
        .await;
    let step = &data(&body)["updateTestStep"];
    for field in [
        "description",
        "selector",
        "inputData",
        "expectedResult",
        "timeoutSeconds",
    ] {
        assert_eq!(step[field], Value::Null, "{field} not cleared");
    }
    assert_eq!(step["configuration"], json!({}));
}

#[tokio::test]
async fn update_test_step_when_a_non_nullable_field_is_null_then_bad_user_input_and_no_change() {
    let app = spawn_app().await;
    let (_, steps) = create_case_with_steps(&app, "login", &["a"]).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for field in ["name", "stepType", "isOptional", "continueOnFailure"] {
        let mut input = json!({ "description": "changed" });
        input[field] = Value::Null;
        let body = app
            .gql(UPDATE, json!({ "id": steps[0], "input": input }))
            .await;
        assert_bad_input(&body, field);
    }
    let body = app
        .gql(
            UPDATE,
            json!({ "id": steps[0], "input": { "timeoutSeconds": 0 } }),
        )
        .await;
    assert_bad_input(&body, "timeoutSeconds");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn update_test_step_when_absent_then_not_found() {
    let app = spawn_app().await;
    for input in [json!({ "name": "x" }), json!({})] {
        let body = app
            .gql(UPDATE, json!({ "id": Uuid::now_v7(), "input": input }))
            .await;
        assert_code(&body, "NOT_FOUND");
    }
}

#[tokio::test]
async fn remove_test_step_then_the_gap_closes_and_the_case_is_returned() {
    let app = spawn_app().await;
    let (case, steps) = create_case_with_steps(&app, "login", &["a", "b", "c", "d"]).await;
    let body = app
        .gql(
            "mutation($id: UUID!) { removeTestStep(id: $id) { id steps { id orderIndex } } }",
            json!({ "id": steps[1] }),
        )
        .await;
    let returned = &data(&body)["removeTestStep"];
    assert_eq!(returned["id"], json!(case));
    assert_eq!(ids(&returned["steps"]), [steps[0], steps[2], steps[3]]);
    assert_eq!(returned["steps"][2]["orderIndex"], 3);
    assert_eq!(
        stored_order(&app, case).await,
        [steps[0], steps[2], steps[3]]
    );
}

#[tokio::test]
async fn remove_test_step_when_absent_then_not_found() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "mutation($id: UUID!) { removeTestStep(id: $id) { id } }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
}

#[tokio::test]
async fn reorder_test_steps_then_the_new_order_is_stored_despite_the_unique_index() {
    let app = spawn_app().await;
    let (case, steps) = create_case_with_steps(&app, "login", &["a", "b", "c", "d", "e"]).await;
    for order in [
        vec![steps[4], steps[3], steps[2], steps[1], steps[0]],
        vec![steps[1], steps[0], steps[2], steps[4], steps[3]],
        vec![steps[0], steps[1], steps[2], steps[3], steps[4]],
    ] {
        let body = app
            .gql(REORDER, json!({ "case": case, "ids": order }))
            .await;
        let returned = &data(&body)["reorderTestSteps"];
        assert_eq!(ids(&returned["steps"]), order);
        assert_eq!(stored_order(&app, case).await, order);
    }
}

#[tokio::test]
async fn reorder_test_steps_when_the_list_is_not_exactly_the_cases_steps_then_bad_user_input() {
    let app = spawn_app().await;
    let (case, s) = create_case_with_steps(&app, "login", &["a", "b", "c"]).await;
    let (_, foreign) = create_case_with_steps(&app, "other", &["x"]).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for (what, list) in [
        ("missing", vec![s[2], s[1]]),
        ("extra unknown", vec![s[2], s[1], s[0], Uuid::now_v7()]),
        ("duplicate", vec![s[2], s[1], s[0], s[0]]),
        ("duplicate replacing one", vec![s[2], s[1], s[1]]),
        ("foreign step", vec![s[2], s[1], foreign[0]]),
        ("foreign step added", vec![s[2], s[1], s[0], foreign[0]]),
        ("empty", vec![]),
    ] {
        let body = app.gql(REORDER, json!({ "case": case, "ids": list })).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{what}: {body}"
        );
        assert_bad_input(&body, "stepIds");
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn reorder_test_steps_when_the_case_is_absent_then_not_found() {
    let app = spawn_app().await;
    let body = app
        .gql(REORDER, json!({ "case": Uuid::now_v7(), "ids": [] }))
        .await;
    assert_code(&body, "NOT_FOUND");
}

#[tokio::test]
async fn test_step_test_case_then_resolves_its_case() {
    let app = spawn_app().await;
    let (case, steps) = create_case_with_steps(&app, "login", &["a"]).await;
    let body = app
        .gql(
            "mutation($id: UUID!) { updateTestStep(id: $id, input: {}) { testCase { id name } } }",
            json!({ "id": steps[0] }),
        )
        .await;
    let got = &data(&body)["updateTestStep"]["testCase"];
    assert_eq!(got["id"], json!(case));
    assert_eq!(got["name"], "login");
}
