//! `importResults`: a report file uploaded through GraphQL (the GraphQL multipart request
//! spec), imported as `POST /api/v1/import` does.

use async_graphql::{Context, ErrorExtensions, Object, SimpleObject, Upload};
use uuid::Uuid;

use super::{BundleFiles, ImportFormat, ImportRequest, Importer, ItemProblem, Refusal, RunTarget};
use crate::auth::context::request_db;
use crate::runs::types::TestRun;

/// What an import did.
#[derive(SimpleObject)]
pub struct ImportResultsPayload {
    /// The report's format.
    pub format: ImportFormat,
    /// The run after the import.
    pub run: TestRun,
    /// Results written now.
    pub accepted: i32,
    /// Results an earlier import into the run had written (nothing changed).
    pub duplicates: i32,
    /// Items not imported.
    pub rejected: i32,
    /// The first 100 items not imported, with their place in the file.
    pub errors: Vec<ItemProblem>,
    /// What became of a bundle's files (null for a report alone).
    pub files: Option<BundleFiles>,
}

#[derive(Default)]
pub struct ImportMutation;

/// A refused report as a GraphQL error: its code, and its place when it has one.
fn refused(r: Refusal) -> async_graphql::Error {
    async_graphql::Error::new(r.message.clone()).extend_with(|_, e| {
        e.set("code", r.code);
        e.set("field", "file");
        match &r.position {
            Some(super::model::Position::Line { line, column }) => {
                e.set("line", *line);
                e.set("column", *column);
            }
            Some(super::model::Position::Pointer(p)) => e.set("pointer", p.as_str()),
            None => {}
        }
    })
}

#[Object]
impl ImportMutation {
    /// Imports a report file (JUnit XML or CTRF JSON, optionally gzip-compressed), or a
    /// bundle (.zip, .tar.gz) of a report and the files its attachments name, sent as a
    /// GraphQL multipart upload. Results land in the run `runId`, or in the run of `runKey`
    /// (created on first use; shards and retried uploads with one key share it), or in a new
    /// ad-hoc run. Each test's result is keyed by its identity key, so importing a file
    /// twice changes nothing. A malformed file is refused whole; an item that cannot be
    /// imported is reported in `errors` and the others are written. Large reports are better
    /// sent to `POST /api/v1/import`, which this request's time limit does not bound.
    #[allow(clippy::too_many_arguments)]
    async fn import_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The report file.")] file: Upload,
        #[graphql(desc = "Its format (default: found from its first bytes).")] format: Option<
            ImportFormat,
        >,
        #[graphql(desc = "The project of a new run (its key).")] project_key: Option<String>,
        #[graphql(desc = "An existing run to import into.")] run_id: Option<Uuid>,
        #[graphql(desc = "The client's key of the run (a CI build id).")] run_key: Option<String>,
        #[graphql(desc = "The name of a new run.")] run_name: Option<String>,
        #[graphql(desc = "End the run afterwards with the outcome its results imply.")]
        finish: Option<bool>,
        #[graphql(desc = "Reject results for tests no case has, instead of creating the cases.")]
        known_tests_only: Option<bool>,
        #[graphql(
            desc = "The report's path inside a bundle (default: its one .xml or .json file \
                    nearest the root)."
        )]
        report: Option<String>,
        #[graphql(desc = "The commit tested (1 to 64 letters, digits, '.', '_' or '-').")]
        commit_sha: Option<String>,
        #[graphql(desc = "The branch tested (1 to 255 characters).")] branch: Option<String>,
        #[graphql(desc = "The CI build's page (an http or https URL).")] build_url: Option<String>,
        #[graphql(desc = "The environment tested (1 to 100 characters).")] environment: Option<
            String,
        >,
    ) -> async_graphql::Result<ImportResultsPayload> {
        let context = crate::runs::service::context::RunContext::checked(
            "",
            commit_sha.as_deref(),
            branch.as_deref(),
            build_url.as_deref(),
            environment.as_deref(),
        )?;
        let db = request_db(ctx)?;
        let identity =
            db.identity()
                .cloned()
                .ok_or_else(|| crate::error::AppError::Unauthenticated {
                    message: "authentication required: send Authorization: Bearer <token>"
                        .to_owned(),
                })?;
        let state = ctx.data::<crate::state::AppState>()?;
        let run = match (run_id, run_key) {
            (Some(_), Some(_)) => {
                return Err(crate::error::AppError::bad_input(
                    "runKey",
                    "give runId or runKey, not both",
                )
                .into());
            }
            (Some(id), None) => RunTarget::Id(id),
            (None, Some(key)) => RunTarget::Key {
                key,
                name: run_name,
            },
            (None, None) => RunTarget::New { name: run_name },
        };
        let upload = file.value(ctx)?;
        let importer = Importer {
            // each batch commits in a transaction of its own, as the caller, so that
            // subscribers see the run fill up; the request's own transaction is not used
            pool: db.pool_outside_request().clone(),
            identity,
            limits: db.limits(),
            max_bytes: state.options.import.max_bytes,
            recount_every: state.options.import.recount_every,
            slots: state.import_slots.clone(),
        };
        let request = ImportRequest {
            format,
            project_key,
            run,
            finish: finish.unwrap_or(false),
            known_only: known_tests_only.unwrap_or(false),
            context,
        };
        let summary = super::import_upload(
            &importer,
            &state.artifacts,
            upload.content,
            false,
            request,
            report,
        )
        .await
        .map_err(refused)?;
        let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(ImportResultsPayload {
            format: summary.format,
            run: TestRun(summary.run),
            accepted: count(summary.accepted),
            duplicates: count(summary.duplicates),
            rejected: count(summary.rejected),
            errors: summary.errors,
            files: summary.files,
        })
    }
}
