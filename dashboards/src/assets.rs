//! The dashboard's static files, compiled into the binary: `GET /` (the one
//! HTML shell) and `GET /assets/{path}` (its JavaScript modules, CSS and the
//! vendored uPlot chart library). No build step, no CDN: it works offline.
//!
//! The pages follow the CSP `default-src 'self'` that [`crate::app`] sets:
//! no inline scripts or styles, every script and style sheet is a file here.
//! Assets carry their content type, an `ETag` (answered with 304 on
//! `If-None-Match`) and `Cache-Control: no-cache` (a browser revalidates,
//! so a new binary's files are picked up at once). `/` and `/assets` are
//! public: the page itself asks for the API token when the API needs one.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path under `/assets/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../assets/", $path)),
        }
    };
}

/// Every file under `/assets/`.
pub const ASSETS: &[Asset] = &[
    asset!("app.css", CSS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("charts.js", JS),
    asset!("dom.js", JS),
    asset!("overview.js", JS),
    asset!("drill.js", JS),
    asset!("sql.js", JS),
    asset!("rejected.js", JS),
    asset!("runbooks.js", JS),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
    asset!("vendor/uPlot.LICENSE", TEXT),
];

/// The HTML shell served at `/`.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");

/// Longest asset path looked up; anything longer is a 404 without a search.
const MAX_PATH: usize = 200;

/// `ETag`s, one per asset (and the index last), computed once.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| a.body)
        .chain([INDEX_HTML.as_bytes()])
        .map(|body| {
            HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(body)))
                .expect("hex is a valid header value")
        })
        .collect()
});

/// `GET /` and `GET /assets/{*path}`.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

/// The asset at `path` (under `/assets/`), if there is one.
pub fn find(path: &str) -> Option<(usize, &'static Asset)> {
    if path.len() > MAX_PATH {
        return None;
    }
    ASSETS.iter().enumerate().find(|(_, a)| a.path == path)
}

async fn index(headers: HeaderMap) -> Response {
    let etag = &ETAGS[ASSETS.len()];
    respond(
        &headers,
        etag,
        "text/html; charset=utf-8",
        INDEX_HTML.as_bytes(),
    )
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match find(&path) {
        Some((i, a)) => respond(&headers, &ETAGS[i], a.content_type, a.body),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, TEXT)],
            "no such asset\n",
        )
            .into_response(),
    }
}

fn respond(
    headers: &HeaderMap,
    etag: &HeaderValue,
    content_type: &'static str,
    body: &'static [u8],
) -> Response {
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag.to_str().unwrap_or_default() || tag.trim() == "*");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(cache.0, cache.1);
    h.insert(header::ETAG, etag.clone());
    response
}

/// 64-bit FNV-1a: a stable content hash for `ETag`s (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
