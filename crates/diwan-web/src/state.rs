//! Shared state of the HTTP layer.

use crate::metrics::Metrics;
use crate::ui::templates::Templates;
use diwan_app::App;
use std::sync::Arc;

/// Everything handlers need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub metrics: Arc<Metrics>,
    pub templates: Arc<Templates>,
}

impl AppState {
    pub fn new(app: App) -> Self {
        Self {
            app,
            metrics: Arc::new(Metrics::default()),
            templates: Arc::new(Templates::new()),
        }
    }
}
