//! Typed identifiers. Every row id is a UUID (version 7: time-ordered, so indexes stay compact)
//! wrapped in a newtype, so that an entity id can never be passed where a user id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Error returned when a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid identifier: {0:?}")]
pub struct InvalidId(pub String);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// The underlying UUID.
            pub fn uuid(&self) -> Uuid {
                self.0
            }
            /// Wraps an existing UUID (from storage).
            pub fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId(s.chars().take(64).collect()))
            }
        }
    };
}

id_type!(
    /// An administration (tenant): a ministry, a local authority, a public body.
    AdministrationId
);
id_type!(
    /// An organisational entity inside an administration (directorate, division, service, registry office).
    EntityId
);
id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A register (incoming, outgoing or internal) of a registry office.
    RegisterId
);
id_type!(
    /// A registered correspondence.
    CorrespondenceId
);
id_type!(
    /// A document attached to a correspondence.
    DocumentId
);
id_type!(
    /// An entry of the contacts directory.
    ContactId
);

id_type!(
    /// One assignment (imputation) of a correspondence.
    AssignmentId
);
id_type!(
    /// A note on a correspondence.
    NoteId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reject() {
        let id = UserId::new();
        let s = id.to_string();
        assert_eq!(s.parse::<UserId>().unwrap(), id);
        assert!("../etc/passwd".parse::<UserId>().is_err());
        assert!("".parse::<EntityId>().is_err());
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = CorrespondenceId::new();
        let b = CorrespondenceId::new();
        assert!(a < b);
    }
}
