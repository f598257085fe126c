//! The signature book's pages (parapheur): the folders awaiting the user, written by them or
//! acted on; a new folder with its documents and circuit; a folder's page with its documents,
//! circuit, history and the actions the user may take; batch signing; delegations.
//!
//! Handlers only read forms and call the application layer, which checks every right again.

use super::form::{NoFields, UserForm};
use super::{error_page, page_ctx, render};
use crate::auth::WebUser;
use crate::i18n::Lang;
use crate::state::AppState;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use diwan_app::parapheur::{ActionRequest, DelegationRequest, FolderRequest};
use diwan_app::AppError;
use diwan_core::org::Role;
use diwan_core::parapheur::{
    Assignee, EntityRef, FolderId, FolderStatus, Quorum, SignatureLevel, StepKind, StepSpec,
};
use diwan_core::{EntityId, UserId};
use diwan_store::parapheur::{FolderDetail, Step};
use minijinja::context;
use serde::Deserialize;
use serde_json::{json, Value};

/// Document types offered in the form (any code is accepted by the API).
const DOCUMENT_TYPES: &[&str] = &[
    "letter",
    "decision",
    "contract",
    "purchase_order",
    "hr_act",
    "note",
];
/// Step rows offered in the new-folder form.
const STEP_ROWS: usize = 4;

fn folder_id(raw: &str, lang: Lang) -> Result<FolderId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(lang.t("folder.not_found")))
}

fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    dossiers: Option<String>,
    signes: Option<usize>,
    echecs: Option<usize>,
}

/// `GET /parapheur`: the user's folders, by queue, with counts.
pub async fn list(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Query(q): Query<ListQuery>,
) -> Response {
    let who = &user.principal;
    let mut counts = Vec::new();
    let mut lists = std::collections::HashMap::new();
    for name in ["to_act", "mine", "done", "all"] {
        match st.app.folders(who, Some(name)).await {
            Ok(f) => {
                counts.push(json!({ "name": name, "count": f.len() }));
                lists.insert(name, f);
            }
            Err(e) => return error_page(&st, lang, Some(&user), &e),
        }
    }
    let current = match q.dossiers.as_deref() {
        Some(n @ ("to_act" | "mine" | "done" | "all")) => n,
        _ if lists.get("to_act").is_some_and(|l| !l.is_empty()) => "to_act",
        _ => "mine",
    };
    let offset = st.app.offset();
    let items: Vec<Value> = lists
        .remove(current)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            json!({
                "id": f.id.to_string(), "title": f.title, "document_type": f.document_type,
                "status": f.status.as_str(), "step": f.current_step,
                "updated": super::local_time(f.updated_at, offset),
            })
        })
        .collect();
    let batch = q
        .signes
        .map(|done| json!({ "done": done, "failed": q.echecs.unwrap_or(0) }));
    let ctx = page_ctx(lang, Some(&user), "/parapheur");
    render(
        &st,
        "parapheur.html",
        context! { counts => counts, current => current, items => items, batch => batch, ..ctx },
    )
}

/// `POST /parapheur/signer`: signs (or approves) the ticked folders, each checked alone.
pub async fn batch(
    State(st): State<AppState>,
    UserForm {
        user,
        lang,
        form: pairs,
    }: UserForm<Vec<(String, String)>>,
) -> Response {
    let ids: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v.clone())
        .collect();
    if ids.is_empty() {
        return error_page(
            &st,
            lang,
            Some(&user),
            &AppError::field("ids", lang.t("folder.batch_none")),
        );
    }
    match st.app.batch_sign(&user.principal, &ids).await {
        Ok(results) => {
            let done = results.iter().filter(|r| r.status == 200).count();
            let failed = results.len() - done;
            Redirect::to(&format!(
                "/parapheur?dossiers=to_act&signes={done}&echecs={failed}"
            ))
            .into_response()
        }
        Err(e) => error_page(&st, lang, Some(&user), &e),
    }
}

/// The users and entities a form offers.
async fn choices(st: &AppState, user: &WebUser, lang: Lang) -> (Vec<Value>, Vec<Value>) {
    let tenant = st.app.store.tenant(user.principal.admin());
    let users = tenant
        .users()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|u| !u.disabled)
        .map(|u| json!({ "id": u.id.to_string(), "name": u.display_name, "login": u.login }))
        .collect();
    let mine: Vec<EntityId> = user
        .principal
        .memberships
        .iter()
        .map(|m| m.entity_id)
        .collect();
    let entities = tenant
        .entities()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|e| mine.contains(&e.id))
        .map(|e| {
            json!({ "id": e.id.to_string(), "name": match lang { Lang::Ar => e.names.ar, _ => e.names.fr } })
        })
        .collect();
    (users, entities)
}

fn new_page(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    values: &[(String, String)],
    message: Option<String>,
    choices: (Vec<Value>, Vec<Value>),
) -> Response {
    let mut v = serde_json::Map::new();
    for (k, val) in values {
        v.entry(k.clone())
            .or_insert_with(|| Value::String(val.clone()));
    }
    let ctx = page_ctx(lang, Some(user), "/parapheur/nouveau");
    let status = if message.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut r = render(
        st,
        "parapheur_new.html",
        context! {
            values => Value::Object(v), message => message, users => choices.0,
            entities => choices.1, document_types => DOCUMENT_TYPES,
            rows => (0..STEP_ROWS).collect::<Vec<_>>(), ..ctx
        },
    );
    *r.status_mut() = status;
    r
}

/// `GET /parapheur/nouveau`.
pub async fn new_form(State(st): State<AppState>, lang: Lang, user: WebUser) -> Response {
    let c = choices(&st, &user, lang).await;
    // A first signature step by the head of the author's entity, as most circuits start.
    let defaults = vec![
        ("kind_0".to_string(), "signature".to_string()),
        ("who_0".to_string(), "head:author_entity".to_string()),
        ("send".to_string(), "1".to_string()),
    ];
    new_page(&st, lang, &user, &defaults, None, c)
}

fn value<'a>(values: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The circuit described by the form's step rows; `None` when no row is filled (the document
/// type's template then applies).
fn circuit_from_form(
    values: &[(String, String)],
    lang: Lang,
) -> Result<Option<Vec<StepSpec>>, AppError> {
    let mut steps = Vec::new();
    for i in 0..STEP_ROWS {
        let Some(kind) = value(values, &format!("kind_{i}")) else {
            continue;
        };
        let kind: StepKind = kind
            .parse()
            .map_err(|_| AppError::field("circuit", lang.t("folder.bad_step")))?;
        let group: Vec<UserId> = values
            .iter()
            .filter(|(k, _)| k == &format!("group_{i}"))
            .filter_map(|(_, v)| v.parse().ok())
            .collect();
        let assignee = if group.len() > 1 {
            Assignee::Group { users: group }
        } else {
            match value(values, &format!("who_{i}")) {
                Some("head:author_entity") => Assignee::Role {
                    role: Role::Head,
                    entity: EntityRef::AuthorEntity,
                },
                Some("head:author_parent") => Assignee::Role {
                    role: Role::Head,
                    entity: EntityRef::AuthorParent,
                },
                Some("signatory:author_entity") => Assignee::Role {
                    role: Role::Signatory,
                    entity: EntityRef::AuthorEntity,
                },
                Some(u) => match u.strip_prefix("user:").and_then(|u| u.parse().ok()) {
                    Some(user) => Assignee::User { user },
                    None => match group.first() {
                        Some(user) => Assignee::User { user: *user },
                        None => {
                            return Err(AppError::field(
                                "circuit",
                                format!("{} {}", lang.t("folder.step"), i + 1),
                            ))
                        }
                    },
                },
                None => match group.first() {
                    Some(user) => Assignee::User { user: *user },
                    None => {
                        return Err(AppError::field(
                            "circuit",
                            format!(
                                "{} {} : {}",
                                lang.t("folder.step"),
                                i + 1,
                                lang.t("folder.who_missing")
                            ),
                        ))
                    }
                },
            }
        };
        let quorum = match value(values, &format!("quorum_{i}")) {
            Some("any") => Quorum::Any,
            Some("n") => Quorum::NOf(
                value(values, &format!("n_{i}"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
            ),
            _ => Quorum::All,
        };
        let tag = value(values, &format!("tag_{i}"))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        steps.push(StepSpec {
            kind,
            assignee,
            quorum,
            tag,
        });
    }
    Ok(if steps.is_empty() { None } else { Some(steps) })
}

/// `POST /parapheur/nouveau` (multipart: fields, then `file` PDFs and `annex` files).
pub async fn new_submit(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    mut mp: Multipart,
) -> Response {
    let mut values: Vec<(String, String)> = Vec::new();
    let mut mains = Vec::new();
    let mut annexes = Vec::new();
    let mut csrf_ok = false;
    let expired = || AppError::Forbidden(lang.t("form.expired"));
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let c = choices(&st, &user, lang).await;
                return new_page(&st, lang, &user, &values, Some(e.body_text()), c);
            }
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" || name == "annex" {
            if !csrf_ok {
                return error_page(&st, lang, Some(&user), &expired());
            }
            if field.file_name().unwrap_or("").is_empty() {
                continue;
            }
            let mut field = field;
            let index = mains.len() + annexes.len();
            let received = super::receive_file(&st, index, &mut field).await;
            drop(field);
            match received {
                Ok(f) if name == "file" => mains.push(f),
                Ok(f) => annexes.push(f),
                Err(e) => {
                    crate::api::correspondences::drain_multipart(&mut mp).await;
                    let c = choices(&st, &user, lang).await;
                    return new_page(&st, lang, &user, &values, Some(e.detail()), c);
                }
            }
        } else {
            let text = match field.text().await {
                Ok(t) => t,
                Err(e) => {
                    let c = choices(&st, &user, lang).await;
                    return new_page(&st, lang, &user, &values, Some(e.body_text()), c);
                }
            };
            if name == "_csrf" {
                if user.check_csrf(&text).is_err() {
                    return error_page(&st, lang, Some(&user), &expired());
                }
                csrf_ok = true;
            } else if text.len() <= 2_000 && values.len() < 200 {
                values.push((name, text));
            }
        }
    }
    if !csrf_ok {
        return error_page(&st, lang, Some(&user), &expired());
    }
    let circuit = match circuit_from_form(&values, lang) {
        Ok(c) => c,
        Err(e) => return fail_page(&st, lang, &user, &values, e).await,
    };
    let req = FolderRequest {
        title: value(&values, "title").unwrap_or("").to_string(),
        document_type: value(&values, "document_type")
            .unwrap_or("letter")
            .to_string(),
        entity: value(&values, "entity").and_then(|e| e.parse().ok()),
        level: match value(&values, "level") {
            Some("b-b") => Some(SignatureLevel::BB),
            Some("b-lt") => Some(SignatureLevel::BLT),
            Some("b-lta") => Some(SignatureLevel::BLTA),
            _ => Some(SignatureLevel::BT),
        },
        circuit,
    };
    let folder = match st
        .app
        .create_folder(&user.principal, req, mains, annexes)
        .await
    {
        Ok(f) => f,
        Err(e) => return fail_page(&st, lang, &user, &values, e).await,
    };
    if value(&values, "send").is_some() {
        if let Err(e) = st.app.start_folder(&user.principal, folder.id).await {
            // The folder exists as a draft: show it with the reason it did not start.
            return Redirect::to(&format!(
                "/parapheur/{}?erreur={}",
                folder.id,
                diwan_app::receipt::urlencode(&e.detail())
            ))
            .into_response();
        }
    }
    Redirect::to(&format!("/parapheur/{}?fait=create", folder.id)).into_response()
}

async fn fail_page(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    values: &[(String, String)],
    e: AppError,
) -> Response {
    let c = choices(st, user, lang).await;
    new_page(
        st,
        lang,
        user,
        values,
        Some(super::form_error(&e, lang, "folder.field")),
        c,
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    fait: Option<String>,
    erreur: Option<String>,
}

/// How a step's assignee reads on the page.
fn assignee_label(step: &Step, lang: Lang, users: &[Value]) -> String {
    let name = |id: &UserId| {
        users
            .iter()
            .find(|u| u["id"] == id.to_string())
            .and_then(|u| u["name"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    match &step.assignee {
        Assignee::User { user } => name(user),
        Assignee::Group { users: g } => g.iter().map(name).collect::<Vec<_>>().join(", "),
        Assignee::Role { role, entity } => format!(
            "{} — {}",
            lang.t(&format!("folder.role_of.{}", role.as_str())),
            match entity {
                EntityRef::AuthorEntity => lang.t("folder.author_entity"),
                EntityRef::AuthorParent => lang.t("folder.author_parent"),
                EntityRef::Entity(_) => lang.t("folder.named_entity"),
            }
        ),
    }
}

fn quorum_label(q: Quorum, lang: Lang) -> String {
    match q {
        Quorum::All => lang.t("folder.quorum.all"),
        Quorum::Any => lang.t("folder.quorum.any"),
        Quorum::NOf(n) => format!("{n} {}", lang.t("folder.quorum.n_of")),
    }
}

/// `GET /parapheur/{id}`.
pub async fn show(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let id = match folder_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    show_page(&st, lang, &user, id, q.fait, q.erreur).await
}

async fn show_page(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    id: FolderId,
    done: Option<String>,
    message: Option<String>,
) -> Response {
    let who = &user.principal;
    let f: FolderDetail = match st.app.folder_for(who, id).await {
        Ok(f) => f,
        Err(AppError::NotFound(_)) => {
            return error_page(
                st,
                lang,
                Some(user),
                &AppError::NotFound(lang.t("folder.not_found")),
            )
        }
        Err(e) => return error_page(st, lang, Some(user), &e),
    };
    let offset = st.app.offset();
    let (users, _) = choices(st, user, lang).await;
    // Whether the folder awaits this user (directly or as a delegate).
    let awaiting = st
        .app
        .folders(who, Some("to_act"))
        .await
        .map(|l| l.iter().any(|x| x.id == id))
        .unwrap_or(false);
    let current = f.folder.current_step;
    let current_kind = f
        .steps
        .iter()
        .find(|s| Some(s.position) == current)
        .map(|s| s.kind.as_str());
    let steps: Vec<Value> = f
        .steps
        .iter()
        .map(|s| {
            json!({
                "position": s.position, "kind": s.kind.as_str(),
                "who": assignee_label(s, lang, &users),
                "quorum": quorum_label(s.quorum, lang), "state": s.state.as_str(),
                "tag": s.tag,
                "current": Some(s.position) == current,
                "actors": s.actors.iter().map(|a| json!({
                    "name": a.display_name, "state": a.state,
                    "at": a.acted_at.map(|t| super::local_time(t, offset)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let history: Vec<Value> = f
        .actions
        .iter()
        .map(|a| {
            json!({
                "at": super::local_time(a.at, offset), "user": a.user_name,
                "on_behalf_of": a.on_behalf_of_name, "action": a.action.as_str(),
                "comment": a.comment, "target": a.target_name, "step": a.step_position,
                "hash": a.hash_after.as_deref().map(|h| h.chars().take(16).collect::<String>()),
                "signer": a.signer,
            })
        })
        .collect();
    let documents: Vec<Value> = f
        .documents
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "name": d.file_name, "role": d.role,
                "version": d.version, "size": d.size,
            })
        })
        .collect();
    let author = f.folder.author_id == who.id();
    let nobody_acted = !f.actions.iter().any(|a| {
        a.round == f.folder.round
            && matches!(
                a.action.as_str(),
                "approve" | "sign" | "seal" | "reject" | "transfer"
            )
    });
    let status = f.folder.status;
    let can_start = author
        && matches!(
            status,
            FolderStatus::Draft | FolderStatus::Rejected | FolderStatus::Recalled
        );
    let can_recall = author && status == FolderStatus::InCircuit && nobody_acted;
    let can_edit = author && status.is_editable();
    let writer = who.require_writer().is_ok();
    let folder = json!({
        "id": id.to_string(), "title": f.folder.title, "document_type": f.folder.document_type,
        "status": status.as_str(), "level": f.folder.level.as_str(),
        "author": f.author_name, "created": super::local_time(f.folder.created_at, offset),
        "completed": f.folder.completed_at.map(|t| super::local_time(t, offset)),
    });
    let others: Vec<Value> = users
        .iter()
        .filter(|u| u["id"] != who.id().to_string())
        .cloned()
        .collect();
    let ctx = page_ctx(lang, Some(user), &format!("/parapheur/{id}"));
    let mut r = render(
        st,
        "parapheur_folder.html",
        context! {
            folder => folder, steps => steps, history => history, documents => documents,
            awaiting => awaiting && writer && status == FolderStatus::InCircuit,
            current_kind => current_kind, can_start => can_start && writer,
            can_recall => can_recall && writer, writer => writer,
            can_edit => can_edit && writer,
            completed => status == FolderStatus::Completed,
            users => others, done => done, message => message.clone(), ..ctx
        },
    );
    if message.is_some() && done.is_none() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    action: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    to_user: Option<String>,
}

/// `POST /parapheur/{id}/actions`: start, recall, or an action on the current step.
pub async fn action(
    State(st): State<AppState>,
    Path(id): Path<String>,
    UserForm {
        user,
        lang,
        form: f,
    }: UserForm<ActionForm>,
) -> Response {
    let id = match folder_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    let who = &user.principal;
    let to_user = match filled(&f.to_user).map(str::parse::<UserId>) {
        Some(Ok(u)) => Some(u),
        Some(Err(_)) => {
            return show_page(&st, lang, &user, id, None, Some(lang.t("folder.pick_user"))).await
        }
        None => None,
    };
    let r = match f.action.as_str() {
        "start" => st.app.start_folder(who, id).await.map(|_| ()),
        "recall" => st.app.recall_folder(who, id).await.map(|_| ()),
        other => st
            .app
            .act_on_folder(
                who,
                id,
                ActionRequest {
                    action: other.to_string(),
                    reason: filled(&f.reason).map(String::from),
                    to_user,
                },
            )
            .await
            .map(|_| ()),
    };
    outcome(&st, lang, &user, id, &f.action, r).await
}

/// After a change on a folder: back to its page saying what was `done`, or the page with the
/// error (the folder not found: the error page).
async fn outcome(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    id: FolderId,
    done: &str,
    r: Result<(), AppError>,
) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/parapheur/{id}?fait={done}")).into_response(),
        Err(AppError::NotFound(what)) if what != "document" => error_page(
            st,
            lang,
            Some(user),
            &AppError::NotFound(lang.t("folder.not_found")),
        ),
        Err(e) => {
            let message = super::form_error(&e, lang, "folder.field");
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut r = show_page(st, lang, user, id, None, Some(message)).await;
            *r.status_mut() = status;
            r
        }
    }
}

/// `POST /parapheur/{id}/documents` (multipart: `_csrf` first, `role` (main or annex), then
/// `file` parts): adds documents to a folder its author is editing.
pub async fn add_documents(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Path(id): Path<String>,
    mut mp: Multipart,
) -> Response {
    let id = match folder_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    let expired = || AppError::Forbidden(lang.t("form.expired"));
    let mut csrf_ok = false;
    let mut annex = false;
    let mut files = Vec::new();
    let r = loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break Ok(()),
            Err(e) => break Err(AppError::BadRequest(e.body_text())),
        };
        let name = field.name().unwrap_or("").to_string();
        if !csrf_ok && name != "_csrf" {
            crate::api::correspondences::drain_multipart(&mut mp).await;
            return error_page(&st, lang, Some(&user), &expired());
        }
        match name.as_str() {
            "_csrf" => match field.text().await {
                Ok(t) if user.check_csrf(&t).is_ok() => csrf_ok = true,
                _ => return error_page(&st, lang, Some(&user), &expired()),
            },
            "role" => match field.text().await.as_deref() {
                Ok("main") => annex = false,
                Ok("annex") => annex = true,
                _ => break Err(AppError::field("role", lang.t("folder.bad_role"))),
            },
            "file" => {
                if field.file_name().unwrap_or("").is_empty() {
                    continue;
                }
                match super::receive_file(&st, files.len(), &mut field).await {
                    Ok(f) => files.push(f),
                    Err(e) => break Err(e),
                }
            }
            _ => continue,
        }
    };
    if r.is_err() {
        crate::api::correspondences::drain_multipart(&mut mp).await;
    }
    if !csrf_ok {
        return error_page(&st, lang, Some(&user), &expired());
    }
    let r = match r {
        Ok(()) if annex => st
            .app
            .add_folder_documents(&user.principal, id, vec![], files)
            .await
            .map(|_| ()),
        Ok(()) => st
            .app
            .add_folder_documents(&user.principal, id, files, vec![])
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    outcome(&st, lang, &user, id, "add_document", r).await
}

/// `POST /parapheur/{id}/documents/{doc}/remove`: removes a document from a folder its author
/// is editing.
pub async fn remove_document(
    State(st): State<AppState>,
    Path((id, doc)): Path<(String, String)>,
    UserForm { user, lang, .. }: UserForm<NoFields>,
) -> Response {
    let id = match folder_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    let r = st
        .app
        .remove_folder_document(&user.principal, id, &doc)
        .await
        .map(|_| ());
    outcome(&st, lang, &user, id, "remove_document", r).await
}

/// `GET /parapheur/{id}/documents/{doc}`: the current (signed) version of a document.
pub async fn document(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Path((id, doc)): Path<(String, String)>,
) -> Response {
    let id = match folder_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    match st.app.folder_document(&user.principal, id, &doc).await {
        Ok((name, media, hash)) => {
            match crate::api::parapheur::stream_blob(&st.app, &hash, &media, &name).await {
                Ok(r) => r,
                Err(e) => error_page(&st, lang, Some(&user), &e.0),
            }
        }
        Err(e) => error_page(&st, lang, Some(&user), &e),
    }
}

/// `GET /parapheur/{id}/bordereau.pdf`: the sealed signature certificate.
pub async fn evidence(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    let id = match folder_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    match st.app.folder_evidence_for(&user.principal, id).await {
        Ok(hash) => match crate::api::parapheur::stream_blob(
            &st.app,
            &hash,
            "application/pdf",
            &format!("bordereau-signature-{id}.pdf"),
        )
        .await
        {
            Ok(r) => r,
            Err(e) => error_page(&st, lang, Some(&user), &e.0),
        },
        Err(e) => error_page(&st, lang, Some(&user), &e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DelegationsQuery {
    fait: Option<String>,
}

async fn delegations_page(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    done: Option<String>,
    message: Option<String>,
) -> Response {
    let who = &user.principal;
    let list = match st.app.delegations(who).await {
        Ok(l) => l,
        Err(e) => return error_page(st, lang, Some(user), &e),
    };
    let me = who.id();
    let fmt = |d: time::Date| format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year());
    let items: Vec<Value> = list
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "delegator": d.delegator_name, "delegate": d.delegate_name,
                "from": fmt(d.starts_on), "to": fmt(d.ends_on), "document_type": d.document_type,
                "revoked": d.revoked, "mine": d.delegator_id == me,
            })
        })
        .collect();
    let (users, _) = choices(st, user, lang).await;
    let others: Vec<Value> = users
        .into_iter()
        .filter(|u| u["id"] != me.to_string())
        .collect();
    let ctx = page_ctx(lang, Some(user), "/parapheur/delegations");
    let mut r = render(
        st,
        "parapheur_delegations.html",
        context! {
            items => items, users => others, document_types => DOCUMENT_TYPES,
            done => done, message => message.clone(), today => st.app.today().to_string(), ..ctx
        },
    );
    if message.is_some() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// `GET /parapheur/delegations`.
pub async fn delegations(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Query(q): Query<DelegationsQuery>,
) -> Response {
    delegations_page(&st, lang, &user, q.fait, None).await
}

#[derive(Debug, Deserialize)]
pub struct DelegationForm {
    #[serde(default)]
    revoke: Option<String>,
    #[serde(default)]
    delegate: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    document_type: Option<String>,
}

/// `POST /parapheur/delegations`: create a delegation, or revoke one (`revoke`).
pub async fn delegation_submit(
    State(st): State<AppState>,
    UserForm {
        user,
        lang,
        form: f,
    }: UserForm<DelegationForm>,
) -> Response {
    let who = &user.principal;
    let r = if let Some(id) = filled(&f.revoke) {
        st.app.revoke_delegation(who, id).await.map(|_| "revoke")
    } else {
        let date = |v: &Option<String>, field: &str| {
            filled(v)
                .and_then(|d| {
                    time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                        .ok()
                })
                .ok_or_else(|| AppError::field(field, lang.t("folder.bad_date")))
        };
        let req = (|| {
            Ok::<_, AppError>(DelegationRequest {
                delegator: None,
                delegate: filled(&f.delegate)
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| AppError::field("delegate", lang.t("folder.pick_user")))?,
                from: date(&f.from, "from")?,
                to: date(&f.to, "to")?,
                document_type: filled(&f.document_type).map(String::from),
            })
        })();
        match req {
            Ok(req) => st.app.create_delegation(who, req).await.map(|_| "create"),
            Err(e) => Err(e),
        }
    };
    match r {
        Ok(done) => Redirect::to(&format!("/parapheur/delegations?fait={done}")).into_response(),
        Err(e) => {
            let message = super::form_error(&e, lang, "folder.field");
            delegations_page(&st, lang, &user, None, Some(message)).await
        }
    }
}
