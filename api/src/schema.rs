//! The GraphQL schema: roots, limits, and the SDL export.

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Object, Schema, SchemaBuilder, SimpleObject};

use crate::auth::mutation::AuthMutation;
use crate::auth::query::AuthQuery;
use crate::auth::tokens::TokenCache;
use crate::catalog::mutation::CatalogMutation;
use crate::catalog::query::CatalogQuery;
use crate::live::hub::Hub;
use crate::live::subscription::LiveSubscription;
use crate::runs::mutation::RunsMutation;
use crate::runs::query::RunsQuery;
use crate::state::AppState;

/// The executable schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, LiveSubscription>;

/// Entry points for reading.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    ServerQuery,
    AuthQuery,
    CatalogQuery,
    RunsQuery,
    crate::analytics::query::AnalyticsQuery,
    crate::analytics::query::CaseStatsQuery,
    crate::audit::AuditQuery,
    crate::projects::query::ProjectsQuery,
    crate::quarantine::query::QuarantineQuery,
    crate::insights::query::InsightsQuery,
    crate::webhooks::query::WebhooksQuery,
);

/// Entry points for writing.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    AuthMutation,
    CatalogMutation,
    RunsMutation,
    crate::archive::ArchiveMutation,
    crate::projects::mutation::ProjectsMutation,
    crate::quarantine::mutation::QuarantineMutation,
    crate::import::mutation::ImportMutation,
    crate::insights::mutation::InsightsMutation,
    crate::webhooks::mutation::WebhooksMutation,
);

/// Version and health of the running service.
#[derive(SimpleObject)]
pub struct ServerInfo {
    /// Version of the service.
    pub version: String,
    /// Whether the database answered a query just now.
    pub database_reachable: bool,
    /// Version string reported by the PostgreSQL server, when reachable.
    pub postgres_version: Option<String>,
}

/// Service information.
#[derive(Default)]
pub struct ServerQuery;

#[Object]
impl ServerQuery {
    /// The service's version and whether its database is reachable.
    async fn server_info(&self, ctx: &Context<'_>) -> ServerInfo {
        let postgres_version = match ctx.data::<AppState>() {
            Ok(state) => crate::db::server_version(&state.db).await,
            Err(_) => None,
        };
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            database_reachable: postgres_version.is_some(),
            postgres_version,
        }
    }

    /// Where the caller's rate limit stands after this request (the token's quota; null when
    /// rate limiting is off or over WebSocket). The same figures come with every HTTP answer
    /// as `x-ratelimit-*` headers.
    async fn rate_limit(&self, ctx: &Context<'_>) -> Option<crate::rate_limit::Quota> {
        ctx.data_opt::<crate::rate_limit::Quota>().copied()
    }
}

/// The schema with its roots, without request data. Its limits (depth, fields, introspection)
/// are checked before it sees a request: [`crate::limits`].
pub fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, LiveSubscription> {
    crate::scalars::describe(Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        LiveSubscription,
    ))
}

/// The schema serving requests against `state`, with the process's token cache and live hub.
pub fn build(state: AppState, tokens: Arc<TokenCache>, hub: Arc<Hub>) -> AppSchema {
    let pool = state.db.clone();
    let replicas = state.replicas.clone();
    let limits = state.options.statements;
    builder()
        .data(hub)
        .data(tokens)
        .data(state)
        // outermost: it counts what the client gets, codes included
        .extension(crate::telemetry::GraphqlMetrics)
        .extension(crate::auth::extension::RequestContext::new(
            pool, replicas, limits,
        ))
        .extension(crate::codes::ErrorCodes)
        .finish()
}

/// The SDL, fields and enum items sorted so that the committed file diffs cleanly.
pub fn sdl() -> String {
    builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items()
            .sorted_arguments(),
    )
}
