//! Projects: what a team shares, and what a token may do in it (erratum 12 of
//! `docs/architecture.md`).
//!
//! - `projects` (a unique key such as `web-shop`) and `project_members` (a user's role in a
//!   project: `viewer`, `member` or `maintainer`). `project_id` on test cases, suites,
//!   configurations and runs; executions, step results, artifacts and report keys follow their
//!   run (and, by the seed's author rule, their case). Existing rows go into the project
//!   `default`, created here with a fixed id, which is also the column default, so rows written
//!   by SQL without a project land there too.
//! - Row-level security by membership. The seed's author rule stays and membership is added
//!   beside it: a user sees what they wrote and everything in the projects they belong to;
//!   viewers read; members write cases, runs and results; maintainers also manage suites,
//!   configurations and members; admins (their own role, migration 12) everything. What a
//!   request may do is computed once, when it begins (`app_begin_request`, from the token's
//!   project and capabilities and the user's memberships), into settings the policies read
//!   through `(SELECT app_projects('...'))`: an init plan evaluated once per statement, never a
//!   per-row function, so `project_id = ANY(...)` reaches the project indexes (a test reads the
//!   plans).
//! - Uniqueness scoped to what its writers see whole (erratum 11): in a project, writers are
//!   its members, who see all its cases, so a case name is unique per project and category.
//!   The default project keeps the seed's author rule (its non-members see their own rows and
//!   write them), so there a name stays unique per author and category. Configurations: a
//!   name and type unique per project (the default project's configurations are readable by
//!   everyone, as before).
//! - Tokens may be scoped: `api_tokens.project_id` (one project) and `capabilities` (`read`,
//!   `report`, `write`, `admin`; NULL for all the user's roles allow).
//!
//! `down` refuses while rows live outside the default project (it would have to merge
//! projects), then restores the policies and indexes of migration 15.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The project every existing row, and every row written without a project, belongs to.
const DEFAULT_PROJECT: &str = "'00000000-0000-0000-0000-000000000001'::uuid";

/// The caller's user id, once per statement.
const ME: &str = "(SELECT app_user_id())";

/// Which half of a rule: the seed's author rule (policies `TO application_users`, which every
/// member's request runs under), or membership (policies `TO application_project_users`, the
/// role of a request whose user belongs to a project in the token's scope). Split by role so
/// that a user without projects is planned on the author rule alone, as before projects: an
/// OR with a project condition the planner cannot evaluate hides the author index.
#[derive(Clone, Copy, PartialEq)]
enum Half {
    Own,
    Project,
}

impl Half {
    fn role(self) -> &'static str {
        match self {
            Half::Own => "application_users",
            Half::Project => "application_project_users",
        }
    }
}

/// Whether the seed's author rule grants `capability` to this request (an unscoped token).
fn own(capability: &str) -> String {
    format!("(SELECT app_own('{capability}'))")
}

/// `column` is one of the projects this request may `kind` (read, runs, report, write,
/// manage): an init plan, once per statement, compared as an array.
fn in_projects(column: &str, kind: &str) -> String {
    format!("{column} = ANY ((SELECT app_projects('{kind}'))::uuid[])")
}

/// `alias.` or nothing.
fn prefix(t: &str) -> String {
    if t.is_empty() {
        String::new()
    } else {
        format!("{t}.")
    }
}

/// A case (alias `t`, or the table itself with `t` empty) this request may change: its own
/// in the default project, or any in a project it writes.
fn case_writable(half: Half, t: &str) -> String {
    let p = prefix(t);
    match half {
        Half::Own => format!(
            "({p}project_id = {DEFAULT_PROJECT} AND {p}author = {ME} AND {})",
            own("write")
        ),
        Half::Project => in_projects(&format!("{p}project_id"), "write"),
    }
}

/// A suite or configuration (alias `t`) this request may change.
fn managed_writable(half: Half, t: &str) -> String {
    let p = prefix(t);
    match half {
        Half::Own => format!(
            "({p}project_id = {DEFAULT_PROJECT} AND {p}created_by = {ME} AND {})",
            own("write")
        ),
        Half::Project => in_projects(&format!("{p}project_id"), "manage"),
    }
}

/// A run (alias `t`) this request may report into, finish or cancel.
fn run_writable(half: Half, t: &str) -> String {
    let p = prefix(t);
    match half {
        Half::Own => format!(
            "({p}project_id = {DEFAULT_PROJECT} AND {p}triggered_by = {ME} AND {})",
            own("report")
        ),
        // a report-only token writes only into the runs it started
        Half::Project => format!(
            "({} AND ({} OR {p}triggered_by = {ME}))",
            in_projects(&format!("{p}project_id"), "report"),
            in_projects(&format!("{p}project_id"), "runs"),
        ),
    }
}

/// A policy: (table, name, command, role, USING, WITH CHECK).
type Policy = (
    &'static str,
    String,
    &'static str,
    &'static str,
    Option<String>,
    Option<String>,
);

/// Write policies (INSERT, UPDATE, DELETE) of each half.
fn write_policies() -> Vec<Policy> {
    let mut out = Vec::new();
    for half in [Half::Own, Half::Project] {
        let suffix = match half {
            Half::Own => "",
            Half::Project => "_project",
        };
        let mut writes = |table: &'static str, name: &str, check: String| {
            for (command, using, with_check) in [
                ("INSERT", None, Some(check.clone())),
                ("UPDATE", Some(check.clone()), Some(check.clone())),
                ("DELETE", Some(check.clone()), None),
            ] {
                out.push((
                    table,
                    format!("{name}{suffix}_{}_policy", command.to_lowercase()),
                    command,
                    half.role(),
                    using,
                    with_check,
                ));
            }
        };
        let run_of_execution = |column: &str| {
            format!(
                "EXISTS (SELECT 1 FROM test_executions te JOIN test_runs r ON r.id = te.test_run_id \
                 WHERE te.id = {column} AND {})",
                run_writable(half, "r")
            )
        };
        writes("test_cases", "test_case", case_writable(half, ""));
        writes(
            "test_steps",
            "test_step",
            format!(
                "EXISTS (SELECT 1 FROM test_cases t WHERE t.id = test_case_id AND {})",
                case_writable(half, "t")
            ),
        );
        writes("test_suites", "test_suite", managed_writable(half, ""));
        // a suite's membership changes with the suite (anyone's in the default project, as
        // before projects), for a case of the suite's project that its writer sees
        let suite = match half {
            Half::Own => format!("(s.project_id = {DEFAULT_PROJECT} AND {})", own("write")),
            Half::Project => in_projects("s.project_id", "manage"),
        };
        writes(
            "test_suite_test_cases",
            "test_suite_test_case",
            format!(
                "EXISTS (SELECT 1 FROM test_suites s JOIN test_cases c ON c.id = test_case_id \
                 WHERE s.id = test_suite_id AND c.project_id = s.project_id AND {suite})"
            ),
        );
        writes(
            "configurations",
            "configuration",
            managed_writable(half, ""),
        );
        writes("test_runs", "test_run", run_writable(half, ""));
        // an execution is written into a run its writer may report into, for a case they see
        writes(
            "test_executions",
            "test_execution",
            format!(
                "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id) \
                 AND EXISTS (SELECT 1 FROM test_runs r WHERE r.id = test_run_id AND {})",
                run_writable(half, "r")
            ),
        );
        writes(
            "test_step_executions",
            "test_step_execution",
            run_of_execution("test_execution_id"),
        );
        writes(
            "test_artifacts",
            "test_artifact",
            format!(
                "({}) OR EXISTS (SELECT 1 FROM test_step_executions tse \
                 JOIN test_executions te ON te.id = tse.test_execution_id \
                 JOIN test_runs r ON r.id = te.test_run_id \
                 WHERE tse.id = test_step_execution_id AND {})",
                run_of_execution("test_execution_id"),
                run_writable(half, "r")
            ),
        );
        writes(
            "test_result_reports",
            "test_result_report",
            format!(
                "EXISTS (SELECT 1 FROM test_runs r WHERE r.id = test_run_id AND {})",
                run_writable(half, "r")
            ),
        );
        if half == Half::Project {
            writes(
                "project_members",
                "project_member",
                in_projects("project_id", "manage"),
            );
            out.push((
                "projects",
                "project_project_update_policy".to_owned(),
                "UPDATE",
                half.role(),
                Some(in_projects("id", "maintain")),
                Some(in_projects("id", "maintain")),
            ));
        }
    }
    out
}

/// Whether an execution (of `table`, live or archived) is visible: with its case, to the
/// case's author (the seed's rule), and with its run, to those who read the project's runs or
/// to its reporter (a report-only token); a hidden case's result in someone's run stays hidden.
fn executions_readable(half: Half, table: &str) -> String {
    match half {
        // a report-only token: its cases' results in the runs it started
        Half::Own => format!(
            "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = {table}.test_case_id \
             AND tc.author = {ME} AND ({runs} OR ({report} AND EXISTS (SELECT 1 FROM test_runs r \
             WHERE r.id = {table}.test_run_id AND r.triggered_by = {ME}))))",
            runs = own("runs"),
            report = own("report"),
        ),
        Half::Project => format!(
            "EXISTS (SELECT 1 FROM test_runs r WHERE r.id = {table}.test_run_id \
             AND ({} OR (r.triggered_by = {ME} AND {})))",
            in_projects("r.project_id", "runs"),
            in_projects("r.project_id", "report"),
        ),
    }
}

/// Read policies of each half.
fn read_policies() -> Vec<Policy> {
    let mut out: Vec<Policy> = Vec::new();
    let mut read = |table: &'static str, name: &str, half: Half, using: String| {
        out.push((
            table,
            name.to_owned(),
            "SELECT",
            half.role(),
            Some(using),
            None,
        ));
    };
    use Half::{Own, Project};
    // the seed's rules, and those that follow a parent (its policies decide)
    read(
        "test_cases",
        "test_case_access_policy",
        Own,
        format!("author = {ME} AND {}", own("read")),
    );
    read(
        "test_steps",
        "test_step_access_policy",
        Own,
        "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)".to_owned(),
    );
    let managed = format!(
        "{} AND (project_id = {DEFAULT_PROJECT} OR created_by = {ME})",
        own("read")
    );
    read(
        "test_suites",
        "test_suite_read_policy",
        Own,
        managed.clone(),
    );
    read(
        "test_suite_test_cases",
        "test_suite_test_case_access_policy",
        Own,
        "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)".to_owned(),
    );
    read("configurations", "configuration_read_policy", Own, managed);
    read(
        "test_runs",
        "test_run_access_policy",
        Own,
        format!(
            "triggered_by = {ME} AND ({} OR {})",
            own("runs"),
            own("report")
        ),
    );
    read(
        "test_executions",
        "test_execution_access_policy",
        Own,
        executions_readable(Own, "test_executions"),
    );
    read(
        "test_step_executions",
        "test_step_execution_access_policy",
        Own,
        "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)".to_owned(),
    );
    read(
        "test_artifacts",
        "test_artifact_access_policy",
        Own,
        "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id) \
         OR EXISTS (SELECT 1 FROM test_step_executions tse WHERE tse.id = test_step_execution_id)"
            .to_owned(),
    );
    read(
        "test_result_reports",
        "test_result_report_access_policy",
        Own,
        "EXISTS (SELECT 1 FROM test_runs r WHERE r.id = test_run_id)".to_owned(),
    );
    read(
        "projects",
        "project_read_policy",
        Own,
        format!("id = {DEFAULT_PROJECT} AND {}", own("read")),
    );
    read(
        "project_members",
        "project_member_read_policy",
        Own,
        format!("user_id = {ME} AND {}", own("read")),
    );
    // membership
    for (table, name, column) in [
        ("test_cases", "test_case_project_read_policy", "project_id"),
        (
            "test_suites",
            "test_suite_project_read_policy",
            "project_id",
        ),
        (
            "configurations",
            "configuration_project_read_policy",
            "project_id",
        ),
        ("projects", "project_project_read_policy", "id"),
        (
            "project_members",
            "project_member_project_read_policy",
            "project_id",
        ),
    ] {
        read(table, name, Project, in_projects(column, "read"));
    }
    read(
        "test_runs",
        "test_run_project_read_policy",
        Project,
        format!(
            "{} OR (triggered_by = {ME} AND {})",
            in_projects("project_id", "runs"),
            in_projects("project_id", "report")
        ),
    );
    read(
        "test_executions",
        "test_execution_project_read_policy",
        Project,
        executions_readable(Project, "test_executions"),
    );
    read(
        "test_executions_archive",
        "test_execution_archive_project_read_policy",
        Project,
        executions_readable(Project, "test_executions_archive"),
    );
    // a case's flakiness summarises its results: it is read with the results
    read(
        "test_case_flakiness",
        "test_case_flakiness_access_policy",
        Own,
        format!(
            "{} AND EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
            own("runs")
        ),
    );
    read(
        "test_case_flakiness",
        "test_case_flakiness_project_read_policy",
        Project,
        format!(
            "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id AND {})",
            in_projects("tc.project_id", "runs")
        ),
    );
    out
}

/// The read and write policies of migration 15 this one replaces, for `down`:
/// (table, policy, command, USING, WITH CHECK).
type PreviousPolicy = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const PREVIOUS: &[PreviousPolicy] = &[
    (
        "test_cases",
        "test_case_access_policy",
        "ALL",
        Some("author = (SELECT app_user_id())"),
        None,
    ),
    (
        "test_steps",
        "test_step_access_policy",
        "ALL",
        Some("EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)"),
        None,
    ),
    (
        "test_suites",
        "test_suite_read_policy",
        "SELECT",
        Some("true"),
        None,
    ),
    (
        "test_suites",
        "test_suite_insert_policy",
        "INSERT",
        None,
        Some("app_is_admin() OR created_by = app_user_id()"),
    ),
    (
        "test_suites",
        "test_suite_update_policy",
        "UPDATE",
        Some("app_is_admin() OR created_by = app_user_id()"),
        None,
    ),
    (
        "test_suites",
        "test_suite_delete_policy",
        "DELETE",
        Some("app_is_admin() OR created_by = app_user_id()"),
        None,
    ),
    (
        "test_suite_test_cases",
        "test_suite_test_case_access_policy",
        "ALL",
        Some("EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)"),
        None,
    ),
    (
        "configurations",
        "configuration_read_policy",
        "SELECT",
        Some("true"),
        None,
    ),
    (
        "configurations",
        "configuration_insert_policy",
        "INSERT",
        None,
        Some("app_is_admin() OR created_by = app_user_id()"),
    ),
    (
        "configurations",
        "configuration_update_policy",
        "UPDATE",
        Some("app_is_admin() OR created_by = app_user_id()"),
        None,
    ),
    (
        "configurations",
        "configuration_delete_policy",
        "DELETE",
        Some("app_is_admin() OR created_by = app_user_id()"),
        None,
    ),
    (
        "test_runs",
        "test_run_access_policy",
        "ALL",
        Some("triggered_by = (SELECT app_user_id())"),
        None,
    ),
    (
        "test_executions",
        "test_execution_access_policy",
        "ALL",
        Some(
            "EXISTS (SELECT 1 FROM test_cases tc \
             WHERE tc.id = test_case_id AND tc.author = (SELECT app_user_id()))",
        ),
        None,
    ),
    (
        "test_step_executions",
        "test_step_execution_access_policy",
        "ALL",
        Some("EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)"),
        None,
    ),
    (
        "test_artifacts",
        "test_artifact_access_policy",
        "ALL",
        Some(
            "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id) \
             OR EXISTS (SELECT 1 FROM test_step_executions tse WHERE tse.id = test_step_execution_id)",
        ),
        None,
    ),
    (
        "test_result_reports",
        "test_result_report_access_policy",
        "ALL",
        Some("EXISTS (SELECT 1 FROM test_runs r WHERE r.id = test_run_id)"),
        None,
    ),
    (
        "test_case_flakiness",
        "test_case_flakiness_access_policy",
        "SELECT",
        Some("EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)"),
        None,
    ),
];

/// Policies of earlier migrations dropped by `up` (they are replaced by [`policies`] and
/// [`read_policies`]).
const DROPPED: &[(&str, &str)] = &[
    ("test_cases", "test_case_access_policy"),
    ("test_steps", "test_step_access_policy"),
    ("test_suites", "test_suite_read_policy"),
    ("test_suites", "test_suite_insert_policy"),
    ("test_suites", "test_suite_update_policy"),
    ("test_suites", "test_suite_delete_policy"),
    (
        "test_suite_test_cases",
        "test_suite_test_case_access_policy",
    ),
    ("configurations", "configuration_read_policy"),
    ("configurations", "configuration_insert_policy"),
    ("configurations", "configuration_update_policy"),
    ("configurations", "configuration_delete_policy"),
    ("test_runs", "test_run_access_policy"),
    ("test_executions", "test_execution_access_policy"),
    ("test_step_executions", "test_step_execution_access_policy"),
    ("test_artifacts", "test_artifact_access_policy"),
    ("test_result_reports", "test_result_report_access_policy"),
    ("test_case_flakiness", "test_case_flakiness_access_policy"),
];

const TABLES: &str = r#"
-- the role of a request whose user belongs to a project in its token's scope: a member of
-- application_users (the same privileges and the author rule's policies) with membership's
-- policies besides; cluster-wide like the others, created if absent
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'application_project_users') THEN
        CREATE ROLE application_project_users NOLOGIN;
    END IF;
END
$$;
GRANT application_users TO application_project_users;
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT application_project_users TO %I', current_user);
    END IF;
END
$$;

CREATE TABLE projects (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    key VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    archived BOOLEAN NOT NULL DEFAULT false,
    created_by VARCHAR(100),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CONSTRAINT uq_projects_key UNIQUE (key),
    CONSTRAINT ck_projects_key CHECK (key ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'),
    CONSTRAINT ck_projects_name_not_blank CHECK (btrim(name) <> '')
);
CREATE TRIGGER projects_set_updated_at BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

INSERT INTO projects(id, key, name, description)
VALUES ('00000000-0000-0000-0000-000000000001', 'default', 'Default',
        'Rows created before projects existed, and those created without a project.');

CREATE TABLE project_members (
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id VARCHAR(100) NOT NULL,
    role VARCHAR(20) NOT NULL,
    added_by VARCHAR(100),
    added_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    PRIMARY KEY (project_id, user_id),
    CONSTRAINT ck_project_members_role CHECK (role IN ('viewer', 'member', 'maintainer')),
    CONSTRAINT ck_project_members_user_id_not_blank CHECK (btrim(user_id) <> '')
);
CREATE INDEX ix_project_members_user_id ON project_members(user_id);

ALTER TABLE test_cases ADD COLUMN project_id UUID NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES projects(id);
ALTER TABLE test_suites ADD COLUMN project_id UUID NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES projects(id);
ALTER TABLE configurations ADD COLUMN project_id UUID NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES projects(id);
ALTER TABLE test_runs ADD COLUMN project_id UUID NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000001' REFERENCES projects(id);
CREATE INDEX ix_test_cases_project_id ON test_cases(project_id);
CREATE INDEX ix_test_suites_project_id ON test_suites(project_id);
CREATE INDEX ix_configurations_project_id ON configurations(project_id);
CREATE INDEX ix_test_runs_project_id ON test_runs(project_id, started_at DESC);

-- erratum 12: names unique where their writers see every row
DROP INDEX uq_test_cases_name_category_author;
CREATE UNIQUE INDEX uq_test_cases_name_category_author
    ON test_cases(name, category, author) NULLS NOT DISTINCT
    WHERE status <> 'archived' AND project_id = '00000000-0000-0000-0000-000000000001';
CREATE UNIQUE INDEX uq_test_cases_project_name_category
    ON test_cases(project_id, name, category) NULLS NOT DISTINCT
    WHERE status <> 'archived' AND project_id <> '00000000-0000-0000-0000-000000000001';
DROP INDEX uq_configurations_active_name_type;
CREATE UNIQUE INDEX uq_configurations_active_name_type
    ON configurations(project_id, name, config_type) WHERE is_active = true;

ALTER TABLE api_tokens
    ADD COLUMN project_id UUID REFERENCES projects(id) ON DELETE CASCADE,
    ADD COLUMN capabilities TEXT[],
    ADD CONSTRAINT ck_api_tokens_capabilities CHECK (capabilities IS NULL OR
        (cardinality(capabilities) > 0
         AND capabilities <@ ARRAY['read', 'report', 'write', 'admin']::text[]));
CREATE INDEX ix_api_tokens_project_id ON api_tokens(project_id);

-- archival and restoring run as the tables' owner: a request only reads the archive
REVOKE INSERT, DELETE ON test_executions_archive, test_step_executions_archive,
    test_artifacts_archive FROM application_users;

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE project_members ENABLE ROW LEVEL SECURITY;
GRANT SELECT, UPDATE ON projects TO application_users;
GRANT SELECT, INSERT, UPDATE, DELETE ON project_members TO application_users;
CREATE POLICY projects_admin_all_policy ON projects FOR ALL TO application_admins
    USING (true) WITH CHECK (true);
CREATE POLICY project_members_admin_all_policy ON project_members FOR ALL TO application_admins
    USING (true) WITH CHECK (true);
GRANT INSERT ON projects TO application_admins;

CREATE TRIGGER projects_audit_insert AFTER INSERT ON projects
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger('id');
CREATE TRIGGER projects_audit_update AFTER UPDATE ON projects
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger('id');
CREATE TRIGGER project_members_audit_insert AFTER INSERT ON project_members
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger('project_id', 'user_id');
CREATE TRIGGER project_members_audit_update AFTER UPDATE ON project_members
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger('project_id', 'user_id');
CREATE TRIGGER project_members_audit_delete AFTER DELETE ON project_members
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger('project_id', 'user_id');

-- what a request may do, in the settings its policies read
CREATE FUNCTION app_projects(kind TEXT) RETURNS UUID[] LANGUAGE sql STABLE AS
$$ SELECT coalesce(string_to_array(nullif(current_setting('app.projects_' || kind, true), ''), ',')::uuid[], '{}') $$;
CREATE FUNCTION app_own(capability TEXT) RETURNS BOOLEAN LANGUAGE sql STABLE AS
$$ SELECT coalesce(capability = ANY(string_to_array(current_setting('app.own', true), ',')), false) $$;
GRANT EXECUTE ON FUNCTION app_projects(TEXT), app_own(TEXT) TO application_users;

-- Begins a request's security context: who, what its token may do, and in which projects by
-- the user's memberships (read here, before the role changes), then the role and the time
-- limits. Returns the backend's pid (to cancel a statement of a request past its time).
--
--   read:    the projects whose catalogue the request reads (any role; any capability)
--   runs:    whose runs and results it reads (any role; read, write or admin)
--   report:  where it starts runs and reports (member or maintainer; report, write or admin)
--   write:   where it changes test cases (member or maintainer; write or admin)
--   manage:  where it manages suites, configurations and members (maintainer; write or admin)
--   maintain: which projects it may rename, archive and restore (as manage, archived too)
--   own:     what the seed's author rule grants (unscoped tokens only): read (the
--            catalogue), runs (runs and results: not a report-only token), report, write
--
-- Archived projects are read-only. A token scoped to a project acts there by membership only
-- (an admin's scoped token as a maintainer of that project).
CREATE FUNCTION app_begin_request(p_user TEXT, p_roles TEXT, p_role TEXT, p_project UUID,
                                  p_capabilities TEXT[], p_timeout TEXT)
RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    caps TEXT[] := coalesce(p_capabilities, ARRAY['read', 'report', 'write', 'admin']);
    reads BOOLEAN := caps && ARRAY['read', 'report', 'write', 'admin'];
    full_reads BOOLEAN := caps && ARRAY['read', 'write', 'admin'];
    reports BOOLEAN := caps && ARRAY['report', 'write', 'admin'];
    writes BOOLEAN := caps && ARRAY['write', 'admin'];
    admin BOOLEAN := 'admin' = ANY(string_to_array(p_roles, ','));
BEGIN
    IF p_role = 'application_admins' THEN
        -- an admin's policies are `true`: no membership to read
        PERFORM set_config('app.user_id', p_user, true),
                set_config('app.user_roles', p_roles, true),
                set_config('role', p_role, true),
                set_config('statement_timeout', p_timeout, true),
                set_config('idle_in_transaction_session_timeout', p_timeout, true);
        RETURN pg_backend_pid();
    END IF;
    -- one statement: the memberships are read (as the owner) before any setting is made
    PERFORM set_config('app.user_id', p_user, true),
            -- the roles the request acts with: an admin's token that does not act as an
            -- admin (limited to a project, or without the admin capability) claims no admin
            -- role in any policy that reads the setting
            set_config('app.user_roles', CASE WHEN p_role = 'application_admins' THEN p_roles
                ELSE array_to_string(array_remove(string_to_array(p_roles, ','), 'admin'), ',')
                END, true),
            set_config('app.projects_read', coalesce(a.s_read, ''), true),
            set_config('app.projects_runs', coalesce(a.s_runs, ''), true),
            set_config('app.projects_report', coalesce(a.s_report, ''), true),
            set_config('app.projects_write', coalesce(a.s_write, ''), true),
            set_config('app.projects_manage', coalesce(a.s_manage, ''), true),
            set_config('app.projects_maintain', coalesce(a.s_maintain, ''), true),
            -- a viewer of the default project reads there, even their own rows: the author
            -- rule gives them no writes
            set_config('app.own', CASE WHEN p_project IS NOT NULL THEN '' ELSE
                array_to_string(ARRAY[
                    CASE WHEN reads THEN 'read' END,
                    CASE WHEN full_reads THEN 'runs' END,
                    CASE WHEN reports AND NOT a.default_viewer THEN 'report' END,
                    CASE WHEN writes AND NOT a.default_viewer THEN 'write' END], ',') END, true),
            set_config('role', CASE WHEN p_role = 'application_users' AND a.s_read IS NOT NULL
                                    THEN 'application_project_users' ELSE p_role END, true),
            set_config('statement_timeout', p_timeout, true),
            set_config('idle_in_transaction_session_timeout', p_timeout, true)
      FROM (SELECT
              string_agg(m.project_id::text, ',') FILTER (WHERE m.in_scope AND reads) AS s_read,
              string_agg(m.project_id::text, ',') FILTER (WHERE m.in_scope AND full_reads) AS s_runs,
              string_agg(m.project_id::text, ',') FILTER (
                  WHERE m.in_scope AND reports AND NOT m.archived
                    AND m.role IN ('member', 'maintainer')) AS s_report,
              string_agg(m.project_id::text, ',') FILTER (
                  WHERE m.in_scope AND writes AND NOT m.archived
                    AND m.role IN ('member', 'maintainer')) AS s_write,
              string_agg(m.project_id::text, ',') FILTER (
                  WHERE m.in_scope AND writes AND NOT m.archived AND m.role = 'maintainer') AS s_manage,
              string_agg(m.project_id::text, ',') FILTER (
                  WHERE m.in_scope AND writes AND m.role = 'maintainer') AS s_maintain,
              coalesce(bool_or(m.role = 'viewer'
                  AND m.project_id = '00000000-0000-0000-0000-000000000001'), false) AS default_viewer
            FROM (SELECT pm.project_id, pm.role, p.archived,
                         (p_project IS NULL OR pm.project_id = p_project) AS in_scope
                    FROM project_members pm JOIN projects p ON p.id = pm.project_id
                   WHERE pm.user_id = p_user
                  UNION ALL
                  SELECT p.id, 'maintainer', p.archived, true FROM projects p
                   WHERE admin AND p.id = p_project) m) a;
    IF NOT FOUND THEN
        -- never serve a request whose role was not set (it would run as the owner)
        RAISE EXCEPTION 'app_begin_request: the security context was not set';
    END IF;
    RETURN pg_backend_pid();
END
$$;
"#;

fn up_sql() -> String {
    let mut sql = String::from(TABLES);
    for (table, policy) in DROPPED {
        sql.push_str(&format!("DROP POLICY {policy} ON {table};\n"));
    }
    for (table, policy, command, role, using, check) in
        read_policies().into_iter().chain(write_policies())
    {
        sql.push_str(&format!(
            "CREATE POLICY {policy} ON {table} FOR {command} TO {role}{}{};\n",
            using.map(|u| format!(" USING ({u})")).unwrap_or_default(),
            check
                .map(|c| format!(" WITH CHECK ({c})"))
                .unwrap_or_default(),
        ));
    }
    sql.push_str(&format!(
        "ALTER POLICY test_execution_archive_access_policy ON test_executions_archive USING ({});\n",
        executions_readable(Half::Own, "test_executions_archive")
    ));
    sql.push_str(&audit_read_policy(true));
    sql
}

/// The audit log's read policy: an entry is visible with the row it is about.
fn audit_read_policy(with_projects: bool) -> String {
    let projects = if with_projects {
        "WHEN 'projects' THEN EXISTS (SELECT 1 FROM projects t WHERE t.id = record_id)
         WHEN 'project_members' THEN record_id = ANY ((SELECT app_projects('read'))::uuid[])"
    } else {
        ""
    };
    format!(
        "ALTER POLICY audit_log_read_policy ON audit_log USING (app_is_admin() OR CASE table_name
        WHEN 'test_cases' THEN EXISTS (SELECT 1 FROM test_cases t WHERE t.id = record_id)
        WHEN 'test_steps' THEN EXISTS (SELECT 1 FROM test_steps t WHERE t.id = record_id)
        WHEN 'test_suites' THEN EXISTS (SELECT 1 FROM test_suites t WHERE t.id = record_id)
        WHEN 'test_suite_test_cases' THEN EXISTS (
            SELECT 1 FROM test_cases t
            WHERE t.id = (coalesce(new_values, old_values) ->> 'test_case_id')::uuid)
        WHEN 'configurations' THEN EXISTS (SELECT 1 FROM configurations t WHERE t.id = record_id)
        WHEN 'test_runs' THEN EXISTS (SELECT 1 FROM test_runs t WHERE t.id = record_id)
        WHEN 'test_executions' THEN EXISTS (SELECT 1 FROM test_executions t WHERE t.id = record_id)
            OR EXISTS (SELECT 1 FROM test_executions_archive t WHERE t.id = record_id)
        WHEN 'test_step_executions' THEN EXISTS (SELECT 1 FROM test_step_executions t WHERE t.id = record_id)
        WHEN 'test_artifacts' THEN EXISTS (SELECT 1 FROM test_artifacts t WHERE t.id = record_id)
        {projects}
        ELSE false
    END);\n"
    )
}

fn down_sql() -> String {
    let mut sql = String::from(
        r#"
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM projects WHERE id <> '00000000-0000-0000-0000-000000000001') THEN
        RAISE EXCEPTION 'cannot remove projects: projects other than default exist'
            USING HINT = 'move their rows into the default project and delete the other projects, then migrate down again';
    END IF;
END
$$;
"#,
    );
    for (table, policy, _, _, _, _) in read_policies().into_iter().chain(write_policies()) {
        sql.push_str(&format!("DROP POLICY {policy} ON {table};\n"));
    }
    for (table, policy, command, using, check) in PREVIOUS {
        sql.push_str(&format!(
            "CREATE POLICY {policy} ON {table} FOR {command} TO application_users{}{};\n",
            using.map(|u| format!(" USING ({u})")).unwrap_or_default(),
            check
                .map(|c| format!(" WITH CHECK ({c})"))
                .unwrap_or_default(),
        ));
    }
    sql.push_str(
        "ALTER POLICY test_execution_archive_access_policy ON test_executions_archive USING (\
         app_is_admin() OR EXISTS (SELECT 1 FROM test_cases tc \
         WHERE tc.id = test_case_id AND tc.author = app_user_id()));\n",
    );
    sql.push_str(&audit_read_policy(false));
    sql.push_str(
        r#"
DELETE FROM audit_log WHERE table_name IN ('projects', 'project_members');
DROP FUNCTION app_begin_request(TEXT, TEXT, TEXT, UUID, TEXT[], TEXT);
DROP FUNCTION app_own(TEXT);
DROP FUNCTION app_projects(TEXT);
GRANT INSERT, DELETE ON test_executions_archive, test_step_executions_archive,
    test_artifacts_archive TO application_users;
DROP INDEX ix_api_tokens_project_id;
ALTER TABLE api_tokens DROP CONSTRAINT ck_api_tokens_capabilities,
    DROP COLUMN capabilities, DROP COLUMN project_id;
DROP INDEX uq_configurations_active_name_type;
CREATE UNIQUE INDEX uq_configurations_active_name_type
    ON configurations(name, config_type) WHERE is_active = true;
DROP INDEX uq_test_cases_project_name_category;
DROP INDEX uq_test_cases_name_category_author;
CREATE UNIQUE INDEX uq_test_cases_name_category_author
    ON test_cases(name, category, author) NULLS NOT DISTINCT WHERE status <> 'archived';
ALTER TABLE test_runs DROP COLUMN project_id;
ALTER TABLE configurations DROP COLUMN project_id;
ALTER TABLE test_suites DROP COLUMN project_id;
ALTER TABLE test_cases DROP COLUMN project_id;
DROP TABLE project_members;
DROP TABLE projects;
DO $$
BEGIN
    DROP ROLE IF EXISTS application_project_users;
EXCEPTION WHEN dependent_objects_still_exist THEN
    -- another database of this cluster still has policies for it
    NULL;
END
$$;
"#,
    );
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&up_sql())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&down_sql())
            .await?;
        Ok(())
    }
}
