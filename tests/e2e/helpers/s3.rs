//! A real S3-compatible server for the artifact tests: moto's server mode (a Python package,
//! `pip install 'moto[server]'`, which `.ci/run` installs), one per test process, started on
//! first use and killed with the process; a bucket of its own per test.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

struct Server {
    endpoint: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        let port = free_port();
        // the server is killed when the thread that started it ends (PR_SET_PDEATHSIG is the
        // thread's): a thread of its own waits on it for the life of the process, and says
        // when the server announces that it listens
        let (listening, announced) = std::sync::mpsc::channel::<Result<(), String>>();
        std::thread::spawn(move || {
            let mut command = Command::new("python3");
            command
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            unsafe {
                use std::os::unix::process::CommandExt;
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(e) => {
                    let _ = listening.send(Err(format!("starting python3 -m moto.server: {e}")));
                    return;
                }
            };
            // its log goes to stderr: read to the end (a full pipe would stop the server)
            if let Some(stderr) = child.stderr.take() {
                use std::io::BufRead;
                let mut told = false;
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    if !told && line.contains("Running on") {
                        let _ = listening.send(Ok(()));
                        told = true;
                    }
                }
            }
            let status = child.wait();
            let _ = listening.send(Err(format!(
                "moto's S3 server ended ({status:?}): is it installed? (pip install 'moto[server]')"
            )));
        });
        announced
            .recv_timeout(std::time::Duration::from_secs(60))
            .map_err(|_| "moto's S3 server did not say it listens within 60 s".to_owned())
            .and_then(|r| r)
            .expect("moto's S3 server");
        Server {
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    })
}

/// The options of an artifact store on a new bucket of the S3 server, under a prefix.
pub async fn bucket_options() -> api::config::ArtifactOptions {
    let endpoint = server().endpoint.clone();
    let bucket = format!("jbts-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("creating a bucket");
    assert!(
        created.status().is_success(),
        "creating a bucket: {created:?}"
    );
    api::config::ArtifactOptions {
        store: Some(format!("s3://{bucket}/artifacts")),
        store_options: [
            ("aws_endpoint", endpoint.as_str()),
            ("aws_allow_http", "true"),
            ("aws_access_key_id", "test"),
            ("aws_secret_access_key", "test"),
            ("aws_region", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..api::config::ArtifactOptions::default()
    }
}
