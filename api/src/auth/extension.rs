//! Gives every GraphQL operation, over HTTP or WebSocket, its request database context and
//! DataLoaders, and ends its transaction when the operation ends (committed for a mutation).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use async_graphql::{Request, Response, ServerResult, Value, Variables};
use sea_orm::DatabaseConnection;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Identity, RequestDb};
use crate::db::replicas::ReadReplicas;

/// Codes of errors that a query on the primary would not answer but one on a replica may
/// (a statement cancelled by a conflict with recovery is a CONFLICT; a lost connection or a
/// standby refusing is an internal error): such an answer from a replica is not trusted, and
/// the query is executed again on the primary.
const REPLICA_SUSPECT_CODES: [&str; 2] = ["CONFLICT", "INTERNAL_SERVER_ERROR"];

/// Whether `response` carries an error coded as in [`REPLICA_SUSPECT_CODES`].
fn replica_suspect(response: &Response) -> bool {
    response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|code| {
                REPLICA_SUSPECT_CODES
                    .iter()
                    .any(|c| *code == Value::String((*c).to_owned()))
            })
    })
}

/// The authenticated identity of a request (HTTP) or connection (WebSocket).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Identity);

/// Factory of the per-operation context.
pub struct RequestContext {
    pool: DatabaseConnection,
    replicas: Arc<ReadReplicas>,
    limits: crate::config::StatementLimits,
}

impl RequestContext {
    /// Operations on the primary `pool`, queries on `replicas` when one is usable.
    pub fn new(
        pool: DatabaseConnection,
        replicas: Arc<ReadReplicas>,
        limits: crate::config::StatementLimits,
    ) -> Self {
        Self {
            pool,
            replicas,
            limits,
        }
    }
}

impl ExtensionFactory for RequestContext {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestContextExtension {
            pool: self.pool.clone(),
            replicas: self.replicas.clone(),
            limits: self.limits,
            db: Mutex::new(None),
            isolate_fields: AtomicBool::new(false),
            mutation: AtomicBool::new(false),
            retryable: AtomicBool::new(false),
        })
    }
}

struct RequestContextExtension {
    pool: DatabaseConnection,
    replicas: Arc<ReadReplicas>,
    limits: crate::config::StatementLimits,
    db: Mutex<Option<Arc<RequestDb>>>,
    /// The document has several top-level fields: each resolves in isolation.
    isolate_fields: AtomicBool,
    /// The document has a mutation: its writes are kept.
    mutation: AtomicBool,
    /// Whoever executes the request watches it ([`super::context::RequestWatch`]) and can do
    /// it again on the primary: only then may it read on a replica.
    retryable: AtomicBool,
}

impl RequestContextExtension {
    fn db(&self) -> Option<Arc<RequestDb>> {
        self.db.lock().ok().and_then(|slot| slot.clone())
    }
}

/// Whether an operation of `document` asks for more than one top-level field (a fragment at
/// the top may hold several).
fn several_top_level_fields(document: &ExecutableDocument) -> bool {
    document.operations.iter().any(|(_, op)| {
        let items = &op.node.selection_set.node.items;
        items.len() > 1 || items.iter().any(|i| !matches!(i.node, Selection::Field(_)))
    })
}

fn identity_in(data: &async_graphql::Data) -> Option<Identity> {
    data.get(&std::any::TypeId::of::<Authenticated>())
        .and_then(|d| d.downcast_ref::<Authenticated>())
        .map(|a| a.0.clone())
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestContextExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let identity = identity_in(&request.data).or_else(|| identity_in(ctx.session_data));
        let watch = request
            .data
            .get(&std::any::TypeId::of::<Arc<super::context::RequestWatch>>())
            .and_then(|d| d.downcast_ref::<Arc<super::context::RequestWatch>>())
            .cloned();
        // only a request whose executor watches it (HTTP) is done again on the primary when
        // its replica fails it: one without (a query over WebSocket) reads on the primary
        self.retryable.store(watch.is_some(), Ordering::Relaxed);
        let watch = watch.unwrap_or_default();
        let db = RequestDb::watched(
            self.pool.clone(),
            self.replicas.clone(),
            identity,
            self.limits,
            watch,
        );
        if let Ok(mut slot) = self.db.lock() {
            *slot = Some(db.clone());
        }
        let request = request
            .data(db.clone())
            .data(crate::loader::Loaders::new(db.clone()));
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        // whatever the entry, nothing recursive reads a text that nests too deep (the HTTP and
        // WebSocket entries check the whole document before this)
        if let Err(e) = crate::limits::check_query_text(query) {
            use async_graphql::ErrorExtensions;
            let code = e.code();
            return Err(async_graphql::Error::new(e.message())
                .extend_with(|_, x| x.set("code", code))
                .into_server_error(async_graphql::Pos::default()));
        }
        let document = next.run(ctx, query, variables).await?;
        // a document with a mutation keeps its writes, whichever operation runs
        let mutation = document
            .operations
            .iter()
            .any(|(_, op)| op.node.ty == OperationType::Mutation);
        self.mutation.store(mutation, Ordering::Relaxed);
        // a document of queries only may read on a replica; a subscription's reads are the
        // live hub's to place
        let reads_only = document
            .operations
            .iter()
            .all(|(_, op)| op.node.ty == OperationType::Query);
        if reads_only
            && self.retryable.load(Ordering::Relaxed)
            && let Some(db) = self.db()
        {
            db.reads_only();
        }
        // a mutation's fields are each kept apart even alone: a nested statement that fails
        // after the field wrote must undo the write and say so, not leave a transaction whose
        // COMMIT silently rolls back what the answer says was done
        self.isolate_fields.store(
            mutation || several_top_level_fields(&document),
            Ordering::Relaxed,
        );
        if mutation && let Some(db) = self.db() {
            db.keep_writes();
        }
        Ok(document)
    }

    /// One field's failure never changes another field's answer: with several top-level
    /// fields, each resolves in a savepoint of its own ([`RequestDb::isolated`]). A field
    /// whose statements had to be undone after it wrote answers an error instead of what it
    /// had written.
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let top_level = info.path_node.parent.is_none();
        let db = match self.db() {
            Some(db) if top_level && self.isolate_fields.load(Ordering::Relaxed) => db,
            _ => return next.run(ctx, info).await,
        };
        let pos = async_graphql::Pos::default();
        let (result, undone) = db.isolated(next.run(ctx, info)).await;
        if undone && self.mutation.load(Ordering::Relaxed) && result.is_ok() {
            return Err(
                async_graphql::Error::from(crate::error::AppError::Conflict {
                    field: None,
                    message: "the change was not kept: a later statement of this field failed"
                        .to_owned(),
                })
                .into_server_error(pos),
            );
        }
        result
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let db = self.db.lock().ok().and_then(|mut slot| slot.take());
        // an answer with errors from a replica may be the replica's doing: the one who
        // executes the request learns it from its watch, and may execute it on the primary
        if let Some(db) = &db
            && !response.errors.is_empty()
        {
            db.replica_failure(replica_suspect(&response)).await;
        }
        if let Some(db) = db
            && let Err(e) = db.finish().await
        {
            response = Response::from_errors(vec![
                async_graphql::Error::from(e).into_server_error(async_graphql::Pos::default()),
            ]);
        }
        response
    }
}
