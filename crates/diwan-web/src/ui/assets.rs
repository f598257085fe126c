//! Static assets embedded in the binary: stylesheet, script, fonts (vendored, OFL).

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "fonts/NotoNaskhArabic-Regular.ttf",
        "font/ttf",
        include_bytes!("../../../../assets/fonts/NotoNaskhArabic-Regular.ttf"),
    ),
    (
        "fonts/NotoNaskhArabic-Bold.ttf",
        "font/ttf",
        include_bytes!("../../../../assets/fonts/NotoNaskhArabic-Bold.ttf"),
    ),
    (
        "fonts/NotoSansTifinagh-Regular.ttf",
        "font/ttf",
        include_bytes!("../../../../assets/fonts/NotoSansTifinagh-Regular.ttf"),
    ),
    (
        "fonts/NotoSans-Regular.ttf",
        "font/ttf",
        include_bytes!("../../../../assets/fonts/NotoSans-Regular.ttf"),
    ),
    (
        "fonts/NotoSans-Bold.ttf",
        "font/ttf",
        include_bytes!("../../../../assets/fonts/NotoSans-Bold.ttf"),
    ),
];

/// `GET /static/{path}`.
pub async fn serve(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, ct, bytes)) => (
            [
                (header::CONTENT_TYPE, *ct),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
