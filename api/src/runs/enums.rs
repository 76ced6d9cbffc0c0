//! GraphQL enums of runs and executions, mirroring the database's.

use async_graphql::Enum;
use entity::enums as db;

macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident <=> $db:ident { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl From<db::$db> for $name {
            fn from(v: db::$db) -> Self {
                match v {
                    $(db::$db::$variant => Self::$variant),+
                }
            }
        }

        impl From<$name> for db::$db {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$variant => Self::$variant),+
                }
            }
        }
    };
}

mirror_enum! {
    /// Status of a test run.
    RunStatus <=> RunStatus {
        /// Created; no execution has started.
        Pending,
        /// At least one execution has started and some are still open.
        Running,
        /// Finished (every case's latest attempt, or `finishTestRun`) and none failed.
        Passed,
        /// Finished and a case's latest attempt failed with no retry left.
        Failed,
        /// Cancelled; its open executions were cancelled.
        Cancelled,
        /// Ended without being finished: nothing was written into it for the configured time
        /// (`--run-inactivity-timeout`); its open executions were cancelled.
        Aborted,
    }
}

mirror_enum! {
    /// Status of a test execution (one attempt of a case in a run).
    ExecutionStatus <=> ExecutionStatus {
        /// Waiting to start.
        Pending,
        /// Started.
        Running,
        /// Finished and passed.
        Passed,
        /// Finished and failed.
        Failed,
        /// Not run.
        Skipped,
        /// Stopped by a cancelled run.
        Cancelled,
    }
}

mirror_enum! {
    /// Status of a step's result.
    StepExecutionStatus <=> StepExecutionStatus {
        /// Waiting.
        Pending,
        /// In progress.
        Running,
        /// Passed.
        Passed,
        /// Failed.
        Failed,
        /// Not run.
        Skipped,
    }
}

mirror_enum! {
    /// Kind of an artifact file.
    ArtifactType <=> ArtifactType {
        /// An image of the screen.
        Screenshot,
        /// A screen recording.
        Video,
        /// A log file.
        Log,
        /// A trace (e.g. a browser trace).
        Trace,
        /// An HTTP archive.
        Har,
        /// A report document.
        Report,
        /// Anything else.
        Other,
    }
}

/// The outcome a reporter gives a finished execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It failed.
    Failed,
    /// It was not run.
    Skipped,
}

impl From<Outcome> for db::ExecutionStatus {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Passed => Self::Passed,
            Outcome::Failed => Self::Failed,
            Outcome::Skipped => Self::Skipped,
        }
    }
}
