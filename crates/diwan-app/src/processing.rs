//! The correspondence service's rules: who may assign a correspondence to whom, how it moves
//! down the hierarchy and back, which status comes next, who is told (in the application and by
//! e-mail, the filer included), and replies. Each action reads the record, decides here, and
//! hands one [`Change`] to the store, which writes it atomically if nobody changed the record
//! meanwhile.

use crate::access::Principal;
use crate::error::{AppError, FieldError};
use crate::App;
use diwan_core::correspondence::{AssignmentState, DocumentRole, Purpose, Status};
use diwan_core::numbering::Direction;
use diwan_core::org::Role;
use diwan_core::text::{clean_optional, clean_text, FileName};
use diwan_core::{AssignmentId, CorrespondenceId, EntityId, UserId};
use diwan_store::org::Entity;
use diwan_store::outbox::NewMessage;
use diwan_store::processing::{Assignment, Change, NewAssignment, NewNote, NewNotification, Note};
use diwan_store::registry::{Correspondence, NewCorrespondence, NewDocument, Party, Registered};
use diwan_store::Tenant;
use serde::Deserialize;
use serde_json::json;
use time::Date;

/// `POST /correspondences/{id}/assignments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub to_entity: EntityId,
    #[serde(default)]
    pub to_user: Option<UserId>,
    pub purpose: Purpose,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default, with = "crate::registration::opt_date")]
    pub due: Option<Date>,
    /// Entities that get a copy (for information).
    #[serde(default)]
    pub copies: Vec<EntityId>,
    /// Send it to another entity instead of passing it down: the current handler's assignment
    /// ends as redirected.
    #[serde(default)]
    pub redirect: bool,
}

/// `POST /correspondences/{id}/status`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub status: Status,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
}

/// `POST /correspondences/{id}/notes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub body: String,
    #[serde(default)]
    pub restricted: bool,
}

/// `POST /correspondences/{id}/replies`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// Defaults to "Réponse : " and the subject answered.
    #[serde(default)]
    pub subject: Option<String>,
    /// The letter; `{{ number }}`, `{{ subject }}`, `{{ party }}`, `{{ received }}` and
    /// `{{ letter_date }}` are replaced by the fields of the correspondence answered.
    pub body: String,
    /// Who signs, e.g. "Le Directeur des affaires administratives".
    #[serde(default)]
    pub signer: Option<String>,
    /// E-mail the reply to the correspondent when their address is known (default true).
    #[serde(default = "yes")]
    pub send_email: bool,
    /// `register` (default): registered and sent now; `signature`: signed in the signature
    /// book first, registered and sent when the last signature is given.
    #[serde(default)]
    pub route: ReplyRoute,
    /// The signature circuit of a reply routed for signature (default: the circuit template of
    /// the document type `letter`, else one signature by the head of the replying entity).
    #[serde(default)]
    pub circuit: Option<Vec<diwan_core::parapheur::StepSpec>>,
}

/// Where a reply goes once drafted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyRoute {
    /// Registered in the outgoing register and sent at once.
    #[default]
    Register,
    /// Put in the signature book; registered and sent when signed.
    Signature,
}

/// A reply checked and merged: what the letter says and which entity answers.
#[derive(Debug, Clone)]
pub struct ReplyContent {
    pub subject: String,
    pub body: String,
    pub signer: Option<String>,
    /// The entity that answers: the holder of the action assignment, else the registry office.
    pub entity: EntityId,
    /// Whether to e-mail the reply when an address is known.
    pub send_email: bool,
}

fn yes() -> bool {
    true
}

/// `POST /correspondences/{id}/assignments/{aid}/done`: information read, opinion given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneRequest {
    #[serde(default)]
    pub outcome: Option<String>,
}

/// The letter fields a reply template can use.
pub fn merge_fields(c: &Correspondence) -> Vec<(&'static str, String)> {
    vec![
        ("number", c.number.clone()),
        ("subject", c.subject.clone()),
        ("party", c.party_name.clone()),
        ("received", fmt_day(c.received_at.date())),
        (
            "letter_date",
            c.letter_date.map(fmt_day).unwrap_or_default(),
        ),
    ]
}

/// Replaces `{{ field }}` (spaces optional) with the correspondence's values; unknown fields are
/// refused so a typo never reaches a citizen.
pub fn mail_merge(template: &str, fields: &[(&'static str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a '{{' is not closed by '}}'".to_string())?;
        let name = after[..end].trim();
        let value = fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                let known: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
                format!(
                    "unknown field {{{{ {name} }}}}; known: {}",
                    known.join(", ")
                )
            })?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

pub(crate) fn fmt_day(d: Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}

fn reply_address(
    filing: Option<&diwan_store::portal::Filing>,
    party: &Party,
    send_email: bool,
) -> Option<String> {
    filing
        .and_then(|f| f.filer_email.clone())
        .or_else(|| party.email.clone())
        .filter(|e| !e.is_empty() && send_email)
}

/// How the actor stands towards a correspondence.
struct Standing {
    /// Registry clerk of its register, or administrator.
    registry: bool,
    /// The open "action" assignment the actor holds (theirs or their entity's), if any.
    holding: Option<Assignment>,
    /// Whether the actor heads the holding entity (or one above it).
    head_of_holding: bool,
    /// Open assignments of any purpose that are the actor's.
    own_open: Vec<Assignment>,
}

fn status_label_fr(s: Status) -> &'static str {
    match s {
        Status::Registered => "enregistré",
        Status::Assigned => "transmis au service compétent",
        Status::InProgress => "en cours de traitement",
        Status::Answered => "répondu",
        Status::Closed => "traité et clos",
        Status::Returned => "retourné au bureau d'ordre",
        Status::OnHold => "en attente",
        Status::ClosedWithoutFollowUp => "classé sans suite",
        Status::Sent => "envoyé",
    }
}

fn status_label_ar(s: Status) -> &'static str {
    match s {
        Status::Registered => "مسجل",
        Status::Assigned => "محال على المصلحة المختصة",
        Status::InProgress => "في طور المعالجة",
        Status::Answered => "تمت الإجابة",
        Status::Closed => "تمت المعالجة",
        Status::Returned => "أعيد إلى مكتب الضبط",
        Status::OnHold => "في الانتظار",
        Status::ClosedWithoutFollowUp => "حفظ دون متابعة",
        Status::Sent => "أرسل",
    }
}

impl App {
    async fn readable_for_action(
        &self,
        who: &Principal,
        id: CorrespondenceId,
    ) -> Result<(Tenant, Correspondence), AppError> {
        let tenant = self.store.tenant(who.admin());
        let c = tenant.correspondence(id).await?;
        let scope = who.read_scope(&tenant).await?;
        if !tenant.may_read(&scope, &c).await? {
            return Err(AppError::NotFound("correspondence".into()));
        }
        Ok((tenant, c))
    }

    async fn standing(
        &self,
        who: &Principal,
        tenant: &Tenant,
        c: &Correspondence,
        assignments: &[Assignment],
    ) -> Result<Standing, AppError> {
        let register = tenant.register(c.register_id).await?;
        let registry = who.can_register_in(&register);
        let mine = who.assignment_entities(tenant).await?;
        let headed = who.headed_entities(tenant).await?;
        // An assignment is the actor's when it names them, or names nobody and goes to one of
        // their entities; a head also acts on what was given to someone of an entity they head.
        let own_open: Vec<Assignment> = assignments
            .iter()
            .filter(|a| {
                a.state.is_open()
                    && (a.to_user_id == Some(who.id())
                        || (mine.contains(&a.to_entity_id)
                            && (a.to_user_id.is_none() || headed.contains(&a.to_entity_id))))
            })
            .cloned()
            .collect();
        let holding = own_open
            .iter()
            .find(|a| a.purpose == Purpose::Action)
            .cloned();
        let head_of_holding = holding
            .as_ref()
            .is_some_and(|h| headed.contains(&h.to_entity_id));
        Ok(Standing {
            registry,
            holding,
            head_of_holding,
            own_open,
        })
    }

    /// Who is told about an assignment to `entity` (or `user`): the user, else the entity's heads,
    /// else all its members.
    async fn recipients(
        &self,
        tenant: &Tenant,
        entity: EntityId,
        user: Option<UserId>,
    ) -> Result<Vec<diwan_store::org::User>, AppError> {
        let members = tenant.members(entity).await?;
        if let Some(u) = user {
            return Ok(members
                .into_iter()
                .filter(|(m, _)| m.id == u)
                .map(|(m, _)| m)
                .take(1)
                .collect());
        }
        let heads: Vec<_> = members
            .iter()
            .filter(|(_, r)| *r == Role::Head)
            .map(|(m, _)| m.clone())
            .collect();
        let mut out = if heads.is_empty() {
            members.into_iter().map(|(m, _)| m).collect::<Vec<_>>()
        } else {
            heads
        };
        out.sort_by_key(|u| u.id);
        out.dedup_by_key(|u| u.id);
        Ok(out)
    }

    /// Notifies (in the application and by e-mail) the people an assignment reaches.
    async fn tell(
        &self,
        tenant: &Tenant,
        change: &mut Change,
        entity: EntityId,
        user: Option<UserId>,
        kind: &'static str,
        message: String,
    ) -> Result<(), AppError> {
        for u in self.recipients(tenant, entity, user).await? {
            change.notifications.push(NewNotification {
                user: u.id,
                kind,
                message: message.clone(),
            });
            if let Some(email) = u.email.as_deref().filter(|e| !e.is_empty()) {
                change.emails.push(NewMessage {
                    recipient: email.to_string(),
                    subject: format!("[Diwan] {message}"),
                    body: format!(
                        "{message}\n\n{}/courriers/{}\n",
                        self.config.public_url(),
                        change.correspondence
                    ),
                });
            }
        }
        Ok(())
    }

    /// The e-mail that tells a portal filer their filing changed status (none when the
    /// correspondence was not filed on the portal or the filer gave no address).
    async fn tell_filer(
        &self,
        tenant: &Tenant,
        c: &Correspondence,
        status: Status,
        service: Option<&Entity>,
        change: &mut Change,
    ) -> Result<(), AppError> {
        let Some(filing) = self.store.filing_of(c.id).await? else {
            return Ok(());
        };
        let Some(to) = filing.filer_email.filter(|e| !e.is_empty()) else {
            return Ok(());
        };
        let admin = tenant.administration().await?;
        let service_fr = service
            .map(|e| format!("\nService chargé : {}", e.names.fr))
            .unwrap_or_default();
        let service_ar = service
            .map(|e| format!("\nالمصلحة المكلفة: {}", e.names.ar))
            .unwrap_or_default();
        change.emails.push(NewMessage {
            recipient: to,
            subject: format!("Votre courrier {} — {}", c.number, status_label_fr(status)),
            body: format!(
                "Votre courrier « {} » adressé à {} (n° {}) est désormais : {}.{service_fr}\n\
                 Suivi : {}/suivi\n\n\
                 مراسلتكم رقم {} الموجهة إلى {}: {}.{service_ar}\n",
                c.subject,
                admin.names.fr,
                c.number,
                status_label_fr(status),
                self.config.public_url(),
                c.number,
                admin.names.ar,
                status_label_ar(status),
            ),
        });
        Ok(())
    }

    /// Assigns a correspondence (imputation), passes it down, redirects it, or asks for an
    /// opinion or gives a copy.
    pub async fn assign(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: AssignRequest,
    ) -> Result<Vec<AssignmentId>, AppError> {
        who.require_writer()?;
        let (tenant, c) = self.readable_for_action(who, id).await?;
        if c.status.is_final() {
            return Err(AppError::Conflict(format!(
                "correspondence {} is {}; reopen it before assigning it",
                c.number, c.status
            )));
        }
        let assignments = tenant.assignments(id).await?;
        let st = self.standing(who, &tenant, &c, &assignments).await?;
        let mut errors = Vec::new();
        let to = match tenant.entity(req.to_entity).await {
            Ok(e) => Some(e),
            Err(_) => {
                errors.push(FieldError::new("to_entity", "no such entity"));
                None
            }
        };
        if let (Some(u), Some(e)) = (req.to_user, &to) {
            let members = tenant.members(e.id).await?;
            if !members.iter().any(|(m, _)| m.id == u) {
                errors.push(FieldError::new(
                    "to_user",
                    "this person is not a member of the entity",
                ));
            }
        }
        let instructions = clean_optional(req.instructions.as_deref(), 2000, true)
            .map_err(|e| AppError::field("instructions", e.to_string()))?;
        let today = self.today();
        if let Some(d) = req.due {
            if d < today {
                errors.push(FieldError::new("due", "the deadline is in the past"));
            }
        }
        let mut copies = Vec::new();
        for e in &req.copies {
            match tenant.entity(*e).await {
                Ok(e) => copies.push(e),
                Err(_) => errors.push(FieldError::new("copies", format!("no such entity {e}"))),
            }
        }
        if c.confidentiality == diwan_core::correspondence::Confidentiality::Confidential {
            if req.to_user.is_none() {
                errors.push(FieldError::new(
                    "to_user",
                    "a confidential correspondence is assigned to a named person",
                ));
            }
            if !req.copies.is_empty() {
                errors.push(FieldError::new(
                    "copies",
                    "a confidential correspondence is not copied to whole entities",
                ));
            }
        }
        if req.redirect && req.purpose != Purpose::Action {
            errors.push(FieldError::new(
                "redirect",
                "only an assignment for action can be redirected",
            ));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let Some(to) = to else {
            return Err(AppError::field("to_entity", "no such entity"));
        };
        // Default deadline: the record's legal one, shortened for urgent mail.
        let urgent_due = match c.priority.handling_days() {
            Some(days) => Some(
                self.calendar(who.admin())
                    .await?
                    .add_working_days(today, days),
            ),
            None => None,
        };
        let due = req.due.or(if req.purpose == Purpose::Information {
            None
        } else {
            match (c.due_date, urgent_due) {
                (Some(legal), Some(urgent)) => Some(legal.min(urgent)),
                (legal, urgent) => legal.or(urgent),
            }
        });
        let mut change = Change::of(&c, "correspondence.assign");
        let mut parent = None;
        let mut from_entity = None;
        if req.purpose == Purpose::Action {
            let open_actions: Vec<&Assignment> = assignments
                .iter()
                .filter(|a| a.state.is_open() && a.purpose == Purpose::Action)
                .collect();
            match (&st.holding, st.head_of_holding, st.registry) {
                // A head passes it down (or to someone of their entity), or redirects it.
                (Some(h), true, _) => {
                    from_entity = Some(h.to_entity_id);
                    if req.redirect {
                        change.end_assignments.push((
                            h.id,
                            AssignmentState::Redirected,
                            instructions.clone(),
                        ));
                        parent = h.parent_id;
                        change.audit_action = "correspondence.redirect";
                    } else {
                        let below = to.id == h.to_entity_id || {
                            let mut p = to.parent;
                            let all = tenant.entities().await?;
                            let mut found = false;
                            let mut guard = 0;
                            while let Some(e) = p {
                                if e == h.to_entity_id {
                                    found = true;
                                    break;
                                }
                                p = all.iter().find(|x| x.id == e).and_then(|x| x.parent);
                                guard += 1;
                                if guard > 64 {
                                    break;
                                }
                            }
                            found
                        };
                        if !below {
                            return Err(AppError::field(
                                "to_entity",
                                "a correspondence is passed down to an entity below yours; use \"redirect\" to send it elsewhere",
                            ));
                        }
                        change.end_assignments.push((h.id, AssignmentState::Delegated, None));
                        parent = Some(h.id);
                    }
                }
                // The registry office assigns it, or re-assigns it (the former handlers' open
                // assignments end as redirected).
                (_, _, true) => {
                    for a in open_actions {
                        change
                            .end_assignments
                            .push((a.id, AssignmentState::Redirected, None));
                    }
                }
                _ => {
                    return Err(AppError::Forbidden(
                        "only the registry office or the head of the entity handling it may assign it for action"
                            .into(),
                    ))
                }
            }
            change.status = Some(
                c.status
                    .transition(Status::Assigned)
                    .map_err(|e| AppError::Conflict(e.to_string()))?,
            );
            change.handling_entity = Some(Some(to.id));
        } else if !st.registry && st.own_open.is_empty() {
            return Err(AppError::Forbidden(
                "only the registry office or those it is assigned to may ask for an opinion or give a copy"
                    .into(),
            ));
        } else if let Some(h) = &st.holding {
            from_entity = Some(h.to_entity_id);
        }
        change.new_assignments.push(NewAssignment {
            parent_id: parent,
            from_entity_id: from_entity,
            to_entity_id: to.id,
            to_user_id: req.to_user,
            purpose: req.purpose,
            instructions: instructions.clone(),
            due_date: due,
        });
        for e in &copies {
            change.new_assignments.push(NewAssignment {
                parent_id: None,
                from_entity_id: from_entity,
                to_entity_id: e.id,
                to_user_id: None,
                purpose: Purpose::Information,
                instructions: instructions.clone(),
                due_date: None,
            });
        }
        change.audit_details = json!({
            "to_entity": to.id, "to_entity_name": to.names.fr, "to_user": req.to_user,
            "purpose": req.purpose, "instructions": instructions, "due": due.map(fmt_day),
            "copies": copies.iter().map(|e| e.id).collect::<Vec<_>>(),
        });
        let what = match req.purpose {
            Purpose::Action => "à traiter",
            Purpose::Information => "pour information",
            Purpose::Opinion => "pour avis",
        };
        let msg = format!("Courrier {} {what} : {}", c.number, c.subject);
        self.tell(&tenant, &mut change, to.id, req.to_user, "assignment", msg)
            .await?;
        for e in &copies {
            let msg = format!("Courrier {} pour information : {}", c.number, c.subject);
            self.tell(&tenant, &mut change, e.id, None, "copy", msg)
                .await?;
        }
        if change.status.is_some() && change.status != Some(c.status) {
            self.tell_filer(&tenant, &c, Status::Assigned, Some(&to), &mut change)
                .await?;
        }
        let applied = tenant.apply(change, &who.actor()).await?;
        Ok(applied.assignments)
    }

    /// Moves a correspondence to another status: take it up, put it on hold, return it, close
    /// it (with an outcome), close it without follow-up (with a reason), reopen it.
    pub async fn change_status(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: StatusRequest,
    ) -> Result<Status, AppError> {
        who.require_writer()?;
        let (tenant, c) = self.readable_for_action(who, id).await?;
        let assignments = tenant.assignments(id).await?;
        let st = self.standing(who, &tenant, &c, &assignments).await?;
        let reason = clean_optional(req.reason.as_deref(), 2000, true)
            .map_err(|e| AppError::field("reason", e.to_string()))?;
        let outcome = clean_optional(req.outcome.as_deref(), 5000, true)
            .map_err(|e| AppError::field("outcome", e.to_string()))?;
        let next = c
            .status
            .transition(req.status)
            .map_err(|e| AppError::Conflict(e.to_string()))?;
        let mut change = Change::of(&c, "correspondence.status");
        change.status = Some(next);
        let handler = st.holding.is_some();
        let open: Vec<&Assignment> = assignments.iter().filter(|a| a.state.is_open()).collect();
        let handling_entity = tenant.processing_state(id).await?.handling_entity;
        match next {
            Status::InProgress => {
                let reopening = matches!(
                    c.status,
                    Status::Closed | Status::ClosedWithoutFollowUp | Status::Answered
                );
                let may = if reopening {
                    st.registry
                        || match handling_entity {
                            Some(e) => who.heads(&tenant, e).await?,
                            None => false,
                        }
                } else {
                    handler || st.registry
                };
                if !may {
                    return Err(AppError::Forbidden(
                        "only whoever handles this correspondence may take it up".into(),
                    ));
                }
                if reopening {
                    // The handler's last action assignment opens again.
                    if let Some(last) = assignments
                        .iter()
                        .rev()
                        .find(|a| a.purpose == Purpose::Action && a.state == AssignmentState::Done)
                    {
                        change.reopen_assignments.push(last.id);
                    }
                    change.audit_action = "correspondence.reopen";
                }
            }
            Status::OnHold => {
                if !handler {
                    return Err(AppError::Forbidden(
                        "only whoever handles this correspondence may put it on hold".into(),
                    ));
                }
                if reason.is_none() {
                    return Err(AppError::field("reason", "say why it is on hold"));
                }
            }
            Status::Returned => {
                let Some(h) = &st.holding else {
                    return Err(AppError::Forbidden(
                        "only whoever it is assigned to may return it".into(),
                    ));
                };
                if reason.is_none() {
                    return Err(AppError::field("reason", "say why it is returned"));
                }
                change
                    .end_assignments
                    .push((h.id, AssignmentState::Returned, reason.clone()));
                let parent = h
                    .parent_id
                    .and_then(|p| assignments.iter().find(|a| a.id == p));
                match parent {
                    // Back to the head who passed it down: it stays assigned, to them.
                    Some(p) => {
                        change.reopen_assignments.push(p.id);
                        change.status = Some(Status::Assigned);
                        change.handling_entity = Some(Some(p.to_entity_id));
                        let msg = format!(
                            "Courrier {} retourné : {}",
                            c.number,
                            reason.clone().unwrap_or_default()
                        );
                        self.tell(
                            &tenant,
                            &mut change,
                            p.to_entity_id,
                            p.to_user_id,
                            "returned",
                            msg,
                        )
                        .await?;
                    }
                    // Back to the registry office.
                    None => {
                        change.handling_entity = Some(None);
                        let register = tenant.register(c.register_id).await?;
                        let msg = format!(
                            "Courrier {} retourné au bureau d'ordre : {}",
                            c.number,
                            reason.clone().unwrap_or_default()
                        );
                        self.tell(
                            &tenant,
                            &mut change,
                            register.entity_id,
                            None,
                            "returned",
                            msg,
                        )
                        .await?;
                    }
                }
                change.audit_action = "correspondence.return";
            }
            Status::Closed => {
                if !(handler || st.registry) {
                    return Err(AppError::Forbidden(
                        "only whoever handles this correspondence may close it".into(),
                    ));
                }
                if handling_entity.is_none() {
                    return Err(AppError::Conflict(
                        "a correspondence is closed by the entity that handled it: assign it first"
                            .into(),
                    ));
                }
                let Some(o) = outcome.clone() else {
                    return Err(AppError::field("outcome", "say how it was settled"));
                };
                change.outcome = Some(o.clone());
                // Copies for information stay in their readers' queues until read.
                for a in open.iter().filter(|a| a.purpose != Purpose::Information) {
                    let state = if a.purpose == Purpose::Action {
                        AssignmentState::Done
                    } else {
                        AssignmentState::Withdrawn
                    };
                    change.end_assignments.push((a.id, state, None));
                }
                change.search_words = Some(diwan_core::search::fold(&o));
            }
            Status::ClosedWithoutFollowUp => {
                if !(handler || st.registry) {
                    return Err(AppError::Forbidden(
                        "only the registry office or whoever handles it may close it without follow-up".into(),
                    ));
                }
                let Some(r) = reason.clone() else {
                    return Err(AppError::field("reason", "say why it needs no follow-up"));
                };
                change.outcome = Some(r);
                for a in open.iter().filter(|a| a.purpose != Purpose::Information) {
                    change
                        .end_assignments
                        .push((a.id, AssignmentState::Withdrawn, None));
                }
            }
            Status::Assigned | Status::Answered | Status::Registered | Status::Sent => {
                return Err(AppError::field(
                    "status",
                    "this status is reached by assigning, replying or sending, not directly",
                ));
            }
        }
        change.audit_details = json!({ "from": c.status, "reason": reason, "outcome": outcome });
        let service = match change.handling_entity.unwrap_or(handling_entity) {
            Some(e) => Some(tenant.entity(e).await?),
            None => None,
        };
        let final_status = change.status.unwrap_or(next);
        if final_status != c.status {
            self.tell_filer(&tenant, &c, final_status, service.as_ref(), &mut change)
                .await?;
        }
        tenant.apply(change, &who.actor()).await?;
        Ok(final_status)
    }

    /// Ends one of the caller's information or opinion assignments (read, opinion given).
    pub async fn complete_assignment(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        assignment: AssignmentId,
        req: DoneRequest,
    ) -> Result<(), AppError> {
        who.require_writer()?;
        let (tenant, c) = self.readable_for_action(who, id).await?;
        let assignments = tenant.assignments(id).await?;
        let st = self.standing(who, &tenant, &c, &assignments).await?;
        let Some(a) = st.own_open.iter().find(|a| a.id == assignment) else {
            return Err(AppError::NotFound("open assignment of yours".into()));
        };
        if a.purpose == Purpose::Action {
            return Err(AppError::Conflict(
                "an assignment for action ends by replying to or closing the correspondence".into(),
            ));
        }
        let outcome = clean_optional(req.outcome.as_deref(), 5000, true)
            .map_err(|e| AppError::field("outcome", e.to_string()))?;
        if a.purpose == Purpose::Opinion && outcome.is_none() {
            return Err(AppError::field("outcome", "an opinion needs its text"));
        }
        let mut change = Change::of(&c, "assignment.done");
        change
            .end_assignments
            .push((a.id, AssignmentState::Done, outcome.clone()));
        change.audit_details =
            json!({ "assignment": a.id, "purpose": a.purpose, "outcome": outcome });
        if a.purpose == Purpose::Opinion {
            if let Some(h) = assignments
                .iter()
                .find(|x| x.state.is_open() && x.purpose == Purpose::Action)
            {
                let msg = format!("Avis reçu sur le courrier {}", c.number);
                self.tell(
                    &tenant,
                    &mut change,
                    h.to_entity_id,
                    h.to_user_id,
                    "opinion",
                    msg,
                )
                .await?;
            }
        }
        tenant.apply(change, &who.actor()).await?;
        Ok(())
    }

    /// Adds a note; a restricted note is seen only in the author's entity.
    pub async fn add_note(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: NoteRequest,
    ) -> Result<diwan_core::NoteId, AppError> {
        who.require_writer()?;
        let (tenant, c) = self.readable_for_action(who, id).await?;
        let body = clean_text(&req.body, 5000, true)
            .map_err(|e| AppError::field("body", e.to_string()))?;
        let assignments = tenant.assignments(id).await?;
        let st = self.standing(who, &tenant, &c, &assignments).await?;
        let entity = st
            .own_open
            .first()
            .map(|a| a.to_entity_id)
            .or_else(|| who.memberships.first().map(|m| m.entity_id));
        let mut change = Change::of(&c, "correspondence.note");
        change.note = Some(NewNote {
            entity_id: entity,
            restricted: req.restricted,
            body: body.clone(),
        });
        if !req.restricted {
            change.search_words = Some(diwan_core::search::fold(&body));
        }
        change.audit_details = json!({ "restricted": req.restricted });
        let applied = tenant.apply(change, &who.actor()).await?;
        applied
            .note
            .ok_or_else(|| AppError::Internal("note not recorded".into()))
    }

    /// The notes the caller may read.
    pub async fn visible_notes(
        &self,
        who: &Principal,
        id: CorrespondenceId,
    ) -> Result<Vec<Note>, AppError> {
        let (tenant, _) = self.readable_for_action(who, id).await?;
        let mine: Vec<EntityId> = who.memberships.iter().map(|m| m.entity_id).collect();
        let auditor = who.has_role(Role::Auditor);
        Ok(tenant
            .notes(id)
            .await?
            .into_iter()
            .filter(|n| {
                !n.restricted
                    || auditor
                    || n.author_id == who.id()
                    || n.entity_id.is_some_and(|e| mine.contains(&e))
            })
            .collect())
    }

    /// Drafts, registers and (by e-mail) sends a reply: an outgoing letter generated as a PDF
    /// from the template, numbered in the outgoing register of the same registry office and
    /// linked to the correspondence, which becomes "answered". A reply routed to the signature
    /// book goes through [`App::submit_reply`] instead.
    pub async fn reply(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: ReplyRequest,
    ) -> Result<Registered, AppError> {
        if req.route == ReplyRoute::Signature {
            return Err(AppError::field(
                "route",
                "a reply routed for signature is not registered now",
            ));
        }
        let (tenant, c, content) = self.check_reply(who, id, &req).await?;
        self.refuse_if_reply_pending(&tenant, id).await?;
        let pdf = self
            .render_reply(&tenant, &c, &content, format!("{} (réponse)", c.number))
            .await?;
        self.register_reply_letter(&tenant, &who.actor(), id, &content, &pdf, None)
            .await
    }

    /// Checks that the caller may answer the correspondence now and merges the reply's fields.
    pub(crate) async fn check_reply(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: &ReplyRequest,
    ) -> Result<(Tenant, Correspondence, ReplyContent), AppError> {
        who.require_writer()?;
        let (tenant, c) = self.readable_for_action(who, id).await?;
        if c.direction == Direction::Outgoing {
            return Err(AppError::Conflict(
                "an outgoing letter is not answered".into(),
            ));
        }
        c.status
            .transition(Status::Answered)
            .map_err(|e| AppError::Conflict(e.to_string()))?;
        let assignments = tenant.assignments(id).await?;
        let st = self.standing(who, &tenant, &c, &assignments).await?;
        if st.holding.is_none() && !st.registry {
            return Err(AppError::Forbidden(
                "only whoever handles this correspondence may answer it".into(),
            ));
        }
        let fields = merge_fields(&c);
        let body = mail_merge(&req.body, &fields).map_err(|e| AppError::field("body", e))?;
        let body =
            clean_text(&body, 20_000, true).map_err(|e| AppError::field("body", e.to_string()))?;
        let subject = clean_text(
            req.subject
                .as_deref()
                .unwrap_or(&format!("Réponse : {}", c.subject)),
            500,
            false,
        )
        .map_err(|e| AppError::field("subject", e.to_string()))?;
        let signer = clean_optional(req.signer.as_deref(), 200, false)
            .map_err(|e| AppError::field("signer", e.to_string()))?;
        let register = tenant.register(c.register_id).await?;
        self.outgoing_register(&tenant, register.entity_id).await?;
        let entity = match &st.holding {
            Some(h) => h.to_entity_id,
            None => register.entity_id,
        };
        Ok((
            tenant,
            c,
            ReplyContent {
                subject,
                body,
                signer,
                entity,
                send_email: req.send_email,
            },
        ))
    }

    async fn outgoing_register(
        &self,
        tenant: &Tenant,
        office: EntityId,
    ) -> Result<diwan_store::org::Register, AppError> {
        tenant
            .register_of(office, Direction::Outgoing)
            .await
            .map_err(|_| {
                AppError::Conflict(
                    "this registry office has no outgoing register; an administrator must create one"
                        .into(),
                )
            })
    }

    /// Where a reply to `c` is e-mailed: the portal filer, else the correspondent (none when
    /// `send_email` is off or no address is known).
    pub(crate) async fn reply_email_to(
        &self,
        tenant: &Tenant,
        c: &Correspondence,
        send_email: bool,
    ) -> Result<Option<String>, AppError> {
        let party = self.party_of(tenant, c).await?;
        let filing = self.store.filing_of(c.id).await?;
        Ok(reply_address(filing.as_ref(), &party, send_email))
    }

    /// The correspondent of a correspondence, from its contact when it has one.
    async fn party_of(&self, tenant: &Tenant, c: &Correspondence) -> Result<Party, AppError> {
        Ok(match c.contact_id {
            Some(ct) => {
                let ct = tenant.contact(ct).await?;
                Party {
                    kind: ct.kind,
                    name: ct.name,
                    id_number: ct.id_number,
                    email: ct.email,
                    phone: ct.phone,
                    address: ct.address,
                }
            }
            None => Party {
                kind: c.party_kind,
                name: c.party_name.clone(),
                id_number: None,
                email: None,
                phone: None,
                address: None,
            },
        })
    }

    /// Renders the reply letter as PDF; `number` is what the letter prints after "N°".
    pub(crate) async fn render_reply(
        &self,
        tenant: &Tenant,
        c: &Correspondence,
        content: &ReplyContent,
        number: String,
    ) -> Result<Vec<u8>, AppError> {
        let admin = tenant.administration().await?;
        let handling = tenant.entity(content.entity).await?;
        let party = self.party_of(tenant, c).await?;
        let mut recipient = vec![party.name.clone()];
        if let Some(a) = &party.address {
            recipient.extend(a.lines().map(str::to_string));
        }
        let letter = diwan_pdf::letter::LetterData {
            administration_fr: admin.names.fr.clone(),
            administration_ar: admin.names.ar.clone(),
            entity_fr: handling.names.fr.clone(),
            entity_ar: handling.names.ar.clone(),
            number,
            date_line: format!("Le {}", fmt_day(self.today())),
            recipient,
            subject: content.subject.clone(),
            reference: Some(format!(
                "V/courrier enregistré sous le n° {} le {}",
                c.number,
                fmt_day(c.received_at.date())
            )),
            body: content.body.clone(),
            signer: content
                .signer
                .clone()
                .unwrap_or_else(|| handling.names.fr.clone()),
        };
        tokio::task::spawn_blocking(move || diwan_pdf::letter::render(&letter))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| AppError::Internal(e.to_string()))
    }

    /// Registers a reply letter (`pdf`) in the outgoing register of the answered
    /// correspondence's registry office, linked to it, and moves the correspondence to
    /// "answered", in one transaction; e-mails the reply when asked and an address is known.
    /// `signed_in` is the signature-book folder the letter was signed in, marked registered in
    /// the same transaction.
    pub(crate) async fn register_reply_letter(
        &self,
        tenant: &Tenant,
        actor: &diwan_store::Actor,
        id: CorrespondenceId,
        content: &ReplyContent,
        pdf: &[u8],
        signed_in: Option<diwan_core::parapheur::FolderId>,
    ) -> Result<Registered, AppError> {
        let c = tenant.correspondence(id).await?;
        let next = c
            .status
            .transition(Status::Answered)
            .map_err(|e| AppError::Conflict(e.to_string()))?;
        let assignments = tenant.assignments(id).await?;
        let register = tenant.register(c.register_id).await?;
        let outgoing = self.outgoing_register(tenant, register.entity_id).await?;
        let admin = tenant.administration().await?;
        let handling = tenant.entity(content.entity).await?;
        let party = self.party_of(tenant, &c).await?;
        let filing = self.store.filing_of(c.id).await?;
        let email_to = reply_address(filing.as_ref(), &party, content.send_email);
        // The outgoing number is allocated in the registration transaction, after the letter's
        // hash is fixed; the letter therefore cites the correspondence it answers, and its own
        // number is on the record, in the register and in the e-mail.
        let blob = self.store.blobs().stage_bytes(pdf).await?;
        let file_name = FileName::parse(&format!(
            "reponse-{}{}.pdf",
            c.number.replace('/', "-"),
            if signed_in.is_some() { "-signee" } else { "" }
        ))
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let body = content.body.clone();
        let new = NewCorrespondence {
            register: outgoing.id,
            direction: Direction::Outgoing,
            subject: content.subject.clone(),
            summary: Some(body.clone()),
            party,
            contact: c.contact_id,
            letter_date: Some(self.today()),
            received_at: time::OffsetDateTime::now_utc(),
            external_ref: Some(c.number.clone()),
            channel: if email_to.is_some() {
                diwan_core::correspondence::Channel::Email
            } else {
                diwan_core::correspondence::Channel::Counter
            },
            confidentiality: c.confidentiality,
            priority: c.priority,
            due: None,
            documents: vec![NewDocument {
                role: DocumentRole::Main,
                file_name,
                media_type: diwan_core::media::MediaType::Pdf,
                blob,
            }],
            portal: None,
        };
        let mut change = Change::of(&c, "correspondence.reply");
        change.status = Some(next);
        for a in assignments
            .iter()
            .filter(|a| a.state.is_open() && a.purpose != Purpose::Information)
        {
            let state = if a.purpose == Purpose::Action {
                AssignmentState::Done
            } else {
                AssignmentState::Withdrawn
            };
            change.end_assignments.push((a.id, state, None));
        }
        change.audit_details = match signed_in {
            Some(f) => json!({ "emailed": email_to.is_some(), "folder": f.to_string() }),
            None => json!({ "emailed": email_to.is_some() }),
        };
        if let Some(to) = &email_to {
            let signed_note = if signed_in.is_some() {
                "\n\nCette lettre a été signée électroniquement dans le parapheur de l'administration."
            } else {
                ""
            };
            change.emails.push(NewMessage {
                recipient: to.clone(),
                subject: format!("Réponse à votre courrier {} — réf. {{number}}", c.number),
                body: format!(
                    "{}\n{}\n\nRéf. : {{number}} — en réponse à votre courrier n° {} du {}\n\n{body}\n\n{}{signed_note}\n",
                    admin.names.fr,
                    handling.names.fr,
                    c.number,
                    fmt_day(c.received_at.date()),
                    content.signer.clone().unwrap_or_default()
                ),
            });
        }
        let sent_status = if email_to.is_some() {
            Status::Sent
        } else {
            Status::Registered
        };
        if filing.is_some() {
            // The filer hears of the answer in the reply e-mail itself when it is e-mailed.
            if email_to.is_none() {
                self.tell_filer(tenant, &c, next, Some(&handling), &mut change)
                    .await?;
            }
        }
        let (registered, _) = match signed_in {
            None => {
                tenant
                    .register_reply(new, change, sent_status, actor, self.offset())
                    .await?
            }
            Some(folder) => {
                tenant
                    .register_signed_reply(folder, new, change, sent_status, actor, self.offset())
                    .await?
            }
        };
        Ok(registered)
    }
}

/// What one reminder run sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemindersSent {
    /// Reminders that a deadline is near.
    pub before: usize,
    /// Notices that a deadline has passed (to the assignee and their entity's head).
    pub late: usize,
    /// Escalations to the head of the entity above, a week past the deadline.
    pub escalated: usize,
}

/// Days before the deadline when the first reminder goes out.
const REMIND_BEFORE_DAYS: i64 = 2;
/// Days past the deadline when it is escalated one level up.
const ESCALATE_AFTER_DAYS: i64 = 7;

impl App {
    /// Sends the reminders of one administration as of `today`: each kind once per assignment.
    pub async fn send_reminders(
        &self,
        admin: diwan_core::AdministrationId,
        today: Date,
    ) -> Result<RemindersSent, AppError> {
        let tenant = self.store.tenant(admin);
        let entities = tenant.entities().await?;
        let mut sent = RemindersSent::default();
        let soon = today + time::Duration::days(REMIND_BEFORE_DAYS);
        for (kind, from, until) in [
            ("before", Some(today), soon),
            ("late", None, today - time::Duration::days(1)),
            (
                "escalated",
                None,
                today - time::Duration::days(ESCALATE_AFTER_DAYS),
            ),
        ] {
            for d in tenant.assignments_due(from, until, kind).await? {
                let a = &d.assignment;
                let Some(due) = a.due_date else { continue };
                let (targets, message) = match kind {
                    "before" => (
                        self.recipients(&tenant, a.to_entity_id, a.to_user_id)
                            .await?,
                        format!(
                            "Échéance le {} : courrier {} — {}",
                            fmt_day(due),
                            d.number,
                            d.subject
                        ),
                    ),
                    "late" => {
                        let mut t = self
                            .recipients(&tenant, a.to_entity_id, a.to_user_id)
                            .await?;
                        if a.to_user_id.is_some() {
                            t.extend(self.recipients(&tenant, a.to_entity_id, None).await?);
                        }
                        (
                            t,
                            format!(
                                "En retard depuis le {} : courrier {} — {}",
                                fmt_day(due),
                                d.number,
                                d.subject
                            ),
                        )
                    }
                    _ => {
                        let parent = entities
                            .iter()
                            .find(|e| e.id == a.to_entity_id)
                            .and_then(|e| e.parent)
                            .unwrap_or(a.to_entity_id);
                        (
                            self.recipients(&tenant, parent, None).await?,
                            format!(
                                "Escalade — courrier {} en retard depuis le {} : {}",
                                d.number,
                                fmt_day(due),
                                d.subject
                            ),
                        )
                    }
                };
                let mut users = targets;
                users.sort_by_key(|u| u.id);
                users.dedup_by_key(|u| u.id);
                let notifications: Vec<NewNotification> = users
                    .iter()
                    .map(|u| NewNotification {
                        user: u.id,
                        kind: match kind {
                            "before" => "reminder",
                            "late" => "late",
                            _ => "escalation",
                        },
                        message: message.clone(),
                    })
                    .collect();
                let emails: Vec<NewMessage> = users
                    .iter()
                    .filter_map(|u| u.email.clone().filter(|e| !e.is_empty()))
                    .map(|to| NewMessage {
                        recipient: to,
                        subject: format!("[Diwan] {message}"),
                        body: format!(
                            "{message}\n\n{}/courriers/{}\n",
                            self.config.public_url(),
                            a.correspondence_id
                        ),
                    })
                    .collect();
                if tenant
                    .record_reminder(a, kind, &notifications, &emails)
                    .await?
                {
                    match kind {
                        "before" => sent.before += 1,
                        "late" => sent.late += 1,
                        _ => sent.escalated += 1,
                    }
                }
            }
        }
        Ok(sent)
    }

    /// Runs the reminders of every administration every hour until `stop`, the first time a
    /// minute after start.
    pub async fn run_reminders(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
        loop {
            match self.store.administrations().await {
                Ok(list) => {
                    for a in list {
                        if let Err(e) = self.send_reminders(a.id, self.today()).await {
                            tracing::error!(administration = %a.code, error = %e, "reminders not sent");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot list administrations for reminders"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_merge_replaces_known_fields_and_refuses_unknown_ones() {
        let f = vec![
            ("number", "A/1".to_string()),
            ("party", "Mme Alaoui".to_string()),
        ];
        assert_eq!(
            mail_merge("Madame {{party}}, votre courrier {{ number }}.", &f).unwrap(),
            "Madame Mme Alaoui, votre courrier A/1."
        );
        assert!(mail_merge("{{ numero }}", &f)
            .unwrap_err()
            .contains("unknown field"));
        assert!(mail_merge("{{ number", &f).is_err());
        assert_eq!(mail_merge("sans champ", &f).unwrap(), "sans champ");
    }
}
