//! The benchmark program never rots: its quick mode runs end to end and produces figures.
//! How fast is not checked here (benchmarks are programs that print figures, not timed tests).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_quick_run_then_every_scenario_produces_figures() {
    let mut options = bench::Options::quick();
    options.progress = false;
    // the replicas scenario's server processes: the server binary itself
    options.server_program = Some(bench::replicas::ServerProgram::server(env!(
        "CARGO_BIN_EXE_jbtestsuite"
    )));
    let report = bench::run(options).await.expect("the quick benchmark runs");
    assert!(
        report.failures.is_empty(),
        "failed scenarios: {:#?}",
        report.failures
    );
    assert!(!report.rows.is_empty(), "no figures");
    for scenario in [
        "queries",
        "ingest",
        "live",
        "analytics",
        "import",
        "insights",
        "replicas",
        "partitioning",
        "ceiling",
    ] {
        assert!(
            report.rows.iter().any(|r| r.scenario == scenario),
            "no figure for {scenario}"
        );
    }
    for row in &report.rows {
        assert!(
            row.throughput.is_finite() && row.throughput >= 0.0,
            "{} / {}: {}",
            row.scenario,
            row.name,
            row.note
        );
    }
    // every measured rate is positive: each request path worked
    for row in report.rows.iter().filter(|r| r.p50_ms.is_some()) {
        assert!(
            row.throughput > 0.0,
            "{} / {}: no throughput ({})",
            row.scenario,
            row.name,
            row.note
        );
    }
    for row in report.rows.iter().filter(|r| r.ceiling.is_some()) {
        assert!(
            row.ratio.is_some_and(|r| r > 0.0),
            "{}: no ratio to its ceiling",
            row.name
        );
    }
    assert!(!report.targets.is_empty(), "no targets reported");
    assert!(report.markdown().contains("| scenario |"));
}
