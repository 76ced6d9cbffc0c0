//! `cargo run --release -p bench -- [--quick] [--large] [--scenario NAME]...`: starts its own
//! PostgreSQL and server, seeds, measures, prints a table, writes markdown and JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bench::{Options, Scenario};
use clap::Parser;

/// Counts the client's heap apart from the server's (both run in this process).
#[global_allocator]
static ALLOCATOR: bench::alloc_probe::CountingAlloc = bench::alloc_probe::CountingAlloc;

/// JBTestSuite's benchmark: every figure next to its raw-SQL ceiling, measured in the same run.
#[derive(Parser, Debug)]
#[command(name = "bench")]
struct Cli {
    /// A tiny dataset and short phases (under a minute).
    #[arg(long, conflicts_with = "large")]
    quick: bool,
    /// The large dataset: 1M executions, 5M step executions.
    #[arg(long)]
    large: bool,
    /// Run only these scenarios (repeatable); default: all.
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
    /// Subscriber counts of the live scenario, comma-separated (e.g. 1000,10000).
    #[arg(long, value_delimiter = ',')]
    subscribers: Option<Vec<usize>>,
    /// Seconds measured per side of each comparison (default 8; --quick 1).
    #[arg(long)]
    seconds: Option<f64>,
    /// PostgreSQL with fsync off (faster, not what a server runs with; the default of --quick).
    #[arg(long)]
    ephemeral: bool,
    /// Where to write the markdown (default target/bench/bench.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Where to write the JSON (default target/bench/bench.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bars or phase messages.
    #[arg(long)]
    no_progress: bool,
    /// After seeding, print the database URL and wait for a line on stdin before measuring.
    #[arg(long)]
    hold: bool,
}

impl Cli {
    fn options(self) -> Options {
        let mut o = if self.quick {
            Options::quick()
        } else if self.large {
            Options::large()
        } else {
            Options::default_run()
        };
        o.scenarios = self.scenarios;
        if let Some(s) = self.subscribers {
            o.subscribers = s;
        }
        if let Some(secs) = self.seconds {
            let d = Duration::from_secs_f64(secs.max(0.1));
            o.query_duration = d;
            o.ingest_duration = d;
        }
        o.ephemeral |= self.ephemeral;
        if let Some(p) = self.markdown {
            o.markdown_path = p;
        }
        if let Some(p) = self.json {
            o.json_path = p;
        }
        o.progress = !self.no_progress;
        o.hold = self.hold;
        // the replicas scenario's server processes are this binary's hidden `serve`
        o.server_program = bench::replicas::ServerProgram::this_binary().ok();
        o
    }
}

fn write(path: &PathBuf, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

async fn main_inner() -> anyhow::Result<()> {
    bench::alloc_probe::installed();
    let options = Cli::parse().options();
    let (md_path, json_path) = (options.markdown_path.clone(), options.json_path.clone());
    let report = bench::run(options).await?;
    println!("{}", report.text());
    write(&md_path, &report.markdown())?;
    write(
        &json_path,
        &serde_json::to_string_pretty(&report).context("serialising the report")?,
    )?;
    eprintln!(
        "bench: wrote {} and {}",
        md_path.display(),
        json_path.display()
    );
    // the figures of the scenarios that finished are written; the run still fails
    anyhow::ensure!(
        report.failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
    Ok(())
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `bench serve ...`: a server process of the replicas scenario
    let serving = std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == bench::replicas::SERVE);
    let outcome = if serving {
        runtime.block_on(bench::replicas::serve(std::env::args_os().skip(1)))
    } else {
        runtime.block_on(main_inner())
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
