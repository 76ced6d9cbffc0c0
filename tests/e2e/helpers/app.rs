//! `spawn_app`: the real server on 127.0.0.1:0 against a test database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::db::TestDb;

/// A running server and the database behind it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub client: reqwest::Client,
    /// SQL statements the server has run (queries and commands, not BEGIN/COMMIT).
    statements: Arc<AtomicU64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Starts the server on a fresh database.
pub async fn spawn_app() -> TestApp {
    let db = TestDb::new().await;
    let mut conn = api::db::connect(&db.url, 5).await.expect("app pool");
    let statements = Arc::new(AtomicU64::new(0));
    let counter = statements.clone();
    conn.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let app = api::startup::Application::build(conn, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("building the app");
    let addr = app.local_addr().expect("local addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        db,
        client: reqwest::Client::new(),
        statements,
        shutdown: Some(tx),
    }
}

impl TestApp {
    /// `http://127.0.0.1:port{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Number of SQL statements the server ran so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::SeqCst)
    }

    /// A request to `path`, carrying the test's default credentials once the API requires
    /// them. Use for raw HTTP checks (status codes, headers, bodies).
    pub fn http(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// POSTs a GraphQL request and returns the response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.http(reqwest::Method::POST, "/graphql")
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("sending the GraphQL request")
            .json()
            .await
            .expect("GraphQL response body")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
