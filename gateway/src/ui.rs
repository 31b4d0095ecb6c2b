//! The Cluster UI at `/`: the single-page app of `gateway/ui/` (Preact, TypeScript, Vite),
//! built into `gateway/ui/dist/` (committed; CI checks it is fresh) and compiled into the
//! binary here, so nothing is fetched at run time. It talks to `/api/v1` on the same origin.
//! Open: the page holds no data (the API behind it asks for a session). docs/UI.md.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The bundle: path, media type, content. Vite writes these names (no content hashes, so
/// this list stays fixed: gateway/ui/vite.config.ts).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../ui/dist/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/dist/assets/app.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/dist/assets/app.css"),
    ),
];

/// The UI's routes (its pages are `/#/...`, so `/` is the only HTML route).
pub(crate) fn routes() -> Router {
    let mut r = Router::new();
    for &(path, mime, body) in FILES {
        r = r.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, mime),
                        // Revalidate: the names carry no version.
                        (header::CACHE_CONTROL, "no-cache"),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                        (
                            header::CONTENT_SECURITY_POLICY,
                            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
                        ),
                    ],
                    body,
                )
                    .into_response()
            }),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_bundled_files() {
        let html = std::str::from_utf8(FILES[0].2).expect("utf-8");
        assert!(html.contains("/assets/app.js") && html.contains("/assets/app.css"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no remote asset"
        );
        assert!(!FILES[1].2.is_empty());
        let _ = routes();
    }
}
