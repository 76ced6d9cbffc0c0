//! Artifacts' bytes, stored content-addressed on an object store (the server's
//! `--artifact-store`), and what keeps the store and the tables in step.
//!
//! - `artifact_blobs`: one row per stored blob (its SHA-256 and size). Only the owner reads
//!   and writes it: members reach it through `claim_artifact_blob` and the release trigger.
//! - `test_artifacts.blob_sha256` (and the archive's): the artifact's bytes, when uploaded. A
//!   foreign key to `artifact_blobs`, so a blob's row cannot go while any artifact, live or
//!   archived, refers to it: the collector deletes the row, and the object first, under a row
//!   lock that an uploader's claim waits for (the collector's delete then fails on a reference
//!   that came meanwhile, rather than leave an artifact without its bytes).
//! - `artifact_blobs.released_at`: set when an artifact that referred to the blob was deleted
//!   or given other bytes; the collector looks at those rows only (the orphan sweep of
//!   `maintenance` looks at all of them).
//! - `server_secrets`: keys the server processes share, such as the one that signs artifacts'
//!   download URLs. No grants: only the owner reads it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE artifact_blobs (
    sha256 CHAR(64) PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    released_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT ck_artifact_blobs_sha256 CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_artifact_blobs_size_non_negative CHECK (size >= 0)
);
CREATE INDEX ix_artifact_blobs_released_at ON artifact_blobs(released_at)
    WHERE released_at IS NOT NULL;
REVOKE ALL ON artifact_blobs FROM PUBLIC;
-- (no policy: nobody but the owner sees a row, whatever is granted later)
ALTER TABLE artifact_blobs ENABLE ROW LEVEL SECURITY;

ALTER TABLE test_artifacts ADD COLUMN blob_sha256 CHAR(64)
    CONSTRAINT fk_test_artifacts_blob REFERENCES artifact_blobs(sha256);
ALTER TABLE test_artifacts_archive ADD COLUMN blob_sha256 CHAR(64)
    CONSTRAINT fk_test_artifacts_archive_blob REFERENCES artifact_blobs(sha256);
CREATE INDEX ix_test_artifacts_blob_sha256 ON test_artifacts(blob_sha256)
    WHERE blob_sha256 IS NOT NULL;
CREATE INDEX ix_test_artifacts_archive_blob_sha256 ON test_artifacts_archive(blob_sha256)
    WHERE blob_sha256 IS NOT NULL;

-- The blob of an upload, claimed in the transaction that will refer to it: its row is
-- created, or locked when it exists (a collector that holds it first finishes, removing it,
-- and the row is created anew). Answers whether the row was there: when it was not, the
-- caller must place the object in the store before it commits.
CREATE FUNCTION claim_artifact_blob(p_sha256 TEXT, p_size BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    existed BOOLEAN;
BEGIN
    INSERT INTO artifact_blobs AS b (sha256, size) VALUES (p_sha256, p_size)
    ON CONFLICT (sha256) DO UPDATE SET released_at = NULL
    RETURNING (b.xmax <> 0) INTO existed;
    RETURN existed;
END
$$;
REVOKE ALL ON FUNCTION claim_artifact_blob(TEXT, BIGINT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_artifact_blob(TEXT, BIGINT) TO application_users;

-- An artifact's bytes no longer referred to by it: the blob becomes a candidate for the
-- collector (which checks every reference before it removes anything). Always an update,
-- so that the row stays locked until the deletion commits: a collector clearing a released
-- blob that is still referred to never clears one whose last reference is going meanwhile.
CREATE FUNCTION release_artifact_blob() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE artifact_blobs SET released_at = now() WHERE sha256 = OLD.blob_sha256;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION release_artifact_blob() FROM PUBLIC;
CREATE TRIGGER test_artifacts_release_blob
    AFTER DELETE OR UPDATE OF blob_sha256 ON test_artifacts
    FOR EACH ROW WHEN (OLD.blob_sha256 IS NOT NULL)
    EXECUTE FUNCTION release_artifact_blob();
CREATE TRIGGER test_artifacts_archive_release_blob
    AFTER DELETE OR UPDATE OF blob_sha256 ON test_artifacts_archive
    FOR EACH ROW WHEN (OLD.blob_sha256 IS NOT NULL)
    EXECUTE FUNCTION release_artifact_blob();

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    secret BYTEA NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
REVOKE ALL ON server_secrets FROM PUBLIC;
ALTER TABLE server_secrets ENABLE ROW LEVEL SECURITY;
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS server_secrets;
DROP TRIGGER IF EXISTS test_artifacts_archive_release_blob ON test_artifacts_archive;
DROP TRIGGER IF EXISTS test_artifacts_release_blob ON test_artifacts;
DROP FUNCTION IF EXISTS release_artifact_blob();
DROP FUNCTION IF EXISTS claim_artifact_blob(TEXT, BIGINT);
ALTER TABLE test_artifacts_archive DROP COLUMN IF EXISTS blob_sha256;
ALTER TABLE test_artifacts DROP COLUMN IF EXISTS blob_sha256;
DROP TABLE IF EXISTS artifact_blobs;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
