//! Live subscriptions with a read replica: a subscription's whole state (its first message, a
//! resynchronisation) is read on a replica that has replayed everything announced so far, its
//! changes on the primary, so that a dashboard's first state is never older than a change it
//! was already sent, however far behind the replica is.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::standby::Replicated;
use crate::helpers::ws::WsClient;
use crate::live::{PROGRESS, complete, started_run};

/// A lag bound no test reaches: the replica stays in use while its replay is paused.
const FOREVER: Duration = Duration::from_secs(3600);

fn passed(message: &Value) -> &Value {
    &message["testRunProgress"]["passedTests"]
}

#[tokio::test]
async fn subscription_whole_state_reads_a_caught_up_replica_and_never_an_older_state() {
    let r = Replicated::start(FOREVER).await;
    let (run, executions) = started_run(&r.app, 2).await;
    r.caught_up().await;

    // the first state is read on the replica, which has replayed the run
    let on_replica = r.reads_on("replica").await;
    let mut first = WsClient::connect(r.app.addr, &r.app.admin_token).await;
    first.subscribe("p", PROGRESS, json!({"id": run})).await;
    let state = first.next_data("p").await.expect("the first state");
    assert_eq!(passed(&state["data"]), 0, "{state}");
    assert!(
        r.reads_on("replica").await > on_replica,
        "the first state was not read on the replica"
    );

    // the replica stops replaying: a change is announced and read on the primary
    r.pause_replay().await;
    complete(&r.app, executions[0], "PASSED").await;
    let change = first.until("p", |p| passed(&p["data"]) == 1).await;
    assert_eq!(change["data"]["testRunProgress"]["snapshot"], false);

    // a new dashboard's first state: the replica has not replayed the change it would miss,
    // so it is read on the primary, not a state older than what the first one was sent
    let behind = r.fallbacks("behind").await;
    let mut late = WsClient::connect(r.app.addr, &r.app.admin_token).await;
    late.subscribe("p", PROGRESS, json!({"id": run})).await;
    let state = late.next_data("p").await.expect("the first state");
    assert_eq!(
        state["data"]["testRunProgress"]["snapshot"], true,
        "{state}"
    );
    assert_eq!(
        passed(&state["data"]),
        1,
        "an older state than announced: {state}"
    );
    assert!(r.fallbacks("behind").await > behind);

    // replay resumed: whole states are read on the replica again
    r.resume_replay().await;
    r.caught_up().await;
    let on_replica = r.reads_on("replica").await;
    let mut third = WsClient::connect(r.app.addr, &r.app.admin_token).await;
    third.subscribe("p", PROGRESS, json!({"id": run})).await;
    let state = third.next_data("p").await.expect("the first state");
    assert_eq!(passed(&state["data"]), 1, "{state}");
    assert!(r.reads_on("replica").await > on_replica);
}
