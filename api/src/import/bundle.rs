//! Import bundles: a `.zip` or `.tar.gz` holding a report and the files it refers to (CTRF
//! `attachments[].path`, JUnit `[[ATTACHMENT|path]]`), as CI jobs archive a test output
//! directory.
//!
//! A bundle is unpacked into a temporary directory of its own before anything is written,
//! and refused whole (nothing written) when an entry would land outside it (an absolute path,
//! a `..` component: "zip slip"), is anything but a file or a directory (a symlink, a hard
//! link, a device), appears twice, or when its entries or their unpacked bytes exceed the
//! bounds (a "zip bomb" stops at the first byte past them: sizes are counted as written,
//! never taken from the archive's headers). Nested archives are files like any other.
//!
//! The report is the entry the `report` parameter names, else the one `.xml` or `.json` file
//! nearest the root.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::Refusal;

/// Most entries (files and directories) of a bundle.
pub const MAX_ENTRIES: usize = 10_000;

/// Longest entry path.
const MAX_PATH: usize = 1_000;

/// Longest name of one directory or file in an entry's path (the file systems' bound).
const MAX_NAME: usize = 255;

/// The kinds of bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    Zip,
    TarGz,
}

/// What a file is, from its first bytes: a zip, a gzip-compressed tar, or (`None`) neither
/// (a report, compressed or not).
pub fn kind_of(file: &mut File) -> std::io::Result<Option<BundleKind>> {
    file.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 4];
    let n = super::read_up_to(file, &mut magic)?;
    let kind = if n == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06") {
        Some(BundleKind::Zip)
    } else if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        // a gzip: a tar inside says so at offset 257 of its first block
        file.seek(SeekFrom::Start(0))?;
        let mut head = [0u8; 512];
        let mut gz = flate2::read::GzDecoder::new(BufReader::new(&mut *file));
        let got = super::read_up_to(&mut gz, &mut head).unwrap_or(0);
        (got == 512 && &head[257..262] == b"ustar").then_some(BundleKind::TarGz)
    } else {
        None
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(kind)
}

/// Whether a gzip-compressed file holds a zip (which cannot be read as a stream).
pub fn gzipped_zip(file: &mut File) -> std::io::Result<bool> {
    file.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 4];
    let got = {
        let mut gz = flate2::read::GzDecoder::new(BufReader::new(&mut *file));
        super::read_up_to(&mut gz, &mut magic).unwrap_or(0)
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(got == 4 && magic == *b"PK\x03\x04")
}

/// An unpacked bundle: its files in a temporary directory (removed when dropped).
#[derive(Debug)]
pub struct Bundle {
    dir: tempfile::TempDir,
    /// The report's path in the bundle.
    pub report: String,
    files: BTreeSet<String>,
}

fn unsafe_bundle(message: String) -> Refusal {
    Refusal::new(400, "UNSAFE_BUNDLE", message)
}

/// The entry path `name` as a relative path inside the bundle (`None` for the bundle's root
/// itself), or why it is refused.
fn inside(name: &str) -> Result<Option<String>, Refusal> {
    if name.len() > MAX_PATH || name.contains('\0') {
        return Err(unsafe_bundle(format!(
            "the bundle's entry '{}' has a path longer than {MAX_PATH} bytes or a NUL",
            name.chars().take(80).collect::<String>()
        )));
    }
    let name = name.replace('\\', "/");
    let bytes = name.as_bytes();
    if name.starts_with('/') || (bytes.len() >= 2 && bytes[1] == b':') {
        return Err(unsafe_bundle(format!(
            "the bundle's entry '{name}' has an absolute path: entries must be relative"
        )));
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(unsafe_bundle(format!(
                    "the bundle's entry '{name}' leaves the bundle (a '..' in its path)"
                )));
            }
            p if p.len() > MAX_NAME => {
                return Err(unsafe_bundle(format!(
                    "the bundle's entry '{}' has a name longer than {MAX_NAME} bytes",
                    name.chars().take(80).collect::<String>()
                )));
            }
            p => parts.push(p),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Bounds of one unpacking.
#[derive(Debug, Clone, Copy)]
pub struct BundleLimits {
    /// Most bytes unpacked, all entries together.
    pub max_bytes: u64,
    pub max_entries: usize,
}

/// Writes the entries of a bundle, counting them and their bytes against the bounds.
struct Unpacker {
    dir: tempfile::TempDir,
    files: BTreeSet<String>,
    entries: usize,
    written: u64,
    limits: BundleLimits,
}

impl Unpacker {
    fn entry(&mut self) -> Result<(), Refusal> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Refusal::new(
                413,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the bundle has more than {} entries",
                    self.limits.max_entries
                ),
            ));
        }
        Ok(())
    }

    fn directory(&mut self, name: &str) -> Result<(), Refusal> {
        self.entry()?;
        if let Some(path) = inside(name)? {
            std::fs::create_dir_all(self.dir.path().join(&path)).map_err(|e| clash(&path, e))?;
        }
        Ok(())
    }

    fn file(&mut self, name: &str, content: &mut dyn Read) -> Result<(), Refusal> {
        self.entry()?;
        let Some(path) = inside(name)? else {
            return Err(unsafe_bundle(format!(
                "the bundle's entry '{name}' is a file without a name"
            )));
        };
        if !self.files.insert(path.clone()) {
            return Err(unsafe_bundle(format!("the bundle holds '{path}' twice")));
        }
        let target = self.dir.path().join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| clash(&path, e))?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| {
                // a directory entry of the same name came first
                unsafe_bundle(format!(
                    "the bundle's entry '{path}' cannot be written: {e}"
                ))
            })?;
        let left = self.limits.max_bytes.saturating_sub(self.written);
        let copied =
            std::io::copy(&mut content.take(left.saturating_add(1)), &mut out).map_err(|e| {
                Refusal::new(
                    400,
                    "BAD_REQUEST",
                    format!("the bundle's entry '{path}' cannot be read: {e}"),
                )
            })?;
        if copied > left {
            return Err(Refusal::new(
                413,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the bundle unpacks to more than {} bytes (at '{path}')",
                    self.limits.max_bytes
                ),
            ));
        }
        self.written += copied;
        out.flush().map_err(io_refusal)?;
        Ok(())
    }
}

/// An entry that cannot be written where its path says, because another entry is there (a
/// file where a directory must be, or the reverse).
fn clash(path: &str, e: std::io::Error) -> Refusal {
    unsafe_bundle(format!(
        "the bundle's entry '{path}' cannot be written ({e}): a file and a directory of the \
         same name"
    ))
}

fn io_refusal(e: std::io::Error) -> Refusal {
    tracing::error!(error = %e, "unpacking a bundle failed");
    Refusal::new(500, "INTERNAL_SERVER_ERROR", "internal server error")
}

/// A reader that fails past `left` bytes.
struct BoundedRead<R> {
    inner: R,
    left: u64,
}

/// The error of a [`BoundedRead`] past its bound.
const PAST_BOUND: &str = "the bundle unpacks to more than its bound";

impl<R: Read> Read for BoundedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| std::io::Error::other(PAST_BOUND))?;
        Ok(n)
    }
}

/// A tar's read error: past the bound (413), or not a tar.
fn tar_error(e: std::io::Error, limits: BundleLimits) -> Refusal {
    if e.to_string().contains(PAST_BOUND) {
        Refusal::new(
            413,
            "PAYLOAD_TOO_LARGE",
            format!("the bundle unpacks to more than {} bytes", limits.max_bytes),
        )
    } else {
        not_a_bundle("tar.gz", e)
    }
}

fn not_a_bundle(kind: &str, e: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        400,
        "BAD_REQUEST",
        format!("the body looks like a {kind} but cannot be read as one: {e}"),
    )
}

/// The number of entries a zip's end of central directory records (its zip64 record's when
/// it has one); `None` when there is no such record (the zip crate then refuses the file).
fn zip_entries(file: &mut File) -> std::io::Result<Option<u64>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    const ZIP64_LOCATOR: &[u8] = b"PK\x06\x07";
    const ZIP64_EOCD: &[u8] = b"PK\x06\x06";
    let len = file.seek(SeekFrom::End(0))?;
    // the record is 22 bytes and a comment of at most 65,535
    let tail_len = len.min(22 + 65_535);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let Some(at) = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| &tail[i..i + 4] == EOCD)
    else {
        return Ok(None);
    };
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([tail[i], tail[i + 1]]));
    let entries = u16_at(at + 10);
    let mut count = Some(entries);
    if entries == 0xFFFF && at >= 20 && &tail[at - 20..at - 16] == ZIP64_LOCATOR {
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&tail[at - 12..at - 4]);
        let offset = u64::from_le_bytes(offset);
        let mut record = [0u8; 40];
        if offset.saturating_add(40) <= len {
            file.seek(SeekFrom::Start(offset))?;
            file.read_exact(&mut record)?;
            if &record[..4] == ZIP64_EOCD {
                let mut n = [0u8; 8];
                n.copy_from_slice(&record[32..40]);
                count = Some(u64::from_le_bytes(n));
            }
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(count)
}

/// Unpacks a bundle (blocking: run it off the async threads) and finds its report.
pub fn unpack(
    file: File,
    kind: BundleKind,
    report: Option<&str>,
    limits: BundleLimits,
) -> Result<Bundle, Refusal> {
    let mut unpacker = Unpacker {
        dir: tempfile::tempdir().map_err(io_refusal)?,
        files: BTreeSet::new(),
        entries: 0,
        written: 0,
        limits,
    };
    match kind {
        BundleKind::Zip => {
            let mut file = file;
            // the central directory is read whole when the archive is opened: its count first
            if let Some(entries) = zip_entries(&mut file).map_err(io_refusal)?
                && entries > limits.max_entries as u64
            {
                return Err(Refusal::new(
                    413,
                    "PAYLOAD_TOO_LARGE",
                    format!("the bundle has more than {} entries", limits.max_entries),
                ));
            }
            let mut zip =
                zip::ZipArchive::new(BufReader::new(file)).map_err(|e| not_a_bundle("zip", e))?;
            if zip.len() > limits.max_entries {
                return Err(Refusal::new(
                    413,
                    "PAYLOAD_TOO_LARGE",
                    format!("the bundle has more than {} entries", limits.max_entries),
                ));
            }
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).map_err(|e| not_a_bundle("zip", e))?;
                let name = entry
                    .name()
                    .map_err(|e| not_a_bundle("zip", e))?
                    .into_owned();
                if entry.is_symlink() {
                    return Err(unsafe_bundle(format!(
                        "the bundle's entry '{name}' is a symbolic link: only files are taken"
                    )));
                }
                if entry.is_dir() {
                    unpacker.directory(&name)?;
                } else {
                    unpacker.file(&name, &mut entry)?;
                }
            }
        }
        BundleKind::TarGz => {
            // everything decompressed counts, headers and extended headers too (the tar crate
            // reads a long name whole: a bound on the files alone would not bound it)
            let bound = limits
                .max_bytes
                .saturating_add(1024 * limits.max_entries as u64);
            let inflated = BoundedRead {
                inner: flate2::read::GzDecoder::new(BufReader::new(file)),
                left: bound,
            };
            let mut tar = tar::Archive::new(inflated);
            for entry in tar.entries().map_err(|e| tar_error(e, limits))? {
                let mut entry = entry.map_err(|e| tar_error(e, limits))?;
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let kind = entry.header().entry_type();
                if !matches!(
                    kind,
                    tar::EntryType::Regular
                        | tar::EntryType::Continuous
                        | tar::EntryType::Directory
                ) {
                    // the others are counted here; files and directories where they are written
                    unpacker.entry()?;
                }
                match kind {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        unpacker.file(&name, &mut entry)?
                    }
                    tar::EntryType::Directory => unpacker.directory(&name)?,
                    // the extended headers of the next entry (read by the tar crate itself)
                    tar::EntryType::XHeader
                    | tar::EntryType::XGlobalHeader
                    | tar::EntryType::GNULongName
                    | tar::EntryType::GNULongLink => {}
                    other => {
                        return Err(unsafe_bundle(format!(
                            "the bundle's entry '{name}' is a {}: only files and directories \
                             are taken",
                            match other {
                                tar::EntryType::Symlink => "symbolic link".to_owned(),
                                tar::EntryType::Link => "hard link".to_owned(),
                                other => format!("{other:?}").to_lowercase(),
                            }
                        )));
                    }
                }
            }
        }
    }
    let report = match report {
        Some(wanted) => {
            let wanted = inside(wanted)?.unwrap_or_default();
            if !unpacker.files.contains(&wanted) {
                return Err(Refusal::new(
                    400,
                    "BAD_REQUEST",
                    format!("the bundle holds no file '{wanted}' (the report parameter)"),
                ));
            }
            wanted
        }
        None => {
            let reports: Vec<&String> = unpacker
                .files
                .iter()
                .filter(|f| {
                    let lower = f.to_ascii_lowercase();
                    (lower.ends_with(".xml") || lower.ends_with(".json"))
                        && !lower.starts_with("__macosx/")
                })
                .collect();
            let depth = |f: &str| f.matches('/').count();
            let nearest = reports.iter().map(|f| depth(f)).min();
            let nearest: Vec<&&String> = reports
                .iter()
                .filter(|f| Some(depth(f)) == nearest)
                .collect();
            match nearest.as_slice() {
                [one] => (**one).clone(),
                [] => {
                    return Err(Refusal::new(
                        400,
                        "BAD_REQUEST",
                        "the bundle holds no report (an .xml or .json file)",
                    ));
                }
                several => {
                    let names: Vec<&str> = several.iter().take(10).map(|f| f.as_str()).collect();
                    return Err(Refusal::new(
                        400,
                        "BAD_REQUEST",
                        format!(
                            "the bundle holds several reports ({}): name the one to import \
                             with the report parameter",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    Ok(Bundle {
        dir: unpacker.dir,
        report,
        files: unpacker.files,
    })
}

impl Bundle {
    /// The report's file.
    pub fn report_file(&self) -> std::io::Result<File> {
        File::open(self.dir.path().join(&self.report))
    }

    /// The file of the bundle a report's attachment path names: relative to the report's
    /// directory, else to the bundle's root; an absolute path (the CI machine's) by its
    /// longest tail that is a file of the bundle.
    pub fn resolve(&self, attachment: &str) -> Option<PathBuf> {
        let normal = attachment.replace('\\', "/");
        let parts: Vec<&str> = normal
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.is_empty() || parts.contains(&"..") {
            return None;
        }
        let relative =
            !normal.starts_with('/') && normal.as_bytes().get(1).is_none_or(|b| *b != b':');
        let mut candidates = Vec::new();
        if relative {
            let joined = parts.join("/");
            if let Some((dir, _)) = self.report.rsplit_once('/') {
                candidates.push(format!("{dir}/{joined}"));
            }
            candidates.push(joined);
        }
        for start in 0..parts.len() {
            candidates.push(parts[start..].join("/"));
        }
        candidates
            .into_iter()
            .find(|c| self.files.contains(c))
            .map(|c| self.dir.path().join(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_then_relative_paths_only() {
        assert_eq!(inside("a/b.png").ok().flatten().as_deref(), Some("a/b.png"));
        assert_eq!(
            inside("./a//b.png").ok().flatten().as_deref(),
            Some("a/b.png")
        );
        assert_eq!(
            inside("a\\b.png").ok().flatten().as_deref(),
            Some("a/b.png")
        );
        assert_eq!(inside("./").ok().flatten(), None);
        for bad in ["/etc/passwd", "../x", "a/../../x", "C:\\x", "c:/x", "a\0b"] {
            let r = inside(bad).expect_err(bad);
            assert_eq!(r.code, "UNSAFE_BUNDLE", "{bad}");
        }
    }
}
