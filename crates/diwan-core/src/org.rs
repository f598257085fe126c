//! The organisation model: administrations contain a tree of entities, each at a level of the
//! territorial hierarchy; users hold roles in entities.

use crate::code_enum;

code_enum!(
    /// What an entity is in the organisation chart.
    EntityKind {
        Directorate = "directorate",
        Division = "division",
        Service = "service",
        RegistryOffice = "registry_office",
        Office = "office",
    }
);

code_enum!(
    /// Where an entity sits in the territorial hierarchy.
    Level {
        Central = "central",
        Regional = "regional",
        Provincial = "provincial",
        Local = "local",
    }
);

code_enum!(
    /// What a member may do in an entity. A user may hold several roles, in several entities.
    Role {
        /// Registers incoming and outgoing mail at a registry office (bureau d'ordre).
        RegistryClerk = "registry_clerk",
        /// Heads an entity: assigns mail down the tree, sees everything of the entity's subtree.
        Head = "head",
        /// Handles the correspondence assigned to them.
        Agent = "agent",
        /// Signs documents in the signature book.
        Signatory = "signatory",
        /// Administers the administration: organisation, users, registers.
        Admin = "admin",
        /// Reads everything of the administration and its audit log; changes nothing.
        Auditor = "auditor",
    }
);

code_enum!(
    /// What kind of body an administration is.
    AdministrationKind {
        Ministry = "ministry",
        LocalAuthority = "local_authority",
        PublicBody = "public_body",
    }
);

impl EntityKind {
    /// French label for the UI.
    pub fn label_fr(&self) -> &'static str {
        match self {
            EntityKind::Directorate => "Direction",
            EntityKind::Division => "Division",
            EntityKind::Service => "Service",
            EntityKind::RegistryOffice => "Bureau d'ordre",
            EntityKind::Office => "Bureau",
        }
    }
}

impl Role {
    /// Whether this role may register correspondence at a registry office.
    pub fn can_register(&self) -> bool {
        matches!(self, Role::RegistryClerk | Role::Admin)
    }

    /// Whether the role only reads.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Role::Auditor)
    }
}

/// A short code for an administration or an entity: 2 to 16 characters, upper-case ASCII letters,
/// digits and `-`. Codes appear in registration numbers, so they are restricted.
pub fn parse_code(raw: &str) -> Result<String, crate::text::TextError> {
    let s = raw.trim().to_uppercase();
    let ok = (2..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s)
    } else {
        Err(crate::text::TextError::BadFormat(
            "code (2-16 characters: A-Z, 0-9, '-')",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
        }
        let e = "boss".parse::<Role>().unwrap_err();
        assert!(e.to_string().contains("registry_clerk"));
        assert_eq!(
            serde_json::to_string(&Level::Regional).unwrap(),
            "\"regional\""
        );
        assert_eq!(
            serde_json::from_str::<Level>("\"local\"").unwrap(),
            Level::Local
        );
        assert!(serde_json::from_str::<Level>("\"world\"").is_err());
    }

    #[test]
    fn entity_codes() {
        assert_eq!(parse_code("bo-dc").unwrap(), "BO-DC");
        assert!(parse_code("a").is_err());
        assert!(parse_code("A/B").is_err());
        assert!(parse_code("-AB").is_err());
    }
}
