//! What the database says when runs change, and what the hub tells subscriptions.

use std::collections::BTreeSet;

use serde::Deserialize;
use uuid::Uuid;

/// Channel the NOTIFY triggers send on (migration `..._add_run_reporting_and_live_events`).
pub const CHANNEL: &str = "jbts_live";

/// One notification: a statement changed rows of one run.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    /// Global sequence number (increasing, so also per run).
    pub seq: i64,
    /// The run.
    pub run: Uuid,
    /// `run`, `execution` or `step`.
    pub kind: String,
    /// Ids of the changed rows (at most 100).
    pub ids: Vec<Uuid>,
    /// How many rows changed (may exceed `ids`).
    pub count: i64,
    /// For `step`: the executions whose steps changed (at most 20).
    #[serde(default)]
    pub executions: Vec<Uuid>,
}

/// The changes to one run within a coalescing window.
#[derive(Debug, Clone, Default)]
pub struct RunChange {
    pub run: Uuid,
    /// Highest sequence number merged in.
    pub seq: i64,
    /// Whether the run row itself changed.
    pub run_changed: bool,
    /// Executions that changed.
    pub executions: BTreeSet<Uuid>,
    /// Step results that changed.
    pub step_executions: BTreeSet<Uuid>,
    /// Executions whose step results changed.
    pub step_parents: BTreeSet<Uuid>,
    /// Whether more rows changed than the notifications listed.
    pub truncated: bool,
    /// Place of the last notification merged in, in the order the hub received them
    /// (`Hub::follow` keeps a follower from changes it got entirely before it followed).
    pub arrived: u64,
}

impl RunChange {
    pub fn new(run: Uuid) -> Self {
        Self {
            run,
            ..Default::default()
        }
    }

    /// Folds a notification in.
    pub fn merge(&mut self, n: &Notification) {
        self.seq = self.seq.max(n.seq);
        let listed = n.ids.len() as i64;
        if n.count > listed {
            self.truncated = true;
        }
        match n.kind.as_str() {
            "run" => self.run_changed = true,
            "execution" => self.executions.extend(n.ids.iter().copied()),
            "step" => {
                self.step_executions.extend(n.ids.iter().copied());
                self.step_parents.extend(n.executions.iter().copied());
                if n.executions.len() >= 20 {
                    self.truncated = true;
                }
            }
            _ => self.truncated = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(seq: i64, kind: &str, ids: &[Uuid], count: i64) -> Notification {
        Notification {
            seq,
            run: Uuid::nil(),
            kind: kind.to_owned(),
            ids: ids.to_vec(),
            count,
            executions: Vec::new(),
        }
    }

    #[test]
    fn a_burst_of_notifications_merges_into_one_change() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut change = RunChange::new(Uuid::nil());
        change.merge(&note(3, "execution", &[a], 1));
        change.merge(&note(5, "run", &[], 0));
        change.merge(&note(4, "execution", &[b, a], 2));
        assert_eq!(change.seq, 5);
        assert!(change.run_changed);
        assert_eq!(change.executions, [a, b].into_iter().collect());
        assert!(!change.truncated);
    }

    #[test]
    fn more_rows_than_listed_or_an_unknown_kind_marks_the_change_truncated() {
        let mut listed_fewer = RunChange::new(Uuid::nil());
        listed_fewer.merge(&note(1, "execution", &[Uuid::new_v4()], 150));
        assert!(listed_fewer.truncated);
        let mut unknown = RunChange::new(Uuid::nil());
        unknown.merge(&note(1, "artifact", &[], 0));
        assert!(unknown.truncated);
    }
}
