//! The figures of a run: rows (a subject next to its ceiling, as a ratio), targets (met or not),
//! notes on method; printed as a table, written as BENCHMARKS.md-ready markdown and as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::Options;
use crate::load::Measured;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `queries`, `ingest`, `live`, `analytics`.
    pub scenario: String,
    /// What was measured.
    pub name: String,
    /// Unit of `throughput`: `req/s`, `results/s`, ...
    pub unit: String,
    pub throughput: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub requests: u64,
    pub errors: u64,
    /// What it is compared with, measured in the same run.
    pub ceiling: Option<String>,
    pub ceiling_throughput: Option<f64>,
    /// `throughput / ceiling_throughput`.
    pub ratio: Option<f64>,
    pub note: String,
}

impl Row {
    /// A row from a load measurement of `subject` (units per second), against `ceiling`.
    pub fn compared(
        scenario: &str,
        name: &str,
        unit: &str,
        subject: &Measured,
        ceiling: Option<(&str, &Measured)>,
    ) -> Self {
        let throughput = subject.units_per_second();
        let (ceiling_name, ceiling_throughput) = match ceiling {
            Some((n, m)) => (Some(n.to_owned()), Some(m.units_per_second())),
            None => (None, None),
        };
        let ratio = ceiling_throughput
            .filter(|c| *c > 0.0)
            .map(|c| throughput / c);
        let mut note = String::new();
        if let Some(e) = &subject.first_error {
            let _ = write!(
                note,
                "{} errors, first: {}",
                subject.errors,
                truncate(e, 160)
            );
        }
        if let Some((_, m)) = ceiling
            && let Some(e) = &m.first_error
        {
            let _ = write!(
                note,
                "{}ceiling: {} errors, first: {}",
                if note.is_empty() { "" } else { "; " },
                m.errors,
                truncate(e, 160)
            );
        }
        Self {
            scenario: scenario.to_owned(),
            name: name.to_owned(),
            unit: unit.to_owned(),
            throughput,
            p50_ms: Some(subject.ms(0.50)),
            p95_ms: Some(subject.ms(0.95)),
            p99_ms: Some(subject.ms(0.99)),
            requests: subject.requests,
            errors: subject.errors,
            ceiling: ceiling_name,
            ceiling_throughput,
            ratio,
            note,
        }
    }

    /// A row holding a single value (no latency distribution).
    pub fn value(scenario: &str, name: &str, unit: &str, value: f64, note: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            name: name.to_owned(),
            unit: unit.to_owned(),
            throughput: value,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            requests: 0,
            errors: 0,
            ceiling: None,
            ceiling_throughput: None,
            ratio: None,
            note: note.to_owned(),
        }
    }

    /// A row holding a single rate `value` next to the rate of a `ceiling` measured in the
    /// same run (their ratio).
    pub fn against(
        scenario: &str,
        name: &str,
        unit: &str,
        value: f64,
        ceiling: (&str, f64),
        note: &str,
    ) -> Self {
        let mut row = Self::value(scenario, name, unit, value, note);
        row.ceiling = Some(ceiling.0.to_owned());
        row.ceiling_throughput = Some(ceiling.1);
        row.ratio = (ceiling.1 > 0.0).then(|| value / ceiling.1);
        row
    }

    pub fn with_note(mut self, note: &str) -> Self {
        if !note.is_empty() {
            if !self.note.is_empty() {
                self.note.push_str("; ");
            }
            self.note.push_str(note);
        }
        self
    }
}

fn truncate(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '|'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max).collect::<String>())
    }
}

/// A target of the issue and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: String,
    /// None: not measured in this run, or reported without a target (`note` says which).
    pub met: Option<bool>,
    pub note: String,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: String,
    pub date: String,
    pub commit: String,
    pub postgres: String,
    pub size: crate::Size,
    pub dataset: String,
    pub settings: String,
    pub rows: Vec<Row>,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
    /// Scenarios that failed, each with its error; the figures of the others are still here.
    pub failures: Vec<String>,
    pub elapsed_seconds: f64,
}

impl Report {
    pub fn new(options: &Options) -> Self {
        Self {
            machine: crate::env::machine(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            commit: crate::env::commit(),
            postgres: String::new(),
            size: options.size,
            dataset: String::new(),
            settings: format!(
                "queries: {} in flight, {:.1} s per side in {} interleaved rounds; ingestion: {} bulk / {} single in flight, {:.1} s per side; subscribers: {:?}; PostgreSQL {}",
                crate::options::QUERY_CONCURRENCY,
                options.query_duration.as_secs_f64(),
                crate::options::ROUNDS,
                crate::options::INGEST_CONCURRENCY,
                crate::options::STEP_CONCURRENCY,
                options.ingest_duration.as_secs_f64(),
                options.subscribers,
                if options.ephemeral {
                    "with fsync off"
                } else {
                    "durable (fsync on)"
                },
            ),
            rows: Vec::new(),
            targets: Vec::new(),
            notes: Vec::new(),
            failures: Vec::new(),
            elapsed_seconds: 0.0,
        }
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed_seconds = elapsed.as_secs_f64();
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn target(
        &mut self,
        name: &str,
        goal: &str,
        measured: String,
        met: Option<bool>,
        note: &str,
    ) {
        self.targets.push(Target {
            name: name.to_owned(),
            goal: goal.to_owned(),
            measured,
            met,
            note: note.to_owned(),
        });
    }

    /// Records a scenario's failure (with its error chain), if it failed.
    pub fn outcome(&mut self, scenario: &str, outcome: anyhow::Result<()>) {
        if let Err(e) = outcome {
            self.failures.push(format!("scenario {scenario}: {e:#}"));
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The markdown of the run: header, table, targets, method notes.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "- Machine: {}", self.machine);
        let _ = writeln!(md, "- Date: {}", self.date);
        let _ = writeln!(md, "- Commit: {}", self.commit);
        let _ = writeln!(md, "- PostgreSQL: {}", self.postgres);
        let size = serde_json::to_value(self.size)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(md, "- Size: {size} — {}", self.dataset);
        let _ = writeln!(md, "- Settings: {}", self.settings);
        let _ = writeln!(md, "- Whole run: {:.0} s", self.elapsed_seconds);
        md.push('\n');
        md.push_str("| scenario | measure | throughput | p50 ms | p95 ms | p99 ms | ceiling (same run) | ratio | notes |\n");
        md.push_str("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |\n");
        for r in &self.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.scenario,
                r.name,
                format_value(r.throughput, &r.unit),
                opt_ms(r.p50_ms),
                opt_ms(r.p95_ms),
                opt_ms(r.p99_ms),
                match (&r.ceiling, r.ceiling_throughput) {
                    (Some(n), Some(t)) => format!("{n}: {}", format_value(t, &r.unit)),
                    _ => "—".to_owned(),
                },
                r.ratio
                    .map(|x| format!("{x:.2}×"))
                    .unwrap_or_else(|| "—".to_owned()),
                truncate(&r.note, 400),
            );
        }
        md.push_str("\n**Targets**\n\n");
        md.push_str(
            "| target | goal | measured | verdict | notes |\n| --- | --- | --- | --- | --- |\n",
        );
        for t in &self.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "—",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                t.name,
                t.goal,
                t.measured,
                verdict,
                truncate(&t.note, 400)
            );
        }
        if !self.failures.is_empty() {
            md.push_str("\n**Failed scenarios** (their figures above are missing or partial)\n\n");
            for f in &self.failures {
                let _ = writeln!(md, "- {}", truncate(f, 600));
            }
        }
        if !self.notes.is_empty() {
            md.push_str("\n**Method**\n\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        md
    }

    /// The table for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} | {} | commit {} | {}",
            self.machine, self.date, self.commit, self.dataset
        );
        let _ = writeln!(
            out,
            "{:<10} {:<52} {:>18} {:>8} {:>8} {:>8} {:>18} {:>7}",
            "scenario", "measure", "throughput", "p50 ms", "p95 ms", "p99 ms", "ceiling", "ratio"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:<10} {:<52} {:>18} {:>8} {:>8} {:>8} {:>18} {:>7}",
                r.scenario,
                truncate(&r.name, 52),
                format_value(r.throughput, &r.unit),
                opt_ms(r.p50_ms),
                opt_ms(r.p95_ms),
                opt_ms(r.p99_ms),
                r.ceiling_throughput
                    .map(|t| format_value(t, &r.unit))
                    .unwrap_or_else(|| "—".to_owned()),
                r.ratio
                    .map(|x| format!("{x:.2}×"))
                    .unwrap_or_else(|| "—".to_owned()),
            );
            if !r.note.is_empty() {
                let _ = writeln!(out, "{:<10} ↳ {}", "", truncate(&r.note, 240));
            }
        }
        out.push_str("\nTargets:\n");
        for t in &self.targets {
            let verdict = match t.met {
                Some(true) => "MET    ",
                Some(false) => "NOT MET",
                None => "—      ",
            };
            let _ = writeln!(
                out,
                "  [{verdict}] {}: {} (goal {})",
                t.name, t.measured, t.goal
            );
        }
        if !self.failures.is_empty() {
            out.push_str("\nFailed scenarios (their figures above are missing or partial):\n");
            for f in &self.failures {
                let _ = writeln!(out, "  {f}");
            }
        }
        out
    }
}

fn opt_ms(v: Option<f64>) -> String {
    match v {
        Some(ms) if ms >= 100.0 => format!("{ms:.0}"),
        Some(ms) if ms >= 10.0 => format!("{ms:.1}"),
        Some(ms) => format!("{ms:.2}"),
        None => "—".to_owned(),
    }
}

/// A value with its unit, rounded for reading.
pub fn format_value(v: f64, unit: &str) -> String {
    let n = if v >= 100.0 {
        crate::seed::thousands(v.round() as i64)
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    format!("{n} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_when_a_scenario_fails_then_its_error_is_kept_beside_the_others_figures() {
        let mut report = Report::new(&Options::quick());
        report.row(Row::value("queries", "list", "req/s", 120.0, ""));
        report.outcome("queries", Ok(()));
        report.outcome(
            "live",
            Err(anyhow::anyhow!("socket closed").context("subscribing")),
        );
        assert_eq!(
            report.failures,
            vec!["scenario live: subscribing: socket closed".to_owned()]
        );
        let md = report.markdown();
        assert!(md.contains("| queries | list |"), "{md}");
        assert!(
            md.contains("scenario live: subscribing: socket closed"),
            "{md}"
        );
        assert!(report.text().contains("Failed scenarios"));
    }
}
