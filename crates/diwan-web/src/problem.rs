//! API errors as RFC 9457 `application/problem+json`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use diwan_app::AppError;
use serde_json::json;

/// An error answered by the API.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem(&self.0)
    }
}

/// Renders an application error as problem+json.
pub fn problem(e: &AppError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({
        "type": format!("https://diwan.ma/problems/{}", e.title().to_lowercase().replace(' ', "-")),
        "title": e.title(),
        "status": status.as_u16(),
        "detail": e.detail(),
    });
    if let AppError::Invalid(errors) = e {
        body["errors"] = json!(errors);
    }
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response();
    if matches!(e, AppError::Unauthenticated) {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"diwan\""),
        );
    }
    resp
}

/// Parses JSON with the path of the offending field in the error (`sender.kind: unknown variant …`).
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, AppError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| AppError::BadRequest(format!("{what} is not valid UTF-8: {e}")))?;
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            AppError::BadRequest(format!("{what} is not valid JSON: {inner}"))
        } else {
            let field = if path == "." { what.to_string() } else { path };
            AppError::field(field, strip_position(&inner.to_string()))
        }
    })
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        b: Option<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        c: bool,
    }

    #[test]
    fn precise_json_errors() {
        let e = parse_json::<T>(br#"{"a":"x"}"#, "body").unwrap_err();
        assert!(
            matches!(&e, AppError::Invalid(f) if f[0].field == "a"),
            "{e:?}"
        );
        let e = parse_json::<T>(br#"{"a":1,"b":{"c":1}}"#, "body").unwrap_err();
        assert!(
            matches!(&e, AppError::Invalid(f) if f[0].field == "b.c"),
            "{e:?}"
        );
        let e = parse_json::<T>(br#"{"a":1,"zz":2}"#, "body").unwrap_err();
        assert!(
            matches!(&e, AppError::Invalid(f) if f[0].message.contains("unknown field `zz`")),
            "{e:?}"
        );
        assert!(matches!(
            parse_json::<T>(b"{", "body"),
            Err(AppError::BadRequest(_))
        ));
        assert!(
            matches!(parse_json::<T>(b"\xff\xfe", "body"), Err(AppError::BadRequest(m)) if m.contains("UTF-8"))
        );
    }
}
