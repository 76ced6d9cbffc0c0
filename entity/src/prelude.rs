//! The entities under short names: `use entity::prelude::*;`.

pub use crate::audit_log::Entity as AuditLog;
pub use crate::configuration::Entity as Configuration;
pub use crate::project::Entity as Project;
pub use crate::project_member::Entity as ProjectMember;
pub use crate::test_artifact::Entity as TestArtifact;
pub use crate::test_case::Entity as TestCase;
pub use crate::test_execution::Entity as TestExecution;
pub use crate::test_run::Entity as TestRun;
pub use crate::test_step::Entity as TestStep;
pub use crate::test_step_execution::Entity as TestStepExecution;
pub use crate::test_suite::Entity as TestSuite;
pub use crate::test_suite_test_case::Entity as TestSuiteTestCase;
