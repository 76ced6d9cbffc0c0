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
    /// Token of an admin (`test-admin`), sent by `http` and `gql`.
    pub admin_token: String,
    /// SQL statements the server has run (queries and commands, not BEGIN/COMMIT).
    statements: Arc<AtomicU64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Connections in the pool of a test's server.
pub const APP_POOL_CONNECTIONS: u32 = 5;

/// Starts the server on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(api::config::ServerOptions::default()).await
}

/// Starts the server on a fresh database with `options`.
pub async fn spawn_app_with(options: api::config::ServerOptions) -> TestApp {
    spawn_app_serving(options, |_| axum::Router::new()).await
}

/// Starts the server on a fresh database, serving the routes `extra` makes (given the server's
/// own database pool) besides its own, under the same layers.
pub async fn spawn_app_with_routes(
    extra: impl FnOnce(&sea_orm::DatabaseConnection) -> axum::Router,
) -> TestApp {
    spawn_app_serving(api::config::ServerOptions::default(), extra).await
}

/// Starts the server on `db` (a database of the test's own server) with `options`.
pub async fn spawn_app_on(db: TestDb, options: api::config::ServerOptions) -> TestApp {
    spawn_app_serving_on(db, options, |_| axum::Router::new()).await
}

async fn spawn_app_serving(
    options: api::config::ServerOptions,
    extra: impl FnOnce(&sea_orm::DatabaseConnection) -> axum::Router,
) -> TestApp {
    spawn_app_serving_on(TestDb::new().await, options, extra).await
}

async fn spawn_app_serving_on(
    db: TestDb,
    options: api::config::ServerOptions,
    extra: impl FnOnce(&sea_orm::DatabaseConnection) -> axum::Router,
) -> TestApp {
    let mut conn = api::db::connect(&db.url, APP_POOL_CONNECTIONS)
        .await
        .expect("app pool");
    let statements = Arc::new(AtomicU64::new(0));
    let counter = statements.clone();
    conn.set_metric_callback(move |info| {
        if std::env::var("JBTS_TRACE_SQL").is_ok() {
            eprintln!("SQL {}", info.statement.sql);
        }
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let extra = extra(&conn);
    let app = api::startup::Application::build_with_routes(
        conn,
        &db.url,
        "127.0.0.1:0".parse().expect("addr"),
        options,
        extra,
    )
    .await
    .expect("building the app");
    let addr = app.local_addr().expect("local addr");
    let admin_token = create_token(&db, "test-admin", &[api::auth::Role::Admin]).await;
    let live_ready = app.live_ready();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    // ready when live updates flow: a test's changes then reach its subscribers
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), live_ready).await;
    assert!(ready.is_ok(), "the live listener did not connect");
    TestApp {
        addr,
        db,
        client: reqwest::Client::new(),
        admin_token,
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
        self.http_as(&self.admin_token, method, path)
    }

    /// A request to `path` with `token` as its bearer token.
    pub fn http_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// A request to `path` without credentials.
    pub fn http_anonymous(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// `GET /readyz`: its status and body (this server's own figures and states).
    pub async fn readyz(&self) -> (u16, serde_json::Value) {
        let res = self
            .http_anonymous(reqwest::Method::GET, "/readyz")
            .send()
            .await
            .expect("GET /readyz");
        let status = res.status().as_u16();
        (status, res.json().await.expect("readyz body"))
    }

    /// A token for `user` with `roles`, made directly in the database.
    pub async fn token(&self, user: &str, roles: &[api::auth::Role]) -> String {
        create_token(&self.db, user, roles).await
    }

    /// A token for `user` with `roles` that expires at `expires_at`, made in the database.
    pub async fn token_expiring(
        &self,
        user: &str,
        roles: &[api::auth::Role],
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let conn = self.db.sea().await;
        let (_, token) = api::auth::service::create(
            &conn,
            &api::auth::service::NewToken {
                user_id: user,
                roles,
                name: Some("test"),
                expires_at: Some(expires_at.fixed_offset()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("{e:?}"))
        .expect("creating an expiring test token");
        let _ = conn.close().await;
        token
    }

    /// Stops this server, keeping its database: its background work ends as at a process's
    /// end (what it held is let go), and `spawn_server` starts the next one on the database.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Another server process on this test's database, with `options`.
    pub async fn spawn_server(&self, options: api::config::ServerOptions) -> OtherServer {
        let conn = api::db::connect(&self.db.url, 5)
            .await
            .expect("second server pool");
        let app = api::startup::Application::build_with(
            conn,
            &self.db.url,
            "127.0.0.1:0".parse().expect("addr"),
            options,
        )
        .await
        .expect("building the second server");
        let addr = app.local_addr().expect("local addr");
        let live_ready = app.live_ready();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let ready = tokio::time::timeout(std::time::Duration::from_secs(30), live_ready).await;
        assert!(
            ready.is_ok(),
            "the second server's live listener did not connect"
        );
        OtherServer {
            addr,
            client: self.client.clone(),
            shutdown: Some(tx),
        }
    }

    /// POSTs a GraphQL request as the holder of `token`.
    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.http_as(token, reqwest::Method::POST, "/graphql")
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("sending the GraphQL request")
            .json()
            .await
            .expect("GraphQL response body")
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

/// A second server on a test's database ([`TestApp::spawn_server`]); stopped on drop.
pub struct OtherServer {
    pub addr: SocketAddr,
    client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl OtherServer {
    /// POSTs a GraphQL request to this server as the holder of `token`.
    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("http://{}/graphql", self.addr))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("sending the GraphQL request")
            .json()
            .await
            .expect("GraphQL response body")
    }
}

impl Drop for OtherServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The id of a token (`jbts_<id>_<secret>`), as its row and `revokeApiToken` know it.
pub fn token_id(token: &str) -> uuid::Uuid {
    token
        .split('_')
        .nth(1)
        .and_then(|id| uuid::Uuid::try_parse(id).ok())
        .expect("a token's id")
}

/// Creates a token in `db` as the tables' owner, as the command line does.
pub async fn create_token(db: &TestDb, user: &str, roles: &[api::auth::Role]) -> String {
    let conn = db.sea().await;
    let (_, token) = api::auth::service::create(
        &conn,
        &api::auth::service::NewToken {
            user_id: user,
            roles,
            name: Some("test"),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("{e:?}"))
    .expect("creating a test token");
    let _ = conn.close().await;
    token
}

/// POSTs a `len`-byte body to `/graphql` over a plain socket the way a slow client does: the
/// headers and a first part, a pause, then the rest. Returns the answer's status line and
/// body, or what broke the connection: like most HTTP clients, it reports a body it could not
/// finish sending rather than an answer that came early.
pub async fn post_slowly(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    len: usize,
) -> Result<(String, String), std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {len}\r\nconnection: close\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    let part = vec![b' '; 64 * 1024];
    socket.write_all(&part).await?;
    // the client's slowness itself, not a wait for an event: the server answers only once it
    // has drained the body, so there is nothing to await before sending the rest
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut left = len - part.len();
    while left > 0 {
        let n = left.min(part.len());
        socket.write_all(&part[..n]).await?;
        left -= n;
    }
    let mut answer = Vec::new();
    socket
        .read_to_end(&mut answer)
        .await
        .or_else(|e| if answer.is_empty() { Err(e) } else { Ok(0) })?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}
