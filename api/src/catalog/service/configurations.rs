//! Configurations.

use entity::configuration;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, FromQueryResult,
};
use uuid::Uuid;

use super::{nullable, required};
use crate::catalog::enums::OrderDirection;
use crate::catalog::inputs::{
    CatalogOrder, CatalogOrderField, ConfigurationFilter, CreateConfigurationInput,
    UpdateConfigurationInput,
};
use crate::error::{AppError, AppResult};
use crate::input::{
    DESCRIPTION_MAX, NAME_MAX, SHORT_TEXT_MAX, check_len, check_name, check_object,
};
use crate::pagination::{Fetched, KeyKind, PageArgs};
use crate::sql::{ListQuery, Total, contains_pattern};

pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<configuration::Model>> {
    Ok(configuration::Entity::find_by_id(id).one(conn).await?)
}

pub async fn list(
    conn: &impl ConnectionTrait,
    filter: ConfigurationFilter,
    order: Option<CatalogOrder>,
    args: &PageArgs,
    want: crate::pagination::Selected,
) -> AppResult<(Fetched<configuration::Model>, Total)> {
    let mut q = ListQuery::new(
        "configurations",
        catalog_ordering("configurations", order, "configurations.id"),
    );
    let (conditions, sql) = (&mut q.conditions, &mut q.sql);
    if let Some(types) = filter.config_type {
        let types: Vec<String> = types
            .into_iter()
            .map(|t| entity::enums::ConfigType::from(t).to_value())
            .collect();
        conditions.push(format!(
            "configurations.config_type = ANY({})",
            sql.bind(types)
        ));
    }
    if let Some(active) = filter.is_active {
        conditions.push(format!("configurations.is_active = {}", sql.bind(active)));
    }
    if let Some(project) = filter.project_id {
        conditions.push(format!("configurations.project_id = {}", sql.bind(project)));
    }
    if let Some(name) = filter.name_contains {
        check_len("filter.nameContains", Some(&name), NAME_MAX)?;
        conditions.push(format!(
            "configurations.name ILIKE {}",
            sql.bind(contains_pattern(&name))
        ));
    }
    let (fetched, total) = crate::sql::list(conn, q, args, want).await?;
    let fetched = fetched.try_map(|row| configuration::Model::from_query_result(&row, ""))?;
    Ok((fetched, total))
}

/// The ordering of suites or configurations.
pub fn catalog_ordering(
    table: &'static str,
    order: Option<CatalogOrder>,
    id_column: &'static str,
) -> crate::pagination::Ordering {
    let (field, direction) = order
        .map(|o| (o.field, o.direction))
        .unwrap_or((CatalogOrderField::CreatedAt, OrderDirection::Desc));
    let (column, kind) = match field {
        CatalogOrderField::CreatedAt => ("created_at", KeyKind::Timestamp),
        CatalogOrderField::UpdatedAt => ("updated_at", KeyKind::Timestamp),
        CatalogOrderField::Name => ("name", KeyKind::Text),
    };
    crate::pagination::Ordering::column(
        table,
        column,
        kind,
        direction == OrderDirection::Desc,
        id_column,
    )
}

pub async fn create(
    conn: &impl ConnectionTrait,
    project_id: Uuid,
    input: CreateConfigurationInput,
    actor: Option<&str>,
) -> AppResult<configuration::Model> {
    check_name("name", &input.name, NAME_MAX)?;
    check_len("description", input.description.as_deref(), DESCRIPTION_MAX)?;
    let data = input
        .configuration_data
        .map(|j| j.0)
        .unwrap_or_else(|| serde_json::json!({}));
    check_object("configurationData", &data)?;
    let created_by = input.created_by.or_else(|| actor.map(str::to_owned));
    check_len("createdBy", created_by.as_deref(), SHORT_TEXT_MAX)?;
    let model = configuration::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(input.name),
        description: Set(input.description),
        config_type: Set(input.config_type.into()),
        configuration_data: Set(data),
        is_active: Set(input.is_active.unwrap_or(true)),
        created_by: Set(created_by),
        project_id: Set(project_id),
        ..Default::default()
    };
    Ok(model.insert(conn).await?)
}

pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    input: UpdateConfigurationInput,
) -> AppResult<configuration::Model> {
    let mut model = configuration::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        ..Default::default()
    };
    if let Some(name) = required("name", input.name)? {
        check_name("name", &name, NAME_MAX)?;
        model.name = Set(name);
    }
    if let Some(description) = nullable(input.description) {
        check_len("description", description.as_deref(), DESCRIPTION_MAX)?;
        model.description = Set(description);
    }
    if let Some(t) = required("configType", input.config_type)? {
        model.config_type = Set(t.into());
    }
    if let Some(data) = required("configurationData", input.configuration_data)? {
        check_object("configurationData", &data.0)?;
        model.configuration_data = Set(data.0);
    }
    if let Some(active) = required("isActive", input.is_active)? {
        model.is_active = Set(active);
    }
    if !model.is_changed() {
        return get(conn, id)
            .await?
            .ok_or_else(|| AppError::not_found("Configuration", id));
    }
    super::updated(model.update(conn).await, "Configuration", id)
}

pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Uuid> {
    super::delete_row::<configuration::Entity>(conn, id, "Configuration").await
}
