//! Seeding: the project, its configurations, cases and suites, and a week of finished runs,
//! each looked up first and created only when missing. A second seeding finds everything and
//! writes nothing; one interrupted half-way completes what is missing.

use std::collections::HashMap;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use super::catalogue::{CONFIGURATIONS, CaseSpec, SUITES, SuiteSpec};
use super::simulate::Mode;
use super::{CI_USER, Demo, PROJECT_KEY, PROJECT_NAME};

/// Finished runs the history holds: two a day over the six days before today (UTC), the
/// suites in turn.
pub const HISTORY_RUNS: usize = 12;

/// Hours (UTC) the history's two daily builds start at: a morning and an afternoon build.
const HISTORY_HOURS: [u32; 2] = [9, 15];

/// Build number of the history's first run; the simulated CI counts on from the runs there are.
pub const FIRST_BUILD: u64 = 1001;

/// The seeded catalogue, as the simulator needs it: ids and what each case does.
#[derive(Clone)]
pub struct Catalogue {
    /// The project's id.
    pub project: Uuid,
    /// The suites, in [`SUITES`] order.
    pub suites: Vec<Suite>,
    cases: HashMap<Uuid, Case>,
    configurations: HashMap<&'static str, Uuid>,
}

/// A seeded suite.
#[derive(Clone)]
pub struct Suite {
    pub id: Uuid,
    pub spec: &'static SuiteSpec,
}

/// A seeded case: its spec, its place in its suite, its steps' ids in order.
#[derive(Clone)]
pub struct Case {
    pub id: Uuid,
    pub spec: &'static CaseSpec,
    pub position: usize,
    pub steps: Vec<Uuid>,
}

impl Catalogue {
    /// The case with id `id`, when it is one of the catalogue's.
    pub fn case(&self, id: Uuid) -> Option<&Case> {
        self.cases.get(&id)
    }

    /// Number of cases.
    pub fn case_count(&self) -> usize {
        self.cases.len()
    }

    /// The id of the configuration named `name`.
    pub fn configuration(&self, name: &str) -> Option<Uuid> {
        self.configurations.get(name).copied()
    }
}

fn uuid_at(v: &Value) -> anyhow::Result<Uuid> {
    v.as_str()
        .and_then(|s| Uuid::try_parse(s).ok())
        .ok_or_else(|| anyhow::anyhow!("not an id: {v}"))
}

impl Demo {
    /// Seeds what is missing of the catalogue and its history, and returns the catalogue.
    #[tracing::instrument(skip_all)]
    pub async fn seed(&self) -> anyhow::Result<Catalogue> {
        let project = self.project().await?;
        let configurations = self.configurations().await?;
        let cases = self.cases().await?;
        let suites = self.suites(&cases).await?;
        let catalogue = Catalogue {
            project,
            suites,
            cases: cases.into_iter().map(|c| (c.id, c)).collect(),
            configurations,
        };
        self.history(&catalogue).await?;
        Ok(catalogue)
    }

    async fn project(&self) -> anyhow::Result<Uuid> {
        let found = self
            .gql(
                "query($key: String!) { project(key: $key) { id } }",
                json!({ "key": PROJECT_KEY }),
            )
            .await?;
        if !found["project"].is_null() {
            return uuid_at(&found["project"]["id"]);
        }
        let created = self
            .gql(
                "mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }",
                json!({ "input": {
                    "key": PROJECT_KEY,
                    "name": PROJECT_NAME,
                    "description": "An online shop's storefront and payments service, as its \
                                    team tests them: created by `jbtestsuite demo`.",
                } }),
            )
            .await?;
        uuid_at(&created["createProject"]["id"])
    }

    /// Every node of a connection field, a page of 100 at a time.
    async fn all_nodes(
        &self,
        field: &str,
        filter: &str,
        selection: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let query = format!(
            "query($after: String, $key: String!) {{ {field}(first: 100, after: $after, \
             filter: {{ projectKey: $key{filter} }}) {{ nodes {{ {selection} }} \
             pageInfo {{ hasNextPage endCursor }} }} }}"
        );
        let mut nodes = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = self
                .gql(&query, json!({ "after": after, "key": PROJECT_KEY }))
                .await?;
            let page = &page[field];
            nodes.extend(page["nodes"].as_array().cloned().unwrap_or_default());
            if page["pageInfo"]["hasNextPage"] != true {
                return Ok(nodes);
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
    }

    async fn configurations(&self) -> anyhow::Result<HashMap<&'static str, Uuid>> {
        let existing = self
            .all_nodes("configurations", ", isActive: true", "id name")
            .await?;
        let mut out = HashMap::new();
        for spec in CONFIGURATIONS {
            let id = match existing.iter().find(|c| c["name"] == spec.name) {
                Some(found) => uuid_at(&found["id"])?,
                None => {
                    let settings: Value = serde_json::from_str(spec.settings)?;
                    let created = self
                        .gql(
                            "mutation($input: CreateConfigurationInput!) { \
                             createConfiguration(input: $input) { id } }",
                            json!({ "input": {
                                "name": spec.name,
                                "configType": spec.kind,
                                "description": spec.description,
                                "configurationData": settings,
                                "projectKey": PROJECT_KEY,
                            } }),
                        )
                        .await?;
                    uuid_at(&created["createConfiguration"]["id"])?
                }
            };
            out.insert(spec.name, id);
        }
        Ok(out)
    }

    /// The catalogue's cases (by identity key), created when missing, in suite order.
    async fn cases(&self) -> anyhow::Result<Vec<Case>> {
        let existing = self
            .all_nodes("testCases", "", "id identityKey steps { id orderIndex }")
            .await?;
        let by_key: HashMap<&str, &Value> = existing
            .iter()
            .filter_map(|c| c["identityKey"].as_str().map(|k| (k, c)))
            .collect();
        let mut out = Vec::new();
        for suite in SUITES {
            for (position, spec) in suite.cases.iter().enumerate() {
                let node = match by_key.get(spec.key) {
                    Some(found) => (*found).clone(),
                    None => self.create_case(suite, spec).await?,
                };
                let mut steps: Vec<(i64, Uuid)> = node["steps"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|s| Ok((s["orderIndex"].as_i64().unwrap_or(0), uuid_at(&s["id"])?)))
                    .collect::<anyhow::Result<_>>()?;
                steps.sort();
                out.push(Case {
                    id: uuid_at(&node["id"])?,
                    spec,
                    position,
                    steps: steps.into_iter().map(|(_, id)| id).collect(),
                });
            }
        }
        Ok(out)
    }

    async fn create_case(&self, suite: &SuiteSpec, spec: &CaseSpec) -> anyhow::Result<Value> {
        let steps: Vec<Value> = spec
            .steps
            .iter()
            .map(|s| json!({ "name": s.action, "stepType": s.kind, "expectedResult": s.expected }))
            .collect();
        let created = self
            .gql(
                "mutation($input: CreateTestCaseInput!) { createTestCase(input: $input) { \
                 id identityKey steps { id orderIndex } } }",
                json!({ "input": {
                    "name": spec.name,
                    "description": spec.description,
                    "identityKey": spec.key,
                    "category": suite.name,
                    "priority": spec.priority,
                    "tags": spec.tags,
                    "status": "ACTIVE",
                    "isAutomated": true,
                    "retryCount": spec.retries(),
                    "projectKey": PROJECT_KEY,
                    "steps": steps,
                } }),
            )
            .await?;
        Ok(created["createTestCase"].clone())
    }

    /// The suites (by name), created with their cases when missing.
    async fn suites(&self, cases: &[Case]) -> anyhow::Result<Vec<Suite>> {
        let existing = self.all_nodes("testSuites", "", "id name").await?;
        let mut out = Vec::new();
        for spec in SUITES {
            let id = match existing.iter().find(|s| s["name"] == spec.name) {
                Some(found) => uuid_at(&found["id"])?,
                None => {
                    let members: Vec<Uuid> = spec
                        .cases
                        .iter()
                        .filter_map(|c| cases.iter().find(|k| k.spec.key == c.key))
                        .map(|c| c.id)
                        .collect();
                    let created = self
                        .gql(
                            "mutation($input: CreateTestSuiteInput!) { \
                             createTestSuite(input: $input) { id } }",
                            json!({ "input": {
                                "name": spec.name,
                                "description": spec.description,
                                "tags": spec.tags,
                                "projectKey": PROJECT_KEY,
                                "testCaseIds": members,
                            } }),
                        )
                        .await?;
                    uuid_at(&created["createTestSuite"]["id"])?
                }
            };
            out.push(Suite { id, spec });
        }
        Ok(out)
    }

    /// The history: [`HISTORY_RUNS`] runs keyed `demo-history-NN`, played through the API as
    /// the live ones are, then moved to their place in the past week. A run found finished is
    /// left as it is; one found open (an interrupted seeding) is played to its end.
    async fn history(&self, catalogue: &Catalogue) -> anyhow::Result<()> {
        let today = chrono::Utc::now().date_naive();
        for i in 0..HISTORY_RUNS {
            let suite = i % catalogue.suites.len();
            let round = i / catalogue.suites.len();
            let spec = catalogue.suites[suite].spec;
            let configuration = spec.configurations[round % spec.configurations.len()];
            let mut rng = StdRng::seed_from_u64(i as u64);
            let run = self
                .start_run(
                    catalogue,
                    suite,
                    FIRST_BUILD + i as u64,
                    Some(configuration),
                    Some(format!("demo-history-{:02}", i + 1)),
                    &mut rng,
                )
                .await?;
            if run.finished {
                continue;
            }
            self.play_with(
                catalogue,
                &run,
                Mode::History { round },
                Duration::ZERO,
                &mut rng,
            )
            .await?;
            // six days ago to yesterday, a few minutes later or earlier from day to day
            let day = today - chrono::Days::new(((HISTORY_RUNS - i).div_ceil(2)) as u64);
            let started = day
                .and_hms_opt(HISTORY_HOURS[i % 2], (i as u32 * 37) % 50, 0)
                .ok_or_else(|| anyhow::anyhow!("no such time"))?
                .and_utc();
            self.backdate(run.id, started).await?;
        }
        Ok(())
    }

    /// Moves a finished run into the past: it starts at `started`, its executions follow one
    /// another by their durations (in the order they were created), each one's step results
    /// by theirs. The one write outside the API: the API stamps what it writes with the time
    /// it is written. Its flakiness summary follows by itself (the update notes the cases).
    async fn backdate(
        &self,
        run: Uuid,
        started: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        let started = started.fixed_offset();
        let tx = self.db.begin().await?;
        for sql in [
            // executions one after the other, 40 ms apart, from a second after the run's start
            "WITH x AS (
                 SELECT id, coalesce(duration_ms, 0) AS d,
                        $2::timestamptz + interval '1 second'
                          + (sum(coalesce(duration_ms, 0) + 40) OVER w - coalesce(duration_ms, 0) - 40)
                            * interval '1 millisecond' AS s
                 FROM test_executions WHERE test_run_id = $1
                 WINDOW w AS (ORDER BY created_at, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
             UPDATE test_executions e
             SET created_at = x.s,
                 started_at = CASE WHEN e.started_at IS NULL THEN NULL ELSE x.s END,
                 completed_at = CASE WHEN e.completed_at IS NULL THEN NULL
                                     ELSE x.s + x.d * interval '1 millisecond' END
             FROM x WHERE e.id = x.id",
            "WITH x AS (
                 SELECT se.id, coalesce(se.duration_ms, 0) AS d,
                        e.started_at + (sum(coalesce(se.duration_ms, 0)) OVER w - coalesce(se.duration_ms, 0))
                            * interval '1 millisecond' AS s
                 FROM test_step_executions se
                 JOIN test_executions e ON e.id = se.test_execution_id
                 JOIN test_steps st ON st.id = se.test_step_id
                 WHERE e.test_run_id = $1
                 WINDOW w AS (PARTITION BY se.test_execution_id ORDER BY st.order_index, se.id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
             UPDATE test_step_executions t
             SET created_at = x.s,
                 started_at = CASE WHEN t.started_at IS NULL THEN NULL ELSE x.s END,
                 completed_at = CASE WHEN t.completed_at IS NULL THEN NULL
                                     ELSE x.s + x.d * interval '1 millisecond' END
             FROM x WHERE t.id = x.id",
            "UPDATE test_runs r
             SET created_at = $2, started_at = $2 + interval '1 second',
                 completed_at = coalesce((SELECT max(completed_at) FROM test_executions
                                          WHERE test_run_id = $1), $2 + interval '1 second'),
                 last_activity_at = coalesce((SELECT max(completed_at) FROM test_executions
                                              WHERE test_run_id = $1), $2 + interval '1 second')
             WHERE r.id = $1",
        ] {
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [run.into(), started.into()],
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Cancels the simulated runs an earlier demo left open (stopped in the middle of one).
    #[tracing::instrument(skip_all)]
    pub async fn cancel_open_runs(&self) -> anyhow::Result<()> {
        let open = self
            .gql(
                "query($key: String!, $by: String!) { testRuns(first: 100, filter: { \
                 projectKey: $key, triggeredBy: $by, status: [PENDING, RUNNING] }) { \
                 nodes { id runKey } } }",
                json!({ "key": PROJECT_KEY, "by": CI_USER }),
            )
            .await?;
        for run in open["testRuns"]["nodes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            // the history's runs (keyed) are the seeding's to finish
            if run["runKey"].is_null() {
                self.gql(
                    "mutation($id: UUID!) { cancelTestRun(id: $id) { id } }",
                    json!({ "id": run["id"] }),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// How many runs the project has (the simulated CI numbers its builds after them).
    pub async fn run_count(&self) -> anyhow::Result<u64> {
        let runs = self
            .gql(
                "query($key: String!) { testRuns(first: 1, filter: { projectKey: $key }) { totalCount } }",
                json!({ "key": PROJECT_KEY }),
            )
            .await?;
        Ok(runs["testRuns"]["totalCount"].as_u64().unwrap_or(0))
    }
}
