//! Administration pages: the administration's webhook endpoints (register one and see its secret
//! once, remove one, follow its recent deliveries). Administrators only; the application layer
//! checks the role again.

use super::form::UserForm;
use super::{error_page, page_ctx, render};
use crate::auth::WebUser;
use crate::i18n::Lang;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use diwan_app::webhooks::WebhookRequest;
use diwan_core::org::Role;
use diwan_store::webhooks::EVENT_TYPES;
use minijinja::context;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Default, Deserialize)]
pub struct WebhooksQuery {
    /// The endpoint whose deliveries are shown.
    endpoint: Option<String>,
    fait: Option<String>,
}

async fn webhooks_page(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    endpoint: Option<String>,
    done: Option<String>,
    created: Option<Value>,
    message: Option<String>,
) -> Response {
    let who = &user.principal;
    if let Err(e) = who.require_role(Role::Admin) {
        return error_page(st, lang, Some(user), &e);
    }
    let list = match st.app.webhooks(who).await {
        Ok(l) => l,
        Err(e) => return error_page(st, lang, Some(user), &e),
    };
    let offset = st.app.offset();
    let items: Vec<Value> = list
        .iter()
        .map(|w| {
            json!({
                "id": w.id, "url": w.url, "events": w.events, "active": w.active,
                "created": super::local_time(w.created_at, offset),
                "shown": endpoint.as_deref() == Some(w.id.as_str()),
            })
        })
        .collect();
    let deliveries: Vec<Value> = match endpoint
        .as_deref()
        .filter(|e| list.iter().any(|w| w.id == *e))
    {
        Some(id) => match st.app.webhook_deliveries(who, id).await {
            Ok(d) => d
                .iter()
                .map(|d| {
                    json!({
                        "event": d.event_type, "state": d.state, "attempts": d.attempts,
                        "status": d.last_status, "error": d.last_error,
                        "at": super::local_time(d.created_at, offset),
                        "next": d.next_attempt_at.map(|t| super::local_time(t, offset)),
                    })
                })
                .collect(),
            Err(e) => return error_page(st, lang, Some(user), &e),
        },
        None => Vec::new(),
    };
    let ctx = page_ctx(lang, Some(user), "/administration/webhooks");
    let mut r = render(
        st,
        "admin_webhooks.html",
        context! {
            items => items, deliveries => deliveries, event_types => EVENT_TYPES,
            done => done, created => created, message => message.clone(), ..ctx
        },
    );
    if message.is_some() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// `GET /administration/webhooks`.
pub async fn webhooks(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Query(q): Query<WebhooksQuery>,
) -> Response {
    webhooks_page(&st, lang, &user, q.endpoint, q.fait, None, None).await
}

/// `POST /administration/webhooks`: register an endpoint (`url`, ticked `events`; the page then
/// shows its secret, this once) or remove one (`delete`).
pub async fn webhooks_submit(
    State(st): State<AppState>,
    UserForm {
        user,
        lang,
        form: pairs,
    }: UserForm<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let who = &user.principal;
    if let Some(id) = get("delete") {
        return match st.app.delete_webhook(who, &id).await {
            Ok(()) => Redirect::to("/administration/webhooks?fait=delete").into_response(),
            Err(e) => webhooks_page(&st, lang, &user, None, None, None, Some(e.detail())).await,
        };
    }
    let events: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "events")
        .map(|(_, v)| v.clone())
        .collect();
    let req = WebhookRequest {
        url: get("url").unwrap_or_default(),
        events: Some(events),
    };
    match st.app.create_webhook(who, req).await {
        // The secret is shown in this answer only (not in a URL, not stored in clear).
        Ok(c) => {
            let created = json!({ "id": c.webhook.id, "url": c.webhook.url, "secret": c.secret });
            webhooks_page(&st, lang, &user, None, None, Some(created), None).await
        }
        Err(e) => {
            let message = super::form_error(&e, lang, "hooks.field");
            webhooks_page(&st, lang, &user, None, None, None, Some(message)).await
        }
    }
}
