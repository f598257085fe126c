//! Administration of an administration: entities, registers, users, memberships.
//! Used by the API (administrators) and by `diwan admin` (operators on the server).

use crate::context::App;
use crate::error::AppError;
use diwan_core::numbering::{Direction, NumberFormat};
use diwan_core::org::{EntityKind, Level, Role};
use diwan_core::{AdministrationId, EntityId, UserId};
use diwan_store::auth::hash_password;
use diwan_store::org::{Entity, Names, NewEntity, Register, User};
use diwan_store::Actor;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityRequest {
    #[serde(default)]
    pub parent: Option<EntityId>,
    pub code: String,
    pub kind: EntityKind,
    pub level: Level,
    pub name_fr: String,
    pub name_ar: String,
    #[serde(default)]
    pub name_zgh: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub entity: EntityId,
    pub direction: Direction,
    pub name: String,
    /// Defaults to `{ENTITY}/{A|D|I}/{YYYY}/{000001}`.
    #[serde(default)]
    pub number_format: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    pub login: String,
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub password: String,
    /// Roles to give at once.
    #[serde(default)]
    pub memberships: Vec<MembershipRequest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipRequest {
    pub entity: EntityId,
    pub role: Role,
}

impl App {
    pub async fn create_entity(
        &self,
        admin: AdministrationId,
        req: EntityRequest,
        actor: &Actor,
    ) -> Result<Entity, AppError> {
        let names = Names::new(&req.name_fr, &req.name_ar, req.name_zgh.as_deref())?;
        let new = NewEntity {
            parent: req.parent,
            code: req.code,
            kind: req.kind,
            level: req.level,
            names,
        };
        let e = self.store.tenant(admin).create_entity(new, actor).await?;
        self.portal_targets().clear();
        Ok(e)
    }

    pub async fn create_register(
        &self,
        admin: AdministrationId,
        req: RegisterRequest,
        actor: &Actor,
    ) -> Result<Register, AppError> {
        let format = match req.number_format.as_deref() {
            Some(f) => NumberFormat::parse(f)
                .map_err(|e| AppError::field("number_format", e.to_string()))?,
            None => NumberFormat::default(),
        };
        let r = self
            .store
            .tenant(admin)
            .create_register(req.entity, req.direction, &req.name, &format, actor)
            .await?;
        self.portal_targets().clear();
        Ok(r)
    }

    pub async fn create_user(
        &self,
        admin: AdministrationId,
        req: UserRequest,
        actor: &Actor,
    ) -> Result<User, AppError> {
        let password = req.password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| {
                AppError::field(
                    "password",
                    e.to_string().trim_start_matches("invalid: ").to_string(),
                )
            })?;
        let tenant = self.store.tenant(admin);
        // Check the entities first so that a bad membership does not leave a user behind.
        for m in &req.memberships {
            tenant
                .entity(m.entity)
                .await
                .map_err(|_| AppError::field("memberships", format!("no entity {}", m.entity)))?;
        }
        let user = tenant
            .create_user(
                &req.login,
                &req.display_name,
                req.email.as_deref(),
                &hash,
                actor,
            )
            .await?;
        for m in req.memberships {
            tenant
                .add_membership(user.id, m.entity, m.role, actor)
                .await?;
        }
        Ok(user)
    }

    pub async fn add_membership(
        &self,
        admin: AdministrationId,
        user: UserId,
        req: MembershipRequest,
        actor: &Actor,
    ) -> Result<(), AppError> {
        Ok(self
            .store
            .tenant(admin)
            .add_membership(user, req.entity, req.role, actor)
            .await?)
    }
}
