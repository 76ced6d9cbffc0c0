use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    api::telemetry::init();
    match api::startup::run(api::config::Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<api::reporter::GateFailed>().is_some() {
                ExitCode::from(api::reporter::GATE_FAILED_EXIT)
            } else if e.downcast_ref::<api::reporter::TestsFailed>().is_some() {
                // the tests failed, not the tool: CI tells the two apart
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
