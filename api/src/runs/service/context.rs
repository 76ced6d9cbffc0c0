//! A run's context: the commit, branch, build URL and environment its results come from. Given
//! explicitly (checked: a bad value is BAD_USER_INPUT naming its field), or taken from the
//! run's `runConfiguration` keys that CI tools commonly use (taken only when valid: a free-form
//! setting that does not look like one is left where it is). A run that already has a value
//! keeps it: a run started again by its key, or imported into again, fills only what it lacks.

use sea_orm::{ConnectionTrait, FromQueryResult};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Longest commit id (`VARCHAR(64)`): a SHA-256 Git object id in hex.
pub const COMMIT_SHA_MAX: usize = 64;
/// Longest branch name (`VARCHAR(255)`): Git's own refs are far shorter.
pub const BRANCH_MAX: usize = 255;
/// Longest build URL (`VARCHAR(2000)`): the longest URL browsers and proxies reliably pass.
pub const BUILD_URL_MAX: usize = 2_000;
/// Longest environment name (`VARCHAR(100)`).
pub const ENVIRONMENT_MAX: usize = 100;

/// The `runConfiguration` keys each part of the context is taken from, in order of preference.
const COMMIT_KEYS: &[&str] = &["commitSha", "commit", "sha"];
const BRANCH_KEYS: &[&str] = &["branch"];
const BUILD_URL_KEYS: &[&str] = &["buildUrl"];
const ENVIRONMENT_KEYS: &[&str] = &["environment"];

/// Where a run's results come from, normalised: trimmed, the commit lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunContext {
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    pub build_url: Option<String>,
    pub environment: Option<String>,
}

fn commit(field: &str, value: &str) -> AppResult<String> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= COMMIT_SHA_MAX
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(AppError::bad_input(
            field,
            format!(
                "{field} must be 1 to {COMMIT_SHA_MAX} letters, digits, '.', '_' or '-' \
                 (a commit id)"
            ),
        ));
    }
    Ok(v.to_ascii_lowercase())
}

fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not be blank"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not hold control characters"),
        ));
    }
    crate::input::check_len(field, Some(v), max)?;
    Ok(v.to_owned())
}

fn url(field: &str, value: &str) -> AppResult<String> {
    let v = text(field, value, BUILD_URL_MAX)?;
    let lower = v.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://"))
        || v.chars().any(char::is_whitespace)
    {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be an http or https URL"),
        ));
    }
    Ok(v)
}

impl RunContext {
    /// The context given explicitly, checked; `prefix` goes before the field names in errors
    /// (`input.`, or nothing).
    pub fn checked(
        prefix: &str,
        commit_sha: Option<&str>,
        branch: Option<&str>,
        build_url: Option<&str>,
        environment: Option<&str>,
    ) -> AppResult<Self> {
        let f = |name: &str| format!("{prefix}{name}");
        Ok(Self {
            commit_sha: commit_sha.map(|v| commit(&f("commitSha"), v)).transpose()?,
            branch: branch
                .map(|v| text(&f("branch"), v, BRANCH_MAX))
                .transpose()?,
            build_url: build_url.map(|v| url(&f("buildUrl"), v)).transpose()?,
            environment: environment
                .map(|v| text(&f("environment"), v, ENVIRONMENT_MAX))
                .transpose()?,
        })
    }

    /// What a run configuration's usual keys say (`commitSha`/`commit`/`sha`, `branch`,
    /// `buildUrl`, `environment`), each taken only when it is a valid value.
    pub fn from_configuration(config: &Value) -> Self {
        let first = |keys: &[&str], check: &dyn Fn(&str) -> AppResult<String>| {
            keys.iter().find_map(|k| match config.get(k) {
                Some(Value::String(s)) => check(s).ok(),
                // a short commit id written as a number in YAML (`commit: 1234567`)
                Some(Value::Number(n)) => check(&n.to_string()).ok(),
                _ => None,
            })
        };
        Self {
            commit_sha: first(COMMIT_KEYS, &|v| commit("commitSha", v)),
            branch: first(BRANCH_KEYS, &|v| text("branch", v, BRANCH_MAX)),
            build_url: first(BUILD_URL_KEYS, &|v| url("buildUrl", v)),
            environment: first(ENVIRONMENT_KEYS, &|v| {
                text("environment", v, ENVIRONMENT_MAX)
            }),
        }
    }

    /// Each part from `self`, else from `other`.
    pub fn or(self, other: Self) -> Self {
        Self {
            commit_sha: self.commit_sha.or(other.commit_sha),
            branch: self.branch.or(other.branch),
            build_url: self.build_url.or(other.build_url),
            environment: self.environment.or(other.environment),
        }
    }

    /// Whether no part is known.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// Gives the run the parts of `context` it lacks (a part it has is kept); answers the run.
/// Writes only when something is missing and given.
pub async fn fill(
    conn: &impl ConnectionTrait,
    run: entity::test_run::Model,
    context: &RunContext,
) -> AppResult<entity::test_run::Model> {
    let lacks = |have: &Option<String>, given: &Option<String>| have.is_none() && given.is_some();
    if !(lacks(&run.commit_sha, &context.commit_sha)
        || lacks(&run.branch, &context.branch)
        || lacks(&run.build_url, &context.build_url)
        || lacks(&run.environment, &context.environment))
    {
        return Ok(run);
    }
    let id: Uuid = run.id;
    let row = conn
        .query_one_raw(crate::sql::statement(
            "UPDATE test_runs SET commit_sha = coalesce(commit_sha, $2),
                    branch = coalesce(branch, $3), build_url = coalesce(build_url, $4),
                    environment = coalesce(environment, $5)
             WHERE id = $1 RETURNING *",
            vec![
                id.into(),
                context.commit_sha.clone().into(),
                context.branch.clone().into(),
                context.build_url.clone().into(),
                context.environment.clone().into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::not_found("TestRun", id))?;
    Ok(entity::test_run::Model::from_query_result(&row, "")?)
}
