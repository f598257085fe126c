//! The signature book (parapheur, حامل التوقيع): folders of documents that go through a circuit
//! of visa, signature and seal steps.
//!
//! A folder is written by its author in `draft`, sent into its circuit (`in_circuit`), and ends
//! `completed` (every step done), `rejected` (a step's actor refused it, with a reason) or
//! `recalled` (its author took it back before anybody acted). A rejected or recalled folder can be
//! sent again by its author. Each step names who acts — a user, holders of a role in an entity
//! (for instance the head of the author's entity) or a group — and how many of them must act
//! (all, any one, or n of m). The types below make the combinations that make no sense
//! impossible to build: a quorum is checked against the number of candidates when the circuit
//! is resolved, a circuit has at least one step, statuses move only along the allowed edges.

use crate::code_enum;
use crate::org::Role;
use crate::{EntityId, UserId};
use serde::{Deserialize, Serialize};

/// A folder of the signature book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FolderId(uuid::Uuid);

impl FolderId {
    /// A fresh, time-ordered identifier.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl Default for FolderId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for FolderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl std::str::FromStr for FolderId {
    type Err = crate::InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| crate::InvalidId(s.chars().take(64).collect()))
    }
}

code_enum!(
    /// Where a folder is in its life.
    FolderStatus {
        /// Being prepared by its author; the circuit may be edited.
        Draft = "draft",
        /// Sent: one step after another is current.
        InCircuit = "in_circuit",
        /// Every step done; the evidence (bordereau de signature) is produced.
        Completed = "completed",
        /// Refused by an actor, with a reason; back with its author.
        Rejected = "rejected",
        /// Taken back by its author before anybody acted.
        Recalled = "recalled",
    }
);

impl FolderStatus {
    /// Whether the status may change to `to`.
    pub fn can_become(self, to: FolderStatus) -> bool {
        use FolderStatus::*;
        matches!(
            (self, to),
            (Draft, InCircuit)
                | (InCircuit, Completed)
                | (InCircuit, Rejected)
                | (InCircuit, Recalled)
                | (Rejected, InCircuit)
                | (Recalled, InCircuit)
        )
    }

    /// Whether the author may still change the circuit and the documents.
    pub fn is_editable(self) -> bool {
        matches!(
            self,
            FolderStatus::Draft | FolderStatus::Rejected | FolderStatus::Recalled
        )
    }

    /// No further change can happen.
    pub fn is_final(self) -> bool {
        self == FolderStatus::Completed
    }
}

code_enum!(
    /// What a step asks of its actors.
    StepKind {
        /// Approval (visa): read and approve, no signature on the document.
        Visa = "visa",
        /// Personal electronic signature (PAdES) with the actor's certificate.
        Signature = "signature",
        /// The administration's electronic seal, applied by the actor.
        Seal = "seal",
    }
);

impl StepKind {
    /// Whether acting on this step signs the main documents.
    pub fn signs(self) -> bool {
        matches!(self, StepKind::Signature | StepKind::Seal)
    }

    /// The action that completes an actor's part of a step of this kind.
    pub fn completing_action(self) -> ActionKind {
        match self {
            StepKind::Visa => ActionKind::Approve,
            StepKind::Signature => ActionKind::Sign,
            StepKind::Seal => ActionKind::Seal,
        }
    }

    /// French label.
    pub fn label_fr(self) -> &'static str {
        match self {
            StepKind::Visa => "Visa",
            StepKind::Signature => "Signature",
            StepKind::Seal => "Cachet",
        }
    }

    /// Arabic label.
    pub fn label_ar(self) -> &'static str {
        match self {
            StepKind::Visa => "تأشيرة",
            StepKind::Signature => "توقيع",
            StepKind::Seal => "خاتم",
        }
    }
}

code_enum!(
    /// Where a step is.
    StepState {
        /// Not reached yet.
        Waiting = "waiting",
        /// The step whose actors may act now.
        Current = "current",
        /// Enough actors acted.
        Done = "done",
        /// An actor refused the folder at this step.
        Rejected = "rejected",
    }
);

code_enum!(
    /// What an actor did, as recorded in the folder's history.
    ActionKind {
        Create = "create",
        Start = "start",
        Approve = "approve",
        Sign = "sign",
        Seal = "seal",
        Reject = "reject",
        Annotate = "annotate",
        Opinion = "opinion",
        Transfer = "transfer",
        Recall = "recall",
        Complete = "complete",
        /// The author added a document or an annex to an editable folder.
        AddDocument = "add_document",
        /// The author removed a document or an annex from an editable folder.
        RemoveDocument = "remove_document",
        /// The author replaced a document by a new file (a new version of it).
        ReplaceDocument = "replace_document",
    }
);

impl ActionKind {
    /// Whether this action counts towards a step (approve, sign, seal).
    pub fn completes_part(self) -> bool {
        matches!(
            self,
            ActionKind::Approve | ActionKind::Sign | ActionKind::Seal
        )
    }

    /// Whether the action changed the documents of a folder its author was editing.
    pub fn edits_documents(self) -> bool {
        matches!(
            self,
            ActionKind::AddDocument | ActionKind::RemoveDocument | ActionKind::ReplaceDocument
        )
    }

    /// Whether the action needs a reason or comment.
    pub fn needs_reason(self) -> bool {
        matches!(
            self,
            ActionKind::Reject | ActionKind::Annotate | ActionKind::Opinion
        )
    }

    /// French label.
    pub fn label_fr(self) -> &'static str {
        match self {
            ActionKind::Create => "Création",
            ActionKind::Start => "Mise en circuit",
            ActionKind::Approve => "Visa",
            ActionKind::Sign => "Signature",
            ActionKind::Seal => "Cachet",
            ActionKind::Reject => "Rejet",
            ActionKind::Annotate => "Annotation",
            ActionKind::Opinion => "Demande d'avis",
            ActionKind::Transfer => "Transfert",
            ActionKind::Recall => "Retrait",
            ActionKind::Complete => "Achèvement",
            ActionKind::AddDocument => "Ajout d'un document",
            ActionKind::RemoveDocument => "Retrait d'un document",
            ActionKind::ReplaceDocument => "Remplacement d'un document",
        }
    }

    /// Arabic label.
    pub fn label_ar(self) -> &'static str {
        match self {
            ActionKind::Create => "إنشاء",
            ActionKind::Start => "إدراج في المسار",
            ActionKind::Approve => "تأشيرة",
            ActionKind::Sign => "توقيع",
            ActionKind::Seal => "خاتم",
            ActionKind::Reject => "رفض",
            ActionKind::Annotate => "ملاحظة",
            ActionKind::Opinion => "طلب رأي",
            ActionKind::Transfer => "تحويل",
            ActionKind::Recall => "سحب",
            ActionKind::Complete => "إتمام",
            ActionKind::AddDocument => "إضافة وثيقة",
            ActionKind::RemoveDocument => "حذف وثيقة",
            ActionKind::ReplaceDocument => "استبدال وثيقة",
        }
    }
}

code_enum!(
    /// PAdES baseline level of the signatures of a folder.
    SignatureLevel {
        /// Signature only.
        BB = "b-b",
        /// With a time-stamp (the default).
        BT = "b-t",
        /// With validation data.
        BLT = "b-lt",
        /// With a document time-stamp over the validation data.
        BLTA = "b-lta",
    }
);

#[allow(clippy::derivable_impls)]
impl Default for SignatureLevel {
    fn default() -> Self {
        SignatureLevel::BT
    }
}

/// Which entity a role-based assignee is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum EntityRef {
    /// The entity the folder was written in.
    AuthorEntity,
    /// The parent of the author's entity.
    AuthorParent,
    /// A named entity.
    Entity(EntityId),
}

/// Who acts at a step, before resolution into users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Assignee {
    /// One user.
    User { user: UserId },
    /// Every holder of `role` in an entity (e.g. the head of the author's entity).
    Role { role: Role, entity: EntityRef },
    /// A list of users (at least one, no duplicates).
    Group { users: Vec<UserId> },
}

/// How many of a step's actors must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "n")]
pub enum Quorum {
    /// Every actor, in any order.
    #[default]
    All,
    /// Any one of them.
    Any,
    /// At least `n` of them.
    NOf(u32),
}

/// Rules of circuits, broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CircuitError {
    #[error("a circuit needs at least one step")]
    Empty,
    #[error("a circuit has at most {0} steps")]
    TooLong(usize),
    #[error("step {step}: {message}")]
    Step { step: usize, message: String },
}

/// Longest circuit accepted.
pub const MAX_STEPS: usize = 30;
/// Most actors on one step.
pub const MAX_ACTORS: usize = 50;

impl Quorum {
    /// How many actors out of `candidates` must act; an error when it cannot be met.
    pub fn required(self, candidates: usize) -> Result<usize, String> {
        if candidates == 0 {
            return Err("nobody can act at this step".into());
        }
        match self {
            Quorum::All => Ok(candidates),
            Quorum::Any => Ok(1),
            Quorum::NOf(0) => Err("a quorum of 0 is not a quorum".into()),
            Quorum::NOf(n) if n as usize > candidates => Err(format!(
                "the quorum {n} of {candidates} cannot be met: only {candidates} can act"
            )),
            Quorum::NOf(n) => Ok(n as usize),
        }
    }

    /// Whether `done` actions out of `required` complete a step.
    pub fn met(required: usize, done: usize) -> bool {
        done >= required
    }
}

/// One step as the author describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub kind: StepKind,
    pub assignee: Assignee,
    #[serde(default)]
    pub quorum: Quorum,
    /// Signature and seal steps: a placeholder written in the documents (e.g. `#signature-dg#`)
    /// where the visible signature block goes. Without one, or when a document does not
    /// contain it, the block goes in a row at the foot of the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Longest placement tag, in characters.
pub const MAX_TAG: usize = 80;

/// A circuit that passed the rules that need no lookup: non-empty, not too long, groups without
/// duplicates, quorums that can be met by the group sizes known now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Circuit(Vec<StepSpec>);

impl Circuit {
    pub fn new(steps: Vec<StepSpec>) -> Result<Circuit, CircuitError> {
        if steps.is_empty() {
            return Err(CircuitError::Empty);
        }
        if steps.len() > MAX_STEPS {
            return Err(CircuitError::TooLong(MAX_STEPS));
        }
        for (i, s) in steps.iter().enumerate() {
            let err = |message: String| CircuitError::Step {
                step: i + 1,
                message,
            };
            if let Some(t) = &s.tag {
                if s.kind == StepKind::Visa {
                    return Err(err(
                        "a visa is not a signature: a placement tag is for signature and seal steps"
                            .into(),
                    ));
                }
                let n = t.chars().count();
                if n == 0 || n > MAX_TAG || t.trim() != t || t.chars().any(char::is_control) {
                    return Err(err(format!(
                        "a placement tag is 1 to {MAX_TAG} characters, without surrounding spaces"
                    )));
                }
            }
            match &s.assignee {
                Assignee::Group { users } => {
                    if users.is_empty() {
                        return Err(err("a group needs at least one user".into()));
                    }
                    if users.len() > MAX_ACTORS {
                        return Err(err(format!("a group has at most {MAX_ACTORS} users")));
                    }
                    let mut seen = users.clone();
                    seen.sort();
                    seen.dedup();
                    if seen.len() != users.len() {
                        return Err(err("a user appears twice in the group".into()));
                    }
                    s.quorum.required(users.len()).map_err(err)?;
                }
                Assignee::User { .. } => {
                    s.quorum.required(1).map_err(err)?;
                }
                Assignee::Role { .. } => {
                    if let Quorum::NOf(0) = s.quorum {
                        return Err(err("a quorum of 0 is not a quorum".into()));
                    }
                }
            }
        }
        Ok(Circuit(steps))
    }

    pub fn steps(&self) -> &[StepSpec] {
        &self.0
    }

    pub fn into_steps(self) -> Vec<StepSpec> {
        self.0
    }
}

/// A document type code: 1 to 40 characters, lower-case letters, digits, `_` and `-`.
pub fn parse_document_type(raw: &str) -> Result<String, crate::text::TextError> {
    let s = raw.trim().to_lowercase();
    let ok = (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(s)
    } else {
        Err(crate::text::TextError::BadFormat(
            "document type (1-40 characters: a-z, 0-9, '_', '-')",
        ))
    }
}

/// A delegation's scope: everything, or one document type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelegationScope {
    All,
    DocumentType(String),
}

impl DelegationScope {
    /// Whether a folder of `document_type` falls in the scope.
    pub fn covers(&self, document_type: &str) -> bool {
        match self {
            DelegationScope::All => true,
            DelegationScope::DocumentType(t) => t == document_type,
        }
    }
}

/// Whether a delegation from `from` to `to` (inclusive) is in force on `day`.
pub fn delegation_in_force(from: time::Date, to: time::Date, day: time::Date) -> bool {
    from <= day && day <= to
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::new()
    }

    #[test]
    fn statuses_move_along_allowed_edges() {
        use FolderStatus::*;
        assert!(Draft.can_become(InCircuit));
        assert!(InCircuit.can_become(Completed));
        assert!(InCircuit.can_become(Rejected));
        assert!(InCircuit.can_become(Recalled));
        assert!(Rejected.can_become(InCircuit));
        assert!(!Completed.can_become(InCircuit));
        assert!(!Completed.can_become(Rejected));
        assert!(!Draft.can_become(Completed));
        assert!(!Recalled.can_become(Completed));
        assert!(Draft.is_editable() && Rejected.is_editable() && !InCircuit.is_editable());
        for s in FolderStatus::ALL {
            assert!(!s.can_become(*s));
        }
    }

    #[test]
    fn quorums() {
        assert_eq!(Quorum::All.required(3), Ok(3));
        assert_eq!(Quorum::Any.required(3), Ok(1));
        assert_eq!(Quorum::NOf(2).required(3), Ok(2));
        assert!(Quorum::NOf(4).required(3).is_err());
        assert!(Quorum::NOf(0).required(3).is_err());
        assert!(Quorum::All.required(0).is_err());
        assert!(Quorum::met(2, 2) && !Quorum::met(2, 1));
    }

    #[test]
    fn circuits_refuse_what_cannot_work() {
        assert_eq!(Circuit::new(vec![]), Err(CircuitError::Empty));
        let u = user();
        let dup = StepSpec {
            kind: StepKind::Signature,
            assignee: Assignee::Group { users: vec![u, u] },
            quorum: Quorum::Any,
            tag: None,
        };
        assert!(Circuit::new(vec![dup]).is_err());
        let too_many = StepSpec {
            kind: StepKind::Signature,
            assignee: Assignee::Group {
                users: vec![user(), user()],
            },
            quorum: Quorum::NOf(3),
            tag: None,
        };
        let e = Circuit::new(vec![too_many]).unwrap_err();
        assert!(e.to_string().starts_with("step 1:"), "{e}");
        let one_of_one = StepSpec {
            kind: StepKind::Visa,
            assignee: Assignee::User { user: u },
            quorum: Quorum::NOf(2),
            tag: None,
        };
        assert!(Circuit::new(vec![one_of_one]).is_err());
        let tagged = |kind, tag: &str| StepSpec {
            kind,
            assignee: Assignee::User { user: u },
            quorum: Quorum::All,
            tag: Some(tag.to_string()),
        };
        assert!(Circuit::new(vec![tagged(StepKind::Signature, "#sig-dg#")]).is_ok());
        assert!(Circuit::new(vec![tagged(StepKind::Seal, "[[CACHET]]")]).is_ok());
        for bad in [
            tagged(StepKind::Visa, "#visa#"),
            tagged(StepKind::Signature, ""),
            tagged(StepKind::Signature, " #sig#"),
            tagged(StepKind::Signature, "#a\nb#"),
            tagged(StepKind::Signature, &"x".repeat(MAX_TAG + 1)),
        ] {
            assert!(Circuit::new(vec![bad.clone()]).is_err(), "{bad:?}");
        }
        let ok = Circuit::new(vec![
            StepSpec {
                kind: StepKind::Visa,
                assignee: Assignee::Role {
                    role: Role::Head,
                    entity: EntityRef::AuthorEntity,
                },
                quorum: Quorum::Any,
                tag: None,
            },
            StepSpec {
                kind: StepKind::Signature,
                assignee: Assignee::Group {
                    users: vec![user(), user(), user()],
                },
                quorum: Quorum::NOf(2),
                tag: None,
            },
        ])
        .unwrap();
        assert_eq!(ok.steps().len(), 2);
    }

    #[test]
    fn steps_and_actions() {
        assert_eq!(StepKind::Visa.completing_action(), ActionKind::Approve);
        assert!(StepKind::Seal.signs() && !StepKind::Visa.signs());
        assert!(ActionKind::Reject.needs_reason() && !ActionKind::Sign.needs_reason());
        assert!(ActionKind::Sign.completes_part() && !ActionKind::Annotate.completes_part());
    }

    #[test]
    fn assignees_in_json() {
        let a: Assignee = serde_json::from_str(
            r#"{"type":"role","role":"head","entity":{"kind":"author_entity"}}"#,
        )
        .unwrap();
        assert_eq!(
            a,
            Assignee::Role {
                role: Role::Head,
                entity: EntityRef::AuthorEntity
            }
        );
        let q: Quorum = serde_json::from_str(r#"{"type":"n_of","n":2}"#).unwrap();
        assert_eq!(q, Quorum::NOf(2));
        let s: StepSpec = serde_json::from_str(
            r#"{"kind":"seal","assignee":{"type":"user","user":"0190b8b4-0000-7000-8000-000000000000"}}"#,
        )
        .unwrap();
        assert_eq!(s.quorum, Quorum::All);
        assert!(serde_json::from_str::<StepSpec>(
            r#"{"kind":"visa","assignee":{"type":"nobody"}}"#
        )
        .is_err());
    }

    #[test]
    fn document_types_and_delegations() {
        assert_eq!(parse_document_type(" Decision ").unwrap(), "decision");
        assert!(parse_document_type("a b").is_err());
        assert!(parse_document_type("").is_err());
        assert!(DelegationScope::All.covers("x"));
        assert!(DelegationScope::DocumentType("decision".into()).covers("decision"));
        assert!(!DelegationScope::DocumentType("decision".into()).covers("letter"));
        let d = |n: u8| time::Date::from_calendar_date(2026, time::Month::November, n).unwrap();
        assert!(delegation_in_force(d(1), d(30), d(28)));
        assert!(delegation_in_force(d(28), d(28), d(28)));
        assert!(!delegation_in_force(d(1), d(27), d(28)));
    }
}
