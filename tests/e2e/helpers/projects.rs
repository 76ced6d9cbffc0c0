//! Projects, members and project tokens, made by the admin through the API.

use serde_json::json;

use super::TestApp;
use super::catalog::data;

/// Creates project `key` (named after its key).
pub async fn project(app: &TestApp, key: &str) {
    let body = app
        .gql(
            "mutation($key: String!) { createProject(input: { key: $key, name: $key }) { key } }",
            json!({ "key": key }),
        )
        .await;
    assert_eq!(data(&body)["createProject"]["key"], key, "{body}");
}

/// Gives `user` `role` (`VIEWER`, `MEMBER`, `MAINTAINER`) in project `key`.
pub async fn member(app: &TestApp, key: &str, user: &str, role: &str) {
    let body = app
        .gql(
            "mutation($key: String!, $user: String!, $role: ProjectRole!) {
               setProjectMember(projectKey: $key, userId: $user, role: $role) { role } }",
            json!({ "key": key, "user": user, "role": role }),
        )
        .await;
    assert_eq!(data(&body)["setProjectMember"]["role"], role, "{body}");
}

/// A member token of `user`, limited to `project` and to `caps` when given.
pub async fn token(
    app: &TestApp,
    user: &str,
    project: Option<&str>,
    caps: Option<&[&str]>,
) -> String {
    let body = app
        .gql(
            "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }",
            json!({ "input": { "userId": user, "roles": ["MEMBER"], "projectKey": project,
                               "capabilities": caps } }),
        )
        .await;
    data(&body)["createApiToken"]["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}
