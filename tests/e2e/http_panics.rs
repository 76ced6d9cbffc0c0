//! A panic while serving a request: answered as a coded 500, and the server, its database pool
//! included, serves on.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::app::APP_POOL_CONNECTIONS;
use crate::helpers::spawn_app_with_routes;

/// A route of the test's own, mounted under the service's layers, that panics while it holds
/// a transaction on the server's pool.
const PANIC_PATH: &str = "/test-only/panic";

fn panicking_route(db: &DatabaseConnection) -> axum::Router {
    let db = db.clone();
    axum::Router::new().route(
        PANIC_PATH,
        axum::routing::get(move || panic_in_a_transaction(db.clone())),
    )
}

async fn panic_in_a_transaction(db: DatabaseConnection) -> &'static str {
    let txn = db.begin().await.expect("a transaction");
    txn.execute_unprepared("SELECT 1")
        .await
        .expect("a statement");
    panic!("a handler panicked on purpose, in a transaction");
}

#[tokio::test]
async fn request_when_its_handler_panics_then_coded_500_and_the_server_serves_on() {
    let app = spawn_app_with_routes(panicking_route).await;

    // more panics than the pool has connections: none may be lost with its request
    for _ in 0..=APP_POOL_CONNECTIONS {
        let res = app
            .http(Method::GET, PANIC_PATH)
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let body: Value = res.json().await.expect("a JSON body");
        assert_eq!(
            body,
            json!({ "errors": [{
                "message": "internal server error",
                "extensions": { "code": "INTERNAL_SERVER_ERROR" }
            }] })
        );
    }

    let res = app
        .http(Method::POST, "/graphql")
        .json(&json!({ "query": "{ viewer { userId } testCases { totalCount } }" }))
        .send()
        .await
        .expect("an answer after the panics");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("a JSON body");
    assert_eq!(body["data"]["viewer"]["userId"], "test-admin", "{body}");
    assert_eq!(body["data"]["testCases"]["totalCount"], 0, "{body}");
}
