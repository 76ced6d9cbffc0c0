//! Webhooks, delivered from a transactional outbox.
//!
//! - `webhooks`: a project's subscriptions: an endpoint URL, the secret that signs each body
//!   (HMAC-SHA256; kept in clear because signing needs it, so requests cannot read the column:
//!   they read `secret_hint`, its last four characters), the events it wants (a non-empty
//!   subset of a fixed set) and the body's format (`json`, or `slack` for a Slack incoming
//!   webhook).
//! - `webhook_deliveries`: the outbox. An event inserts one row per subscribed webhook in the
//!   transaction that made the change, so a delivery exists if and only if its change
//!   committed. The row's id is the envelope's id, sent as `X-JBTS-Delivery`: receivers dedupe
//!   on it, which makes at-least-once delivery exactly-once for them. Deliverers claim due rows
//!   with `FOR UPDATE SKIP LOCKED`, so several server processes share the work and a process
//!   that dies mid-call releases its rows.
//! - `webhook_delivery_attempts`: every attempt (time, duration, HTTP status or error).
//! - `enqueue_webhook_event(project, event, subject, payload)`: the one way to raise an event
//!   (the run events below, and the events of flaky classification and quality gates). One
//!   indexed lookup when no webhook matches; otherwise the rows, and a `pg_notify` on
//!   `jbts_webhooks` that wakes the deliverers at COMMIT (never before, never on ROLLBACK).
//! - Run events: a row trigger on `test_runs`, whose `WHEN` makes it free for every other
//!   update: `run.finished` when a run reaches passed, failed, cancelled or aborted;
//!   `run.first_failure` when a run that was pending or running gets its first failure (at
//!   that failure, not at the run's end).
//! - Row-level security: a project's maintainers (and admins) manage and read its webhooks
//!   and their deliveries; the deliverer runs as the owner. Changes to webhooks are audited
//!   with the secret left out of the audit's values (`audit_trigger_redacting`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE webhooks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    url VARCHAR(2000) NOT NULL,
    secret VARCHAR(256) NOT NULL,
    secret_hint VARCHAR(4) GENERATED ALWAYS AS (right(secret, 4)) STORED,
    events TEXT[] NOT NULL,
    format VARCHAR(10) NOT NULL DEFAULT 'json',
    active BOOLEAN NOT NULL DEFAULT true,
    description TEXT,
    created_by VARCHAR(100),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CONSTRAINT ck_webhooks_url CHECK (url ~ '^https?://[^/?#@[:space:]]+([/?#][^[:space:]]*)?$'),
    CONSTRAINT ck_webhooks_secret_length CHECK (char_length(secret) BETWEEN 16 AND 256),
    CONSTRAINT ck_webhooks_events CHECK (cardinality(events) > 0 AND events <@ ARRAY[
        'run.finished', 'run.first_failure', 'case.flaky', 'case.broken',
        'quality_gate.failed']::text[]),
    CONSTRAINT ck_webhooks_format CHECK (format IN ('json', 'slack')),
    CONSTRAINT ck_webhooks_description_length CHECK (char_length(description) <= 1000)
);
-- the lookup of every event: a project's active webhooks (few per project)
CREATE INDEX ix_webhooks_project_id ON webhooks(project_id, created_at, id);
CREATE INDEX ix_webhooks_active ON webhooks(project_id) WHERE active;

CREATE TABLE webhook_deliveries (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id UUID NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event VARCHAR(40) NOT NULL,
    subject_id UUID,
    payload JSONB NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    last_attempt_at TIMESTAMP WITH TIME ZONE,
    delivered_at TIMESTAMP WITH TIME ZONE,
    response_status INTEGER,
    last_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CONSTRAINT ck_webhook_deliveries_status CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT ck_webhook_deliveries_event CHECK (event IN (
        'run.finished', 'run.first_failure', 'case.flaky', 'case.broken',
        'quality_gate.failed', 'ping')),
    CONSTRAINT ck_webhook_deliveries_attempts CHECK (attempts >= 0),
    CONSTRAINT ck_webhook_deliveries_delivered CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
-- due deliveries, oldest first: what every deliverer polls
CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
-- a webhook's deliveries, newest first (the delivery log's pages)
CREATE INDEX ix_webhook_deliveries_webhook_id ON webhook_deliveries(webhook_id, created_at DESC, id DESC);

CREATE TABLE webhook_delivery_attempts (
    delivery_id UUID NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    duration_ms INTEGER NOT NULL,
    response_status INTEGER,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt),
    CONSTRAINT ck_webhook_delivery_attempts_attempt CHECK (attempt >= 1),
    CONSTRAINT ck_webhook_delivery_attempts_duration CHECK (duration_ms >= 0)
);

CREATE TRIGGER webhooks_set_updated_at BEFORE UPDATE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- audit_trigger (migration 8) with one column left out of the values: a secret
CREATE FUNCTION audit_trigger_redacting()
RETURNS TRIGGER AS $$
DECLARE
    key_column TEXT := TG_ARGV[0];
    hidden TEXT := TG_ARGV[1];
    actor TEXT := NULLIF(current_setting('app.user_id', true), '');
BEGIN
    IF current_setting('app.archiving', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log(table_name, record_id, operation, new_values, changed_by)
        SELECT TG_TABLE_NAME, (to_jsonb(n) ->> key_column)::uuid, 'INSERT', to_jsonb(n) - hidden, actor
        FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log(table_name, record_id, operation, old_values, new_values, changed_by)
        SELECT TG_TABLE_NAME, (n.v ->> key_column)::uuid, 'UPDATE', o.v - hidden, n.v - hidden, actor
        FROM (SELECT to_jsonb(r) AS v FROM new_rows r) n
        JOIN (SELECT to_jsonb(r) AS v FROM old_rows r) o ON o.v ->> key_column = n.v ->> key_column;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log(table_name, record_id, operation, old_values, changed_by)
        SELECT TG_TABLE_NAME, (to_jsonb(o) ->> key_column)::uuid, 'DELETE', to_jsonb(o) - hidden, actor
        FROM old_rows o;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER webhooks_audit_insert AFTER INSERT ON webhooks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger_redacting('id', 'secret');
CREATE TRIGGER webhooks_audit_update AFTER UPDATE ON webhooks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger_redacting('id', 'secret');
CREATE TRIGGER webhooks_audit_delete AFTER DELETE ON webhooks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger_redacting('id', 'secret');

-- Raises an event: one delivery per active webhook of the project subscribed to it, each
-- with its own envelope (its id is the delivery's), and a wake-up for the deliverers, sent
-- at COMMIT. `p_subject` (the run, case or gate the event is about) is kept with the
-- delivery for the log; the receiver finds it in the payload.
CREATE FUNCTION enqueue_webhook_event(p_project UUID, p_event TEXT, p_subject UUID, p_payload JSONB)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n INTEGER;
BEGIN
    INSERT INTO webhook_deliveries(id, webhook_id, event, subject_id, payload)
    SELECT d.id, w.id, p_event, p_subject, jsonb_build_object(
               'id', d.id,
               'event', p_event,
               'occurredAt', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'project', jsonb_build_object('id', p.id, 'key', p.key),
               'data', coalesce(p_payload, '{}'::jsonb))
      FROM webhooks w
      JOIN projects p ON p.id = w.project_id
      CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id) d
     WHERE w.project_id = p_project AND w.active AND p_event = ANY(w.events);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('jbts_webhooks', '');
    END IF;
END;
$$;
REVOKE EXECUTE ON FUNCTION enqueue_webhook_event(UUID, TEXT, UUID, JSONB) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION enqueue_webhook_event(UUID, TEXT, UUID, JSONB) TO application_users;

-- The run events. The trigger's WHEN leaves every other update of a run free.
CREATE FUNCTION test_runs_webhook_events() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
DECLARE
    payload JSONB := jsonb_build_object('run', jsonb_build_object(
        'id', NEW.id, 'name', NEW.name, 'status', NEW.status,
        'totalTests', NEW.total_tests, 'passedTests', NEW.passed_tests,
        'failedTests', NEW.failed_tests, 'skippedTests', NEW.skipped_tests,
        'commitSha', NEW.commit_sha, 'branch', NEW.branch, 'buildUrl', NEW.build_url,
        'environment', NEW.environment));
BEGIN
    -- the first failure first: when the failure and the end come in one report, a receiver
    -- of both sees them in the order they happened
    IF OLD.failed_tests = 0 AND NEW.failed_tests > 0 AND OLD.status IN ('pending', 'running') THEN
        PERFORM enqueue_webhook_event(NEW.project_id, 'run.first_failure', NEW.id, payload);
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NEW.status IN ('passed', 'failed', 'cancelled', 'aborted') THEN
        PERFORM enqueue_webhook_event(NEW.project_id, 'run.finished', NEW.id, payload);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER test_runs_webhook_events AFTER UPDATE OF status, failed_tests ON test_runs
    FOR EACH ROW
    WHEN ((OLD.failed_tests = 0 AND NEW.failed_tests > 0 AND OLD.status IN ('pending', 'running'))
          OR (NEW.status IS DISTINCT FROM OLD.status
              AND NEW.status IN ('passed', 'failed', 'cancelled', 'aborted')))
    EXECUTE FUNCTION test_runs_webhook_events();

ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_delivery_attempts ENABLE ROW LEVEL SECURITY;
-- every column but the secret: requests write it, never read it
GRANT SELECT (id, project_id, url, secret_hint, events, format, active, description,
              created_by, created_at, updated_at) ON webhooks TO application_users;
GRANT INSERT (id, project_id, url, secret, events, format, active, description, created_by),
      UPDATE (url, secret, events, format, active, description),
      DELETE ON webhooks TO application_users;
-- redelivering a failed delivery and a test delivery (ping) are a maintainer's writes
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO application_users;
GRANT SELECT ON webhook_delivery_attempts TO application_users;

CREATE POLICY webhook_read_policy ON webhooks FOR SELECT TO application_project_users
    USING (project_id = ANY ((SELECT app_projects('maintain'))::uuid[]));
CREATE POLICY webhook_insert_policy ON webhooks FOR INSERT TO application_project_users
    WITH CHECK (project_id = ANY ((SELECT app_projects('manage'))::uuid[]));
CREATE POLICY webhook_update_policy ON webhooks FOR UPDATE TO application_project_users
    USING (project_id = ANY ((SELECT app_projects('manage'))::uuid[]))
    WITH CHECK (project_id = ANY ((SELECT app_projects('manage'))::uuid[]));
CREATE POLICY webhook_delete_policy ON webhooks FOR DELETE TO application_project_users
    USING (project_id = ANY ((SELECT app_projects('manage'))::uuid[]));
CREATE POLICY webhooks_admin_all_policy ON webhooks FOR ALL TO application_admins
    USING (true) WITH CHECK (true);

-- deliveries follow their webhook (its policies decide)
CREATE POLICY webhook_delivery_read_policy ON webhook_deliveries FOR SELECT TO application_users
    USING (EXISTS (SELECT 1 FROM webhooks w WHERE w.id = webhook_id));
CREATE POLICY webhook_delivery_insert_policy ON webhook_deliveries FOR INSERT TO application_users
    WITH CHECK (EXISTS (SELECT 1 FROM webhooks w WHERE w.id = webhook_id
        AND (app_is_admin() OR w.project_id = ANY ((SELECT app_projects('manage'))::uuid[]))));
CREATE POLICY webhook_delivery_update_policy ON webhook_deliveries FOR UPDATE TO application_users
    USING (EXISTS (SELECT 1 FROM webhooks w WHERE w.id = webhook_id
        AND (app_is_admin() OR w.project_id = ANY ((SELECT app_projects('manage'))::uuid[]))))
    WITH CHECK (EXISTS (SELECT 1 FROM webhooks w WHERE w.id = webhook_id
        AND (app_is_admin() OR w.project_id = ANY ((SELECT app_projects('manage'))::uuid[]))));
CREATE POLICY webhook_delivery_attempt_read_policy ON webhook_delivery_attempts
    FOR SELECT TO application_users
    USING (EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = delivery_id));

-- a webhook's audit entries are read by those who read the webhook (a policy of its own
-- beside audit_log_read_policy: permissive policies add up)
CREATE POLICY audit_log_webhook_read_policy ON audit_log FOR SELECT TO application_users
    USING (table_name = 'webhooks' AND EXISTS (SELECT 1 FROM webhooks t WHERE t.id = record_id));
"#;

const DOWN: &str = r#"
DROP POLICY IF EXISTS audit_log_webhook_read_policy ON audit_log;
DELETE FROM audit_log WHERE table_name = 'webhooks';
DROP TRIGGER IF EXISTS test_runs_webhook_events ON test_runs;
DROP FUNCTION IF EXISTS test_runs_webhook_events();
DROP FUNCTION IF EXISTS enqueue_webhook_event(UUID, TEXT, UUID, JSONB);
DROP TABLE IF EXISTS webhook_delivery_attempts;
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhooks;
DROP FUNCTION IF EXISTS audit_trigger_redacting();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
