//! Server-rendered pages. They work without JavaScript; `app.js` only adds comfort.

pub mod admin;
pub mod assets;
pub mod form;
pub mod parapheur;
pub mod portal;
pub mod registry;
pub mod templates;
pub mod work;

use self::form::{NoFields, UserForm};
use crate::auth::{ClientIp, MaybeWebUser, WebUser, SESSION_COOKIE};
use crate::i18n::{Lang, LANG_COOKIE};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use diwan_app::AppError;
use diwan_store::auth::SessionKind;
use minijinja::context;
use serde::Deserialize;

/// Page routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/lang/{code}", get(set_lang))
        .route("/static/{*path}", get(assets::serve))
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/static/favicon.svg") }),
        )
        .route("/registre", get(registry::register_view))
        .route(
            "/courriers/nouveau",
            get(registry::new_form).post(registry::new_submit),
        )
        .route("/courriers/{id}", get(registry::show))
        .route("/courriers/{id}/actions", post(work::action))
        .route("/corbeilles", get(work::queues))
        .route("/corbeilles/actions", post(work::bulk_action))
        .route("/registre/export.csv", get(work::export))
        .route("/registre/export.pdf", get(work::export_pdf))
        .route("/registre/archive.tar", get(work::export_archive))
        .route("/tableau-de-bord", get(work::dashboard))
        .route("/courriers/{id}/documents/{doc}", get(registry::document))
        .route("/courriers/{id}/bordereau.pdf", get(work::dispatch_slip))
        .route("/courriers/{id}/preuves/{event}", get(registry::evidence))
        .route(
            "/administration/webhooks",
            get(admin::webhooks).post(admin::webhooks_submit),
        )
        .route("/parapheur", get(parapheur::list))
        .route(
            "/parapheur/nouveau",
            get(parapheur::new_form).post(parapheur::new_submit),
        )
        .route("/parapheur/signer", post(parapheur::batch))
        .route(
            "/parapheur/delegations",
            get(parapheur::delegations).post(parapheur::delegation_submit),
        )
        .route("/parapheur/{id}", get(parapheur::show))
        .route("/parapheur/{id}/actions", post(parapheur::action))
        .route("/parapheur/{id}/documents", post(parapheur::add_documents))
        .route("/parapheur/{id}/documents/{doc}", get(parapheur::document))
        .route(
            "/parapheur/{id}/documents/{doc}/remove",
            post(parapheur::remove_document),
        )
        .route("/parapheur/{id}/bordereau.pdf", get(parapheur::evidence))
        .route("/portail", get(portal::directory))
        .route(
            "/portail/{code}",
            get(portal::file_form).post(portal::file_submit),
        )
        .route("/suivi", get(portal::track))
        .route(
            "/verifier",
            get(portal::verify_form).post(portal::verify_submit),
        )
}

/// Streams one file part of a form to the document store (never held whole in memory).
pub async fn receive_file(
    st: &AppState,
    index: usize,
    field: &mut axum::extract::multipart::Field<'_>,
) -> Result<diwan_app::upload::AcceptedFile, AppError> {
    let mut up = st.app.begin_upload(index, field.file_name()).await?;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| AppError::BadRequest(e.body_text()))?
    {
        up.write(&chunk).await?;
    }
    up.finish().await
}

/// A moment as the pages show it: `DD/MM/YYYY HH:MM` in the platform's time zone.
pub(crate) use diwan_app::local_time;

/// An error as one line for a form: each invalid field by its label (`{labels}.{field}` in the
/// page's language) with its message, or the error's detail.
pub(crate) fn form_error(e: &AppError, lang: Lang, labels: &str) -> String {
    match e {
        AppError::Invalid(list) => list
            .iter()
            .map(|fe| {
                format!(
                    "{} : {}",
                    lang.t(&format!("{labels}.{}", fe.field)),
                    fe.message
                )
            })
            .collect::<Vec<_>>()
            .join(" — "),
        other => other.detail(),
    }
}

/// The context every page gets.
pub fn page_ctx(lang: Lang, user: Option<&WebUser>, path: &str) -> minijinja::Value {
    let langs: Vec<_> = Lang::ALL
        .iter()
        .map(|l| context! { code => l.code(), name => l.native_name(), current => *l == lang })
        .collect();
    let user_csrf = |u: Option<&WebUser>| u.map(|u| u.csrf.clone());
    let user_ctx = user.map(|u| {
        context! {
            name => u.principal.user.display_name.clone(),
            login => u.principal.user.login.clone(),
            roles => u.principal.memberships.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(),
        }
    });
    let csrf = user_csrf(user);
    let user = user_ctx;
    context! { lang => lang.code(), dir => lang.dir(), langs => langs, user => user, path => path, csrf => csrf }
}

/// Renders a page, or an error page if the template fails.
pub fn render(st: &AppState, name: &str, ctx: minijinja::Value) -> Response {
    match st.templates.render(name, ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "render failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response()
        }
    }
}

/// An error shown as a page in the user's language.
pub fn error_page(st: &AppState, lang: Lang, user: Option<&WebUser>, e: &AppError) -> Response {
    let ctx = minijinja::Value::from_serialize(serde_json::json!({
        "title": e.title(),
        "detail": e.detail(),
        "status": e.status(),
    }));
    let base = page_ctx(lang, user, "");
    let mut resp = render(st, "error.html", context! { error => ctx, ..base });
    *resp.status_mut() =
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

async fn home(
    State(st): State<AppState>,
    lang: Lang,
    MaybeWebUser(user): MaybeWebUser,
) -> Response {
    match user {
        None => Redirect::to("/portail").into_response(),
        Some(u) => {
            let base = page_ctx(lang, Some(&u), "/");
            render(&st, "home.html", base)
        }
    }
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// Only local paths are accepted as a redirect target.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

const LOGIN_CSRF_COOKIE: &str = "diwan_login_csrf";

async fn login_page(
    State(st): State<AppState>,
    lang: Lang,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    login_form(&st, lang, jar, q.next.as_deref(), None, "")
}

fn login_form(
    st: &AppState,
    lang: Lang,
    jar: CookieJar,
    next: Option<&str>,
    error: Option<String>,
    login: &str,
) -> Response {
    // Double-submit token: the login form has no session yet.
    let token = random_token();
    let cookie = Cookie::build((LOGIN_CSRF_COOKIE, token.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/login")
        .build();
    let base = page_ctx(lang, None, "/login");
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut resp = render(
        st,
        "login.html",
        context! { csrf => token, next => safe_next(next), error => error, login => login, ..base },
    );
    *resp.status_mut() = status;
    (jar.add(cookie), resp).into_response()
}

fn random_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

async fn login_submit(
    State(st): State<AppState>,
    lang: Lang,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Response {
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if expected.is_empty() || !crate::auth::constant_time_eq(expected.as_bytes(), f.csrf.as_bytes())
    {
        return login_form(
            &st,
            lang,
            jar,
            f.next.as_deref(),
            Some(lang.t("login.expired")),
            &f.login,
        );
    }
    match st
        .app
        .store
        .login(&f.login, &f.password, SessionKind::Web, ip)
        .await
    {
        Ok(s) => {
            let secure = st.app.config.public_url().starts_with("https://");
            let cookie = Cookie::build((SESSION_COOKIE, s.token))
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Lax)
                .path("/")
                .build();
            let jar = jar
                .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/login"))
                .add(cookie);
            (jar, Redirect::to(&safe_next(f.next.as_deref()))).into_response()
        }
        Err(e) => {
            st.metrics
                .logins_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let msg = match &e {
                diwan_store::auth::LoginError::Locked { .. } => lang.t("login.locked"),
                diwan_store::auth::LoginError::Store(_) => lang.t("error.internal"),
                _ => lang.t("login.failed"),
            };
            login_form(&st, lang, jar, f.next.as_deref(), Some(msg), &f.login)
        }
    }
}

async fn logout(
    State(st): State<AppState>,
    jar: CookieJar,
    UserForm { user, lang, .. }: UserForm<NoFields>,
) -> Response {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        if let Err(e) = st.app.store.logout(c.value()).await {
            return error_page(&st, lang, Some(&user), &e.into());
        }
    }
    (
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/login"),
    )
        .into_response()
}

async fn set_lang(
    Path(code): Path<String>,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Fr);
    let cookie = Cookie::build((LANG_COOKIE, lang.code()))
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(365))
        .build();
    (jar.add(cookie), Redirect::to(&safe_next(q.next.as_deref()))).into_response()
}

/// A correspondence id from a page's path, or the "not found" page's error.
fn correspondence_id(raw: &str, lang: Lang) -> Result<diwan_core::CorrespondenceId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(lang.t("corr.not_found")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_redirects() {
        assert_eq!(
            super::safe_next(Some("/registre?page=2")),
            "/registre?page=2"
        );
        assert_eq!(super::safe_next(Some("//evil.example")), "/");
        assert_eq!(super::safe_next(Some("https://evil.example")), "/");
        assert_eq!(super::safe_next(Some("/\\evil")), "/");
        assert_eq!(super::safe_next(None), "/");
    }
}
