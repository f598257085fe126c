//! The signature book (parapheur): folders of PDF documents sent through circuits of visa,
//! signature and seal steps, with delegation, batch signing and a sealed signature certificate
//! (bordereau de signature) when a folder completes.
//!
//! Who sees a folder: its author, the actors of its circuit, users named in its history (asked
//! for an opinion, transferred to), delegates of its actors, and the administrators and auditors
//! of the administration. Anybody else gets "not found". Signatures are PAdES (B-T by default,
//! time-stamped by the platform's unit) by incremental update, so every earlier signature stays
//! valid; each one makes a new version of the document.

use crate::access::Principal;
use crate::context::App;
use crate::error::AppError;
use crate::upload::AcceptedFile;
use diwan_core::media::MediaType;
use diwan_core::org::Role;
use diwan_core::parapheur::{
    parse_document_type, ActionKind, Assignee, Circuit, EntityRef, FolderId, FolderStatus,
    SignatureLevel, StepKind, StepSpec,
};
use diwan_core::text::clean_text;
use diwan_core::{EntityId, UserId};
use diwan_crypto::cms::CmsSigner;
use diwan_crypto::{Certificate, PrivateKey};
use diwan_pades::{Level, SignOptions, ValidationData, Visible};
use diwan_store::parapheur::{
    Act, Acted, CircuitTemplate, Delegation, DocumentChange, DocumentRole, Folder, FolderDetail,
    FolderQueue, NewDelegation, NewFolder, NewFolderDocument, SignedVersion,
};
use diwan_store::{BlobHash, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the author gives when creating a folder (the documents come apart).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderRequest {
    pub title: String,
    /// A code such as `decision`, `letter`, `contract` (picks the circuit template).
    pub document_type: String,
    /// The entity the folder is written in (defaults to the author's first).
    #[serde(default)]
    pub entity: Option<EntityId>,
    /// `b-b` or `b-t` (default).
    #[serde(default)]
    pub level: Option<SignatureLevel>,
    /// The circuit; when absent, the document type's template (if any) is used.
    #[serde(default)]
    pub circuit: Option<Vec<StepSpec>>,
}

/// A new circuit: explicit steps, or the template of the folder's document type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitRequest {
    #[serde(default)]
    pub steps: Option<Vec<StepSpec>>,
    /// Use the document type's template (when `steps` is absent this is implied).
    #[serde(default)]
    pub template: Option<bool>,
}

/// An action on a folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// `approve`, `sign`, `reject`, `annotate`, `opinion` or `transfer`.
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub to_user: Option<UserId>,
}

/// A delegation to create.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationRequest {
    /// Defaults to the caller; administrators may delegate for anyone.
    #[serde(default)]
    pub delegator: Option<UserId>,
    pub delegate: UserId,
    #[serde(with = "diwan_core::iso_date")]
    pub from: time::Date,
    #[serde(with = "diwan_core::iso_date")]
    pub to: time::Date,
    /// `None`: every document type.
    #[serde(default)]
    pub document_type: Option<String>,
}

/// A circuit template to store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub document_type: String,
    pub name: String,
    pub steps: Vec<StepSpec>,
}

/// The outcome of one folder of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchResult {
    pub id: String,
    /// HTTP-like status: 200 when signed, else the error's status.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder_status: Option<FolderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The key that signs at a step.
enum SigningKey {
    Person(Arc<crate::pki::PersonIdentity>),
    Seal(Arc<crate::pki::Seal>, Box<Certificate>),
}

impl SigningKey {
    fn parts(&self) -> (&PrivateKey, &Certificate, Vec<Certificate>) {
        match self {
            SigningKey::Person(p) => (&p.key, &p.cert, p.chain.clone()),
            SigningKey::Seal(s, root) => (&s.key, &s.cert, vec![(**root).clone()]),
        }
    }
}

impl App {
    /// The signer's function for a visible block, in French and Arabic ("Chef — Direction …",
    /// "رئيس — …"): the first entity they head, else the first where they sign; none otherwise.
    async fn signer_function(&self, who: &Principal) -> Vec<String> {
        let pick = who
            .memberships
            .iter()
            .find(|m| m.role == Role::Head)
            .or_else(|| who.memberships.iter().find(|m| m.role == Role::Signatory));
        let Some(m) = pick else {
            return Vec::new();
        };
        let Ok(e) = self.store.tenant(who.admin()).entity(m.entity_id).await else {
            return Vec::new();
        };
        let (fr, ar) = match m.role {
            Role::Head => ("Chef", "رئيس"),
            _ => ("Signataire", "موقّع"),
        };
        vec![
            format!("{fr} — {}", e.names.fr),
            format!("{ar} — {}", e.names.ar),
        ]
    }
}

/// Size of a visible signature block, in points.
const BLOCK_WIDTH: f32 = 172.0;
const BLOCK_HEIGHT: f32 = 84.0;

/// Where the visible block of the `earlier`+1-th signer of a step goes: at the step's `tag`
/// when the document has it (each later signer of the step below the one before), else at
/// `foot` on the last page — a rectangle from the bottom-left corner of the page as displayed,
/// so that on a turned page (`/Rotate`) the blocks still line up along its displayed foot.
fn place_block(
    pdf: &[u8],
    tag: Option<&str>,
    earlier: usize,
    foot: [f32; 4],
    lines: Vec<String>,
) -> Visible {
    if let Some(hit) = tag.and_then(|t| diwan_pades::find_text(pdf, t).ok().flatten()) {
        let hit = hit.moved_down(earlier as f32 * (BLOCK_HEIGHT + 6.0));
        return Visible::at_tag(&hit, BLOCK_WIDTH, BLOCK_HEIGHT, lines);
    }
    let pages = diwan_pades::PageView::all(pdf).unwrap_or_default();
    Visible {
        page: pages.len().max(1),
        rect: pages.last().map_or(foot, |view| view.to_user(foot)),
        lines,
    }
}

/// A document to sign must be a PDF (as sniffed): office files are to be converted first.
fn check_signable(f: &AcceptedFile) -> Result<(), AppError> {
    if f.media_type == MediaType::Pdf {
        return Ok(());
    }
    let why = match f.media_type {
        MediaType::Odt | MediaType::Docx | MediaType::Ods | MediaType::Xlsx => {
            "is an office document: convert it to PDF before putting it in the signature book"
        }
        _ => "is not a PDF: only PDF documents can be signed (add images as annexes)",
    };
    Err(AppError::UnsupportedMediaType(format!("{} {why}", f.name)))
}

fn new_document(role: DocumentRole, f: AcceptedFile) -> NewFolderDocument {
    NewFolderDocument {
        role,
        file_name: f.name.to_string(),
        media_type: f.media_type,
        blob: f.blob,
    }
}

fn is_conflict_on_document(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(m) if m.contains("changed since it was read"))
}

impl App {
    /// Whether the principal sees every folder of the administration.
    fn sees_all_folders(who: &Principal) -> bool {
        who.has_role(Role::Admin) || who.has_role(Role::Auditor)
    }

    /// A folder the caller may see, with everything in it, or "not found".
    pub async fn folder_for(
        &self,
        who: &Principal,
        id: FolderId,
    ) -> Result<FolderDetail, AppError> {
        let tenant = self.store.tenant(who.admin());
        let detail = tenant.folder_detail(id).await?;
        if !Self::sees_all_folders(who)
            && !tenant.folder_visible_to(id, who.id(), self.today()).await?
        {
            return Err(AppError::NotFound("folder".into()));
        }
        Ok(detail)
    }

    /// Creates a folder in draft: `mains` are the documents to sign (PDF only), `annexes` any
    /// accepted type.
    pub async fn create_folder(
        &self,
        who: &Principal,
        req: FolderRequest,
        mains: Vec<AcceptedFile>,
        annexes: Vec<AcceptedFile>,
    ) -> Result<Folder, AppError> {
        who.require_writer()?;
        let title = clean_text(&req.title, 300, false)
            .map_err(|e| AppError::field("title", e.to_string()))?;
        let document_type = parse_document_type(&req.document_type)
            .map_err(|e| AppError::field("document_type", e.to_string()))?;
        let level = req.level.unwrap_or_default();
        let entity = match req.entity {
            Some(e) => {
                if !who.memberships.iter().any(|m| m.entity_id == e) && !who.has_role(Role::Admin) {
                    return Err(AppError::field(
                        "entity",
                        "you are not a member of this entity",
                    ));
                }
                e
            }
            None => who
                .memberships
                .first()
                .map(|m| m.entity_id)
                .ok_or_else(|| AppError::Forbidden("you belong to no entity".into()))?,
        };
        if mains.is_empty() {
            return Err(AppError::field(
                "file",
                "a folder needs at least one PDF document to sign",
            ));
        }
        mains.iter().try_for_each(check_signable)?;
        let tenant = self.store.tenant(who.admin());
        let circuit = match req.circuit {
            Some(steps) => Some(self.check_circuit(who, steps).await?),
            None => tenant
                .circuit_template(&document_type)
                .await?
                .map(|t| t.steps),
        };
        let mut documents = Vec::new();
        for (role, files) in [(DocumentRole::Main, mains), (DocumentRole::Annex, annexes)] {
            documents.extend(files.into_iter().map(|f| new_document(role, f)));
        }
        Ok(tenant
            .create_folder(
                NewFolder {
                    title,
                    document_type,
                    author: who.id(),
                    entity,
                    level,
                    documents,
                    circuit,
                },
                &who.actor(),
            )
            .await?)
    }

    /// Checks a circuit: the domain rules, and that named users and entities exist.
    async fn check_circuit(
        &self,
        who: &Principal,
        steps: Vec<StepSpec>,
    ) -> Result<Vec<StepSpec>, AppError> {
        let circuit = Circuit::new(steps).map_err(|e| AppError::field("circuit", e.to_string()))?;
        let tenant = self.store.tenant(who.admin());
        for (i, s) in circuit.steps().iter().enumerate() {
            let field = format!("circuit.steps[{i}]");
            let users: Vec<UserId> = match &s.assignee {
                Assignee::User { user } => vec![*user],
                Assignee::Group { users } => users.clone(),
                Assignee::Role { entity, .. } => {
                    if let EntityRef::Entity(e) = entity {
                        tenant
                            .entity(*e)
                            .await
                            .map_err(|_| AppError::field(&field, "unknown entity"))?;
                    }
                    vec![]
                }
            };
            for u in users {
                let user = tenant
                    .user(u)
                    .await
                    .map_err(|_| AppError::field(&field, format!("unknown user {u}")))?;
                if user.disabled {
                    return Err(AppError::field(
                        &field,
                        format!("user {} is disabled", user.login),
                    ));
                }
            }
        }
        Ok(circuit.into_steps())
    }

    /// Sets the circuit of a folder its author is still preparing.
    pub async fn set_circuit(
        &self,
        who: &Principal,
        id: FolderId,
        req: CircuitRequest,
    ) -> Result<FolderDetail, AppError> {
        let f = self.folder_for(who, id).await?;
        let steps = match req.steps {
            Some(s) => s,
            None => {
                self.store
                    .tenant(who.admin())
                    .circuit_template(&f.folder.document_type)
                    .await?
                    .ok_or_else(|| {
                        AppError::field(
                            "steps",
                            format!(
                                "no circuit template for document type {}: give the steps",
                                f.folder.document_type
                            ),
                        )
                    })?
                    .steps
            }
        };
        let steps = self.check_circuit(who, steps).await?;
        self.store
            .tenant(who.admin())
            .set_circuit(id, who.id(), &steps, &who.actor())
            .await?;
        self.folder_for(who, id).await
    }

    /// Resolves who acts at each step and how many must.
    async fn resolve(
        &self,
        who: &Principal,
        f: &FolderDetail,
    ) -> Result<Vec<(Vec<UserId>, usize)>, AppError> {
        let tenant = self.store.tenant(who.admin());
        let mut out = Vec::new();
        for s in &f.steps {
            let field = format!("circuit.steps[{}]", s.position - 1);
            let users = match &s.assignee {
                Assignee::User { user } => vec![*user],
                Assignee::Group { users } => users.clone(),
                Assignee::Role { role, entity } => {
                    let e =
                        match entity {
                            EntityRef::Entity(e) => *e,
                            EntityRef::AuthorEntity => f.folder.entity_id,
                            EntityRef::AuthorParent => {
                                tenant.entity(f.folder.entity_id).await?.parent.ok_or_else(
                                    || AppError::field(&field, "the author's entity has no parent"),
                                )?
                            }
                        };
                    tenant
                        .members(e)
                        .await?
                        .into_iter()
                        .filter(|(u, r)| r == role && !u.disabled)
                        .map(|(u, _)| u.id)
                        .collect()
                }
            };
            let mut users = users;
            users.sort();
            users.dedup();
            let required = s
                .quorum
                .required(users.len())
                .map_err(|m| AppError::field(&field, m))?;
            out.push((users, required));
        }
        Ok(out)
    }

    /// Sends a folder into its circuit (its author; also again after a rejection or a recall).
    pub async fn start_folder(
        &self,
        who: &Principal,
        id: FolderId,
    ) -> Result<FolderDetail, AppError> {
        let f = self.folder_for(who, id).await?;
        if f.folder.author_id != who.id() {
            return Err(AppError::Forbidden(
                "only the folder's author may send it".into(),
            ));
        }
        if f.steps.is_empty() {
            return Err(AppError::field("circuit", "the folder has no circuit"));
        }
        if !f.documents.iter().any(|d| d.role == DocumentRole::Main) {
            return Err(AppError::field(
                "file",
                "the folder has no document to sign: add a PDF before sending it",
            ));
        }
        let resolved = self.resolve(who, &f).await?;
        self.store
            .tenant(who.admin())
            .start_folder(id, who.id(), &resolved, &who.actor())
            .await?;
        self.folder_for(who, id).await
    }

    /// Takes a folder back, when nobody acted on it yet.
    pub async fn recall_folder(
        &self,
        who: &Principal,
        id: FolderId,
    ) -> Result<FolderDetail, AppError> {
        self.folder_for(who, id).await?;
        self.store
            .tenant(who.admin())
            .recall_folder(id, who.id(), &who.actor())
            .await?;
        self.folder_for(who, id).await
    }

    /// A folder whose documents the caller may change now: its author's, while it is editable
    /// (draft, rejected or recalled), and not holding a reply letter (redrafted from its
    /// correspondence instead). 404 when the caller does not see it, 403 for others, 409 when
    /// it is not editable.
    async fn editable_folder(
        &self,
        who: &Principal,
        id: FolderId,
    ) -> Result<FolderDetail, AppError> {
        who.require_writer()?;
        let f = self.folder_for(who, id).await?;
        if f.folder.author_id != who.id() {
            return Err(AppError::Forbidden(
                "only the folder's author may change its documents".into(),
            ));
        }
        if !f.folder.status.is_editable() {
            return Err(AppError::Conflict(format!(
                "the documents cannot change once the folder is {}",
                f.folder.status
            )));
        }
        if self
            .store
            .tenant(who.admin())
            .reply_draft_for_folder(id)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(
                "this folder holds a reply letter: redraft the reply from its correspondence"
                    .into(),
            ));
        }
        Ok(f)
    }

    /// Adds documents to sign (PDF only) and annexes (any accepted type) to a folder its author
    /// is editing; they come after the existing ones.
    pub async fn add_folder_documents(
        &self,
        who: &Principal,
        id: FolderId,
        mains: Vec<AcceptedFile>,
        annexes: Vec<AcceptedFile>,
    ) -> Result<FolderDetail, AppError> {
        if mains.is_empty() && annexes.is_empty() {
            return Err(AppError::field(
                "file",
                "give at least one file (a PDF to sign, or an annex)",
            ));
        }
        mains.iter().try_for_each(check_signable)?;
        self.editable_folder(who, id).await?;
        let documents = mains
            .into_iter()
            .map(|f| new_document(DocumentRole::Main, f))
            .chain(
                annexes
                    .into_iter()
                    .map(|f| new_document(DocumentRole::Annex, f)),
            )
            .collect();
        self.store
            .tenant(who.admin())
            .change_folder_documents(id, who.id(), DocumentChange::Add(documents), &who.actor())
            .await?;
        self.folder_for(who, id).await
    }

    /// Removes a document or an annex from a folder its author is editing (a folder without a
    /// document to sign cannot be sent until one is added).
    pub async fn remove_folder_document(
        &self,
        who: &Principal,
        id: FolderId,
        doc: &str,
    ) -> Result<FolderDetail, AppError> {
        self.editable_folder(who, id).await?;
        self.store
            .tenant(who.admin())
            .change_folder_documents(
                id,
                who.id(),
                DocumentChange::Remove {
                    document_id: doc.to_string(),
                },
                &who.actor(),
            )
            .await?;
        self.folder_for(who, id).await
    }

    /// Replaces a document of a folder its author is editing by a new file, which becomes the
    /// document's next version (same id, role and place; a document to sign stays a PDF).
    pub async fn replace_folder_document(
        &self,
        who: &Principal,
        id: FolderId,
        doc: &str,
        file: AcceptedFile,
    ) -> Result<FolderDetail, AppError> {
        let role = self
            .editable_folder(who, id)
            .await?
            .documents
            .iter()
            .find(|d| d.id == doc)
            .map(|d| d.role)
            .ok_or_else(|| AppError::NotFound("document".into()))?;
        if role == DocumentRole::Main {
            check_signable(&file)?;
        }
        self.store
            .tenant(who.admin())
            .change_folder_documents(
                id,
                who.id(),
                DocumentChange::Replace {
                    document_id: doc.to_string(),
                    file: new_document(role, file),
                },
                &who.actor(),
            )
            .await?;
        self.folder_for(who, id).await
    }

    /// Whose seat the caller takes at the current step: `Ok(None)` their own, `Ok(Some(d))`
    /// delegator `d`'s. Not an actor now: 409 when they are in the circuit (not their turn, or
    /// already acted), 403 otherwise.
    async fn seat(&self, who: &Principal, f: &FolderDetail) -> Result<Option<UserId>, AppError> {
        if f.folder.status != FolderStatus::InCircuit {
            return Err(AppError::Conflict(format!(
                "the folder is {}: nobody can act on it",
                f.folder.status
            )));
        }
        let step = f
            .current()
            .ok_or_else(|| AppError::Internal("folder without a current step".into()))?;
        let pending: Vec<UserId> = step
            .actors
            .iter()
            .filter(|a| a.state == "pending")
            .map(|a| a.user_id)
            .collect();
        if pending.contains(&who.id()) {
            return Ok(None);
        }
        let delegators = self
            .store
            .tenant(who.admin())
            .delegators_of(who.id(), self.today(), &f.folder.document_type)
            .await?;
        if let Some(d) = delegators.iter().find(|d| pending.contains(d)) {
            return Ok(Some(*d));
        }
        let in_circuit = f.steps.iter().any(|s| {
            s.actors
                .iter()
                .any(|a| a.user_id == who.id() || delegators.contains(&a.user_id))
        });
        if in_circuit {
            Err(AppError::Conflict(
                "it is not your turn on this folder (or you already acted)".into(),
            ))
        } else {
            Err(AppError::Forbidden(
                "you are not an actor of this folder's current step".into(),
            ))
        }
    }

    /// Acts on a folder: approve, sign, reject (with a reason), annotate, ask an opinion,
    /// transfer the step.
    pub async fn act_on_folder(
        &self,
        who: &Principal,
        id: FolderId,
        req: ActionRequest,
    ) -> Result<FolderDetail, AppError> {
        who.require_writer()?;
        let action: ActionKind = req
            .action
            .parse()
            .ok()
            .filter(|a: &ActionKind| {
                matches!(
                    a,
                    ActionKind::Approve
                        | ActionKind::Sign
                        | ActionKind::Seal
                        | ActionKind::Reject
                        | ActionKind::Annotate
                        | ActionKind::Opinion
                        | ActionKind::Transfer
                )
            })
            .ok_or_else(|| {
                AppError::field(
                    "action",
                    "expected approve, sign, reject, annotate, opinion or transfer",
                )
            })?;
        let reason = match req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            Some(r) => Some(
                clean_text(r, 2000, true).map_err(|e| AppError::field("reason", e.to_string()))?,
            ),
            None => None,
        };
        if action.needs_reason() && reason.is_none() {
            return Err(AppError::field(
                "reason",
                match action {
                    ActionKind::Reject => "a rejection needs a reason",
                    ActionKind::Opinion => "say what you ask an opinion about",
                    _ => "the annotation is empty",
                },
            ));
        }
        let f = self.folder_for(who, id).await?;
        let tenant = self.store.tenant(who.admin());
        if action == ActionKind::Annotate {
            tenant
                .annotate_folder(id, who.id(), reason.as_deref().unwrap_or(""), &who.actor())
                .await?;
            return self.folder_for(who, id).await;
        }
        if matches!(action, ActionKind::Opinion | ActionKind::Transfer) {
            let to = req
                .to_user
                .ok_or_else(|| AppError::field("to_user", "say to whom"))?;
            tenant
                .user(to)
                .await
                .map_err(|_| AppError::field("to_user", "unknown user"))?;
        }
        let on_behalf_of = self.seat(who, &f).await?;
        let step = f
            .current()
            .ok_or_else(|| AppError::Internal("folder without a current step".into()))?;
        let action = match action {
            // "sign" on a seal step applies the seal.
            ActionKind::Sign if step.kind == StepKind::Seal => ActionKind::Seal,
            a => a,
        };
        if action.completes_part() && action != step.kind.completing_action() {
            return Err(AppError::Conflict(format!(
                "the current step is a {} step: use the action {}",
                step.kind,
                match step.kind {
                    StepKind::Visa => "approve",
                    _ => "sign",
                }
            )));
        }
        let outcome = if action.completes_part() && step.kind.signs() {
            self.sign_current(who, id, step.kind, on_behalf_of, reason.clone())
                .await?
        } else {
            tenant
                .act(
                    id,
                    Act {
                        user: who.id(),
                        on_behalf_of,
                        action,
                        comment: reason,
                        target_user: req.to_user,
                        signed: vec![],
                        signer: None,
                    },
                    &who.actor(),
                )
                .await?
        };
        if outcome.completed {
            if let Err(e) = self.folder_evidence(who.admin(), id).await {
                tracing::error!(folder = %id, error = %e, "the signature certificate could not be produced; it will be on first request");
            }
            self.after_folder_completed(who, id).await;
        }
        self.folder_for(who, id).await
    }

    /// Signs every main document at the current step and records it; signs again when another
    /// signer of the same step got there first.
    async fn sign_current(
        &self,
        who: &Principal,
        id: FolderId,
        kind: StepKind,
        on_behalf_of: Option<UserId>,
        comment: Option<String>,
    ) -> Result<Acted, AppError> {
        let tenant = self.store.tenant(who.admin());
        let admin = self.store.administration(who.admin()).await?;
        let key = match kind {
            StepKind::Seal => SigningKey::Seal(
                self.seal(who.admin()).await?,
                Box::new(self.pki().root.clone()),
            ),
            _ => SigningKey::Person(Arc::new(self.person_identity(&who.user).await?)),
        };
        let key = Arc::new(key);
        let delegator = match on_behalf_of {
            Some(d) => Some(tenant.user(d).await?.display_name),
            None => None,
        };
        // The signer's function, for the visible block: head (or signatory) of which entity.
        let function = self.signer_function(who).await;
        let signer_subject = match &*key {
            SigningKey::Person(p) => p.cert.subject(),
            SigningKey::Seal(s, _) => s.cert.subject(),
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let f = tenant.folder_detail(id).await?;
            let level = match f.folder.level {
                SignatureLevel::BB => Level::BB,
                SignatureLevel::BT => Level::BT,
                SignatureLevel::BLT => Level::BLT,
                SignatureLevel::BLTA => Level::BLTA,
            };
            // B-LT and B-LTA carry what validates the signature years later: the certificates up
            // to the root (the time-stamping unit's too), the root's CRL and OCSP answers of the
            // platform's responder, in the document security store.
            let validation = if matches!(level, Level::BLT | Level::BLTA) {
                let pki = self.pki();
                let (_, cert, chain) = key.parts();
                let tsa_cert = pki.authority.certificate().clone();
                let mut certificates = vec![cert.clone()];
                certificates.extend(chain);
                certificates.push(pki.root.clone());
                certificates.push(tsa_cert.clone());
                certificates.dedup_by(|a, b| a.der() == b.der());
                let mut ocsps = Vec::new();
                for c in [cert, &tsa_cert] {
                    if let Some(r) = pki.ocsp_for(&self.store, c).await {
                        ocsps.push(r);
                    }
                }
                Some(ValidationData {
                    certificates,
                    crls: vec![pki.crl(&self.store).await?],
                    ocsps,
                })
            } else {
                None
            };
            let step = f.current();
            let step_tag = step.and_then(|s| s.tag.clone());
            let signed_here =
                step.map_or(0, |s| s.actors.iter().filter(|a| a.state == "done").count());
            let mut signed = Vec::new();
            for d in f.documents.iter().filter(|d| d.role == DocumentRole::Main) {
                let hash = BlobHash::parse(&d.current_sha256)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                let pdf = self.store.blobs().read(&hash).await?;
                let now = time::OffsetDateTime::now_utc();
                // The visible block, in French and Arabic (each line drawn in its direction).
                let by = &who.user.display_name;
                let mut lines = match kind {
                    StepKind::Seal => vec![
                        "Cachet électronique — خاتم إلكتروني".to_string(),
                        admin.names.fr.clone(),
                        admin.names.ar.clone(),
                        format!("Apposé par {by}"),
                        format!("بواسطة {by}"),
                    ],
                    _ => {
                        let mut l = vec![format!("Signé par {by}"), format!("وقع من طرف {by}")];
                        l.extend(function.iter().cloned());
                        l.push(format!(
                            "{} — {} — {}",
                            kind.label_fr(),
                            kind.label_ar(),
                            admin.code
                        ));
                        l
                    }
                };
                let when = crate::local_time(now, self.offset());
                lines.push(format!("Le {when} — بتاريخ {when}"));
                let mut reason = format!("{} — {}", kind.label_fr(), f.folder.title);
                if let Some(dn) = &delegator {
                    lines.push(format!("Pour {dn}, par délégation"));
                    lines.push(format!("نيابة عن {dn}"));
                    lines.push(format!("on behalf of {dn}"));
                    reason = format!("{reason} — par délégation de {dn} (on behalf of {dn})");
                }
                // At the step's tag when the document has it (below the blocks of this step's
                // earlier signers), else in a row at the foot of the last page.
                let index = (d.version - 1).max(0) as usize;
                let col = (index % 3) as f32;
                let row = (index / 3) as f32;
                let x = 30.0 + col * 180.0;
                let y = 30.0 + row * 92.0;
                let foot = [x, y, x + BLOCK_WIDTH, y + BLOCK_HEIGHT];
                let tag = step_tag.clone();
                let key = key.clone();
                let validation = validation.clone();
                let tsa = self.pki().timestamps.clone();
                let field = format!("Signature{}", d.version);
                let name = match (&*key, &delegator) {
                    (SigningKey::Person(_), Some(dn)) => {
                        Some(format!("{} (on behalf of {dn})", who.user.display_name))
                    }
                    (SigningKey::Person(_), None) => Some(who.user.display_name.clone()),
                    (SigningKey::Seal(..), _) => Some(admin.names.fr.clone()),
                };
                let out = tokio::task::spawn_blocking(move || {
                    let visible = place_block(&pdf, tag.as_deref(), signed_here, foot, lines);
                    let (k, cert, chain) = key.parts();
                    let signer = CmsSigner {
                        key: k,
                        cert,
                        chain: &chain,
                    };
                    let mut opts = SignOptions::new(level);
                    opts.tsa = Some(tsa.as_ref());
                    opts.signing_time = now;
                    opts.reason = Some(reason);
                    opts.location = Some("Diwan".into());
                    opts.name = name;
                    opts.field_name = Some(field);
                    opts.visible = Some(visible);
                    opts.validation_data = validation;
                    diwan_pades::sign_bytes(&pdf, &signer, &opts)
                })
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?
                .map_err(|e| {
                    AppError::Conflict(format!("{} cannot be signed: {e}", d.file_name))
                })?;
                let blob = self.store.blobs().stage_bytes(&out).await?;
                signed.push(SignedVersion {
                    document_id: d.id.clone(),
                    hash_before: d.current_sha256.clone(),
                    blob,
                });
            }
            let r = tenant
                .act(
                    id,
                    Act {
                        user: who.id(),
                        on_behalf_of,
                        action: kind.completing_action(),
                        comment: comment.clone(),
                        target_user: None,
                        signed,
                        signer: Some(signer_subject.clone()),
                    },
                    &who.actor(),
                )
                .await;
            match r {
                Err(e) if is_conflict_on_document(&e) && attempts < 5 => continue,
                other => return Ok(other?),
            }
        }
    }

    /// Signs many folders, each checked and signed alone; one result per folder.
    pub async fn batch_sign(
        &self,
        who: &Principal,
        ids: &[String],
    ) -> Result<Vec<BatchResult>, AppError> {
        if ids.is_empty() || ids.len() > 100 {
            return Err(AppError::field("ids", "give 1 to 100 folder ids"));
        }
        let mut out = Vec::new();
        for raw in ids {
            let r = match raw.parse::<FolderId>() {
                Err(_) => Err(AppError::NotFound("folder".into())),
                Ok(id) => {
                    let action = match self.folder_for(who, id).await {
                        Ok(f) => match f.current().map(|s| s.kind) {
                            Some(StepKind::Visa) => "approve",
                            _ => "sign",
                        },
                        Err(e) => {
                            out.push(BatchResult {
                                id: raw.clone(),
                                status: e.status(),
                                folder_status: None,
                                error: Some(e.detail()),
                            });
                            continue;
                        }
                    };
                    self.act_on_folder(
                        who,
                        id,
                        ActionRequest {
                            action: action.into(),
                            reason: None,
                            to_user: None,
                        },
                    )
                    .await
                }
            };
            out.push(match r {
                Ok(f) => BatchResult {
                    id: raw.clone(),
                    status: 200,
                    folder_status: Some(f.folder.status),
                    error: None,
                },
                Err(e) => BatchResult {
                    id: raw.clone(),
                    status: e.status(),
                    folder_status: None,
                    error: Some(e.detail()),
                },
            });
        }
        Ok(out)
    }

    /// Folders of a queue: `to_act` (awaiting the caller, directly or by delegation), `mine`
    /// (written by the caller), `done` (where the caller acted), or every visible one.
    pub async fn folders(
        &self,
        who: &Principal,
        queue: Option<&str>,
    ) -> Result<Vec<Folder>, AppError> {
        let q = match queue {
            Some("to_act") => FolderQueue::ToAct,
            Some("mine") => FolderQueue::Mine,
            Some("done") => FolderQueue::Done,
            None | Some("all") => FolderQueue::Visible {
                everything: Self::sees_all_folders(who),
            },
            Some(_) => {
                return Err(AppError::field(
                    "queue",
                    "expected to_act, mine, done or all",
                ))
            }
        };
        Ok(self
            .store
            .tenant(who.admin())
            .folders(who.id(), q, self.today(), 200)
            .await?)
    }

    /// The current version of a document of a visible folder: `(file name, media type, hash)`.
    pub async fn folder_document(
        &self,
        who: &Principal,
        id: FolderId,
        doc: &str,
    ) -> Result<(String, String, BlobHash), AppError> {
        let f = self.folder_for(who, id).await?;
        let d = f
            .documents
            .iter()
            .find(|d| d.id == doc)
            .ok_or_else(|| AppError::NotFound("document".into()))?;
        Ok((
            d.file_name.clone(),
            d.media_type.clone(),
            BlobHash::parse(&d.current_sha256).map_err(|e| AppError::Internal(e.to_string()))?,
        ))
    }

    /// The sealed signature certificate of a completed folder the caller sees (made now if it
    /// was not yet).
    pub async fn folder_evidence_for(
        &self,
        who: &Principal,
        id: FolderId,
    ) -> Result<BlobHash, AppError> {
        let f = self.folder_for(who, id).await?;
        if f.folder.status != FolderStatus::Completed {
            return Err(AppError::Conflict(
                "the signature certificate exists once the folder is completed".into(),
            ));
        }
        let hash = match f.folder.evidence_sha256 {
            Some(h) => h,
            None => self.folder_evidence(who.admin(), id).await?,
        };
        BlobHash::parse(&hash).map_err(|e| AppError::Internal(e.to_string()))
    }

    /// Produces, seals and records the signature certificate of a completed folder.
    async fn folder_evidence(
        &self,
        admin_id: diwan_core::AdministrationId,
        id: FolderId,
    ) -> Result<String, AppError> {
        let tenant = self.store.tenant(admin_id);
        let f = tenant.folder_detail(id).await?;
        if let Some(h) = &f.folder.evidence_sha256 {
            return Ok(h.clone());
        }
        let admin = self.store.administration(admin_id).await?;
        let offset = self.offset();
        let round = f.folder.round;
        let entries = f
            .actions
            .iter()
            // The round's actions, and the document changes the author made before sending it.
            .filter(|a| {
                a.round == round
                    || a.action == ActionKind::Create
                    || (a.round == round - 1 && a.action.edits_documents())
            })
            .map(|a| {
                let step = a
                    .step_position
                    .and_then(|p| f.steps.iter().find(|s| s.position == p))
                    .map(|s| {
                        format!(
                            "Étape {} — {} / {}",
                            s.position,
                            s.kind.label_fr(),
                            s.kind.label_ar()
                        )
                    })
                    .unwrap_or_default();
                diwan_pdf::evidence::EvidenceEntry {
                    step,
                    action_fr: a.action.label_fr().into(),
                    action_ar: a.action.label_ar().into(),
                    actor: match &a.target_name {
                        Some(t) => format!("{} → {t}", a.user_name),
                        None => a.user_name.clone(),
                    },
                    on_behalf_of: a.on_behalf_of_name.clone(),
                    at: crate::local_time(a.at, offset),
                    signer: a.signer.clone(),
                    comment: a.comment.clone(),
                    hash_before: a.hash_before.clone(),
                    hash_after: a.hash_after.clone(),
                }
            })
            .collect();
        let data = diwan_pdf::evidence::EvidenceData {
            administration_fr: admin.names.fr.clone(),
            administration_ar: admin.names.ar.clone(),
            folder_id: id.to_string(),
            title: f.folder.title.clone(),
            document_type: f.folder.document_type.clone(),
            author: f.author_name.clone(),
            created: crate::local_time(f.folder.created_at, offset),
            completed: f
                .folder
                .completed_at
                .map(|t| crate::local_time(t, offset))
                .unwrap_or_default(),
            documents: f
                .documents
                .iter()
                .map(|d| diwan_pdf::evidence::EvidenceDocument {
                    name: d.file_name.clone(),
                    role: match d.role {
                        DocumentRole::Main => "Document principal — الوثيقة الرئيسية".into(),
                        DocumentRole::Annex => "Annexe — مرفق".into(),
                    },
                    original_sha256: d.original_sha256.clone(),
                    final_sha256: d.current_sha256.clone(),
                })
                .collect(),
            entries,
            generated: time::OffsetDateTime::now_utc(),
        };
        let seal = self.seal(admin_id).await?;
        let root = self.pki().root.clone();
        let tsa = self.pki().timestamps.clone();
        let name = admin.names.fr.clone();
        let pdf = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, AppError> {
            let pdf = diwan_pdf::evidence::render(&data)
                .map_err(|e| AppError::Internal(format!("signature certificate: {e}")))?;
            let chain = [root];
            let signer = CmsSigner {
                key: &seal.key,
                cert: &seal.cert,
                chain: &chain,
            };
            let mut opts = SignOptions::new(Level::BT);
            opts.tsa = Some(tsa.as_ref());
            opts.reason = Some("Bordereau de signature — شهادة التوقيع".into());
            opts.name = Some(name);
            opts.field_name = Some("Cachet".into());
            diwan_pades::sign_bytes(&pdf, &signer, &opts)
                .map_err(|e| AppError::Internal(format!("sealing the signature certificate: {e}")))
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
        let mut blob = self.store.blobs().stage_bytes(&pdf).await?;
        Ok(tenant
            .set_folder_evidence(id, &mut blob, &diwan_store::Actor::system("parapheur"))
            .await?)
    }

    /// Creates a delegation: the caller's own, or anyone's for an administrator.
    pub async fn create_delegation(
        &self,
        who: &Principal,
        req: DelegationRequest,
    ) -> Result<Delegation, AppError> {
        who.require_writer()?;
        let delegator = req.delegator.unwrap_or(who.id());
        if delegator != who.id() && !who.has_role(Role::Admin) {
            return Err(AppError::Forbidden(
                "you may only delegate your own signature".into(),
            ));
        }
        let document_type = req
            .document_type
            .as_deref()
            .map(|t| {
                parse_document_type(t).map_err(|e| AppError::field("document_type", e.to_string()))
            })
            .transpose()?;
        let tenant = self.store.tenant(who.admin());
        tenant
            .user(req.delegate)
            .await
            .map_err(|_| AppError::field("delegate", "unknown user"))?;
        if req.to < req.from {
            return Err(AppError::field(
                "to",
                "the delegation ends before it starts",
            ));
        }
        if req.delegate == delegator {
            return Err(AppError::field(
                "delegate",
                "one cannot delegate to oneself",
            ));
        }
        Ok(tenant
            .create_delegation(
                &NewDelegation {
                    delegator,
                    delegate: req.delegate,
                    starts_on: req.from,
                    ends_on: req.to,
                    document_type,
                },
                &who.actor(),
            )
            .await?)
    }

    /// Delegations given or received by the caller (all of them for administrators and
    /// auditors).
    pub async fn delegations(&self, who: &Principal) -> Result<Vec<Delegation>, AppError> {
        let user = (!Self::sees_all_folders(who)).then(|| who.id());
        Ok(self.store.tenant(who.admin()).delegations(user).await?)
    }

    /// Ends a delegation (its delegator or an administrator).
    pub async fn revoke_delegation(&self, who: &Principal, id: &str) -> Result<(), AppError> {
        let tenant = self.store.tenant(who.admin());
        let d = tenant.delegation(id).await?;
        if d.delegator_id != who.id() && !who.has_role(Role::Admin) {
            return Err(AppError::NotFound("delegation".into()));
        }
        Ok(tenant.revoke_delegation(id, &who.actor()).await?)
    }

    /// Circuit templates of the administration.
    pub async fn circuit_templates(
        &self,
        who: &Principal,
    ) -> Result<Vec<CircuitTemplate>, AppError> {
        Ok(self.store.tenant(who.admin()).circuit_templates().await?)
    }

    /// Creates or replaces the template of a document type (administrators).
    pub async fn put_circuit_template(
        &self,
        who: &Principal,
        req: TemplateRequest,
    ) -> Result<CircuitTemplate, AppError> {
        who.require_role(Role::Admin)?;
        let document_type = parse_document_type(&req.document_type)
            .map_err(|e| AppError::field("document_type", e.to_string()))?;
        let name = clean_text(&req.name, 200, false)
            .map_err(|e| AppError::field("name", e.to_string()))?;
        let steps = self.check_circuit(who, req.steps).await?;
        Ok(self
            .store
            .tenant(who.admin())
            .put_circuit_template(&document_type, &name, &steps, &who.actor())
            .await?)
    }

    /// Deletes the template of a document type (administrators).
    pub async fn delete_circuit_template(
        &self,
        who: &Principal,
        document_type: &str,
    ) -> Result<(), AppError> {
        who.require_role(Role::Admin)?;
        Ok(self
            .store
            .tenant(who.admin())
            .delete_circuit_template(document_type, &who.actor())
            .await?)
    }
}

impl App {
    /// Demo folders: one awaiting a visa, one awaiting the secretary-general's signature (when
    /// the administration has the demo's heads and secretary-general).
    pub(crate) async fn demo_folders(&self, tenant: &diwan_store::Tenant) -> Result<(), AppError> {
        let users = tenant.users().await?;
        let find = |prefix: &str| {
            users
                .iter()
                .find(|u| u.login.starts_with(prefix))
                .map(|u| u.id)
        };
        let (Some(author), Some(head), Some(sg)) =
            (find("chef.dev@"), find("chef.dsi@"), find("sg@"))
        else {
            return Ok(());
        };
        let entity = match tenant.memberships(author).await?.first() {
            Some(m) => m.entity_id,
            None => return Ok(()),
        };
        let actor = diwan_store::Actor::system("demo");
        for (i, (title, visa_done)) in [
            ("Note de service relative au télétravail", false),
            (
                "Décision portant désignation des correspondants numériques",
                true,
            ),
        ]
        .iter()
        .enumerate()
        {
            let pdf =
                crate::demo::simple_pdf(&[title, "Document de démonstration du parapheur — Diwan"]);
            let blob = self.store.blobs().stage_bytes(&pdf).await?;
            let steps = vec![
                StepSpec {
                    kind: StepKind::Visa,
                    assignee: Assignee::User { user: head },
                    quorum: diwan_core::parapheur::Quorum::All,
                    tag: None,
                },
                StepSpec {
                    kind: StepKind::Signature,
                    assignee: Assignee::User { user: sg },
                    quorum: diwan_core::parapheur::Quorum::All,
                    tag: None,
                },
            ];
            let f = tenant
                .create_folder(
                    NewFolder {
                        title: (*title).into(),
                        document_type: if i == 0 { "note" } else { "decision" }.into(),
                        author,
                        entity,
                        level: SignatureLevel::BT,
                        documents: vec![NewFolderDocument {
                            role: DocumentRole::Main,
                            file_name: format!("parapheur-{}.pdf", i + 1),
                            media_type: MediaType::Pdf,
                            blob,
                        }],
                        circuit: Some(steps),
                    },
                    &actor,
                )
                .await?;
            tenant
                .start_folder(f.id, author, &[(vec![head], 1), (vec![sg], 1)], &actor)
                .await?;
            if *visa_done {
                tenant
                    .act(
                        f.id,
                        Act {
                            user: head,
                            on_behalf_of: None,
                            action: ActionKind::Approve,
                            comment: Some("Vu, bon pour signature.".into()),
                            target_user: None,
                            signed: vec![],
                            signer: None,
                        },
                        &actor,
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
