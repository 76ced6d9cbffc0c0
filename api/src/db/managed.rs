//! The embedded default database: a private PostgreSQL cluster that the service creates, starts
//! and stops by itself, from the PostgreSQL server binaries installed on the machine.
//!
//! Layout of a data directory:
//! ```text
//! <data-dir>/
//!   jbtestsuite.lock   held (flock) by the process that runs the cluster
//!   jbtestsuite.owner  who holds the lock: pid, serve or command, the address once serving
//!   pgdata/            the cluster (initdb)
//!   run/               the unix socket; no TCP port is taken
//!   postgresql.log     the server's log
//! ```
//! The data directory (and a cluster directory kept elsewhere, below) is `0700` and the files
//! the service writes into it `0600`, from their creation on, and made so again at every start
//! for a directory an older version left open: the log records failed statements with their
//! values, so only the service's users (the one it runs as, and the cluster's) may read it.
//!
//! PostgreSQL refuses to run as root. Started as root, the cluster runs as an unprivileged
//! system user (`postgres`, created if missing) that owns `pgdata/` and `run/`. When that user
//! cannot reach the data directory (it sits under a private home such as `/root`), the cluster
//! files live under [`ROOT_FALLBACK_BASE`] instead and `<data-dir>/cluster` links to them.
//!
//! The postmaster is a child of a dedicated thread and carries a parent-death signal, so a
//! killed service never leaves it running; a cluster that is found running anyway (an older
//! process, a crash of the machine's init) is stopped and started afresh.
//!
//! One process runs a data directory's cluster at a time: the one holding the lock, which
//! starts the cluster after taking it and stops it before letting it go. Who that is decides
//! what another process does ([`ManagedCluster::start`] for a server,
//! [`ManagedCluster::start_or_attach`] for a command):
//! - nobody: it takes the lock and runs the cluster itself (a command stops it when done);
//! - a server: a second server is refused, saying which process serves; a command waits until
//!   the server serves (its start applied the migrations) and then connects through the
//!   server's socket, neither starting nor stopping the cluster;
//! - a command: a server or a command waits until that command is done and has stopped the
//!   cluster, then takes the lock (a command's cluster ends with it, so nothing may lean on it).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User, chown};

/// The database the service keeps its data in, inside the managed cluster.
pub const APP_DATABASE: &str = "jbtestsuite";

/// The superuser initdb creates; the service connects as it over the private socket.
pub const SUPERUSER: &str = "postgres";

/// Environment variable naming the one directory to take PostgreSQL binaries from, instead of
/// searching PATH and /usr/lib/postgresql/*/bin (for installations elsewhere).
pub const BIN_DIR_ENV: &str = "JBTS_PG_BIN_DIR";

/// Oldest PostgreSQL major version the schema supports (`NULLS NOT DISTINCT` needs 15).
pub const MIN_PG_MAJOR: u32 = 15;

/// The unprivileged system user the cluster runs as when the service is started as root.
pub const CLUSTER_OS_USER: &str = "postgres";

/// Where cluster files go when started as root and the data directory is unreachable by
/// [`CLUSTER_OS_USER`]: a system location that user can always reach.
pub const ROOT_FALLBACK_BASE: &str = "/var/lib/jbtestsuite/clusters";

/// How long to wait for the postmaster to accept connections after start. Crash recovery of a
/// large cluster after an unclean stop can take a while; a healthy start takes under a second.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a fast shutdown (SIGINT) may take before the postmaster is told to quit at once.
/// Fast shutdown writes a checkpoint, which is bounded by the dirty buffers.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Interval between readiness probes while waiting for the postmaster.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// How long a held lock may go without a note of who holds it before the holder counts as
/// unknown (an older version, which wrote none): the holder writes it right after locking.
const HOLDER_NOTE_WAIT: Duration = Duration::from_secs(5);

/// How long a process waits for another's hold on the data directory to end (a command's
/// whole run, or a server's start with its migrations) before giving up: as long as one
/// maintenance statement may run.
const HOLDER_WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Longest part of a holder's command line quoted in messages.
const MAX_QUOTED_COMMAND_LINE: usize = 200;

/// Port number used only to name the socket file (`.s.PGSQL.<port>`); nothing listens on TCP.
const SOCKET_PORT: u16 = 5432;

/// Linux limits a unix socket path to 107 bytes.
const MAX_SOCKET_PATH: usize = 107;

/// Mode of the data directory and of every directory of the cluster: only the owner (the
/// cluster's user; root, who manages it, passes anyway) may list or enter it.
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Mode of the files the service writes into the data directory (the log, the lock): the log
/// holds statements with their values.
const PRIVATE_FILE_MODE: u32 = 0o600;

/// Errors of the managed cluster, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server binaries (initdb, postgres) of version {MIN_PG_MAJOR} or newer were \
         found on PATH, under /usr/lib/postgresql/*/bin or in ${BIN_DIR_ENV}.\n  Install them (Debian/Ubuntu: \
         `apt-get install postgresql`) or point the service at an existing server with \
         DATABASE_URL=postgres://user:password@host/dbname"
    )]
    BinariesNotFound,
    #[error(
        "the data directory {} is in use by {holder}.\n  Stop that server first, give this one \
         another --data-dir, or point this one at the running server's database: \
         DATABASE_URL='{url}'",
        data_dir.display()
    )]
    InUse {
        data_dir: PathBuf,
        /// Who holds it ([`Holder::describe`]).
        holder: String,
        /// The URL of the running cluster's application database.
        url: String,
    },
    #[error(
        "the data directory {} is still held by {holder} after {waited:?}: let it finish or stop \
         it, then try again",
        data_dir.display()
    )]
    Busy {
        data_dir: PathBuf,
        holder: String,
        waited: Duration,
    },
    #[error(
        "the unix socket path {0} is longer than {MAX_SOCKET_PATH} bytes; choose a shorter --data-dir"
    )]
    SocketPathTooLong(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Command(String),
    #[error(
        "PostgreSQL did not become ready within {timeout:?}; its log ({log}) ends with:\n{tail}"
    )]
    StartTimeout {
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("PostgreSQL exited during start-up ({status}); its log ({log}) ends with:\n{tail}")]
    StartFailed {
        status: String,
        log: PathBuf,
        tail: String,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// Tunables of a cluster: the service's defaults, or the tests' (faster, less durable).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `max_connections`: every app instance holds a pool plus a listener connection.
    pub max_connections: u32,
    /// Trade durability for speed (fsync off): only for throwaway test clusters.
    pub ephemeral: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            max_connections: 200,
            ephemeral: false,
        }
    }
}

/// What a process does with a data directory's cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serves: runs the cluster for as long as it serves; one server per data directory.
    Serve,
    /// A command (tokens, projects, migrations, maintenance...): uses a serving server's
    /// cluster through its socket, or runs the cluster for its own duration.
    Command,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Serve => "serve",
            Self::Command => "command",
        }
    }
}

/// The process holding a data directory, as its note (`jbtestsuite.owner`) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub role: Role,
    /// The address a server serves on, once it serves (its migrations applied).
    pub listen: Option<String>,
}

impl Holder {
    fn note(&self) -> String {
        let mut note = format!("pid={}\nrole={}\n", self.pid, self.role.as_str());
        if let Some(listen) = &self.listen {
            note.push_str(&format!("listen={listen}\n"));
        }
        note
    }

    fn parse(note: &str) -> Option<Self> {
        let mut pid = None;
        let mut role = None;
        let mut listen = None;
        for (key, value) in note.lines().filter_map(|l| l.split_once('=')) {
            match key {
                "pid" => pid = value.trim().parse().ok(),
                "role" if value == Role::Serve.as_str() => role = Some(Role::Serve),
                "role" if value == Role::Command.as_str() => role = Some(Role::Command),
                "listen" => listen = Some(value.to_owned()),
                _ => {}
            }
        }
        Some(Self {
            pid: pid?,
            role: role?,
            listen,
        })
    }

    /// Who this is, for a person: `a jbtestsuite server (pid 42: jbtestsuite --data-dir d),
    /// serving on http://127.0.0.1:8000`.
    pub fn describe(&self) -> String {
        let what = match self.role {
            Role::Serve => "a jbtestsuite server",
            Role::Command => "a jbtestsuite command",
        };
        let command_line = fs::read(format!("/proc/{}/cmdline", self.pid))
            .ok()
            .map(|raw| {
                let line = String::from_utf8_lossy(&raw).replace('\0', " ");
                let line = line.trim();
                match line.char_indices().nth(MAX_QUOTED_COMMAND_LINE) {
                    Some((cut, _)) => format!(": {}...", &line[..cut]),
                    None => format!(": {line}"),
                }
            })
            .unwrap_or_default();
        let serving = match (&self.role, &self.listen) {
            (Role::Serve, Some(listen)) => format!(", serving on http://{listen}"),
            (Role::Serve, None) => ", starting".to_owned(),
            (Role::Command, _) => String::new(),
        };
        format!("{what} (pid {}{command_line}){serving}", self.pid)
    }
}

/// What [`ManagedCluster::start_or_attach`] found: a cluster this process started (and stops),
/// or a server's, reached through its socket.
#[derive(Debug)]
pub enum Cluster {
    Started(ManagedCluster),
    Running(RunningCluster),
}

/// A cluster a serving server runs, used through its socket: this process neither started it
/// nor stops it.
#[derive(Debug, Clone)]
pub struct RunningCluster {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    holder: Holder,
}

impl RunningCluster {
    /// Connection URL for `database` over the server's socket.
    pub fn url(&self, database: &str) -> String {
        socket_url(&self.socket_dir, database)
    }

    /// The data directory the cluster belongs to.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server that runs the cluster.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }
}

/// The URL the service connects with over the socket in `socket_dir`.
fn socket_url(socket_dir: &Path, database: &str) -> String {
    format!(
        "postgres://{SUPERUSER}@localhost:{SOCKET_PORT}/{database}?host={}",
        super::url::encode_param(&socket_dir.to_string_lossy())
    )
}

/// The URL a person writes from the psql command line (user before an empty host, the socket
/// directory as `host`), as printed for `DATABASE_URL`: escaped for a URL and for the shell's
/// single quotes alike.
fn socket_database_url(socket_dir: &Path, database: &str) -> String {
    format!(
        "postgres://{SUPERUSER}@/{database}?host={}",
        super::url::encode_param(&socket_dir.to_string_lossy())
    )
}

/// The socket directory of `data_dir`'s cluster, without changing anything (see
/// [`cluster_location`], which made it).
fn socket_dir_of(data_dir: &Path) -> PathBuf {
    fs::read_link(data_dir.join("cluster"))
        .unwrap_or_else(|_| data_dir.to_path_buf())
        .join("run")
}

/// Located PostgreSQL server binaries.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub bin_dir: PathBuf,
    pub major: u32,
}

impl PgBinaries {
    /// Finds `initdb` and `postgres` of a supported version: first on PATH, then the newest
    /// under `/usr/lib/postgresql/*/bin`.
    pub fn locate() -> Result<Self, ClusterError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
            candidates.push(PathBuf::from(dir));
        } else if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        let search_system = std::env::var_os(BIN_DIR_ENV).is_none();
        if let Some(entries) = search_system
            .then(|| fs::read_dir("/usr/lib/postgresql").ok())
            .flatten()
        {
            let mut versioned: Vec<(u32, PathBuf)> = entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((major, e.path().join("bin")))
                })
                .collect();
            versioned.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
            candidates.extend(versioned.into_iter().map(|(_, p)| p));
        }
        for dir in candidates {
            if !(dir.join("initdb").is_file() && dir.join("postgres").is_file()) {
                continue;
            }
            // Follow symlinks (e.g. /usr/local/bin -> /usr/lib/postgresql/15/bin) so that the
            // sibling tools are those of the same installation.
            let Some(bin_dir) = fs::canonicalize(dir.join("postgres"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            else {
                continue;
            };
            if !bin_dir.join("initdb").is_file() {
                continue;
            }
            if let Some(major) = server_major_version(&bin_dir.join("postgres"))
                && major >= MIN_PG_MAJOR
            {
                return Ok(Self { bin_dir, major });
            }
        }
        Err(ClusterError::BinariesNotFound)
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// `postgres (PostgreSQL) 15.18 (Debian ...)` -> 15
fn server_major_version(postgres: &Path) -> Option<u32> {
    let out = Command::new(postgres).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    version.split('.').next()?.parse().ok()
}

/// The OS identity the cluster runs as.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: Uid,
    gid: Gid,
    /// Whether the current process must switch to this identity (it is root).
    switch: bool,
}

impl RunAs {
    fn resolve() -> Result<Self, ClusterError> {
        if !Uid::effective().is_root() {
            return Ok(Self {
                uid: Uid::effective(),
                gid: Gid::effective(),
                switch: false,
            });
        }
        let user = match User::from_name(CLUSTER_OS_USER).ok().flatten() {
            Some(user) => user,
            None => {
                tracing::info!(
                    user = CLUSTER_OS_USER,
                    "creating a system user for PostgreSQL"
                );
                let status = Command::new("useradd")
                    .args([
                        "--system",
                        "--user-group",
                        "--no-create-home",
                        "--shell",
                        "/usr/sbin/nologin",
                        CLUSTER_OS_USER,
                    ])
                    .status()
                    .map_err(io_err("running useradd"))?;
                if !status.success() {
                    return Err(ClusterError::Command(format!(
                        "useradd {CLUSTER_OS_USER} failed ({status}); create an unprivileged user \
                         named {CLUSTER_OS_USER} or run the service as a non-root user"
                    )));
                }
                User::from_name(CLUSTER_OS_USER)
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        ClusterError::Command(format!(
                            "user {CLUSTER_OS_USER} not found after useradd"
                        ))
                    })?
            }
        };
        Ok(Self {
            uid: user.uid,
            gid: user.gid,
            switch: true,
        })
    }

    fn apply(&self, cmd: &mut Command) {
        if self.switch {
            cmd.uid(self.uid.as_raw()).gid(self.gid.as_raw());
        }
    }

    /// Whether this identity can reach (traverse into) `dir`.
    fn can_reach(&self, dir: &Path) -> bool {
        if !self.switch {
            return true;
        }
        let mut cmd = Command::new("test");
        cmd.arg("-x").arg(dir).stdin(Stdio::null());
        self.apply(&mut cmd);
        cmd.status().is_ok_and(|s| s.success())
    }

    fn own(&self, path: &Path) -> Result<(), ClusterError> {
        if self.switch {
            chown(path, Some(self.uid), Some(self.gid)).map_err(|e| ClusterError::Io {
                context: format!("chown {}", path.display()),
                source: e.into(),
            })?;
        }
        Ok(())
    }
}

/// A running managed cluster. Dropping it without [`ManagedCluster::stop`] stops it too.
#[derive(Debug)]
pub struct ManagedCluster {
    data_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    pid: Pid,
    /// Receives the postmaster's exit status (behind a mutex so the handle is `Sync`).
    exited: Mutex<mpsc::Receiver<String>>,
    stopped: bool,
    /// The binaries it runs on, its OS identity and its settings: a standby made from it
    /// ([`ManagedCluster::start_standby`]) runs on the same.
    binaries: PgBinaries,
    run_as: RunAs,
    options: ClusterOptions,
    /// Held for the cluster's lifetime: one process runs a data directory's cluster. Dropped
    /// last, after the postmaster stopped.
    lock: DirLock,
}

/// What [`acquire`] got: the lock, or a serving server's cluster to use.
enum Acquired {
    Locked(DirLock),
    Running(RunningCluster),
}

impl ManagedCluster {
    /// As a server: creates the cluster in `data_dir` if it does not exist yet, recovers one
    /// left running by a killed process, and starts it. Refuses a data directory another
    /// server runs; waits for a command running it to be done.
    #[tracing::instrument(skip(options))]
    pub fn start(data_dir: &Path, options: &ClusterOptions) -> Result<Self, ClusterError> {
        let (binaries, run_as, data_dir) = prepare(data_dir)?;
        match acquire(&data_dir, Role::Serve)? {
            Acquired::Locked(lock) => {
                Self::start_locked(binaries, run_as, data_dir, lock, options, Source::Initdb)
            }
            // [`acquire`] offers a running cluster to commands only; another server's is refused
            Acquired::Running(running) => Err(ClusterError::InUse {
                url: socket_database_url(&running.socket_dir, APP_DATABASE),
                holder: running.holder.describe(),
                data_dir,
            }),
        }
    }

    /// As a command: the cluster a serving server runs in `data_dir`, through its socket; or,
    /// when nothing runs it, the cluster started as [`ManagedCluster::start`] does, for this
    /// command to stop when done. Waits for another command running it to be done.
    #[tracing::instrument(skip(options))]
    pub fn start_or_attach(
        data_dir: &Path,
        options: &ClusterOptions,
    ) -> Result<Cluster, ClusterError> {
        let (binaries, run_as, data_dir) = prepare(data_dir)?;
        match acquire(&data_dir, Role::Command)? {
            Acquired::Locked(lock) => {
                Self::start_locked(binaries, run_as, data_dir, lock, options, Source::Initdb)
                    .map(Cluster::Started)
            }
            Acquired::Running(running) => {
                tracing::info!(
                    data_dir = %running.data_dir.display(),
                    "using the cluster of {}, through its socket",
                    running.holder.describe()
                );
                Ok(Cluster::Running(running))
            }
        }
    }

    /// Says in the data directory's note that this process serves on `listen`: from then on,
    /// commands use its cluster.
    pub fn announce_serving(&self, listen: &str) -> Result<(), ClusterError> {
        self.lock.write_note(Some(listen))
    }

    /// A streaming standby of this running cluster in `data_dir` (a data directory of its own,
    /// laid out as [`ManagedCluster::start`]'s): made with `pg_basebackup -R` over this
    /// cluster's socket the first time (the same binaries, the same OS user, the same
    /// settings: a hot standby needs `max_connections` at least the primary's), then started
    /// as a hot standby on its own socket. A data directory that already holds the standby
    /// is started as it is. Connect with [`ManagedCluster::url`]; dropping it stops it.
    #[tracing::instrument(skip(self))]
    pub fn start_standby(&self, data_dir: &Path) -> Result<ManagedCluster, ClusterError> {
        let run_as = self.run_as;
        create_private_dir(data_dir)?;
        let data_dir = fs::canonicalize(data_dir)
            .map_err(io_err(format!("resolving {}", data_dir.display())))?;
        match acquire(&data_dir, Role::Serve)? {
            Acquired::Locked(lock) => Self::start_locked(
                self.binaries.clone(),
                run_as,
                data_dir,
                lock,
                &self.options,
                Source::BaseBackup(&self.socket_dir),
            ),
            Acquired::Running(running) => Err(ClusterError::InUse {
                url: socket_database_url(&running.socket_dir, APP_DATABASE),
                holder: running.holder.describe(),
                data_dir,
            }),
        }
    }

    fn start_locked(
        binaries: PgBinaries,
        run_as: RunAs,
        data_dir: PathBuf,
        lock: DirLock,
        options: &ClusterOptions,
        source: Source<'_>,
    ) -> Result<Self, ClusterError> {
        let cluster_dir = cluster_location(&data_dir, &run_as)?;
        // after the cluster's user owns them (a directory it cannot enter is useless to it)
        restrict(&data_dir, PRIVATE_DIR_MODE)?;
        restrict(&cluster_dir, PRIVATE_DIR_MODE)?;
        let pgdata = cluster_dir.join("pgdata");
        let socket_dir = cluster_dir.join("run");
        let log_path = cluster_dir.join("postgresql.log");
        let socket_file = socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        if socket_file.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ClusterError::SocketPathTooLong(socket_file));
        }

        if !pgdata.join("PG_VERSION").is_file() {
            match source {
                Source::Initdb => init_cluster(&binaries, &run_as, &cluster_dir, &pgdata, options)?,
                Source::BaseBackup(primary_socket_dir) => {
                    base_backup(&binaries, &run_as, primary_socket_dir, &pgdata, options)?
                }
            }
        }
        fs::create_dir_all(&socket_dir).map_err(io_err("creating the socket directory"))?;
        restrict(&socket_dir, PRIVATE_DIR_MODE)?;
        run_as.own(&socket_dir)?;
        recover_orphan(&pgdata)?;

        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&log_path)
            .map_err(io_err(format!("opening {}", log_path.display())))?;
        restrict(&log_path, PRIVATE_FILE_MODE)?;
        run_as.own(&log_path)?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);

        let mut cmd = Command::new(binaries.tool("postgres"));
        cmd.arg("-D")
            .arg(&pgdata)
            .args(["-c", "listen_addresses="])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", socket_dir.display()))
            .args(["-c", "unix_socket_permissions=0700"])
            .arg("-c")
            .arg(format!("port={SOCKET_PORT}"))
            .arg("-c")
            .arg(format!("max_connections={}", options.max_connections))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io_err("cloning the log handle"))?)
            .stderr(log);
        if options.ephemeral {
            cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"]);
        }
        run_as.apply(&mut cmd);
        // SAFETY: prctl is async-signal-safe; it runs in the child between fork and exec,
        // after the uid switch (which would clear the parent-death signal).
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGQUIT).map_err(std::io::Error::from)
            });
        }

        let (pid_tx, pid_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = mpsc::channel();
        // The postmaster's parent-death signal fires when the thread that spawned it ends, so
        // that thread lives exactly as long as the postmaster.
        std::thread::Builder::new()
            .name("postmaster".into())
            .spawn(move || match cmd.spawn() {
                Ok(mut child) => {
                    let _ = pid_tx.send(Ok(child.id()));
                    let status = child
                        .wait()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|e| e.to_string());
                    let _ = exit_tx.send(status);
                }
                Err(e) => {
                    let _ = pid_tx.send(Err(e));
                }
            })
            .map_err(io_err("spawning the postmaster thread"))?;
        let pid = pid_rx
            .recv()
            .map_err(|_| ClusterError::Command("postmaster thread vanished".into()))?
            .map_err(io_err("starting postgres"))?;

        let cluster = Self {
            data_dir: data_dir.clone(),
            cluster_dir,
            socket_dir,
            log_path,
            pid: Pid::from_raw(pid as i32),
            exited: Mutex::new(exit_rx),
            stopped: false,
            binaries: binaries.clone(),
            run_as,
            options: options.clone(),
            lock,
        };
        cluster.wait_ready(&pgdata, log_start)?;
        tracing::info!(
            data_dir = %data_dir.display(),
            cluster_dir = %cluster.cluster_dir.display(),
            pg_major = binaries.major,
            "managed PostgreSQL is running; connect with: {} ; or give a program \
             DATABASE_URL='{}'",
            cluster.psql_command(APP_DATABASE),
            cluster.database_url(APP_DATABASE)
        );
        Ok(cluster)
    }

    /// Connection URL for `database` over the private socket.
    pub fn url(&self, database: &str) -> String {
        socket_url(&self.socket_dir, database)
    }

    /// The `DATABASE_URL` the log prints for `database`: the psql command line's parameters as
    /// a URL (`postgres://postgres@/db?host=<socket dir>`).
    pub fn database_url(&self, database: &str) -> String {
        socket_database_url(&self.socket_dir, database)
    }

    /// A psql command line that connects to `database`.
    pub fn psql_command(&self, database: &str) -> String {
        format!(
            "psql -h {} -p {SOCKET_PORT} -U {SUPERUSER} {database}",
            self.socket_dir.display()
        )
    }

    /// The data directory the cluster belongs to.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the cluster's files are (the data directory, or its root fallback).
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// Process id of the postmaster.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    fn try_exit_status(&self) -> Option<String> {
        self.exited.lock().ok()?.try_recv().ok()
    }

    /// Waits until the postmaster reports itself ready (the status line of postmaster.pid, as
    /// pg_ctl reads it), failing early if it exits.
    fn wait_ready(&self, pgdata: &Path, log_start: u64) -> Result<(), ClusterError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let pid_file = pgdata.join("postmaster.pid");
        loop {
            if let Some(status) = self.try_exit_status() {
                return Err(ClusterError::StartFailed {
                    status,
                    log: self.log_path.clone(),
                    tail: log_tail(&self.log_path, log_start),
                });
            }
            let ready = fs::read_to_string(&pid_file).is_ok_and(|text| {
                let mut lines = text.lines();
                lines.next().map(str::trim) == Some(self.pid.as_raw().to_string().as_str())
                    && lines.nth(6).map(str::trim) == Some("ready")
            });
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::StartTimeout {
                    timeout: START_TIMEOUT,
                    log: self.log_path.clone(),
                    tail: log_tail(&self.log_path, log_start),
                });
            }
            std::thread::sleep(PROBE_INTERVAL);
        }
    }

    /// Stops the cluster cleanly (fast shutdown: open sessions are ended, a checkpoint is
    /// written), escalating to an immediate shutdown if it takes too long.
    #[tracing::instrument(skip(self), fields(pid = self.pid.as_raw()))]
    pub fn stop(mut self) -> Result<(), ClusterError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), ClusterError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if kill(self.pid, Signal::SIGINT).is_err() {
            return Ok(());
        }
        let exited = match self.exited.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match exited.recv_timeout(STOP_TIMEOUT) {
            Ok(status) => {
                tracing::info!(%status, "managed PostgreSQL stopped");
                Ok(())
            }
            Err(_) => {
                tracing::warn!("PostgreSQL did not stop in time; forcing an immediate shutdown");
                let _ = kill(self.pid, Signal::SIGQUIT);
                let _ = exited.recv_timeout(STOP_TIMEOUT);
                Ok(())
            }
        }
    }
}

impl Drop for ManagedCluster {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Creates `dir` with [`PRIVATE_DIR_MODE`] (its missing parents as usual) unless it exists.
fn create_private_dir(dir: &Path) -> Result<(), ClusterError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    }
    match fs::DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(io_err(format!("creating data directory {}", dir.display()))(e))
        }
        _ => Ok(()),
    }
}

/// Sets the mode of `path` to `mode` exactly.
fn restrict(path: &Path, mode: u32) -> Result<(), ClusterError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(format!(
        "restricting {} to {mode:o}",
        path.display()
    )))
}

/// What every use of a data directory needs first: the binaries (before anything is created,
/// so that a machine without them is told so and left as it was), the cluster's OS user, and
/// the data directory, created and resolved.
fn prepare(data_dir: &Path) -> Result<(PgBinaries, RunAs, PathBuf), ClusterError> {
    let binaries = PgBinaries::locate()?;
    let run_as = RunAs::resolve()?;
    create_private_dir(data_dir)?;
    let data_dir =
        fs::canonicalize(data_dir).map_err(io_err(format!("resolving {}", data_dir.display())))?;
    Ok((binaries, run_as, data_dir))
}

/// Takes the data directory's lock for `role`, or finds a serving server's cluster for a
/// command (see the module documentation for who waits for whom). Polls: the holder's note
/// can change while we wait (a command's lock may pass to a server, which a waiting command
/// then uses rather than waiting for its end).
fn acquire(data_dir: &Path, role: Role) -> Result<Acquired, ClusterError> {
    let file = open_lock_file(data_dir)?;
    let started = Instant::now();
    // since when the lock is held with no note (reset whenever one is seen)
    let mut unnamed_since: Option<Instant> = None;
    let mut told: Option<Holder> = None;
    loop {
        let locked = match file.try_lock() {
            Ok(()) => true,
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err("locking the data directory")(e));
            }
        };
        if locked {
            let lock = DirLock {
                _file: file,
                note: data_dir.join(NOTE_FILE),
                holder: Holder {
                    pid: std::process::id(),
                    role,
                    listen: None,
                },
            };
            lock.write_note(None)?;
            return Ok(Acquired::Locked(lock));
        }
        let holder = read_holder(data_dir);
        unnamed_since = match holder {
            Some(_) => None,
            None => unnamed_since.or_else(|| Some(Instant::now())),
        };
        let in_use = |holder: String| ClusterError::InUse {
            data_dir: data_dir.to_path_buf(),
            holder,
            url: socket_database_url(&socket_dir_of(data_dir), APP_DATABASE),
        };
        match (role, &holder) {
            (Role::Serve, Some(h)) if h.role == Role::Serve => {
                return Err(in_use(h.describe()));
            }
            (Role::Command, Some(h)) if h.role == Role::Serve && h.listen.is_some() => {
                return Ok(Acquired::Running(RunningCluster {
                    data_dir: data_dir.to_path_buf(),
                    socket_dir: socket_dir_of(data_dir),
                    holder: h.clone(),
                }));
            }
            (_, None) if unnamed_since.is_some_and(|t| t.elapsed() > HOLDER_NOTE_WAIT) => {
                return Err(in_use(
                    "another process that does not say which (pid unknown; an older \
                     jbtestsuite?)"
                        .to_owned(),
                ));
            }
            (_, None) => {}
            (_, Some(h)) => {
                if started.elapsed() > HOLDER_WAIT_TIMEOUT {
                    return Err(ClusterError::Busy {
                        data_dir: data_dir.to_path_buf(),
                        holder: h.describe(),
                        waited: HOLDER_WAIT_TIMEOUT,
                    });
                }
                if told.as_ref() != Some(h) {
                    tracing::info!(
                        data_dir = %data_dir.display(),
                        "the data directory is held by {}; waiting for it to {}",
                        h.describe(),
                        match h.role {
                            Role::Serve => "serve",
                            Role::Command => "finish",
                        }
                    );
                    told = Some(h.clone());
                }
            }
        }
        std::thread::sleep(PROBE_INTERVAL);
    }
}

/// The note beside the lock saying who holds it.
const NOTE_FILE: &str = "jbtestsuite.owner";

/// The lock file, opened (created if missing) to be locked.
fn open_lock_file(data_dir: &Path) -> Result<File, ClusterError> {
    let path = data_dir.join("jbtestsuite.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(PRIVATE_FILE_MODE)
        .open(&path)
        .map_err(io_err(format!("opening {}", path.display())))?;
    restrict(&path, PRIVATE_FILE_MODE)?;
    Ok(file)
}

/// The holder the note names, if it names a live process: a note left by a killed holder
/// names a dead one, until the next holder replaces it.
fn read_holder(data_dir: &Path) -> Option<Holder> {
    let holder = Holder::parse(&fs::read_to_string(data_dir.join(NOTE_FILE)).ok()?)?;
    let alive = match kill(Pid::from_raw(i32::try_from(holder.pid).ok()?), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    };
    alive.then_some(holder)
}

/// The data directory's lock and the note saying who holds it. The note goes before the lock
/// is let go (fields drop after `drop`), so that it never names a process that holds nothing.
#[derive(Debug)]
struct DirLock {
    /// Holds the flock: closing it unlocks.
    _file: File,
    note: PathBuf,
    holder: Holder,
}

impl DirLock {
    /// Replaces the note at once (written aside, then renamed over it): a reader sees the old
    /// note or the new one, never a part.
    fn write_note(&self, listen: Option<&str>) -> Result<(), ClusterError> {
        let holder = Holder {
            listen: listen.map(str::to_owned),
            ..self.holder.clone()
        };
        let aside = self.note.with_extension("owner.new");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&aside)
            .map_err(io_err(format!("writing {}", aside.display())))?;
        file.write_all(holder.note().as_bytes())
            .map_err(io_err(format!("writing {}", aside.display())))?;
        fs::rename(&aside, &self.note).map_err(io_err(format!("writing {}", self.note.display())))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // `_file` closes after this: the lock is let go
        let _ = fs::remove_file(&self.note);
    }
}

/// Where the cluster's files live: in the data directory, unless started as root and the
/// cluster's user cannot reach it (see the module docs). Reaching it means reaching the
/// directory it is in: the data directory itself is private to its owner, which the cluster's
/// user becomes.
fn cluster_location(data_dir: &Path, run_as: &RunAs) -> Result<PathBuf, ClusterError> {
    let link = data_dir.join("cluster");
    if let Ok(target) = fs::read_link(&link) {
        return Ok(target);
    }
    let parent = data_dir.parent().unwrap_or(data_dir);
    if run_as.can_reach(parent) || data_dir.join("pgdata").exists() {
        run_as.own(data_dir)?;
        return Ok(data_dir.to_path_buf());
    }
    let name = data_dir
        .to_string_lossy()
        .trim_start_matches('/')
        .replace(['/', '.'], "_");
    let name: String = name
        .chars()
        .rev()
        .take(40)
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    let target = Path::new(ROOT_FALLBACK_BASE).join(format!("{name}-{:08x}", path_hash(data_dir)));
    // the base stays enterable (the cluster's user goes through it); the cluster's own
    // directory is made private by the caller
    create_private_dir(&target)?;
    run_as.own(&target)?;
    std::os::unix::fs::symlink(&target, &link)
        .map_err(io_err(format!("linking {}", link.display())))?;
    tracing::warn!(
        data_dir = %data_dir.display(),
        cluster_dir = %target.display(),
        "the data directory is not reachable by the unprivileged user {CLUSTER_OS_USER} that \
         PostgreSQL runs as; the cluster files are kept at the cluster_dir instead"
    );
    Ok(target)
}

/// FNV-1a: a stable name for a fallback cluster directory.
fn path_hash(path: &Path) -> u32 {
    path.as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        })
}

fn init_cluster(
    binaries: &PgBinaries,
    run_as: &RunAs,
    cluster_dir: &Path,
    pgdata: &Path,
    options: &ClusterOptions,
) -> Result<(), ClusterError> {
    // A half-made pgdata from an interrupted initdb is useless: start over.
    if pgdata.exists() {
        fs::remove_dir_all(pgdata).map_err(io_err("removing an incomplete cluster"))?;
    }
    fs::create_dir_all(pgdata).map_err(io_err(format!("creating {}", pgdata.display())))?;
    restrict(pgdata, PRIVATE_DIR_MODE)?;
    run_as.own(cluster_dir)?;
    run_as.own(pgdata)?;
    tracing::info!(pgdata = %pgdata.display(), "initialising a new PostgreSQL cluster");
    let mut cmd = Command::new(binaries.tool("initdb"));
    cmd.arg("-D")
        .arg(pgdata)
        .args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ])
        .stdin(Stdio::null());
    if options.ephemeral {
        cmd.arg("--no-sync");
    }
    run_as.apply(&mut cmd);
    let out = cmd.output().map_err(io_err("running initdb"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(pgdata);
        return Err(ClusterError::Command(format!(
            "initdb failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Where a new cluster's files come from.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    /// A new, empty cluster.
    Initdb,
    /// A copy of the running primary whose socket is in this directory, which it then
    /// follows as a streaming standby.
    BaseBackup(&'a Path),
}

/// Copies the running primary listening in `primary_socket_dir` into `pgdata` with
/// `pg_basebackup`, which also writes `standby.signal` and the `primary_conninfo` that make
/// the copy a streaming standby of it (`-R`). The primary's `pg_hba.conf` (initdb's) trusts
/// local replication connections, and its `wal_level` is `replica` by default.
fn base_backup(
    binaries: &PgBinaries,
    run_as: &RunAs,
    primary_socket_dir: &Path,
    pgdata: &Path,
    options: &ClusterOptions,
) -> Result<(), ClusterError> {
    // a copy interrupted half-way is useless: start over (pg_basebackup wants no pgdata, or
    // an empty one, which it creates private to the cluster's user)
    if pgdata.exists() {
        fs::remove_dir_all(pgdata).map_err(io_err("removing an incomplete standby"))?;
    }
    tracing::info!(pgdata = %pgdata.display(), "copying the primary into a new standby");
    let mut cmd = Command::new(binaries.tool("pg_basebackup"));
    cmd.arg("-D")
        .arg(pgdata)
        .arg("-h")
        .arg(primary_socket_dir)
        .arg("-p")
        .arg(SOCKET_PORT.to_string())
        .args(["-U", SUPERUSER, "-R", "-X", "stream"])
        // an immediate checkpoint: a spread one would make the copy wait for minutes
        .args(["-c", "fast", "--no-password"])
        .stdin(Stdio::null());
    if options.ephemeral {
        cmd.arg("--no-sync");
    }
    run_as.apply(&mut cmd);
    let out = cmd.output().map_err(io_err("running pg_basebackup"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(pgdata);
        return Err(ClusterError::Command(format!(
            "pg_basebackup failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// A postmaster still running on this pgdata while we hold the data directory's lock was left
/// by a process that died without stopping it: stop it so that it can be started afresh.
fn recover_orphan(pgdata: &Path) -> Result<(), ClusterError> {
    let pid_file = pgdata.join("postmaster.pid");
    let Ok(contents) = fs::read_to_string(&pid_file) else {
        return Ok(());
    };
    let Some(pid) = contents
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
    else {
        return Ok(());
    };
    let pid = Pid::from_raw(pid);
    let is_postgres =
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres");
    let serves_pgdata = fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let needle = pgdata.as_os_str().as_encoded_bytes();
        cmdline.windows(needle.len()).any(|w| w == needle)
    });
    if !(is_postgres && serves_pgdata) {
        // stale pid file: PostgreSQL itself removes it on start
        return Ok(());
    }
    tracing::warn!(%pid, "recovering a PostgreSQL left running by a previous process: stopping it");
    let _ = kill(pid, Signal::SIGINT);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while kill(pid, None).is_ok() && Instant::now() < deadline {
        std::thread::sleep(PROBE_INTERVAL);
    }
    if kill(pid, None).is_ok() {
        let _ = kill(pid, Signal::SIGQUIT);
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

/// The part of the log written since `from`, at most its last 40 lines.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Whether `path` is owned by the current user (used by tests and diagnostics).
pub fn owned_by_current_user(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.uid() == Uid::effective().as_raw())
}
