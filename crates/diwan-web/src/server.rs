//! The router and the server loop with graceful shutdown.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Json, Router};
use diwan_app::App;
use serde_json::json;
use std::net::SocketAddr;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The whole application.
pub fn router(state: AppState) -> Router {
    let max_body = state
        .app
        .config
        .max_file_bytes
        .saturating_mul(state.app.config.max_files as u64)
        + (1 << 20);
    Router::new()
        .nest("/api/v1", crate::api::routes())
        .merge(crate::ui::routes())
        .route("/healthz", get(healthz))
        .route("/tsa", axum::routing::post(crate::api::log::tsa))
        .route("/pki/root.pem", get(crate::api::log::root))
        .route("/pki/crl", get(crate::api::log::crl))
        .route("/pki/ocsp", axum::routing::post(crate::api::log::ocsp_post))
        .route("/pki/ocsp/{*request}", get(crate::api::log::ocsp_get))
        .route("/metrics", get(crate::metrics::serve))
        .layer(axum::extract::DefaultBodyLimit::max(usize::try_from(max_body).unwrap_or(usize::MAX)))
        .layer(middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /healthz`: 200 when the database answers.
async fn healthz(State(st): State<AppState>) -> impl IntoResponse {
    match st.app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
        }
    }
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and closes the store.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(app.clone());
    let router = router(state);
    // Background work: delivery of the outbox and of webhooks, receipt repair, reminders, reading
    // documents for search.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let outbox = {
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { app.run_outbox(stop).await })
    };
    let repair = {
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { app.run_receipt_repair(stop).await })
    };
    let evidence = {
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { app.run_evidence_repair(stop).await })
    };
    let webhooks = {
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { app.run_webhooks(stop).await })
    };
    let reminders = {
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { app.run_reminders(stop).await })
    };
    let texts = {
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { app.run_document_text(stop).await })
    };
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    let _ = stop_tx.send(true);
    let _ = outbox.await;
    let _ = repair.await;
    let _ = evidence.await;
    let _ = reminders.await;
    let _ = texts.await;
    let _ = webhooks.await;
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}
