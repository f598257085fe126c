//! Processing endpoints: assignments, status changes, notes, replies, work queues, search,
//! notifications and the reminder run.

use super::{path_id, ApiJson, ApiQuery};
use crate::auth::ApiUser;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use diwan_app::processing::{AssignRequest, DoneRequest, NoteRequest, ReplyRequest, StatusRequest};
use diwan_app::registration::opt_date;
use diwan_app::reply_signing::ReplyOutcome;
use diwan_app::AppError;
use diwan_core::correspondence::Status;
use diwan_core::numbering::Direction;
use diwan_core::{AssignmentId, CorrespondenceId, EntityId};
use diwan_store::processing::Queue;
use diwan_store::registry::CorrespondenceFilter;
use serde::Deserialize;
use serde_json::{json, Value};

fn cid(raw: &str) -> Result<CorrespondenceId, ApiError> {
    path_id(raw, "correspondence")
}

/// `POST /api/v1/correspondences/{id}/assignments` → 201.
pub async fn assign(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = cid(&id)?;
    let created = st.app.assign(&who, id, req).await?;
    let tenant = st.app.store.tenant(who.admin());
    let all = tenant.assignments(id).await?;
    let items: Vec<_> = all.iter().filter(|a| created.contains(&a.id)).collect();
    let first = created.first().map(|a| a.to_string()).unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/correspondences/{id}/assignments/{first}"),
        )],
        Json(json!({ "id": first, "items": items })),
    ))
}

/// `GET /api/v1/correspondences/{id}/assignments`.
pub async fn assignments(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = super::correspondences::readable(&st.app, &who, cid(&id)?).await?;
    let items = st.app.store.tenant(who.admin()).assignments(c.id).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/correspondences/{id}/assignments/{aid}/done`.
pub async fn assignment_done(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path((id, aid)): Path<(String, String)>,
    ApiJson(req): ApiJson<DoneRequest>,
) -> Result<Json<Value>, ApiError> {
    let aid: AssignmentId = path_id(&aid, "assignment")?;
    st.app
        .complete_assignment(&who, cid(&id)?, aid, req)
        .await?;
    Ok(Json(json!({ "id": aid, "state": "done" })))
}

/// `POST /api/v1/correspondences/{id}/status`.
pub async fn status(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StatusRequest>,
) -> Result<Json<Value>, ApiError> {
    let s = st.app.change_status(&who, cid(&id)?, req).await?;
    Ok(Json(json!({ "status": s })))
}

/// `GET|POST /api/v1/correspondences/{id}/notes`.
pub async fn notes(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = st.app.visible_notes(&who, cid(&id)?).await?;
    Ok(Json(json!({ "items": items })))
}

pub async fn add_note(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let nid = st.app.add_note(&who, cid(&id)?, req).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": nid }))))
}

/// `POST /api/v1/correspondences/{id}/replies` → 201 with the reply's number, or (`route`
/// `signature`) 202 with the reply waiting for signature and its folder.
pub async fn reply(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReplyRequest>,
) -> Result<axum::response::Response, ApiError> {
    let id = cid(&id)?;
    Ok(match st.app.submit_reply(&who, id, req).await? {
        ReplyOutcome::Registered(r) => (
            StatusCode::CREATED,
            [(
                header::LOCATION,
                format!("/api/v1/correspondences/{}", r.id),
            )],
            Json(json!({ "id": r.id, "number": r.number })),
        )
            .into_response(),
        ReplyOutcome::Routed(d) => (
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/api/v1/folders/{}", d.folder_id))],
            Json(draft_json(&d)),
        )
            .into_response(),
    })
}

fn draft_json(d: &diwan_store::replies::ReplyDraft) -> Value {
    let mut v = json!(d);
    v["state"] = json!(d.state());
    v["folder_url"] = json!(format!("/api/v1/folders/{}", d.folder_id));
    v
}

/// `GET /api/v1/correspondences/{id}/replies`: the registered replies and the replies routed
/// for signature (with their folder's state and, when rejected, the reason).
pub async fn replies(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = cid(&id)?;
    let drafts = st.app.reply_drafts(&who, id).await?;
    let registered = st.app.store.tenant(who.admin()).replies(id).await?;
    Ok(Json(json!({
        "items": registered.iter().map(|r| json!({
            "id": r.id, "number": r.number, "subject": r.subject, "status": r.status,
        })).collect::<Vec<_>>(),
        "signature": drafts.iter().map(draft_json).collect::<Vec<_>>(),
    })))
}

/// `POST /api/v1/correspondences/{id}/replies/register-signed` → 201: registers a signed reply
/// whose registration did not happen when its folder completed.
pub async fn register_signed_reply(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let r = st.app.register_signed_reply_of(&who, cid(&id)?).await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/correspondences/{}", r.id),
        )],
        Json(json!({ "id": r.id, "number": r.number })),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Page size and offset from `page` (from 1) and `per_page` (1 to 500, default 50).
pub fn paging(page: Option<i64>, per_page: Option<i64>) -> Result<(i64, i64), AppError> {
    let per_page = per_page.unwrap_or(50);
    if !(1..=500).contains(&per_page) {
        return Err(AppError::field("per_page", "must be between 1 and 500"));
    }
    let page = page.unwrap_or(1);
    if page < 1 {
        return Err(AppError::field("page", "starts at 1"));
    }
    Ok((per_page, (page - 1) * per_page))
}

/// `GET /api/v1/queues`: the caller's queues with their counts.
pub async fn queues(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    let tenant = st.app.store.tenant(who.admin());
    let owner = who.queue_owner(&tenant).await?;
    let today = st.app.today();
    let out: Vec<Value> = tenant
        .queue_counts(&owner, today)
        .await?
        .into_iter()
        .map(|(q, n)| json!({ "queue": q, "count": n, "url": format!("/api/v1/queues/{}", q.as_str()) }))
        .collect();
    Ok(Json(json!({ "items": out })))
}

/// `GET /api/v1/queues/{queue}`.
pub async fn queue(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> Result<Json<Value>, ApiError> {
    let queue = Queue::parse(&name).ok_or_else(|| ApiError(AppError::NotFound("queue".into())))?;
    let (limit, offset) = paging(q.page, q.per_page)?;
    let tenant = st.app.store.tenant(who.admin());
    let owner = who.queue_owner(&tenant).await?;
    let page = tenant
        .queue(&owner, queue, st.app.today(), limit, offset)
        .await?;
    Ok(Json(
        json!({ "queue": queue, "items": page.items, "total": page.total }),
    ))
}

/// Filters of `GET /api/v1/search`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub status: Option<Status>,
    pub direction: Option<Direction>,
    pub entity: Option<EntityId>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub due_before: Option<String>,
    pub year: Option<i32>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// `GET /api/v1/search?q=`: full text over what the caller may see.
pub async fn search(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let text = q.q.clone().unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError(AppError::field("q", "say what to search for")));
    }
    if text.chars().count() > 200 {
        return Err(ApiError(AppError::field("q", "at most 200 characters")));
    }
    let date = super::correspondences::optional_day;
    let (limit, offset) = paging(q.page, q.per_page)?;
    let filter = CorrespondenceFilter {
        direction: q.direction,
        status: q.status,
        year: q.year,
        from: date(&q.from, "from")?,
        to: date(&q.to, "to")?,
        due_before: date(&q.due_before, "due_before")?,
        handling_entity: q.entity,
        query: Some(text),
        limit,
        offset,
        ..Default::default()
    };
    let tenant = st.app.store.tenant(who.admin());
    let scope = who.read_scope(&tenant).await?;
    let page = tenant.correspondences(&scope, &filter).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|c| {
            json!({ "id": c.id, "number": c.number, "subject": c.subject, "status": c.status,
                    "direction": c.direction, "party_name": c.party_name, "due_date": c.due_date.map(|d| d.to_string()) })
        })
        .collect();
    let cap = diwan_store::registry::SEARCH_COUNT_CAP;
    Ok(Json(json!({
        "items": items,
        "total": page.total.min(cap),
        // More than `total` match: refine the query.
        "total_exact": page.total <= cap,
    })))
}

/// `GET /api/v1/notifications`.
pub async fn notifications(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    let items = st
        .app
        .store
        .tenant(who.admin())
        .notifications(who.id(), 100)
        .await?;
    let unread = items.iter().filter(|n| !n.read).count();
    Ok(Json(json!({ "items": items, "unread": unread })))
}

/// `POST /api/v1/notifications/read`.
pub async fn notifications_read(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    let n = st
        .app
        .store
        .tenant(who.admin())
        .mark_notifications_read(who.id())
        .await?;
    Ok(Json(json!({ "marked": n })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderRun {
    /// The day to run the reminders as of (defaults to today): lets an administrator replay a
    /// missed day, and tests drive the clock.
    #[serde(default, with = "opt_date")]
    pub as_of: Option<time::Date>,
}

/// `POST /api/v1/reminders/run` (administrators).
pub async fn run_reminders(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<ReminderRun>,
) -> Result<Json<Value>, ApiError> {
    who.require_role(diwan_core::org::Role::Admin)?;
    let day = req.as_of.unwrap_or_else(|| st.app.today());
    let r = st.app.send_reminders(who.admin(), day).await?;
    Ok(Json(
        json!({ "as_of": day.to_string(), "before": r.before, "late": r.late, "escalated": r.escalated }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    pub year: Option<i32>,
}

/// The register and the year (this year by default) an export names.
fn register_year(
    st: &AppState,
    register: &str,
    year: Option<i32>,
) -> Result<(diwan_core::RegisterId, i32), ApiError> {
    let register = path_id(register, "register")?;
    Ok((register, year.unwrap_or_else(|| st.app.today().year())))
}

/// `GET /api/v1/registers/{id}/export.csv?year=YYYY`: the register's year as CSV.
pub async fn export_register(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    let (register, year) = register_year(&st, &id, q.year)?;
    let csv = st.app.register_csv(&who, register, year).await?;
    Ok(csv_response(csv, &format!("registre-{year}.csv")))
}

/// `GET /api/v1/registers/{id}/export.pdf?year=YYYY`: the register's year as a printed
/// register book.
pub async fn export_register_pdf(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    let (register, year) = register_year(&st, &id, q.year)?;
    let pdf = st.app.register_pdf(&who, register, year).await?;
    Ok(download(
        pdf,
        "application/pdf",
        &format!("registre-{year}.pdf"),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveQuery {
    pub register: String,
    pub year: Option<i32>,
}

/// `GET /api/v1/archives/export?register=ID&year=YYYY`: the closed files of a register's year
/// as a BagIt bag in a tar stream.
pub async fn export_archive(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> Result<axum::response::Response, ApiError> {
    let (register, year) = register_year(&st, &q.register, q.year)?;
    let export = st.app.archive_export(&who, register, year).await?;
    Ok(archive_response(export))
}

/// A tar download streamed as it is produced.
pub fn archive_response(export: diwan_app::archive::ArchiveExport) -> axum::response::Response {
    let stream = futures_util::stream::unfold(export.body, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (chunk.map(bytes::Bytes::from), rx))
    });
    download(
        axum::body::Body::from_stream(stream),
        "application/x-tar",
        &export.file_name,
    )
}

/// A file download.
pub fn download(
    body: impl axum::response::IntoResponse,
    media_type: &str,
    name: &str,
) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, media_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// A CSV download.
pub fn csv_response(csv: Vec<u8>, name: &str) -> axum::response::Response {
    download(csv, "text/csv; charset=utf-8", name)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardQuery {
    pub days: Option<i64>,
}

/// `GET /api/v1/dashboard?days=90`: volumes per month and the load of each entity.
pub async fn dashboard(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiQuery(q): ApiQuery<DashboardQuery>,
) -> Result<Json<Value>, ApiError> {
    let days = q.days.unwrap_or(90);
    if !(1..=3660).contains(&days) {
        return Err(ApiError(AppError::field("days", "between 1 and 3660")));
    }
    let d = st.app.dashboard(&who, days).await?;
    Ok(Json(json!({
        "months": d.months,
        "entities": d.entities.iter().map(|(name, l)| json!({
            "entity": l.entity_id, "name": name, "open": l.open, "late": l.late,
            "finished": l.finished, "average_days": l.average_days,
        })).collect::<Vec<_>>(),
    })))
}

/// The body of `POST /api/v1/correspondences/bulk`: the ids and one action,
/// `{"ids": […], "assign": {…}}` or `{"ids": […], "status": {…}}`.
#[derive(Deserialize)]
pub struct BulkBody {
    ids: Vec<String>,
    #[serde(flatten)]
    action: diwan_app::bulk::BulkAction,
}

/// `POST /api/v1/correspondences/bulk` → 200 with one result per correspondence.
pub async fn bulk(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Json<Value>, ApiError> {
    let ids = body
        .ids
        .iter()
        .map(|raw| {
            raw.parse::<CorrespondenceId>()
                .map_err(|_| AppError::field("ids", format!("{raw:?} is not a correspondence id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = st.app.bulk(&who, &ids, &body.action).await?;
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let results: Vec<Value> = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(()) => json!({ "id": o.id, "ok": true }),
            Err(e) => {
                json!({ "id": o.id, "ok": false, "status": e.status(), "detail": e.detail() })
            }
        })
        .collect();
    Ok(Json(json!({
        "succeeded": outcomes.len() - failed,
        "failed": failed,
        "results": results,
    })))
}

/// `GET /api/v1/correspondences/{id}/slip.pdf`: the dispatch slip (bordereau d'envoi) of
/// outgoing or internal mail.
pub async fn dispatch_slip(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let id = cid(&id)?;
    let pdf = st.app.dispatch_slip(&who, id).await?;
    Ok(download(pdf, "application/pdf", "bordereau-envoi.pdf"))
}
