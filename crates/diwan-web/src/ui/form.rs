//! Forms posted by signed-in users: the session and the form's `_csrf` token are checked before
//! the handler runs, so no handler can forget to.

use super::error_page;
use crate::auth::WebUser;
use crate::i18n::Lang;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use diwan_app::AppError;
use serde::de::DeserializeOwned;

/// A URL-encoded form (`application/x-www-form-urlencoded`) from a signed-in user whose
/// `_csrf` field matched the session's token.
///
/// Rejections are pages in the user's language: the sign-in page without a session, 403 for a
/// missing or wrong token, 415 for another kind of body, 400 for a form that does not parse
/// (the token is checked first: nothing of an unchecked form is read).
pub struct UserForm<T> {
    pub user: WebUser,
    pub lang: Lang,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for UserForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let lang = match Lang::from_request_parts(&mut parts, st).await {
            Ok(l) => l,
            Err(never) => match never {},
        };
        let user = WebUser::from_request_parts(&mut parts, st).await?;
        let fail = |e: AppError| error_page(st, lang, Some(&user), &e);
        let urlencoded = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !urlencoded {
            return Err(fail(AppError::UnsupportedMediaType(
                "this form is sent as application/x-www-form-urlencoded".into(),
            )));
        }
        let bytes = Bytes::from_request(Request::from_parts(parts, body), st)
            .await
            .map_err(IntoResponse::into_response)?;
        let token = form_field(&bytes, "_csrf").unwrap_or_default();
        user.check_csrf(&token).map_err(&fail)?;
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|e| fail(AppError::BadRequest(format!("the form is malformed: {e}"))))?;
        Ok(Self { user, lang, form })
    }
}

/// A form with nothing but its token (a button: sign out, remove).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// The first value of a field in a URL-encoded body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_among_fields() {
        let body = b"action=sign&_csrf=a%2Bb%3D&ids=1&ids=2";
        assert_eq!(form_field(body, "_csrf").as_deref(), Some("a+b="));
        assert_eq!(form_field(body, "ids").as_deref(), Some("1"));
        assert_eq!(form_field(b"action=sign", "_csrf"), None);
        assert_eq!(form_field(b"%zz=\xff", "_csrf"), None);
    }
}
