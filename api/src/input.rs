//! Bounds of every input a client gives, and the checks services run on them: each string has
//! a longest length, each number a range, each JSON value a largest size, each list a longest
//! length. A value out of bounds is `BAD_USER_INPUT` naming its field, before any statement
//! runs. (What a request may look like as a whole is bounded earlier: [`crate::limits`].)

use serde_json::Value as JsonValue;

use crate::error::{AppError, AppResult};

/// Longest name of cases, steps, suites, configurations and runs (`VARCHAR(255)`).
pub const NAME_MAX: usize = 255;
/// Longest author, category, creator and user id (`VARCHAR(100)`).
pub const SHORT_TEXT_MAX: usize = 100;
/// Longest step selector (`VARCHAR(500)`).
pub const SELECTOR_MAX: usize = 500;
/// Longest description, step input data and expected result, in characters: pages of prose,
/// not documents (TEXT columns otherwise take a gigabyte).
pub const DESCRIPTION_MAX: usize = 10_000;
/// Longest error message or actual result of a result, in bytes: a long stack trace fits.
pub const RESULT_TEXT_MAX_BYTES: usize = 256 * 1024;
/// Longest search text, in characters: a search box's worth; PostgreSQL's text search gets
/// slow long before its own limit (a 5 MB search took 16 s before failing).
pub const SEARCH_MAX: usize = 500;
/// Largest JSON object (metadata, settings, run configuration), serialized, in bytes.
pub const JSON_MAX_BYTES: usize = 64 * 1024;
/// Most tags on a case or suite, and in a tag filter.
pub const TAGS_MAX: usize = 50;
/// Longest tag, in characters.
pub const TAG_MAX: usize = 100;
/// Longest history an analytics window or list may look back over, in days (ten years).
pub const DAYS_MAX: i32 = 3_650;
/// Largest position of a step in a case or a case in a suite.
pub const POSITION_MAX: i32 = 100_000;
/// Longest duration of an execution or step, in seconds (a week).
pub const DURATION_MAX_SECONDS: i32 = 7 * 24 * 3_600;
/// Most ids one request may name in a list (suite members to add, steps to reorder).
pub const ID_LIST_MAX: usize = 1_000;
/// Longest test identity key or alias (`VARCHAR(1000)`).
pub const TEST_KEY_MAX: usize = 1_000;

/// A required name: not blank, at most `max` characters.
pub fn check_name(field: &str, value: &str, max: usize) -> AppResult<()> {
    if value.trim().is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not be empty"),
        ));
    }
    check_len(field, Some(value), max)
}

/// At most `max` characters, as PostgreSQL counts them.
pub fn check_len(field: &str, value: Option<&str>, max: usize) -> AppResult<()> {
    match value {
        Some(v) if v.len() > max && v.chars().count() > max => Err(AppError::bad_input(
            field,
            format!("{field} must be at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// At most `max` bytes (long free text, where counting characters would cost more).
pub fn check_bytes(field: &str, value: Option<&str>, max: usize) -> AppResult<()> {
    match value {
        Some(v) if v.len() > max => Err(AppError::bad_input(
            field,
            format!("{field} must be at most {max} bytes"),
        )),
        _ => Ok(()),
    }
}

/// A JSON object of at most [`JSON_MAX_BYTES`] serialized.
pub fn check_object(field: &str, value: &JsonValue) -> AppResult<()> {
    if !value.is_object() {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be a JSON object"),
        ));
    }
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0);
    if size > JSON_MAX_BYTES {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {JSON_MAX_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

/// A number from `min` to `max`.
pub fn check_range(field: &str, value: i32, min: i32, max: i32) -> AppResult<i32> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field} must be between {min} and {max}"),
        ))
    }
}

/// A number of days to look back over: 1 to [`DAYS_MAX`].
pub fn check_days(field: &str, days: i32) -> AppResult<i32> {
    check_range(field, days, 1, DAYS_MAX)
}

/// A duration given in seconds or in milliseconds (fractional either way), as whole
/// milliseconds: 0 to [`DURATION_MAX_SECONDS`]. At most one of the two may be given; `field`
/// names the seconds field, `ms_field` the milliseconds one.
pub fn duration_ms(
    field: &str,
    seconds: Option<f64>,
    ms_field: &str,
    ms: Option<f64>,
) -> AppResult<Option<i32>> {
    let (name, value) = match (seconds, ms) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_input(
                ms_field,
                format!("give {field} or {ms_field}, not both"),
            ));
        }
        (Some(s), None) => (field, s * 1000.0),
        (None, Some(m)) => (ms_field, m),
        (None, None) => return Ok(None),
    };
    let max = f64::from(DURATION_MAX_SECONDS) * 1000.0;
    if !value.is_finite() || !(0.0..=max).contains(&value) {
        return Err(AppError::bad_input(
            name,
            format!("{name} must be from 0 to {DURATION_MAX_SECONDS} seconds"),
        ));
    }
    Ok(Some(value.round() as i32))
}

/// An error message or actual result: at most [`RESULT_TEXT_MAX_BYTES`].
pub fn check_result_text(field: &str, text: Option<&str>) -> AppResult<()> {
    check_bytes(field, text, RESULT_TEXT_MAX_BYTES)
}

/// Tags: at most [`TAGS_MAX`], each 1 to [`TAG_MAX`] characters.
pub fn check_tags(field: &str, tags: &[String]) -> AppResult<()> {
    check_list(field, tags.len(), TAGS_MAX)?;
    for tag in tags {
        check_name(field, tag, TAG_MAX)?;
    }
    Ok(())
}

/// A list of at most `max` items.
pub fn check_list(field: &str, len: usize, max: usize) -> AppResult<()> {
    if len > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} may have at most {max} items"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: AppResult<()>) -> Option<String> {
        r.err().and_then(|e| e.field().map(str::to_owned))
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let accented = "é".repeat(NAME_MAX);
        assert!(check_name("name", &accented, NAME_MAX).is_ok());
        assert_eq!(
            field_of(check_name("name", &format!("{accented}é"), NAME_MAX)),
            Some("name".to_owned())
        );
        assert!(check_name("name", "  ", NAME_MAX).is_err());
    }

    #[test]
    fn json_objects_are_bounded_in_size() {
        let big = serde_json::json!({ "a": "x".repeat(JSON_MAX_BYTES) });
        assert_eq!(
            field_of(check_object("metadata", &big)),
            Some("metadata".to_owned())
        );
        assert!(check_object("metadata", &serde_json::json!([1])).is_err());
        assert!(check_object("metadata", &serde_json::json!({ "a": 1 })).is_ok());
    }

    #[test]
    fn ranges_and_lists_are_bounded() {
        assert!(check_days("days", 0).is_err());
        assert!(check_days("days", -5).is_err());
        assert!(check_days("days", DAYS_MAX + 1).is_err());
        assert_eq!(check_days("days", 30).ok(), Some(30));
        let tags: Vec<String> = (0..=TAGS_MAX).map(|i| format!("t{i}")).collect();
        assert!(check_tags("tags", &tags).is_err());
        assert!(check_tags("tags", &["a".repeat(TAG_MAX + 1)]).is_err());
        assert!(check_tags("tags", &["smoke".to_owned()]).is_ok());
    }
}
