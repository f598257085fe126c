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
        let src = include_str!("api/mod.rs");
        for line in src
            .lines()
            .filter(|l| l.trim_start().starts_with(".route(\""))
        {
            let route = line.split('"').nth(1).unwrap();
            assert!(
                paths.contains_key(route),
                "route {route} is missing from openapi.json"
            );
        }
    }
}
