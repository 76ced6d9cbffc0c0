//! Test cases: lists with filters, search and keyset pages; create (with steps), update, delete.

pub mod search;

use entity::{test_case, test_step};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, FromQueryResult,
};
use uuid::Uuid;

use super::{nullable, required, tags_json};
use crate::input::{
    DESCRIPTION_MAX, DURATION_MAX_SECONDS, NAME_MAX, SEARCH_MAX, SHORT_TEXT_MAX, check_len,
    check_list, check_name, check_object, check_range, check_tags,
};

/// Most retries a case may allow (`ck_test_cases_retry_count`).
pub const RETRY_COUNT_MAX: i32 = 10;

/// Most steps a case may be created with in one request.
pub const STEPS_MAX: usize = 500;
use crate::catalog::enums::OrderDirection;
use crate::catalog::inputs::{
    CreateTestCaseInput, TestCaseFilter, TestCaseOrder, TestCaseOrderField, UpdateTestCaseInput,
};
use crate::error::{AppError, AppResult};
use crate::pagination::{Fetched, KeyKind, Ordering, PageArgs};
use crate::sql::{ListQuery, Sql, Total};

/// The text searched, exactly the expression of the spec's index `ix_test_cases_search`, so
/// that the index serves every search.
pub const SEARCH_DOCUMENT: &str =
    "coalesce(test_cases.name, '') || ' ' || coalesce(test_cases.description, '')";

/// `ts_headline` options of search snippets: matches wrapped in `<mark>`, up to two fragments.
pub const SNIPPET_OPTIONS: &str = "StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=\" ... \"";

/// `ts_headline` options of a name's snippet: the whole name (at most `NAME_MAX` characters),
/// matches wrapped in `<mark>`.
pub const NAME_SNIPPET_OPTIONS: &str = "StartSel=<mark>, StopSel=</mark>, HighlightAll=true";

/// Priority as a number in severity order, for sorting (critical highest).
const PRIORITY_RANK: &str = "CASE test_cases.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 \
     WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END";

/// A listed case and, with a search, its snippets and rank.
pub struct CaseHit {
    pub case: test_case::Model,
    pub snippet: Option<String>,
    pub name_snippet: Option<String>,
    pub description_snippet: Option<String>,
    pub rank: Option<f64>,
}

/// What a search computes for each listed case: what the client asked for only, a snippet
/// being a `ts_headline` over the case's text and a rank a `ts_rank` over it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchFields {
    /// The snippet of name and description together (`snippet`).
    pub combined: bool,
    /// The snippet of the name (`nameSnippet`).
    pub name: bool,
    /// The snippet of the description (`descriptionSnippet`).
    pub description: bool,
    /// The relevance (`rank`); the sort key itself when the list is ordered by it.
    pub rank: bool,
}

pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<test_case::Model>> {
    Ok(test_case::Entity::find_by_id(id).one(conn).await?)
}

/// The conditions of a case filter, except its search, with values bound in `sql`.
pub fn filter_conditions(filter: &TestCaseFilter, sql: &mut Sql) -> AppResult<Vec<String>> {
    let filter = filter.clone();
    let mut conditions = Vec::new();
    if let Some(statuses) = filter.status {
        let values: Vec<String> = statuses
            .into_iter()
            .map(|s| entity::enums::TestCaseStatus::from(s).to_value())
            .collect();
        conditions.push(format!("test_cases.status = ANY({})", sql.bind(values)));
    }
    if let Some(priorities) = filter.priority {
        let values: Vec<String> = priorities
            .into_iter()
            .map(|p| entity::enums::Priority::from(p).to_value())
            .collect();
        conditions.push(format!("test_cases.priority = ANY({})", sql.bind(values)));
    }
    if let Some(category) = filter.category {
        check_len("filter.category", Some(&category), SHORT_TEXT_MAX)?;
        conditions.push(format!("test_cases.category = {}", sql.bind(category)));
    }
    if let Some(author) = filter.author {
        check_len("filter.author", Some(&author), SHORT_TEXT_MAX)?;
        conditions.push(format!("test_cases.author = {}", sql.bind(author)));
    }
    if let Some(automated) = filter.is_automated {
        conditions.push(format!("test_cases.is_automated = {}", sql.bind(automated)));
    }
    if let Some(tags) = filter.tags_all {
        check_tags("filter.tagsAll", &tags)?;
        conditions.push(format!(
            "test_cases.tags @> {}::jsonb",
            sql.bind(tags_json(&tags))
        ));
    }
    if let Some(tags) = filter.tags_any {
        check_tags("filter.tagsAny", &tags)?;
        conditions.push(format!("test_cases.tags ?| {}::text[]", sql.bind(tags)));
    }
    if let Some(metadata) = filter.metadata_contains {
        check_object("filter.metadataContains", &metadata.0)?;
        conditions.push(format!(
            "test_cases.metadata @> {}::jsonb",
            sql.bind(metadata.0)
        ));
    }
    if let Some(after) = filter.created_after {
        conditions.push(format!("test_cases.created_at >= {}", sql.bind(after)));
    }
    if let Some(before) = filter.created_before {
        conditions.push(format!("test_cases.created_at < {}", sql.bind(before)));
    }
    if let Some(project) = filter.project_id {
        conditions.push(format!("test_cases.project_id = {}", sql.bind(project)));
    }
    Ok(conditions)
}

pub async fn list(
    conn: &impl ConnectionTrait,
    filter: TestCaseFilter,
    order: Option<TestCaseOrder>,
    args: &PageArgs,
    want: crate::pagination::Selected,
    fields: SearchFields,
) -> AppResult<(Fetched<CaseHit>, Total)> {
    let mut sql = Sql::default();
    let mut conditions = filter_conditions(&filter, &mut sql)?;
    check_len("filter.search", filter.search.as_deref(), SEARCH_MAX)?;
    let search = filter
        .search
        .filter(|s| !s.trim().is_empty())
        .map(|text| search::bind(&text, &mut sql));
    let ordering = case_ordering(order, search.as_ref().map(|s| s.relevance.as_str()))?;
    let by_relevance = ordering.name.starts_with("relevance:");
    let mut extra = String::new();
    if let Some(search) = &search {
        conditions.push(search.condition.clone());
        let query = &search.tsquery;
        let headline = |text: &str, options: &str, name: &str| {
            let text = search::html_escaped(text);
            format!(", ts_headline('english', {text}, {query}, '{options}') AS {name}")
        };
        if fields.combined {
            extra.push_str(&headline(SEARCH_DOCUMENT, SNIPPET_OPTIONS, "snippet"));
        }
        if fields.name {
            extra.push_str(&headline(
                "test_cases.name",
                NAME_SNIPPET_OPTIONS,
                "name_snippet",
            ));
        }
        if fields.description {
            extra.push_str(&headline(
                "test_cases.description",
                SNIPPET_OPTIONS,
                "description_snippet",
            ));
        }
        if fields.rank && !by_relevance {
            extra.push_str(&format!(", ({})::float8 AS rank", search.relevance));
        }
    }
    let q = ListQuery {
        table: "test_cases",
        extra,
        conditions,
        sql,
        ordering,
    };
    let (fetched, total) = crate::sql::list(conn, q, args, want).await?;
    let fetched = fetched.try_map(|row| -> AppResult<CaseHit> {
        let snippet = |wanted: bool, name: &str| -> AppResult<Option<String>> {
            Ok(if search.is_some() && wanted {
                row.try_get("", name)?
            } else {
                None
            })
        };
        Ok(CaseHit {
            snippet: snippet(fields.combined, "snippet")?,
            name_snippet: snippet(fields.name, "name_snippet")?,
            description_snippet: snippet(fields.description, "description_snippet")?,
            rank: match (&search, fields.rank, by_relevance) {
                (Some(_), true, true) => row.try_get("", "sort_key")?,
                (Some(_), true, false) => row.try_get("", "rank")?,
                _ => None,
            },
            case: test_case::Model::from_query_result(&row, "")?,
        })
    })?;
    Ok((fetched, total))
}

/// The ordering of a case list; `relevance` is the search's, when there is one.
fn case_ordering(order: Option<TestCaseOrder>, relevance: Option<&str>) -> AppResult<Ordering> {
    let (field, direction) = match (order, relevance) {
        (Some(o), _) => (o.field, o.direction),
        (None, Some(_)) => (TestCaseOrderField::Relevance, OrderDirection::Desc),
        (None, None) => (TestCaseOrderField::CreatedAt, OrderDirection::Desc),
    };
    let descending = direction == OrderDirection::Desc;
    let (name, sql, kind) = match field {
        TestCaseOrderField::CreatedAt => (
            "createdAt",
            "test_cases.created_at".to_owned(),
            KeyKind::Timestamp,
        ),
        TestCaseOrderField::UpdatedAt => (
            "updatedAt",
            "test_cases.updated_at".to_owned(),
            KeyKind::Timestamp,
        ),
        TestCaseOrderField::Name => ("name", "test_cases.name".to_owned(), KeyKind::Text),
        TestCaseOrderField::Priority => ("priority", PRIORITY_RANK.to_owned(), KeyKind::Int),
        TestCaseOrderField::Relevance => {
            let relevance = relevance.ok_or_else(|| {
                AppError::bad_input("orderBy", "RELEVANCE ordering needs filter.search")
            })?;
            ("relevance", format!("({relevance})"), KeyKind::Float)
        }
    };
    Ok(Ordering {
        name: format!("{name}:{}", if descending { "desc" } else { "asc" }),
        sql,
        kind,
        descending,
        id_column: "test_cases.id",
    })
}

pub async fn create(
    conn: &impl ConnectionTrait,
    project_id: Uuid,
    input: CreateTestCaseInput,
    actor: Option<&str>,
) -> AppResult<test_case::Model> {
    check_name("name", &input.name, NAME_MAX)?;
    check_len("description", input.description.as_deref(), DESCRIPTION_MAX)?;
    let author = input.author.or_else(|| actor.map(str::to_owned));
    check_len("author", author.as_deref(), SHORT_TEXT_MAX)?;
    check_len("category", input.category.as_deref(), SHORT_TEXT_MAX)?;
    if let Some(tags) = &input.tags {
        check_tags("tags", tags)?;
    }
    if let Some(d) = input.expected_duration_seconds {
        check_range("expectedDurationSeconds", d, 1, DURATION_MAX_SECONDS)?;
    }
    if let Some(r) = input.retry_count {
        check_range("retryCount", r, 0, RETRY_COUNT_MAX)?;
    }
    if let Some(key) = &input.identity_key {
        check_name("identityKey", key, crate::input::TEST_KEY_MAX)?;
    }
    let metadata = input
        .metadata
        .map(|j| j.0)
        .unwrap_or_else(|| serde_json::json!({}));
    check_object("metadata", &metadata)?;
    let steps = input.steps.unwrap_or_default();
    check_list("steps", steps.len(), STEPS_MAX)?;
    for (i, step) in steps.iter().enumerate() {
        super::steps::check_step_input(&format!("steps.{i}"), step)?;
    }
    crate::projects::service::check_reference(
        conn,
        "configurationId",
        "configurations",
        input.configuration_id,
        project_id,
    )
    .await?;
    let id = Uuid::now_v7();
    let model = test_case::ActiveModel {
        id: Set(id),
        name: Set(input.name),
        description: Set(input.description),
        status: Set(input
            .status
            .map(Into::into)
            .unwrap_or(entity::enums::TestCaseStatus::Draft)),
        priority: Set(input
            .priority
            .map(Into::into)
            .unwrap_or(entity::enums::Priority::Medium)),
        tags: Set(Some(tags_json(&input.tags.unwrap_or_default()))),
        metadata: Set(Some(metadata)),
        author: Set(author),
        category: Set(input.category),
        expected_duration_seconds: Set(input.expected_duration_seconds),
        is_automated: Set(input.is_automated.unwrap_or(true)),
        retry_count: Set(input.retry_count.unwrap_or(0)),
        configuration_id: Set(input.configuration_id),
        project_id: Set(project_id),
        identity_key: Set(input.identity_key),
        ..Default::default()
    };
    let case = model.insert(conn).await?;
    if !steps.is_empty() {
        let rows: Vec<test_step::ActiveModel> = steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| super::steps::new_step(id, i as i32 + 1, s))
            .collect();
        test_step::Entity::insert_many(rows).exec(conn).await?;
    }
    Ok(case)
}

pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    input: UpdateTestCaseInput,
) -> AppResult<test_case::Model> {
    let mut model = test_case::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        ..Default::default()
    };
    if let Some(name) = required("name", input.name)? {
        check_name("name", &name, NAME_MAX)?;
        model.name = Set(name);
    }
    if let Some(v) = nullable(input.description) {
        check_len("description", v.as_deref(), DESCRIPTION_MAX)?;
        model.description = Set(v);
    }
    if let Some(v) = required("status", input.status)? {
        model.status = Set(v.into());
    }
    if let Some(v) = required("priority", input.priority)? {
        model.priority = Set(v.into());
    }
    if let Some(v) = nullable(input.tags) {
        check_tags("tags", v.as_deref().unwrap_or_default())?;
        model.tags = Set(Some(tags_json(&v.unwrap_or_default())));
    }
    if let Some(v) = nullable(input.metadata) {
        let v = v.map(|j| j.0).unwrap_or_else(|| serde_json::json!({}));
        check_object("metadata", &v)?;
        model.metadata = Set(Some(v));
    }
    if let Some(v) = nullable(input.author) {
        check_len("author", v.as_deref(), SHORT_TEXT_MAX)?;
        model.author = Set(v);
    }
    if let Some(v) = nullable(input.category) {
        check_len("category", v.as_deref(), SHORT_TEXT_MAX)?;
        model.category = Set(v);
    }
    if let Some(v) = nullable(input.expected_duration_seconds) {
        if let Some(d) = v {
            check_range("expectedDurationSeconds", d, 1, DURATION_MAX_SECONDS)?;
        }
        model.expected_duration_seconds = Set(v);
    }
    if let Some(v) = nullable(input.identity_key) {
        if let Some(key) = &v {
            check_name("identityKey", key, crate::input::TEST_KEY_MAX)?;
        }
        model.identity_key = Set(v);
    }
    if let Some(v) = required("isAutomated", input.is_automated)? {
        model.is_automated = Set(v);
    }
    if let Some(v) = required("retryCount", input.retry_count)? {
        check_range("retryCount", v, 0, RETRY_COUNT_MAX)?;
        model.retry_count = Set(v);
    }
    if let Some(v) = nullable(input.configuration_id) {
        if v.is_some() {
            // the configuration must be one of the case's project (a hidden case is no case)
            let case = get(conn, id)
                .await?
                .ok_or_else(|| AppError::not_found("TestCase", id))?;
            crate::projects::service::check_reference(
                conn,
                "configurationId",
                "configurations",
                v,
                case.project_id,
            )
            .await?;
        }
        model.configuration_id = Set(v);
    }
    if !model.is_changed() {
        return get(conn, id)
            .await?
            .ok_or_else(|| AppError::not_found("TestCase", id));
    }
    super::updated(model.update(conn).await, "TestCase", id)
}

pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Uuid> {
    super::delete_row::<test_case::Entity>(conn, id, "TestCase").await
}
