//! The OpenAPI 3.1 description of the API, served at `/api/v1/openapi.json`.
//!
//! The document is maintained by hand in `openapi.json` next to this crate's manifest; a test
//! checks that every API route is described and that the file is valid JSON.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as embedded.
pub const DOCUMENT: &str = include_str!("../openapi.json");

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_is_valid_and_complete() {
        let doc: serde_json::Value =
            serde_json::from_str(super::DOCUMENT).expect("openapi.json is valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        // Every route of api/mod.rs must be documented.
        // Routes are written `.route("/x", …)` or, when long, `.route(` with the path on the
        // next line.
        let src = include_str!("api/mod.rs");
        let lines: Vec<&str> = src.lines().map(str::trim_start).collect();
        let mut routes = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with(".route(\"") {
                routes.push(line.split('"').nth(1).unwrap());
            } else if *line == ".route(" {
                routes.push(lines[i + 1].split('"').nth(1).unwrap());
            }
        }
        assert!(routes.len() > 30, "{} routes found", routes.len());
        for route in routes {
            assert!(
                paths.contains_key(route),
                "route {route} is missing from openapi.json"
            );
        }
    }
}
