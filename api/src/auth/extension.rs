//! Gives every GraphQL operation, over HTTP or WebSocket, its request database context and
//! DataLoaders, and ends its transaction when the operation ends (committed for a mutation).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Variables};
use sea_orm::DatabaseConnection;

use super::{Identity, RequestDb};

/// The authenticated identity of a request (HTTP) or connection (WebSocket).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Identity);

/// Factory of the per-operation context.
pub struct RequestContext {
    pool: DatabaseConnection,
}

impl RequestContext {
    pub fn new(pool: DatabaseConnection) -> Self {
        Self { pool }
    }
}

impl ExtensionFactory for RequestContext {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestContextExtension {
            pool: self.pool.clone(),
            db: Mutex::new(None),
        })
    }
}

struct RequestContextExtension {
    pool: DatabaseConnection,
    db: Mutex<Option<Arc<RequestDb>>>,
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
        let db = RequestDb::new(self.pool.clone(), identity);
        if let Ok(mut slot) = self.db.lock() {
            *slot = Some(db.clone());
        }
        let request = crate::schema::prepare_request(request, &db);
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
        if mutation && let Some(db) = self.db.lock().ok().and_then(|slot| slot.clone()) {
            db.keep_writes();
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let db = self.db.lock().ok().and_then(|mut slot| slot.take());
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
