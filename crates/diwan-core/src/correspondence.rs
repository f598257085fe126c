//! The correspondence record: who it is from or to, how it came, how sensitive and urgent it is,
//! and the status machine it moves through.

use crate::code_enum;

code_enum!(
    /// How a correspondence reached (or leaves) the administration.
    Channel {
        /// Paper mail handed in at the counter or received by post, scanned by the clerk.
        Counter = "counter",
        Email = "email",
        /// Filed on the public portal (bureau d'ordre digital).
        Portal = "portal",
        /// Delivered by another administration on the platform.
        InterAdministration = "inter_administration",
        /// Between entities of the same administration.
        Internal = "internal",
    }
);

code_enum!(
    /// Who may see a correspondence.
    Confidentiality {
        Normal = "normal",
        /// Only the people explicitly on it (and the auditor) may see it.
        Confidential = "confidential",
    }
);

code_enum!(
    Priority {
        Normal = "normal",
        Urgent = "urgent",
        VeryUrgent = "very_urgent",
    }
);

impl Priority {
    /// Working days an entity has to handle urgent mail assigned to it (when no shorter legal
    /// deadline applies and the assignment names none): 5 when urgent, 2 when very urgent.
    pub fn handling_days(self) -> Option<u32> {
        match self {
            Priority::Normal => None,
            Priority::Urgent => Some(5),
            Priority::VeryUrgent => Some(2),
        }
    }
}

code_enum!(
    /// What a contact is.
    ContactKind {
        Person = "person",
        Company = "company",
        Administration = "administration",
    }
);

code_enum!(
    /// The role of a document in a correspondence.
    DocumentRole {
        /// The letter itself.
        Main = "main",
        Attachment = "attachment",
        /// The acknowledgement of receipt produced by the platform.
        Receipt = "receipt",
    }
);

code_enum!(
    /// Where a correspondence is in its life.
    Status {
        /// Registered at the registry office, not yet assigned.
        Registered = "registered",
        /// Assigned (imputé) to an entity or a person.
        Assigned = "assigned",
        InProgress = "in_progress",
        /// A reply was sent.
        Answered = "answered",
        /// Handled and closed with an outcome.
        Closed = "closed",
        /// Sent back to the registry office by an entity, with a reason.
        Returned = "returned",
        OnHold = "on_hold",
        ClosedWithoutFollowUp = "closed_without_follow_up",
        /// Outgoing mail handed to its recipient.
        Sent = "sent",
    }
);

code_enum!(
    /// Why a correspondence is assigned (imputée) to an entity or a person.
    Purpose {
        /// To handle it: the assignee answers or closes it.
        Action = "action",
        /// For information (a copy).
        Information = "information",
        /// To give an opinion to whoever handles it.
        Opinion = "opinion",
    }
);

code_enum!(
    /// Where one assignment is.
    AssignmentState {
        /// With the assignee, who has not finished.
        Open = "open",
        /// Passed down the hierarchy: a child assignment carries it on.
        Delegated = "delegated",
        /// Finished: handled, read (information) or opinion given.
        Done = "done",
        /// Sent back by the assignee, with a reason.
        Returned = "returned",
        /// Replaced by an assignment to another entity.
        Redirected = "redirected",
        /// Ended because the correspondence was closed while it was open.
        Withdrawn = "withdrawn",
    }
);

impl AssignmentState {
    pub fn is_open(&self) -> bool {
        matches!(self, AssignmentState::Open)
    }
}

/// A status change that the status machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a correspondence that is {from} cannot become {to}")]
pub struct TransitionError {
    pub from: Status,
    pub to: Status,
}

impl Status {
    /// The statuses reachable from this one.
    pub fn successors(&self) -> &'static [Status] {
        use Status::*;
        match self {
            Registered => &[Assigned, InProgress, OnHold, ClosedWithoutFollowUp, Sent],
            Assigned => &[
                Assigned,
                InProgress,
                Returned,
                OnHold,
                Answered,
                Closed,
                ClosedWithoutFollowUp,
            ],
            InProgress => &[
                Assigned,
                Answered,
                Closed,
                OnHold,
                Returned,
                ClosedWithoutFollowUp,
            ],
            Answered => &[Closed, InProgress],
            Returned => &[Assigned, Registered, ClosedWithoutFollowUp],
            OnHold => &[InProgress, Assigned, ClosedWithoutFollowUp],
            Closed | ClosedWithoutFollowUp => &[InProgress],
            Sent => &[Closed],
        }
    }

    /// Checks a transition.
    pub fn transition(self, to: Status) -> Result<Status, TransitionError> {
        if self.successors().contains(&to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// The status as French-speaking readers know it (registers printed on paper).
    pub fn label_fr(&self) -> &'static str {
        use Status::*;
        match self {
            Registered => "Enregistré",
            Assigned => "Imputé",
            InProgress => "En cours de traitement",
            OnHold => "En attente",
            Returned => "Retourné au bureau d'ordre",
            Answered => "Répondu",
            Closed => "Clos",
            ClosedWithoutFollowUp => "Classé sans suite",
            Sent => "Envoyé",
        }
    }

    /// Whether the correspondence is finished (no deadline runs).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Status::Closed | Status::ClosedWithoutFollowUp | Status::Answered | Status::Sent
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_machine() {
        assert!(Status::Registered.transition(Status::Assigned).is_ok());
        assert!(Status::Registered.transition(Status::Closed).is_err());
        assert!(Status::Closed.transition(Status::Registered).is_err());
        let e = Status::Answered.transition(Status::Returned).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a correspondence that is answered cannot become returned"
        );
        // Every status can eventually be closed or reach a final state.
        for s in Status::ALL {
            assert!(!s.successors().is_empty(), "{s} is a dead end");
        }
    }
}
