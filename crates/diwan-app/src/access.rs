//! Who may do what. A [`Principal`] is a logged-in user with their roles; the rules that turn
//! roles into rights live here, in one place.

use crate::error::AppError;
use diwan_core::org::Role;
use diwan_core::{AdministrationId, EntityId, UserId};
use diwan_store::auth::Session;
use diwan_store::org::{Membership, Register, User};
use diwan_store::processing::QueueOwner;
use diwan_store::registry::ReadScope;
use diwan_store::Tenant;

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub memberships: Vec<Membership>,
    /// The client address.
    pub ip: Option<String>,
}

impl Principal {
    pub fn from_session(s: &Session, ip: Option<String>) -> Self {
        Self {
            user: s.user.clone(),
            memberships: s.memberships.clone(),
            ip,
        }
    }

    pub fn admin(&self) -> AdministrationId {
        self.user.administration_id
    }

    pub fn id(&self) -> UserId {
        self.user.id
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.memberships.iter().any(|m| m.role == role)
    }

    /// Entities where the user holds `role`.
    pub fn entities_with(&self, role: Role) -> impl Iterator<Item = EntityId> + '_ {
        self.memberships
            .iter()
            .filter(move |m| m.role == role)
            .map(|m| m.entity_id)
    }

    /// The audit actor for changes made by this user.
    pub fn actor(&self) -> diwan_store::Actor {
        diwan_store::Actor::user(self.user.id, self.ip.clone())
    }

    /// Whether the user may register correspondence in `register`: a registry clerk of its
    /// registry office, or an administrator.
    pub fn can_register_in(&self, register: &Register) -> bool {
        self.has_role(Role::Admin)
            || self
                .memberships
                .iter()
                .any(|m| m.role == Role::RegistryClerk && m.entity_id == register.entity_id)
    }

    /// Refuses read-only users.
    pub fn require_writer(&self) -> Result<(), AppError> {
        if self.memberships.iter().all(|m| m.role.is_read_only()) {
            return Err(AppError::Forbidden("your role only allows reading".into()));
        }
        Ok(())
    }

    pub fn require_role(&self, role: Role) -> Result<(), AppError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this action needs the {role} role"
            )))
        }
    }

    /// The registers the user works on as a registry clerk.
    pub async fn clerk_registers(&self, tenant: &Tenant) -> Result<Vec<Register>, AppError> {
        let offices: Vec<EntityId> = self.entities_with(Role::RegistryClerk).collect();
        Ok(tenant
            .registers()
            .await?
            .into_iter()
            .filter(|r| offices.contains(&r.entity_id))
            .collect())
    }

    /// The entities the user heads and every entity below them.
    pub async fn headed_entities(&self, tenant: &Tenant) -> Result<Vec<EntityId>, AppError> {
        let mut out: Vec<EntityId> = self.entities_with(Role::Head).collect();
        if out.is_empty() {
            return Ok(out);
        }
        let all = tenant.entities().await?;
        let mut frontier = out.clone();
        while let Some(e) = frontier.pop() {
            for child in all.iter().filter(|c| c.parent == Some(e)) {
                if !out.contains(&child.id) {
                    out.push(child.id);
                    frontier.push(child.id);
                }
            }
        }
        Ok(out)
    }

    /// The entities whose assignments are the user's: those they belong to, and for a head
    /// every entity below theirs.
    pub async fn assignment_entities(&self, tenant: &Tenant) -> Result<Vec<EntityId>, AppError> {
        let mut out: Vec<EntityId> = self.memberships.iter().map(|m| m.entity_id).collect();
        out.extend(self.headed_entities(tenant).await?);
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Whether the user heads `entity` or an entity above it.
    pub async fn heads(&self, tenant: &Tenant, entity: EntityId) -> Result<bool, AppError> {
        Ok(self.headed_entities(tenant).await?.contains(&entity))
    }

    /// Who owns the user's work queues.
    pub async fn queue_owner(&self, tenant: &Tenant) -> Result<QueueOwner, AppError> {
        Ok(QueueOwner {
            user: Some(self.user.id),
            entities: self.assignment_entities(tenant).await?,
            registers: if self.has_role(Role::Admin) {
                tenant
                    .registers()
                    .await?
                    .into_iter()
                    .map(|r| r.id)
                    .collect()
            } else {
                self.clerk_registers(tenant)
                    .await?
                    .into_iter()
                    .map(|r| r.id)
                    .collect()
            },
        })
    }

    /// What the user may read.
    pub async fn read_scope(&self, tenant: &Tenant) -> Result<ReadScope, AppError> {
        Ok(ReadScope {
            entities: self.assignment_entities(tenant).await?,
            all: self.has_role(Role::Admin) || self.has_role(Role::Auditor),
            confidential: self.has_role(Role::Auditor),
            registers: self
                .clerk_registers(tenant)
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect(),
            user: Some(self.user.id),
        })
    }
}
