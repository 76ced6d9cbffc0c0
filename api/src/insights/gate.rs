//! The quality gate: may a run pass (a merge, a deploy)? Its rules count only what the run
//! changed against its baseline (new failures, duration regressions), leave out the failures
//! of cases quarantined now, and may ask for a pass rate and a finished run. Evaluated on
//! demand from the indexes: the comparison's one statement and one over the run's last
//! attempts.

use std::sync::Arc;

use entity::enums::RunStatus;
use entity::test_run;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::compare::{self, Compared, Limits, List};
use super::types::{QualityGateReason, QualityGateRule, QualityGateRules, QualityGateStatus};
use crate::error::{AppError, AppResult};

/// Largest count a count rule accepts: far above any run's size, well within an `i32`.
const COUNT_RULE_MAX: i32 = 1_000_000;

/// The event raised when a gate evaluated by `evaluateQualityGate` fails.
pub const GATE_FAILED_EVENT: &str = "quality_gate.failed";

/// The rules, checked, with their defaults.
#[derive(Debug, Clone)]
pub struct Rules {
    pub max_new_failures: i32,
    pub min_pass_rate: Option<f64>,
    pub max_duration_regressions: Option<i32>,
    pub threshold: f64,
    pub baseline_run_id: Option<Uuid>,
    pub require_finished: bool,
}

impl Rules {
    /// Checks the client's rules (fields named under `rules.`).
    pub fn checked(rules: Option<QualityGateRules>) -> AppResult<Self> {
        let r = rules.unwrap_or_default();
        let count = |field: &str, v: Option<i32>| {
            v.map(|n| crate::input::check_range(field, n, 0, COUNT_RULE_MAX))
                .transpose()
        };
        if let Some(rate) = r.min_pass_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(AppError::bad_input(
                "rules.minPassRate",
                "rules.minPassRate must be between 0 and 1",
            ));
        }
        Ok(Self {
            max_new_failures: count("rules.maxNewFailures", r.max_new_failures)?.unwrap_or(0),
            min_pass_rate: r.min_pass_rate,
            max_duration_regressions: count(
                "rules.maxDurationRegressions",
                r.max_duration_regressions,
            )?,
            threshold: compare::check_threshold("rules.durationThreshold", r.duration_threshold)?,
            baseline_run_id: r.baseline_run_id,
            require_finished: r.require_finished.unwrap_or(true),
        })
    }
}

/// A gate's verdict on a run.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub status: QualityGateStatus,
    pub reasons: Vec<QualityGateReason>,
    pub run: test_run::Model,
    pub baseline: Option<test_run::Model>,
    /// The comparison with the baseline, with the entries of `limits`.
    pub compared: Option<Arc<Compared>>,
    pub threshold: f64,
}

/// The run's last attempts, counted.
struct Tally {
    passed: i64,
    failed: i64,
    quarantined_failed: i64,
}

async fn tally(conn: &impl ConnectionTrait, run: Uuid) -> AppResult<Tally> {
    let active = crate::quarantine::service::ACTIVE;
    let row = conn
        .query_one_raw(crate::sql::statement(
            format!("WITH h AS (
                 SELECT DISTINCT ON (e.test_case_id) e.test_case_id, e.status
                 FROM test_executions e WHERE e.test_run_id = $1
                 ORDER BY e.test_case_id DESC, e.retry_attempt DESC)
             SELECT count(*) FILTER (WHERE h.status = 'passed') AS passed,
                    count(*) FILTER (WHERE h.status = 'failed') AS failed,
                    count(*) FILTER (WHERE h.status = 'failed' AND EXISTS (
                        SELECT 1 FROM test_case_quarantines
                        WHERE test_case_quarantines.test_case_id = h.test_case_id AND {active})) AS quarantined
             FROM h"),
            vec![run.into()],
        ))
        .await?
    .ok_or_else(|| AppError::internal("the run's tally returned nothing"))?;
    Ok(Tally {
        passed: row.try_get("", "passed")?,
        failed: row.try_get("", "failed")?,
        quarantined_failed: row.try_get("", "quarantined")?,
    })
}

fn status_name(status: RunStatus) -> String {
    crate::runs::service::status_name(status)
}

/// Evaluates the gate's `rules` on run `run_id`; the comparison keeps the entries `limits`
/// asks for (for the answer's `comparison`).
#[tracing::instrument(skip(conn, rules))]
pub async fn evaluate(
    conn: &impl ConnectionTrait,
    run_id: Uuid,
    rules: &Rules,
    limits: Limits,
) -> AppResult<Verdict> {
    let run = crate::runs::service::get_run(conn, run_id)
        .await?
        .ok_or_else(|| AppError::not_found("TestRun", run_id))?;
    let baseline = match rules.baseline_run_id {
        Some(id) => {
            let base = crate::runs::service::get_run(conn, id)
                .await?
                .ok_or_else(|| AppError::not_found("TestRun", id))?;
            if base.project_id != run.project_id {
                return Err(AppError::bad_input(
                    "rules.baselineRunId",
                    "the baseline run is of another project than the run",
                ));
            }
            Some(base)
        }
        None => compare::baselines(conn, &[run.id]).await?.remove(&run.id),
    };
    let compared = match &baseline {
        Some(base) => {
            let request = compare::Request {
                base: base.id,
                head: run.id,
                threshold_bits: rules.threshold.to_bits(),
                limits,
                quarantine: true,
            };
            compare::compare(conn, std::slice::from_ref(&request))
                .await?
                .remove(&request)
        }
        None => None,
    };
    let tally = tally(conn, run.id).await?;
    let mut reasons = Vec::new();
    if rules.require_finished {
        let finished = matches!(run.status, RunStatus::Passed | RunStatus::Failed);
        reasons.push(QualityGateReason {
            rule: QualityGateRule::RequireFinished,
            passed: finished,
            message: if finished {
                format!("the run has finished ({})", status_name(run.status))
            } else {
                format!(
                    "the run is {}, not finished (PASSED or FAILED): finish it before \
                     judging it",
                    status_name(run.status)
                )
            },
            actual: None,
            expected: None,
        });
    }
    let allowed = rules.max_new_failures;
    let (new, quarantined, against) = match (&compared, &baseline) {
        (Some(c), Some(base)) => (
            c.counts[List::NewFailures as usize] - c.quarantined_new_failures,
            c.quarantined_new_failures,
            format!("against run '{}' ({})", base.name, base.id),
        ),
        _ => (
            tally.failed - tally.quarantined_failed,
            tally.quarantined_failed,
            "with no earlier finished run of its suite, branch and environment to compare \
             with, every failure is new"
                .to_owned(),
        ),
    };
    let quarantine_note = if quarantined > 0 {
        format!(" ({quarantined} more of quarantined cases, not counted)")
    } else {
        String::new()
    };
    reasons.push(QualityGateReason {
        rule: QualityGateRule::MaxNewFailures,
        passed: new <= i64::from(allowed),
        message: format!(
            "{new} new failures{quarantine_note} {against}; at most {allowed} allowed"
        ),
        actual: Some(new as f64),
        expected: Some(f64::from(allowed)),
    });
    if let Some(min) = rules.min_pass_rate {
        let rated = tally.passed + tally.failed - tally.quarantined_failed;
        reasons.push(if rated > 0 {
            let rate = tally.passed as f64 / rated as f64;
            QualityGateReason {
                rule: QualityGateRule::MinPassRate,
                passed: rate >= min,
                message: format!(
                    "pass rate {:.2}% ({} passed of {rated}{}); at least {:.2}% required",
                    rate * 100.0,
                    tally.passed,
                    if tally.quarantined_failed > 0 {
                        format!(
                            ", {} quarantined failures left out",
                            tally.quarantined_failed
                        )
                    } else {
                        String::new()
                    },
                    min * 100.0
                ),
                actual: Some(rate),
                expected: Some(min),
            }
        } else {
            QualityGateReason {
                rule: QualityGateRule::MinPassRate,
                passed: false,
                message: "no passed or failed results to rate".to_owned(),
                actual: None,
                expected: Some(min),
            }
        });
    }
    if let Some(max) = rules.max_duration_regressions {
        reasons.push(match &compared {
            Some(c) => {
                let n = c.counts[List::DurationRegressions as usize];
                QualityGateReason {
                    rule: QualityGateRule::MaxDurationRegressions,
                    passed: n <= i64::from(max),
                    message: format!(
                        "{n} cases more than {:.0}% slower {against}; at most {max} allowed",
                        rules.threshold * 100.0
                    ),
                    actual: Some(n as f64),
                    expected: Some(f64::from(max)),
                }
            }
            None => QualityGateReason {
                rule: QualityGateRule::MaxDurationRegressions,
                passed: true,
                message: "no earlier finished run to compare durations with".to_owned(),
                actual: None,
                expected: Some(f64::from(max)),
            },
        });
    }
    let status = if reasons.iter().all(|r| r.passed) {
        QualityGateStatus::Passed
    } else {
        QualityGateStatus::Failed
    };
    Ok(Verdict {
        status,
        reasons,
        run,
        baseline,
        compared,
        threshold: rules.threshold,
    })
}

/// Raises `quality_gate.failed` for a failed verdict, in the caller's transaction: the
/// project's webhooks subscribed to it get it if and only if the transaction commits.
pub async fn announce(conn: &impl ConnectionTrait, verdict: &Verdict) -> AppResult<()> {
    if verdict.status != QualityGateStatus::Failed {
        return Ok(());
    }
    let run = &verdict.run;
    let reasons: Vec<serde_json::Value> = verdict
        .reasons
        .iter()
        .map(|r| {
            serde_json::json!({
                "rule": r.rule.name(),
                "passed": r.passed,
                "message": r.message,
                "actual": r.actual,
                "expected": r.expected,
            })
        })
        .collect();
    let payload = serde_json::json!({
        "run": {
            "id": run.id,
            "name": run.name,
            "status": status_name(run.status),
            "commitSha": run.commit_sha,
            "branch": run.branch,
            "buildUrl": run.build_url,
        },
        "status": "FAILED",
        "baselineRunId": verdict.baseline.as_ref().map(|b| b.id),
        "reasons": reasons,
    });
    conn.execute_raw(crate::sql::statement(
        "SELECT enqueue_webhook_event($1, $2, $3, $4::jsonb)",
        vec![
            run.project_id.into(),
            GATE_FAILED_EVENT.into(),
            run.id.into(),
            payload.into(),
        ],
    ))
    .await?;
    Ok(())
}
