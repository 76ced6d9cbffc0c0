//! Where artifacts' bytes live: an object store (`object_store`), the local file system by
//! default (`file://<data-dir>/artifacts`) or an S3-compatible bucket (`s3://bucket/prefix`,
//! configured by the usual `AWS_*` environment variables, `AWS_ENDPOINT_URL` and
//! `AWS_ALLOW_HTTP=true` for a server of one's own).
//!
//! Blobs are content-addressed: `blobs/<2 hex>/<sha-256 in hex>`. An upload streams to a
//! staging object of its own (a multipart upload: memory holds a part, never the file) while
//! its SHA-256 is computed, then takes its place under its digest unless that blob exists
//! already (the same bytes uploaded twice are stored once; two uploads of the same bytes at
//! once write the same content, so either may win). A failed or oversized upload leaves no
//! staging object behind.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

/// Bytes per part of a multipart upload (S3's minimum is 5 MiB).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    pub size: u64,
}

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("the upload exceeds {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload could not be read: {0}")]
    Body(String),
    #[error("the artifact store failed: {0}")]
    Store(#[from] object_store::Error),
}

/// The artifact store of a server.
#[derive(Clone)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    /// The store's URL, for logs and errors (no credentials: they come from the environment).
    url: String,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("url", &self.url)
            .finish()
    }
}

impl ArtifactStore {
    /// Opens the store `url` names: `file:///absolute/dir` (created when missing) or
    /// `s3://bucket[/prefix]` (configured by the `AWS_*` environment variables).
    pub fn open(url: &str) -> Result<Self, String> {
        Self::open_with(url, &[])
    }

    /// As [`ArtifactStore::open`], an S3 store also configured by `options` (`object_store`'s
    /// keys, such as `aws_endpoint` and `aws_allow_http`), which take precedence over the
    /// environment.
    pub fn open_with(url: &str, options: &[(String, String)]) -> Result<Self, String> {
        let store: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(format!(
                    "the artifact store {url} must name an absolute directory (file:///path)"
                ));
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("creating the artifact directory {dir}: {e}"))?;
            // written through to the disk before an upload is acknowledged: a blob the
            // database refers to survives a crash of the machine
            Arc::new(
                LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| format!("opening the artifact directory {dir}: {e}"))?
                    .with_fsync(true),
            )
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("the artifact store {url} names no bucket"));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (key, value) in options {
                let key = key
                    .parse::<object_store::aws::AmazonS3ConfigKey>()
                    .map_err(|e| format!("the artifact store option {key}: {e}"))?;
                builder = builder.with_config(key, value);
            }
            let s3 = builder
                .build()
                .map_err(|e| format!("configuring the artifact store {url}: {e}"))?;
            let prefix = prefix.trim_matches('/');
            if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            }
        } else {
            return Err(format!(
                "the artifact store {url} is neither file:///dir nor s3://bucket/prefix"
            ));
        };
        Ok(Self {
            store,
            url: url.to_owned(),
        })
    }

    /// The same store seen through `wrap` (a wrapper of its own that injects failures, in
    /// tests of what a failing store leaves behind).
    pub fn wrap(&self, wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>) -> Self {
        Self {
            store: wrap(self.store.clone()),
            url: self.url.clone(),
        }
    }

    /// Where the blob of `sha256` (lowercase hex) lives.
    fn blob_path(sha256: &str) -> Path {
        Path::from(format!("{BLOBS}/{}/{sha256}", &sha256[..2]))
    }

    /// Streams the bytes of `body`, at most `limit` of them, to a staging object of their
    /// own, computing their digest: [`ArtifactStore::place`] then makes it the blob of that
    /// digest, or [`ArtifactStore::discard`] drops it.
    pub async fn stage<E: std::fmt::Display>(
        &self,
        body: impl Stream<Item = Result<Bytes, E>>,
        limit: u64,
    ) -> Result<Staged, PutError> {
        let staging = Path::from(format!("{STAGING}/{}", uuid::Uuid::now_v7()));
        let upload = self.store.put_multipart(&staging).await?;
        let mut writer = AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(
            upload, PART_BYTES,
        )));
        let mut hashing = Hashing::default();
        let mut size = 0u64;
        let mut body = std::pin::pin!(body);
        let streamed = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| PutError::Body(e.to_string()))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(PutError::TooLarge { limit });
                }
                hashing.update(chunk.clone()).await?;
                let w = writer.get();
                w.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                w.put(chunk);
            }
            Ok(())
        }
        .await;
        if let Err(e) = streamed {
            // (what the store kept of it goes too; an abort that fails leaves an incomplete
            // upload, which a bucket's lifecycle rule or the orphan sweep removes)
            if let Some(w) = writer.0.take() {
                let _ = w.abort().await;
            }
            return Err(e);
        }
        if let Some(w) = writer.0.take() {
            w.finish().await?;
        }
        Ok(Staged {
            path: staging,
            blob: Blob {
                sha256: hex(&hashing.finish().await?),
                size,
            },
        })
    }

    /// Makes a staged upload the blob of its digest, unless that blob is stored already (the
    /// same bytes are stored once). The staging object stays until [`ArtifactStore::discard`].
    pub async fn place(&self, staged: &Staged) -> Result<(), object_store::Error> {
        let blob = Self::blob_path(&staged.blob.sha256);
        match self.store.head(&blob).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => self.store.copy(&staged.path, &blob).await,
            Err(e) => Err(e),
        }
    }

    /// Removes a staged upload's staging object.
    pub async fn discard(&self, staged: Staged) -> Result<(), object_store::Error> {
        self.remove(&staged.path).await
    }

    /// Stores the bytes of `body`, at most `limit` of them, as the blob of their digest.
    pub async fn put_stream<E: std::fmt::Display>(
        &self,
        body: impl Stream<Item = Result<Bytes, E>>,
        limit: u64,
    ) -> Result<Blob, PutError> {
        let staged = self.stage(body, limit).await?;
        let placed = self.place(&staged).await;
        let blob = staged.blob.clone();
        let removed = self.discard(staged).await;
        placed?;
        removed?;
        Ok(blob)
    }

    /// Deletes the blob of `sha256` (done when there is none).
    pub async fn delete(&self, sha256: &str) -> Result<(), object_store::Error> {
        self.remove(&Self::blob_path(sha256)).await
    }

    /// Deletes the object at `path`; one that is not there is deleted already.
    async fn remove(&self, path: &Path) -> Result<(), object_store::Error> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The bytes of a blob, or of `range` of them; `None` when there is no such blob.
    pub async fn get(
        &self,
        sha256: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<object_store::GetResult>, object_store::Error> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match self.store.get_opts(&Self::blob_path(sha256), options).await {
            Ok(got) => Ok(Some(got)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every object under `prefix` (`blobs`, `staging`), for tests.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, object_store::Error> {
        Ok(self
            .objects(prefix)
            .await?
            .into_iter()
            .map(|o| o.location)
            .collect())
    }

    /// Every object under `prefix`, with when it was last written, sorted by location.
    pub async fn objects(&self, prefix: &str) -> Result<Vec<StoredObject>, object_store::Error> {
        let prefix = Path::from(prefix);
        let mut found = Vec::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            found.push(StoredObject {
                location: meta.location.to_string(),
                last_modified: meta.last_modified,
            });
        }
        found.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(found)
    }

    /// Deletes the object at `location` (as [`ArtifactStore::objects`] names it).
    pub async fn delete_object(&self, location: &str) -> Result<(), object_store::Error> {
        self.remove(&Path::from(location)).await
    }
}

/// An object of the store, as listed.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub location: String,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// Where blobs live: `blobs/<2 hex>/<sha-256>`.
pub const BLOBS: &str = "blobs";

/// Where uploads are written before they become blobs.
pub const STAGING: &str = "staging";

/// The digest of a blob's location (`blobs/ab/ab12...`), if it is one.
pub fn blob_of(location: &str) -> Option<&str> {
    let sha = location.strip_prefix(BLOBS)?.strip_prefix('/')?;
    let (dir, sha) = sha.split_once('/')?;
    (sha.len() == 64
        && sha.starts_with(dir)
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(sha)
}

/// An upload written to its staging object, with the digest and size of its bytes.
#[derive(Debug, Clone)]
pub struct Staged {
    path: Path,
    pub blob: Blob,
}

/// A multipart upload, aborted if dropped before it finished (a client gone, a request timed
/// out): the store keeps no incomplete upload of it.
struct AbortOnDrop(Option<WriteMultipart>);

impl AbortOnDrop {
    fn get(&mut self) -> &mut WriteMultipart {
        self.0.as_mut().expect("an upload not yet finished")
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(w) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = w.abort().await;
            });
        }
    }
}

/// Bytes hashed per task off the async threads.
const HASH_BYTES: usize = 4 * 1024 * 1024;

/// SHA-256 of a stream, computed on a blocking thread a few MiB at a time while the next
/// bytes arrive and the previous ones are written (hashing is the upload's one CPU-bound
/// step: in line, it would hold up both).
#[derive(Default)]
struct Hashing {
    pending: Vec<Bytes>,
    pending_bytes: usize,
    /// The hasher, with a task updating it, or idle.
    running: Option<tokio::task::JoinHandle<Sha256>>,
    idle: Option<Sha256>,
}

impl Hashing {
    async fn update(&mut self, chunk: Bytes) -> Result<(), PutError> {
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if self.pending_bytes >= HASH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn hasher(&mut self) -> Result<Sha256, PutError> {
        match self.running.take() {
            Some(task) => task.await.map_err(|e| {
                PutError::Store(object_store::Error::Generic {
                    store: "sha-256",
                    source: Box::new(e),
                })
            }),
            None => Ok(self.idle.take().unwrap_or_default()),
        }
    }

    async fn flush(&mut self) -> Result<(), PutError> {
        let mut hasher = self.hasher().await?;
        let chunks = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        self.running = Some(tokio::task::spawn_blocking(move || {
            for c in &chunks {
                hasher.update(c);
            }
            hasher
        }));
        Ok(())
    }

    async fn finish(mut self) -> Result<[u8; 32], PutError> {
        let mut hasher = self.hasher().await?;
        for c in std::mem::take(&mut self.pending) {
            hasher.update(&c);
        }
        Ok(hasher.finalize().into())
    }
}

/// Bytes as lowercase hex (digests: blobs' names, results' keys).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(data: &[u8], size: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        let parts: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(parts)
    }

    fn file_store(dir: &tempfile::TempDir) -> ArtifactStore {
        ArtifactStore::open(&format!(
            "file://{}",
            dir.path().join("artifacts").display()
        ))
        .expect("a file store")
    }

    #[tokio::test]
    async fn put_the_same_bytes_twice_then_one_blob_named_by_its_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = file_store(&dir);
        // larger than a part: the upload takes several
        let data: Vec<u8> = (0..(PART_BYTES * 2 + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let first = store
            .put_stream(chunks(&data, 64 * 1024), u64::MAX)
            .await
            .expect("put");
        let expected = hex(&Sha256::digest(&data));
        assert_eq!(
            first,
            Blob {
                sha256: expected.clone(),
                size: data.len() as u64
            }
        );
        let second = store
            .put_stream(chunks(&data, 1_000_000), u64::MAX)
            .await
            .expect("put");
        assert_eq!(second, first);
        assert_eq!(
            store.list("blobs").await.expect("list"),
            [format!("blobs/{}/{expected}", &expected[..2])]
        );
        assert_eq!(
            store.list("staging").await.expect("list"),
            Vec::<String>::new()
        );
        let whole = store
            .get(&expected, None)
            .await
            .expect("get")
            .expect("the blob");
        assert_eq!(whole.bytes().await.expect("bytes").as_ref(), &data[..]);
        let part = store
            .get(&expected, Some(100..1_000))
            .await
            .expect("get")
            .expect("the blob");
        assert_eq!(part.range, 100..1_000);
        assert_eq!(
            part.bytes().await.expect("bytes").as_ref(),
            &data[100..1_000]
        );
        assert!(store.get(&expected, None).await.expect("get").is_some());
        assert!(
            store
                .get(&"0".repeat(64), None)
                .await
                .expect("get")
                .is_none()
        );
    }

    #[tokio::test]
    async fn put_more_than_the_limit_or_a_broken_body_then_nothing_stored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = file_store(&dir);
        let data = vec![7u8; 300_000];
        let err = store
            .put_stream(chunks(&data, 10_000), 100_000)
            .await
            .expect_err("too large");
        assert!(
            matches!(err, PutError::TooLarge { limit: 100_000 }),
            "{err}"
        );
        let broken = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("the client went away")),
        ]);
        let err = store
            .put_stream(broken, u64::MAX)
            .await
            .expect_err("broken");
        assert!(
            matches!(&err, PutError::Body(m) if m.contains("went away")),
            "{err}"
        );
        assert_eq!(store.list("").await.expect("list"), Vec::<String>::new());
    }

    #[tokio::test]
    async fn open_then_bad_urls_refused_with_a_reason() {
        for (url, says) in [
            ("file://relative/dir", "absolute"),
            ("s3://", "no bucket"),
            ("ftp://host/dir", "neither"),
        ] {
            let err = ArtifactStore::open(url).expect_err(url);
            assert!(err.contains(says), "{url}: {err}");
        }
    }
}
