//! Diwan's HTTP layer.
//!
//! - `/api/v1/…`: the JSON API (bearer tokens), errors as `application/problem+json`;
//! - `/…`: server-rendered pages (session cookie + CSRF token), in French, Arabic (right to left),
//!   Amazigh (Tifinagh) and English, usable without JavaScript;
//! - `/healthz`, `/metrics`.
//!
//! Handlers are thin: they parse the request, call a use case of `diwan-app`, and render the
//! result. Rules live in `diwan-app`.

pub mod api;
pub mod auth;
pub mod i18n;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod server;
pub mod state;
pub mod ui;

pub use server::{router, serve};
pub use state::AppState;
