//! Bulk actions from a work queue: one action (assign, or change the status) applied to many
//! correspondences at once. Each correspondence is its own transaction with its own checks, as
//! if acted on alone: one that may not be acted on (no right, already changed by someone else,
//! a transition not allowed from its status) is reported and the others go through.

use crate::access::Principal;
use crate::error::AppError;
use crate::processing::{AssignRequest, StatusRequest};
use crate::App;
use diwan_core::CorrespondenceId;
use serde::Deserialize;

/// Most correspondences in one bulk action.
pub const MAX_BULK: usize = 200;

/// What to do to each correspondence: `{"assign": {…}}` or `{"status": {…}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Assign (see `POST /correspondences/{id}/assignments`).
    Assign(AssignRequest),
    /// Change the status (see `POST /correspondences/{id}/status`).
    Status(StatusRequest),
}

/// The outcome for one correspondence.
#[derive(Debug)]
pub struct BulkOutcome {
    pub id: CorrespondenceId,
    pub result: Result<(), AppError>,
}

impl App {
    /// Applies `action` to each of `ids` (duplicates once), in order.
    pub async fn bulk(
        &self,
        who: &Principal,
        ids: &[CorrespondenceId],
        action: &BulkAction,
    ) -> Result<Vec<BulkOutcome>, AppError> {
        who.require_writer()?;
        if ids.is_empty() {
            return Err(AppError::field("ids", "select at least one correspondence"));
        }
        if ids.len() > MAX_BULK {
            return Err(AppError::field(
                "ids",
                format!("at most {MAX_BULK} correspondences at once"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids.iter().filter(|id| seen.insert(**id)) {
            let result = match action {
                BulkAction::Assign(r) => self.assign(who, *id, r.clone()).await.map(|_| ()),
                BulkAction::Status(r) => self.change_status(who, *id, r.clone()).await.map(|_| ()),
            };
            out.push(BulkOutcome { id: *id, result });
        }
        Ok(out)
    }
}
