//! A delivery's envelope as a Slack incoming-webhook message: `text` (the notification's
//! line) and `blocks` (the same in Slack's layout, with the details and a link to the build).

use serde_json::{Value, json};

/// Most reasons listed in a message: the rest are in the JSON format's payload.
const REASONS_SHOWN: usize = 3;

/// Text as Slack's `mrkdwn` shows it literally (`&`, `<` and `>` escaped).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

fn int_at(value: &Value, path: &[&str]) -> i64 {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The run's line of details: branch, commit, environment, as far as known.
fn run_details(run: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(branch) = str_at(run, &["branch"]) {
        out.push(format!("branch `{}`", escape(branch)));
    }
    if let Some(sha) = str_at(run, &["commitSha"]) {
        let short: String = sha.chars().take(12).collect();
        out.push(format!("commit `{}`", escape(&short)));
    }
    if let Some(env) = str_at(run, &["environment"]) {
        out.push(format!("environment `{}`", escape(env)));
    }
    out
}

/// The run's name, linked to its build when it has a build URL.
fn run_link(run: &Value) -> String {
    let name = escape(str_at(run, &["name"]).unwrap_or("a run"));
    match str_at(run, &["buildUrl"]) {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            format!("<{}|{name}>", url.replace('|', "%7C").replace('>', "%3E"))
        }
        _ => format!("*{name}*"),
    }
}

/// The reasons' texts (`text` of a classification's reason, `message` of a failed rule).
fn reasons(data: &Value) -> Vec<String> {
    data.get("reasons")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .filter(|r| r.get("passed").and_then(Value::as_bool) != Some(true))
                .filter_map(|r| {
                    str_at(r, &["text"])
                        .or_else(|| str_at(r, &["message"]))
                        .map(|t| format!("• {}", escape(t)))
                })
                .take(REASONS_SHOWN)
                .collect()
        })
        .unwrap_or_default()
}

/// The message describing `envelope` (its `event`, `project` and `data`).
pub fn message(envelope: &Value) -> Value {
    let event = str_at(envelope, &["event"]).unwrap_or("event");
    let project = escape(str_at(envelope, &["project", "key"]).unwrap_or("?"));
    let data = envelope.get("data").cloned().unwrap_or(Value::Null);
    let run = data.get("run").cloned().unwrap_or(Value::Null);
    let (headline, mut details) = match event {
        "run.finished" => {
            let status = str_at(&run, &["status"]).unwrap_or("finished");
            let mark = match status {
                "passed" => ":white_check_mark:",
                "failed" => ":x:",
                _ => ":warning:",
            };
            (
                format!(
                    "{mark} Run {} {status} in `{project}`: {} passed, {} failed, {} skipped of {}",
                    run_link(&run),
                    int_at(&run, &["passedTests"]),
                    int_at(&run, &["failedTests"]),
                    int_at(&run, &["skippedTests"]),
                    int_at(&run, &["totalTests"]),
                ),
                run_details(&run),
            )
        }
        "run.first_failure" => (
            format!(
                ":rotating_light: Run {} in `{project}` has its first failure ({} failed so far; \
                 still running)",
                run_link(&run),
                int_at(&run, &["failedTests"]),
            ),
            run_details(&run),
        ),
        "case.flaky" | "case.broken" => {
            let name = escape(str_at(&data, &["testCase", "name"]).unwrap_or("a test case"));
            let what = if event == "case.flaky" {
                "FLAKY"
            } else {
                "BROKEN"
            };
            let previous = str_at(&data, &["previous"])
                .map(|p| format!(" (was {})", escape(p)))
                .unwrap_or_default();
            (
                format!(":mag: Test case *{name}* in `{project}` is now {what}{previous}"),
                reasons(&data),
            )
        }
        "quality_gate.failed" => {
            let mut details = run_details(&run);
            details.extend(reasons(&data));
            (
                format!(
                    ":no_entry: Quality gate FAILED for run {} in `{project}`",
                    run_link(&run)
                ),
                details,
            )
        }
        "ping" => (
            format!(":wave: Test delivery from JBTestSuite for `{project}`: this webhook works"),
            Vec::new(),
        ),
        other => (
            format!("Event `{}` in `{project}`", escape(other)),
            Vec::new(),
        ),
    };
    if let Some(id) = str_at(envelope, &["id"]) {
        details.push(format!("delivery `{id}`"));
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": headline },
    })];
    if !details.is_empty() {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": details.join(" · ") }],
        }));
    }
    json!({ "text": headline, "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_run_reads_as_a_line_with_a_link_to_its_build() {
        let m = message(&json!({
            "id": "d1", "event": "run.finished", "project": {"key": "shop"},
            "data": {"run": {"name": "nightly <1>", "status": "failed", "passedTests": 8,
                "failedTests": 2, "skippedTests": 0, "totalTests": 10, "branch": "main",
                "commitSha": "abcdef0123456789", "buildUrl": "https://ci.example.com/b/1"}}
        }));
        let text = m["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("<https://ci.example.com/b/1|nightly &lt;1&gt;>"),
            "{text}"
        );
        assert!(text.contains("8 passed, 2 failed"), "{text}");
        assert_eq!(m["blocks"][0]["type"], "section");
        let context = m["blocks"][1]["elements"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(context.contains("commit `abcdef012345`"), "{context}");
    }

    #[test]
    fn unknown_events_still_make_a_message() {
        let m = message(&json!({"event": "x.y", "project": {"key": "p"}}));
        assert!(m["text"].as_str().is_some_and(|t| t.contains("x.y")));
    }
}
