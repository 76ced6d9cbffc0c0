//! Artifacts' bytes and the tables: attaching an upload to an artifact, finding what to send
//! for a download, and collecting blobs nothing refers to any more.
//!
//! How the store and the tables stay in step (a blob is removed only once no row, live or
//! archived, refers to it, and that is committed):
//!
//! - An upload is streamed to a staging object first (no transaction is open meanwhile). Then,
//!   in the transaction that makes the artifact refer to it, `claim_artifact_blob` creates or
//!   locks the blob's row, the object is placed under its digest if it is not there (so a
//!   blob whose object went missing heals), and the artifact is updated; the staging object
//!   is removed after the commit.
//! - The collector locks unreferenced blob rows (`FOR UPDATE SKIP LOCKED`: never one an
//!   upload or a reference holds), deletes those rows that are still unreferenced by then (a
//!   new statement: its snapshot sees every reference committed before the locks were
//!   taken, and no new one can commit while they are held), then the objects, then commits.
//!   A failure of the store rolls the rows back (they are collected next time); a crash
//!   after the objects went leaves rows without objects, collected next time as well, and an
//!   upload of the same bytes meanwhile places the object again.
//! - The orphan sweep (`maintenance`) removes objects without a row and staging objects
//!   older than [`ORPHAN_AGE`] (leftovers of crashes), and collects every unreferenced row,
//!   not only those released since the last collection.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::signing::UrlSigner;
use super::store::{ArtifactStore, BLOBS, PutError, STAGING, Staged, blob_of};
use crate::config::ArtifactOptions;
use crate::error::{AppError, AppResult};

/// Objects without a row (or staging objects) younger than this are left to the upload that
/// may be writing them (an S3 object made by a multipart upload is dated when the upload
/// began).
pub const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The largest object S3 copies in one request (CopyObject): an upload is placed by a copy.
pub const S3_COPY_MAX: u64 = 5 * 1024 * 1024 * 1024;

/// Blob rows the collector takes per transaction.
const COLLECT_BATCH: i64 = 500;

/// Where a server's artifacts go: the store, the URL signer, the limits.
#[derive(Clone, Debug)]
pub struct Artifacts {
    pub store: ArtifactStore,
    pub signer: UrlSigner,
    pub options: ArtifactOptions,
    /// The temporary directory of a store opened without a URL, removed with the last clone.
    _temporary: Option<Arc<tempfile::TempDir>>,
}

impl Artifacts {
    /// Opens the store `options` name (a temporary directory without one) and loads the
    /// signing key shared through `db`.
    pub async fn open(db: &DatabaseConnection, options: &ArtifactOptions) -> anyhow::Result<Self> {
        if options
            .store
            .as_deref()
            .is_some_and(|url| url.starts_with("s3://"))
            && options.max_bytes > S3_COPY_MAX
        {
            anyhow::bail!(
                "--artifact-max-bytes is {} but an S3 store copies a blob into place in one \
                 request, at most {S3_COPY_MAX} bytes (5 GiB)",
                options.max_bytes
            );
        }
        let (store, temporary) = match &options.store {
            Some(url) => (
                ArtifactStore::open_with(url, &options.store_options)
                    .map_err(anyhow::Error::msg)?,
                None,
            ),
            None => {
                let dir = tempfile::tempdir()?;
                let url = format!("file://{}", dir.path().display());
                (
                    ArtifactStore::open(&url).map_err(anyhow::Error::msg)?,
                    Some(Arc::new(dir)),
                )
            }
        };
        Ok(Self {
            store,
            signer: UrlSigner::load(db)
                .await
                .map_err(|e| anyhow::anyhow!("loading the URL signing key: {e:?}"))?,
            options: options.clone(),
            _temporary: temporary,
        })
    }
}

/// What an upload's bytes turned out to be, checked against what the client declared.
pub struct Declared {
    /// The size the client said (`Content-Length` of a body, `fileSize` of an input).
    pub size: Option<u64>,
    /// The SHA-256 the client said, hex.
    pub sha256: Option<String>,
}

/// Checks a staged upload against what was declared of it: BAD_USER_INPUT (`field`) when the
/// bytes differ.
pub fn check_declared(staged: &Staged, declared: &Declared, field: &str) -> AppResult<()> {
    if let Some(size) = declared.size
        && size != staged.blob.size
    {
        return Err(AppError::bad_input(
            field,
            format!(
                "the upload has {} bytes, not the {size} declared",
                staged.blob.size
            ),
        ));
    }
    if let Some(sha) = &declared.sha256
        && !sha.eq_ignore_ascii_case(&staged.blob.sha256)
    {
        return Err(AppError::bad_input(
            field,
            format!(
                "the upload's SHA-256 is {}, not the {sha} declared",
                staged.blob.sha256
            ),
        ));
    }
    Ok(())
}

/// A coded error for an upload that could not be staged.
pub fn put_error(e: PutError, field: &str) -> AppError {
    match e {
        PutError::TooLarge { limit } => AppError::TooLarge {
            message: format!("the artifact exceeds {limit} bytes"),
            limit,
        },
        PutError::Body(message) => {
            AppError::bad_input(field, format!("the upload could not be read: {message}"))
        }
        PutError::Store(e) => store_error(e),
    }
}

/// The store failing: logged, answered as unavailable.
pub fn store_error(e: object_store::Error) -> AppError {
    tracing::error!(error = %e, "the artifact store failed");
    AppError::Unavailable {
        message: "the artifact store is unavailable; try again".to_owned(),
    }
}

/// Checks, before any byte of an upload is read, that `identity` may attach an artifact to
/// the execution or the step result given (exactly one): the answers `attachArtifact` would
/// give, in a transaction that is rolled back.
pub async fn may_attach(
    pool: &DatabaseConnection,
    identity: &crate::auth::Identity,
    limits: crate::config::StatementLimits,
    execution: Option<Uuid>,
    step: Option<Uuid>,
) -> AppResult<()> {
    crate::projects::service::read_as(pool, identity, limits, move |tx| {
        Box::pin(async move {
            use sea_orm::EntityTrait;
            let execution = match (execution, step) {
                (Some(e), None) => e,
                (None, Some(s)) => {
                    entity::test_step_execution::Entity::find_by_id(s)
                        .one(tx)
                        .await?
                        .ok_or_else(|| AppError::not_found("TestStepExecution", s))?
                        .test_execution_id
                }
                _ => {
                    return Err(AppError::bad_input(
                        "executionId",
                        "give exactly one of executionId and stepExecutionId",
                    ));
                }
            };
            crate::runs::service::get_execution(tx, execution)
                .await?
                .ok_or_else(|| AppError::not_found("TestExecution", execution))?;
            crate::runs::service::lifecycle::lock_execution_run(tx, execution).await
        })
    })
    .await
}

/// Makes a visible, writable artifact refer to a staged upload (in `conn`, the caller's
/// transaction): the blob is claimed and placed, the artifact updated. NOT_FOUND when the
/// artifact is missing or not visible (an archived one cannot change); the run is locked as
/// for any report into it.
pub async fn attach_content(
    conn: &impl ConnectionTrait,
    store: &ArtifactStore,
    artifact_id: Uuid,
    staged: &Staged,
) -> AppResult<entity::test_artifact::Model> {
    use sea_orm::EntityTrait;
    let artifact = entity::test_artifact::Entity::find_by_id(artifact_id)
        .one(conn)
        .await?
        .ok_or_else(|| AppError::not_found("TestArtifact", artifact_id))?;
    if let Some(execution) = artifact.test_execution_id {
        crate::runs::service::lifecycle::lock_execution_run(conn, execution).await?;
    }
    let size = i64::try_from(staged.blob.size)
        .map_err(|_| AppError::bad_input("file", "the upload is too large"))?;
    conn.execute_raw(crate::sql::statement(
        "SELECT claim_artifact_blob($1, $2)",
        vec![staged.blob.sha256.clone().into(), size.into()],
    ))
    .await?;
    // under the blob's row lock: a collector cannot remove the object meanwhile
    store.place(staged).await.map_err(store_error)?;
    let row = conn
        .query_one_raw(crate::sql::statement(
            "UPDATE test_artifacts SET blob_sha256 = $2, file_size = $3 WHERE id = $1 RETURNING *",
            vec![
                artifact_id.into(),
                staged.blob.sha256.clone().into(),
                size.into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::not_found("TestArtifact", artifact_id))?;
    metrics::counter!(crate::telemetry::ARTIFACT_UPLOADS).increment(1);
    metrics::counter!(crate::telemetry::ARTIFACT_UPLOAD_BYTES).increment(staged.blob.size);
    Ok(<entity::test_artifact::Model as sea_orm::FromQueryResult>::from_query_result(&row, "")?)
}

/// What a download sends: the artifact's name, type and bytes.
#[derive(Debug, Clone)]
pub struct Download {
    pub file_name: String,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<i64>,
}

/// The artifact `id`, live or archived, as `conn` sees it (under a request's security
/// context, or the owner's for a signed URL).
pub async fn find_download(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Download>> {
    let row = conn
        .query_one_raw(crate::sql::statement(
            "SELECT file_name, mime_type, blob_sha256, file_size FROM test_artifacts WHERE id = $1
             UNION ALL
             SELECT file_name, mime_type, blob_sha256, file_size FROM test_artifacts_archive
             WHERE id = $1
             LIMIT 1",
            vec![id.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Download {
        file_name: row.try_get("", "file_name")?,
        mime_type: row.try_get("", "mime_type")?,
        sha256: row.try_get("", "blob_sha256")?,
        size: row.try_get("", "file_size")?,
    }))
}

/// What a collection did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Blobs removed (rows and objects).
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Removes the blobs no artifact refers to, live or archived: those released since the last
/// collection, or (`all`) every unreferenced one. Runs as the tables' owner.
pub async fn collect(
    db: &DatabaseConnection,
    store: &ArtifactStore,
    all: bool,
) -> AppResult<Collected> {
    let mut done = Collected::default();
    let released = if all {
        ""
    } else {
        "b.released_at IS NOT NULL AND"
    };
    loop {
        let tx = db.begin().await?;
        let locked = tx
            .query_all_raw(crate::sql::statement(
                format!(
                    "SELECT b.sha256 FROM artifact_blobs b
                     WHERE {released}
                       NOT EXISTS (SELECT 1 FROM test_artifacts a WHERE a.blob_sha256 = b.sha256)
                       AND NOT EXISTS (SELECT 1 FROM test_artifacts_archive a
                                       WHERE a.blob_sha256 = b.sha256)
                     ORDER BY b.sha256 LIMIT $1 FOR UPDATE SKIP LOCKED"
                ),
                vec![COLLECT_BATCH.into()],
            ))
            .await?;
        if locked.is_empty() {
            tx.commit().await?;
            break;
        }
        let locked: Vec<String> = locked
            .iter()
            .map(|r| r.try_get("", "sha256"))
            .collect::<Result<_, _>>()?;
        // a new snapshot, taken with the rows locked: it sees every committed reference
        let deleted = tx
            .query_all_raw(crate::sql::statement(
                "DELETE FROM artifact_blobs b WHERE b.sha256 = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM test_artifacts a WHERE a.blob_sha256 = b.sha256)
                   AND NOT EXISTS (SELECT 1 FROM test_artifacts_archive a
                                   WHERE a.blob_sha256 = b.sha256)
                 RETURNING b.sha256, b.size",
                vec![locked.clone().into()],
            ))
            .await?;
        for row in &deleted {
            let sha: String = row.try_get("", "sha256")?;
            let size: i64 = row.try_get("", "size")?;
            // a failure rolls the rows back: they are collected next time
            store.delete(&sha).await.map_err(store_error)?;
            done.blobs += 1;
            done.bytes += size.max(0) as u64;
        }
        tx.commit().await?;
        if (locked.len() as i64) < COLLECT_BATCH {
            break;
        }
    }
    // released blobs that are referred to again (an artifact archived or restored, the same
    // bytes uploaded anew) are no longer candidates: locked first (never one a deletion is
    // releasing: its trigger holds the row until it commits), checked again in a new snapshot
    loop {
        let tx = db.begin().await?;
        let locked: Vec<String> = tx
            .query_all_raw(crate::sql::statement(
                "SELECT b.sha256 FROM artifact_blobs b WHERE b.released_at IS NOT NULL
                   AND (EXISTS (SELECT 1 FROM test_artifacts a WHERE a.blob_sha256 = b.sha256)
                        OR EXISTS (SELECT 1 FROM test_artifacts_archive a
                                   WHERE a.blob_sha256 = b.sha256))
                 ORDER BY b.sha256 LIMIT $1 FOR UPDATE SKIP LOCKED",
                vec![COLLECT_BATCH.into()],
            ))
            .await?
            .iter()
            .map(|r| r.try_get("", "sha256"))
            .collect::<Result<_, _>>()?;
        if !locked.is_empty() {
            tx.execute_raw(crate::sql::statement(
                "UPDATE artifact_blobs b SET released_at = NULL WHERE b.sha256 = ANY($1)
                   AND (EXISTS (SELECT 1 FROM test_artifacts a WHERE a.blob_sha256 = b.sha256)
                        OR EXISTS (SELECT 1 FROM test_artifacts_archive a
                                   WHERE a.blob_sha256 = b.sha256))",
                vec![locked.clone().into()],
            ))
            .await?;
        }
        tx.commit().await?;
        if (locked.len() as i64) < COLLECT_BATCH {
            break;
        }
    }
    Ok(done)
}

/// What an orphan sweep found and removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Unreferenced blobs collected (rows and objects).
    pub collected: Collected,
    /// Objects under `blobs/` without a row, removed.
    pub orphans: u64,
    /// Staging objects of uploads that never finished, removed.
    pub staging: u64,
    /// Blobs with a row whose object is missing from the store (reported, not repaired: an
    /// upload of the same bytes puts it back).
    pub missing: u64,
}

/// The orphan sweep: every unreferenced blob collected, objects without a row and stale
/// staging objects (older than `min_age`) removed, rows without an object counted.
pub async fn sweep(
    db: &DatabaseConnection,
    store: &ArtifactStore,
    min_age: std::time::Duration,
) -> AppResult<Swept> {
    let collected = collect(db, store, true).await?;
    let cutoff =
        chrono::Utc::now() - chrono::Duration::from_std(min_age).unwrap_or(chrono::Duration::MAX);
    let mut swept = Swept {
        collected,
        ..Swept::default()
    };
    for object in store.objects(STAGING).await.map_err(store_error)? {
        if object.last_modified < cutoff {
            store
                .delete_object(&object.location)
                .await
                .map_err(store_error)?;
            swept.staging += 1;
        }
    }
    let listed_at = chrono::Utc::now();
    let objects = store.objects(BLOBS).await.map_err(store_error)?;
    let listed: Vec<String> = objects
        .iter()
        .filter_map(|o| blob_of(&o.location).map(str::to_owned))
        .collect();
    let known: std::collections::HashSet<String> = db
        .query_all_raw(crate::sql::statement(
            "SELECT sha256 FROM artifact_blobs WHERE sha256 = ANY($1)",
            vec![listed.into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get("", "sha256"))
        .collect::<Result<_, _>>()?;
    let mut present = std::collections::HashSet::new();
    for object in &objects {
        let sha = blob_of(&object.location);
        if let Some(sha) = sha {
            present.insert(sha.to_owned());
        }
        // (an upload places its object before its row commits: young ones are left alone)
        if object.last_modified >= cutoff || sha.is_some_and(|s| known.contains(s)) {
            continue;
        }
        let Some(sha) = sha else {
            // not a blob's name: nothing of ours refers to it
            store
                .delete_object(&object.location)
                .await
                .map_err(store_error)?;
            swept.orphans += 1;
            continue;
        };
        if remove_orphan(db, store, sha).await? {
            swept.orphans += 1;
        }
    }
    // rows whose object is missing (read after the listing: a row made since is not counted)
    let rows = db
        .query_all_raw(crate::sql::statement(
            "SELECT sha256 FROM artifact_blobs WHERE created_at < $1",
            vec![listed_at.into()],
        ))
        .await?;
    for row in rows {
        let sha: String = row.try_get("", "sha256")?;
        if !present.contains(&sha) {
            tracing::error!(sha256 = %sha, "an artifact blob is missing from the store");
            swept.missing += 1;
        }
    }
    Ok(swept)
}

/// Removes the object of a blob that has no row, under the uploads' own protocol: a row is
/// claimed for it first (an upload claiming the same blob meanwhile waits, or is waited for,
/// on the unique key), the object removed, the row with it. False when an upload made the
/// blob's row meanwhile: the object is its.
async fn remove_orphan(
    db: &DatabaseConnection,
    store: &ArtifactStore,
    sha: &str,
) -> AppResult<bool> {
    let tx = db.begin().await?;
    let claimed = tx
        .query_one_raw(crate::sql::statement(
            "INSERT INTO artifact_blobs(sha256, size, released_at) VALUES ($1, 0, now())
             ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
            vec![sha.to_owned().into()],
        ))
        .await?
        .is_some();
    if !claimed {
        tx.rollback().await?;
        return Ok(false);
    }
    store.delete(sha).await.map_err(store_error)?;
    tx.execute_raw(crate::sql::statement(
        "DELETE FROM artifact_blobs WHERE sha256 = $1",
        vec![sha.to_owned().into()],
    ))
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Collects released blobs every `every` until the server stops; a failed collection is
/// logged and tried again at the next tick.
pub async fn collect_periodically(
    db: DatabaseConnection,
    artifacts: Artifacts,
    every: std::time::Duration,
) {
    // (the first after `every`: a server's start is not the time to collect)
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match collect(&db, &artifacts.store, false).await {
            Ok(c) if c.blobs == 0 => {}
            Ok(c) => {
                metrics::counter!(crate::telemetry::ARTIFACT_BLOBS_COLLECTED).increment(c.blobs);
                tracing::info!(blobs = c.blobs, bytes = c.bytes, "artifact blobs collected")
            }
            Err(e) => tracing::warn!(error = ?e, "collecting artifact blobs failed"),
        }
    }
}
