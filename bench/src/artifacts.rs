//! Scenario 6, artifacts: bytes through the API against the artifact store's own client path
//! (`object_store`, the same local file system, no HTTP and no database), in one run:
//! - a 200 MB file (`--quick`: 20 MB) uploaded (`POST /api/v1/executions/{id}/artifacts`,
//!   streamed from disk) against a multipart put of the same file with the same part size,
//!   into a store configured as the server's (written through to the disk);
//! - the same bytes downloaded (`GET /api/v1/artifacts/{id}`) against a get of the object,
//!   each read to the end; both in 6 rounds of alternating order, the ratios' geometric mean
//!   reported; the upload also
//!   against the put followed by the file's SHA-256 (what a content-addressed store needs);
//! - the server's peak heap growth during each (the client's own allocations apart);
//! - 1,000 screenshot-sized uploads (200 KB, all different) from 8 clients into one run, as a
//!   CI job's parallel workers: uploads per second and latency, against 8 writers putting the
//!   same objects into the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::load::{Measured, Step, closed_loop};
use crate::report::Row;
use crate::{Ctx, alloc_probe, progress};

/// Bytes of the large artifact (`--quick`: a tenth).
const LARGE: usize = 200 * 1000 * 1000;

/// Bytes of a screenshot.
const SCREENSHOT: usize = 200 * 1000;

/// Screenshots uploaded (`--quick`: a tenth).
const SCREENSHOTS: usize = 1_000;

/// Clients uploading screenshots at once.
const CLIENTS: usize = 8;

/// Part size of the store's own multipart put: the server's.
const PART: usize = 8 * 1024 * 1024;

/// Bytes that do not compress, different for each `seed`.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// The store's own path: a multipart put of the file, `PART` bytes a part, 2 in flight.
async fn store_put(
    store: &dyn ObjectStore,
    location: &Path,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    let upload = store.put_multipart(location).await?;
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART);
    let mut f = tokio::fs::File::open(file).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        writer.wait_for_capacity(2).await?;
        writer.write(&buf[..n]);
    }
    writer.finish().await?;
    Ok(())
}

/// The store's own path: the object read to the end; its length.
async fn store_get(store: &dyn ObjectStore, location: &Path) -> anyhow::Result<u64> {
    let mut stream = store.get(location).await?.into_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        n += chunk?.len() as u64;
    }
    Ok(n)
}

/// Rounds of the large file (`--quick`: one): even, so that each side is measured first as
/// often as second.
const ROUNDS: usize = 6;

/// What one round of the large file measured: rates in MB/s, peaks in bytes.
#[derive(Debug, Clone, Copy)]
struct LargeRound {
    put: f64,
    /// The put and the file's SHA-256 one after the other: what content addressing asks of
    /// any writer.
    put_and_hash: f64,
    upload: f64,
    get: f64,
    download: f64,
    upload_peak: Option<i64>,
    download_peak: Option<i64>,
}

/// A file of `n` bytes of noise.
fn write_noise(file: &std::path::Path, n: usize, seed: u64) -> anyhow::Result<()> {
    let mut out = std::fs::File::create(file)?;
    let mut written = 0usize;
    let mut seed = seed;
    while written < n {
        let chunk = noise(PART.min(n - written), seed);
        std::io::Write::write_all(&mut out, &chunk)?;
        written += chunk.len();
        seed += 1;
    }
    // on the disk before the round: its write-back is not measured on either side
    out.sync_all()?;
    Ok(())
}

/// One round of the large file: the store's put and the API's upload, then the store's get and
/// the API's download, each pair in one order in even rounds and the other in odd ones (what
/// the machine does meanwhile, such as writing back earlier rounds, falls on both sides).
async fn large_round(
    ctx: &Ctx<'_>,
    store: &dyn ObjectStore,
    file: &std::path::Path,
    execution: Uuid,
    round: usize,
) -> anyhow::Result<LargeRound> {
    let large = std::fs::metadata(file)?.len() as usize;
    let location = Path::from(format!("large-{round}"));
    let store_first = round.is_multiple_of(2);
    let ((put, put_and_hash), (upload, upload_peak, artifact)) = if store_first {
        let put = store_put_timed(store, &location, file, large).await?;
        (put, api_upload(ctx, file, execution, round, large).await?)
    } else {
        let up = api_upload(ctx, file, execution, round, large).await?;
        (store_put_timed(store, &location, file, large).await?, up)
    };
    let (get, (download, download_peak)) = if store_first {
        let get = store_get_timed(store, &location, large).await?;
        (get, api_download(ctx, &artifact, large).await?)
    } else {
        let down = api_download(ctx, &artifact, large).await?;
        (store_get_timed(store, &location, large).await?, down)
    };
    store.delete(&location).await?;
    Ok(LargeRound {
        put,
        put_and_hash,
        upload,
        get,
        download,
        upload_peak,
        download_peak,
    })
}

/// The store's put of the file, and the same followed by the file's SHA-256: MB/s of each.
async fn store_put_timed(
    store: &dyn ObjectStore,
    location: &Path,
    file: &std::path::Path,
    large: usize,
) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    store_put(store, location, file).await?;
    let put_took = started.elapsed();
    let started = Instant::now();
    hash_file(file).await?;
    Ok((
        mb_per_s(large, put_took),
        mb_per_s(large, put_took + started.elapsed()),
    ))
}

/// The store's get of the object read to the end: MB/s.
async fn store_get_timed(
    store: &dyn ObjectStore,
    location: &Path,
    large: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let got = store_get(store, location).await?;
    anyhow::ensure!(got == large as u64, "the store gave {got} bytes");
    Ok(mb_per_s(large, started.elapsed()))
}

/// The file uploaded through the API: MB/s, the server's peak heap growth, the artifact's id.
async fn api_upload(
    ctx: &Ctx<'_>,
    file: &std::path::Path,
    execution: Uuid,
    round: usize,
    large: usize,
) -> anyhow::Result<(f64, Option<i64>, String)> {
    let url = ctx.servers.api_url(&format!(
        "/api/v1/executions/{execution}/artifacts?name=video-{round}.webm&type=video"
    ));
    let (client, token) = (ctx.servers.client.clone(), ctx.env.token.clone());
    let file = file.to_path_buf();
    let upload = alloc_probe::client(async move {
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            tokio::fs::File::open(&file).await?,
            1 << 20,
        ));
        let res = client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "video/webm")
            .timeout(Duration::from_secs(1800))
            .body(body)
            .send()
            .await?;
        let status = res.status();
        let answer: serde_json::Value = res.json().await?;
        anyhow::ensure!(status.is_success(), "upload answered {status}: {answer}");
        Ok::<_, anyhow::Error>(answer)
    });
    let started = Instant::now();
    let (answer, peak) = alloc_probe::peak_server_heap(upload).await;
    let rate = mb_per_s(large, started.elapsed());
    let artifact = answer?["id"]
        .as_str()
        .context("the artifact's id")?
        .to_owned();
    Ok((rate, peak, artifact))
}

/// The artifact downloaded through the API and read to the end: MB/s, the server's peak heap
/// growth.
async fn api_download(
    ctx: &Ctx<'_>,
    artifact: &str,
    large: usize,
) -> anyhow::Result<(f64, Option<i64>)> {
    let url = ctx
        .servers
        .api_url(&format!("/api/v1/artifacts/{artifact}"));
    let (client, token) = (ctx.servers.client.clone(), ctx.env.token.clone());
    let download = alloc_probe::client(async move {
        let res = client
            .get(url)
            .bearer_auth(token)
            .timeout(Duration::from_secs(1800))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "download answered {}",
            res.status()
        );
        let mut stream = res.bytes_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            n += chunk?.len() as u64;
        }
        Ok::<_, anyhow::Error>(n)
    });
    let started = Instant::now();
    let (got, peak) = alloc_probe::peak_server_heap(download).await;
    let rate = mb_per_s(large, started.elapsed());
    anyhow::ensure!(got? == large as u64, "the download was short");
    Ok((rate, peak))
}

/// SHA-256 of a file, read as the store's put reads it.
async fn hash_file(file: &std::path::Path) -> anyhow::Result<()> {
    use sha2::Digest;
    let mut f = tokio::fs::File::open(file).await?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    std::hint::black_box(hasher.finalize());
    Ok(())
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64().max(1e-9)
}

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    progress::say(opts, "scenario 6: artifacts");
    let quick = opts.size == crate::Size::Quick;
    let large = if quick { LARGE / 10 } else { LARGE };
    let screenshots = if quick { SCREENSHOTS / 10 } else { SCREENSHOTS };
    let execution: Uuid = sqlx::query_scalar("SELECT id FROM test_executions ORDER BY id LIMIT 1")
        .fetch_one(&ctx.env.pg)
        .await
        .context("an execution to attach to")?;
    let scratch = tempfile::tempdir().context("a scratch directory")?;
    let baseline_dir = scratch.path().join("store");
    std::fs::create_dir_all(&baseline_dir)?;
    // the store as the server's file store is configured: written through to the disk
    let store: Arc<dyn ObjectStore> = Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(&baseline_dir)?.with_fsync(true),
    );

    // the large file, in rounds, each side by side in alternating order (the side measured
    // second in a round runs up to twice slower here, whichever it is); each rate's geometric
    // mean over the rounds is reported, so each ratio is the geometric mean of the rounds'
    let rounds = if quick { 1 } else { ROUNDS };
    let mut measured = Vec::new();
    for round in 0..rounds {
        let file = scratch.path().join(format!("video-{round}.webm"));
        write_noise(&file, large, 1 + round as u64 * 1_000)?;
        measured.push(large_round(ctx, store.as_ref(), &file, execution, round).await?);
        std::fs::remove_file(&file)?;
    }
    let mean = |rate: fn(&LargeRound) -> f64| {
        (measured.iter().map(|r| rate(r).ln()).sum::<f64>() / measured.len() as f64).exp()
    };
    let all = |ratio: fn(&LargeRound) -> f64| {
        measured
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let first = if i.is_multiple_of(2) { "store" } else { "API" };
                format!("{:.2}× ({first} first)", ratio(r))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mb = large / 1_000_000;
    let (upload, put, put_and_hash) = (
        mean(|r| r.upload),
        mean(|r| r.put),
        mean(|r| r.put_and_hash),
    );
    let (download, get) = (mean(|r| r.download), mean(|r| r.get));
    let upload_ratio = upload / put;
    let download_ratio = download / get;
    report.row(Row::against(
        "artifacts",
        &format!("upload of a {mb} MB artifact (streamed, SHA-256, stored, recorded)"),
        "MB/s",
        upload,
        ("the store's own multipart put of the file", put),
        &format!(
            "geometric mean of {rounds} rounds: {}",
            all(|r| r.upload / r.put)
        ),
    ));
    report.row(Row::against(
        "artifacts",
        "the same upload, against the put and the file's SHA-256",
        "MB/s",
        upload,
        (
            "the store's put, then SHA-256 of the file (one after the other)",
            put_and_hash,
        ),
        &format!(
            "geometric mean of {rounds} rounds: {}; the digest content addressing needs, on \
             a core the client also uses",
            all(|r| r.upload / r.put_and_hash)
        ),
    ));
    report.row(Row::against(
        "artifacts",
        &format!("download of the {mb} MB artifact (token, streamed)"),
        "MB/s",
        download,
        ("the store's own get of the object", get),
        &format!(
            "geometric mean of {rounds} rounds: {}",
            all(|r| r.download / r.get)
        ),
    ));
    report.target(
        "artifact upload throughput",
        "≥ 0.7× the store's own put",
        format!("{upload_ratio:.2}×"),
        Some(upload_ratio >= 0.7),
        "",
    );
    report.target(
        "artifact download throughput",
        "≥ 0.7× the store's own get",
        format!("{download_ratio:.2}×"),
        Some(download_ratio >= 0.7),
        "",
    );
    let peak = |f: fn(&LargeRound) -> Option<i64>| measured.iter().filter_map(f).max();
    for (what, peak) in [
        ("upload", peak(|r| r.upload_peak)),
        ("download", peak(|r| r.download_peak)),
    ] {
        if let Some(peak) = peak {
            let mib = peak as f64 / (1024.0 * 1024.0);
            report.row(Row::value(
                "artifacts",
                &format!("server peak heap growth, {what} of {mb} MB"),
                "MiB",
                mib,
                "the largest of the rounds; live heap of the process less the client's \
                 allocations, sampled every 2 ms",
            ));
            report.target(
                &format!("artifact {what} memory"),
                "≤ 32 MB server growth",
                format!("{mib:.1} MiB"),
                Some(mib <= 32.0),
                "",
            );
        }
    }

    // screenshots from 8 clients: the store's own puts, then through the API
    let next = Arc::new(AtomicUsize::new(0));
    let direct = {
        let (store, next) = (store.clone(), next.clone());
        closed_loop(
            CLIENTS,
            Duration::from_secs(600),
            Duration::ZERO,
            move |_, _| {
                let (store, next) = (store.clone(), next.clone());
                async move {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= screenshots {
                        return Ok(Step::Exhausted);
                    }
                    let bytes = noise(SCREENSHOT, 1_000_000 + i as u64);
                    store
                        .put(&Path::from(format!("shots/{i}.png")), bytes.into())
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(Step::Done(1))
                }
            },
        )
        .await
    };
    next.store(0, Ordering::Relaxed);
    let url = Arc::new(ctx.servers.api_url(&format!(
        "/api/v1/executions/{execution}/artifacts?type=screenshot&name="
    )));
    let (client, token) = (ctx.servers.client.clone(), Arc::new(ctx.env.token.clone()));
    let through_api: Measured = closed_loop(
        CLIENTS,
        Duration::from_secs(600),
        Duration::ZERO,
        move |_, _| {
            let (client, token, url, next) =
                (client.clone(), token.clone(), url.clone(), next.clone());
            alloc_probe::client(async move {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= screenshots {
                    return Ok(Step::Exhausted);
                }
                let bytes = noise(SCREENSHOT, 2_000_000 + i as u64);
                let res = client
                    .post(format!("{url}shot-{i}.png"))
                    .bearer_auth(token.as_str())
                    .header("content-type", "image/png")
                    .body(bytes)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !res.status().is_success() {
                    return Err(format!(
                        "{}: {}",
                        res.status(),
                        res.text().await.unwrap_or_default()
                    ));
                }
                Ok(Step::Done(1))
            })
        },
    )
    .await;
    report.row(Row::compared(
        "artifacts",
        &format!("{screenshots} screenshot uploads of 200 KB, {CLIENTS} clients, one run"),
        "uploads/s",
        &through_api,
        Some(("the store's own puts, 8 writers", &direct)),
    ));
    Ok(())
}
