//! The pages a person opens in a browser, served from files embedded in the binary (the
//! `api/assets` directory; see its README for the pinned third-party packages): the live
//! dashboard at `/`, GraphiQL at `GET /graphql`, and their scripts and styles under
//! `/assets/`. Nothing they load comes from another origin, so they work on a network without
//! internet access.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Where the pages' files are served.
pub const ASSETS_PATH: &str = "/assets";

/// The files of the pages: everything in `api/assets` but the packaging of the vendored
/// packages.
#[derive(rust_embed::Embed)]
#[folder = "assets/"]
#[exclude = "node_modules/*"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
#[exclude = "*.sh"]
#[exclude = "*.md"]
#[exclude = ".gitignore"]
struct Assets;

/// What a page may load and where it may connect: its own origin only (scripts from files,
/// never inline), no framing, no form posted elsewhere. Style attributes are allowed: the
/// vendored GraphiQL sets them.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

/// The live dashboard.
pub(crate) async fn dashboard(headers: HeaderMap) -> Response {
    file("index.html", &headers)
}

/// The GraphiQL playground.
pub(crate) fn graphiql(headers: &HeaderMap) -> Response {
    file("graphiql.html", headers)
}

/// A file under `/assets/`.
pub(crate) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    file(&path, &headers)
}

/// The embedded file at `path`: 404 when there is none; 304 when the client's copy (its
/// `If-None-Match`) is current. Clients revalidate every time (`no-cache`): the files change
/// with the binary, under the same names.
fn file(path: &str, headers: &HeaderMap) -> Response {
    let Some(found) = Assets::get(path) else {
        return super::error_response(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("no page or file at {path}"),
            "application/json",
        );
    };
    let etag = format!(
        "\"{}\"",
        crate::artifacts::store::hex(&found.metadata.sha256_hash())
    );
    let current = super::not_modified(headers, &etag);
    let media_type = mime_guess::from_path(path).first_or_octet_stream();
    let is_page = media_type.essence_str() == "text/html";
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Body::from(found.data.into_owned()).into_response()
    };
    let h = response.headers_mut();
    let content_type = match media_type.type_() {
        mime_guess::mime::TEXT | mime_guess::mime::APPLICATION
            if media_type.get_param("charset").is_none()
                && (media_type.type_() == mime_guess::mime::TEXT
                    || media_type.subtype() == mime_guess::mime::JAVASCRIPT
                    || media_type.subtype() == mime_guess::mime::JSON) =>
        {
            format!("{media_type}; charset=utf-8")
        }
        _ => media_type.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if is_page {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}
