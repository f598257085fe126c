//! Replies signed in the signature book before they are registered.
//!
//! A reply routed for signature is drafted as for an immediate reply (same checks, same mail
//! merge, same letter), but its letter goes into a signature-book folder of document type
//! `letter` instead of the outgoing register; the incoming correspondence keeps its status and
//! sits in its handlers' "waiting for signature" queue. When the folder completes, the signed
//! letter (the folder's final version, with its PAdES signatures) is registered exactly as an
//! immediate reply is: outgoing number allocated in the registration transaction, linked to the
//! incoming one, which becomes "answered", e-mail to the correspondent when asked. A rejected or
//! recalled folder leaves the correspondence unanswered; its handler may redraft.

use crate::access::Principal;
use crate::context::App;
use crate::error::AppError;
use crate::parapheur::FolderRequest;
use crate::processing::{ReplyContent, ReplyRequest, ReplyRoute};
use crate::upload::AcceptedFile;
use diwan_core::media::MediaType;
use diwan_core::org::Role;
use diwan_core::parapheur::{
    Assignee, EntityRef, FolderId, FolderStatus, Quorum, StepKind, StepSpec,
};
use diwan_core::text::FileName;
use diwan_core::{AdministrationId, CorrespondenceId, EntityId};
use diwan_store::parapheur::DocumentRole;
use diwan_store::registry::Registered;
use diwan_store::replies::{NewReplyDraft, ReplyDraft};
use diwan_store::{Actor, BlobHash, Tenant};

/// The document type of reply letters in the signature book (picks the circuit template).
pub const REPLY_DOCUMENT_TYPE: &str = "letter";

/// What became of a reply: registered now, or routed to the signature book.
#[derive(Debug, Clone)]
pub enum ReplyOutcome {
    Registered(Registered),
    Routed(Box<ReplyDraft>),
}

impl App {
    /// Answers a correspondence: registers the reply now (`route` `register`) or routes it to
    /// the signature book (`route` `signature`).
    pub async fn submit_reply(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: ReplyRequest,
    ) -> Result<ReplyOutcome, AppError> {
        match req.route {
            ReplyRoute::Register => Ok(ReplyOutcome::Registered(self.reply(who, id, req).await?)),
            ReplyRoute::Signature => Ok(ReplyOutcome::Routed(Box::new(
                self.route_reply(who, id, req).await?,
            ))),
        }
    }

    /// Drafts a reply and sends it into the signature book: the letter (without an outgoing
    /// number: it is allocated at registration, after the last signature) becomes the main
    /// document of a new folder, which is started at once.
    pub async fn route_reply(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: ReplyRequest,
    ) -> Result<ReplyDraft, AppError> {
        let (tenant, c, content) = self.check_reply(who, id, &req).await?;
        self.refuse_if_reply_pending(&tenant, id).await?;
        // The folder is written in the replying entity when the caller belongs to it (a head
        // answering for an entity below writes it in their own).
        let folder_entity = who
            .memberships
            .iter()
            .find(|m| m.entity_id == content.entity)
            .or_else(|| who.memberships.first())
            .map(|m| m.entity_id)
            .ok_or_else(|| AppError::Forbidden("you belong to no entity".into()))?;
        let circuit = match req.circuit {
            Some(steps) => Some(steps),
            None => {
                if tenant
                    .circuit_template(REPLY_DOCUMENT_TYPE)
                    .await?
                    .is_some()
                {
                    None
                } else {
                    let head = self.nearest_head_entity(&tenant, content.entity).await?;
                    Some(vec![StepSpec {
                        kind: StepKind::Signature,
                        assignee: Assignee::Role {
                            role: Role::Head,
                            entity: if head == folder_entity {
                                EntityRef::AuthorEntity
                            } else {
                                EntityRef::Entity(head)
                            },
                        },
                        quorum: Quorum::Any,
                        tag: None,
                    }])
                }
            }
        };
        let email_to = self.reply_email_to(&tenant, &c, content.send_email).await?;
        let pdf = self
            .render_reply(
                &tenant,
                &c,
                &content,
                "— (attribué à l'enregistrement, après signature)".into(),
            )
            .await?;
        let file = AcceptedFile {
            name: FileName::parse(&format!("reponse-{}.pdf", c.number.replace('/', "-")))
                .map_err(|e| AppError::Internal(e.to_string()))?,
            media_type: MediaType::Pdf,
            blob: self.store.blobs().stage_bytes(&pdf).await?,
        };
        let title: String = format!("Réponse : {} — {}", c.number, c.subject)
            .chars()
            .take(300)
            .collect();
        let folder = self
            .create_folder(
                who,
                FolderRequest {
                    title,
                    document_type: REPLY_DOCUMENT_TYPE.into(),
                    entity: Some(folder_entity),
                    level: None,
                    circuit,
                },
                vec![file],
                vec![],
            )
            .await?;
        tenant
            .create_reply_draft(
                &NewReplyDraft {
                    correspondence: id,
                    folder: folder.id,
                    entity: content.entity,
                    subject: content.subject,
                    body: content.body,
                    signer: content.signer,
                    send_email: content.send_email,
                    email_to,
                    created_by: who.id(),
                },
                &who.actor(),
            )
            .await?;
        // A folder that cannot be sent (nobody holds a step's role, say) stays in draft with its
        // link: its author fixes the circuit in the signature book and sends it from there.
        self.start_folder(who, folder.id).await?;
        tenant
            .reply_draft_for_folder(folder.id)
            .await?
            .ok_or_else(|| AppError::Internal("the reply draft just recorded is gone".into()))
    }

    /// The entity at or above `from` that has a head (who signs replies by default).
    async fn nearest_head_entity(
        &self,
        tenant: &Tenant,
        from: EntityId,
    ) -> Result<EntityId, AppError> {
        let mut at = Some(from);
        let mut hops = 0;
        while let Some(e) = at {
            if tenant
                .members(e)
                .await?
                .iter()
                .any(|(u, r)| *r == Role::Head && !u.disabled)
            {
                return Ok(e);
            }
            hops += 1;
            if hops > 32 {
                break;
            }
            at = tenant.entity(e).await?.parent;
        }
        Err(AppError::field(
            "circuit",
            "no head above the replying entity signs replies: give the circuit",
        ))
    }

    /// Refuses a new reply while another is in a signature circuit (or signed and not yet
    /// registered).
    pub(crate) async fn refuse_if_reply_pending(
        &self,
        tenant: &Tenant,
        id: CorrespondenceId,
    ) -> Result<(), AppError> {
        if let Some(d) = tenant
            .reply_drafts(id)
            .await?
            .into_iter()
            .find(ReplyDraft::is_pending)
        {
            return Err(AppError::Conflict(format!(
                "a reply is waiting for signature in folder {}: recall it or wait for it",
                d.folder_id
            )));
        }
        Ok(())
    }

    /// The replies of a correspondence routed for signature, for whoever may read it.
    pub async fn reply_drafts(
        &self,
        who: &Principal,
        id: CorrespondenceId,
    ) -> Result<Vec<ReplyDraft>, AppError> {
        let tenant = self.store.tenant(who.admin());
        let c = tenant.correspondence(id).await?;
        let scope = who.read_scope(&tenant).await?;
        if !tenant.may_read(&scope, &c).await? {
            return Err(AppError::NotFound("correspondence".into()));
        }
        Ok(tenant.reply_drafts(id).await?)
    }

    /// Called when a folder completes: when it holds a reply, the signed letter is registered.
    /// The folder's completion stands whatever happens here; a failure is logged, and the
    /// reply's handler registers it later with [`App::register_signed_reply_of`].
    pub async fn after_folder_completed(&self, who: &Principal, id: FolderId) {
        if let Err(e) = self
            .register_signed_reply(who.admin(), &who.actor(), id)
            .await
        {
            tracing::error!(folder = %id, error = %e, "the signed reply could not be registered; its handler can register it from the correspondence");
        }
    }

    /// Registers the signed letter of a completed folder holding a reply; `Ok(None)` when the
    /// folder holds no reply or its reply is registered already.
    pub async fn register_signed_reply(
        &self,
        admin: AdministrationId,
        actor: &Actor,
        id: FolderId,
    ) -> Result<Option<Registered>, AppError> {
        let tenant = self.store.tenant(admin);
        let Some(d) = tenant.reply_draft_for_folder(id).await? else {
            return Ok(None);
        };
        if d.reply_id.is_some() {
            return Ok(None);
        }
        let f = tenant.folder_detail(id).await?;
        if f.folder.status != FolderStatus::Completed {
            return Err(AppError::Conflict(format!(
                "the reply's folder is {}: it is registered once signed",
                f.folder.status
            )));
        }
        let main = f
            .documents
            .iter()
            .find(|d| d.role == DocumentRole::Main)
            .ok_or_else(|| AppError::Internal("the reply's folder has no letter".into()))?;
        let hash =
            BlobHash::parse(&main.current_sha256).map_err(|e| AppError::Internal(e.to_string()))?;
        let pdf = self.store.blobs().read(&hash).await?;
        let content = ReplyContent {
            subject: d.subject,
            body: d.body,
            signer: d.signer,
            entity: d.entity_id,
            send_email: d.send_email,
        };
        Ok(Some(
            self.register_reply_letter(
                &tenant,
                actor,
                d.correspondence_id,
                &content,
                &pdf,
                Some(id),
            )
            .await?,
        ))
    }

    /// Registers the signed reply of a correspondence whose registration did not happen when
    /// its folder completed (the correspondence was being changed at that moment, say): for the
    /// reply's author and the registry office of the correspondence.
    pub async fn register_signed_reply_of(
        &self,
        who: &Principal,
        id: CorrespondenceId,
    ) -> Result<Registered, AppError> {
        who.require_writer()?;
        let drafts = self.reply_drafts(who, id).await?;
        let d = drafts
            .iter()
            .find(|d| d.reply_id.is_none() && d.folder_status == FolderStatus::Completed)
            .ok_or_else(|| AppError::Conflict("no signed reply waits for registration".into()))?;
        let tenant = self.store.tenant(who.admin());
        let register = tenant
            .register(tenant.correspondence(id).await?.register_id)
            .await?;
        if d.created_by != who.id() && !who.can_register_in(&register) {
            return Err(AppError::Forbidden(
                "only the reply's author or its registry office may register it".into(),
            ));
        }
        self.register_signed_reply(who.admin(), &who.actor(), d.folder_id)
            .await?
            .ok_or_else(|| AppError::Conflict("the signed reply is registered already".into()))
    }
}
