//! GraphQL enums of the catalogue, mirroring the database enums of `entity`.

use async_graphql::Enum;
use entity::enums as db;

macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident <=> $db:ident { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
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
    /// Lifecycle status of a test case.
    TestCaseStatus <=> TestCaseStatus {
        /// Being written; not run by default.
        Draft,
        /// In use.
        Active,
        /// Kept for history; its name may be reused.
        Archived,
        /// Still present, scheduled for removal.
        Deprecated,
    }
}

mirror_enum! {
    /// Priority of a test case, in severity order.
    Priority <=> Priority {
        /// Must pass for a release.
        Critical,
        /// Important.
        High,
        /// Default.
        Medium,
        /// Nice to have.
        Low,
    }
}

mirror_enum! {
    /// What a test step does.
    StepType <=> StepType {
        /// Open a URL.
        Navigate,
        /// Click an element.
        Click,
        /// Type text into an element.
        Type,
        /// Wait for a condition or a time.
        Wait,
        /// Check a condition.
        Assert,
        /// Capture the screen.
        Screenshot,
        /// Call an HTTP API.
        ApiCall,
        /// Anything else.
        Custom,
    }
}

mirror_enum! {
    /// Kind of a reusable configuration.
    ConfigType <=> ConfigType {
        /// Browser settings.
        Browser,
        /// Target environment.
        Environment,
        /// Execution settings (parallelism, timeouts, ...).
        Execution,
        /// Notification settings.
        Notification,
        /// Settings of an external integration.
        Integration,
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
pub enum OrderDirection {
    /// Smallest first.
    Asc,
    /// Largest first.
    #[default]
    Desc,
}
