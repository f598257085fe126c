//! Administrations, their entity trees, users, memberships and registers.

use crate::audit::{self, Actor};
use crate::{micros, parse_code, parse_id, Result, Store, StoreError, Tenant};
use diwan_core::numbering::{Direction, NumberFormat};
use diwan_core::org::{AdministrationKind, EntityKind, Level, Role};
use diwan_core::text::clean_text;
use diwan_core::{AdministrationId, EntityId, RegisterId, UserId};
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Names of a body in the platform's languages. Arabic and French are required; Amazigh
/// (Tifinagh) is shown where given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Names {
    pub fr: String,
    pub ar: String,
    pub zgh: Option<String>,
}

impl Names {
    pub fn new(fr: &str, ar: &str, zgh: Option<&str>) -> Result<Self> {
        let f = |s: &str, what: &str| {
            clean_text(s, 200, false).map_err(|e| StoreError::Invalid(format!("{what} {e}")))
        };
        Ok(Self {
            fr: f(fr, "French name")?,
            ar: f(ar, "Arabic name")?,
            zgh: zgh
                .filter(|z| !z.trim().is_empty())
                .map(|z| f(z, "Amazigh name"))
                .transpose()?,
        })
    }

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            fr: row.try_get("name_fr")?,
            ar: row.try_get("name_ar")?,
            zgh: row.try_get("name_zgh")?,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Administration {
    pub id: AdministrationId,
    pub code: String,
    pub kind: AdministrationKind,
    pub names: Names,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entity {
    pub id: EntityId,
    pub parent: Option<EntityId>,
    pub code: String,
    pub kind: EntityKind,
    pub level: Level,
    pub names: Names,
}

#[derive(Debug, Clone)]
pub struct NewEntity {
    pub parent: Option<EntityId>,
    pub code: String,
    pub kind: EntityKind,
    pub level: Level,
    pub names: Names,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: UserId,
    pub administration_id: AdministrationId,
    pub login: String,
    pub display_name: String,
    pub email: Option<String>,
    pub locale: Option<String>,
    pub disabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub entity_id: EntityId,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize)]
pub struct Register {
    pub id: RegisterId,
    pub entity_id: EntityId,
    pub direction: Direction,
    pub name: String,
    pub number_format: String,
}

fn admin_from_row(row: &AnyRow) -> Result<Administration> {
    Ok(Administration {
        id: parse_id(&row.try_get::<String, _>("id")?, "administration")?,
        code: row.try_get("code")?,
        kind: parse_code(&row.try_get::<String, _>("kind")?, "administration kind")?,
        names: Names::from_row(row)?,
    })
}

fn entity_from_row(row: &AnyRow) -> Result<Entity> {
    let parent: Option<String> = row.try_get("parent_id")?;
    Ok(Entity {
        id: parse_id(&row.try_get::<String, _>("id")?, "entity")?,
        parent: parent.map(|p| parse_id(&p, "entity")).transpose()?,
        code: row.try_get("code")?,
        kind: parse_code(&row.try_get::<String, _>("kind")?, "entity kind")?,
        level: parse_code(&row.try_get::<String, _>("level")?, "level")?,
        names: Names::from_row(row)?,
    })
}

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: parse_id(&row.try_get::<String, _>("id")?, "user")?,
        administration_id: parse_id(
            &row.try_get::<String, _>("administration_id")?,
            "administration",
        )?,
        login: row.try_get("login")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        locale: row.try_get("locale")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

fn register_from_row(row: &AnyRow) -> Result<Register> {
    Ok(Register {
        id: parse_id(&row.try_get::<String, _>("id")?, "register")?,
        entity_id: parse_id(&row.try_get::<String, _>("entity_id")?, "entity")?,
        direction: parse_code(&row.try_get::<String, _>("direction")?, "direction")?,
        name: row.try_get("name")?,
        number_format: row.try_get("number_format")?,
    })
}

const ADMIN_COLS: &str = "id, code, kind, name_fr, name_ar, name_zgh";
const ENTITY_COLS: &str = "id, parent_id, code, kind, level, name_fr, name_ar, name_zgh";
pub(crate) const USER_COLS: &str =
    "id, administration_id, login, display_name, email, locale, disabled";
const REGISTER_COLS: &str = "id, entity_id, direction, name, number_format";

/// A login: 3 to 64 characters, lower-case letters, digits, `.`, `-`, `_`, `@`.
pub fn parse_login(raw: &str) -> Result<String> {
    let s = raw.trim().to_lowercase();
    let ok = (3..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok {
        Ok(s)
    } else {
        Err(StoreError::Invalid(
            "login must be 3-64 characters: a-z, 0-9, '.', '-', '_', '@'".into(),
        ))
    }
}

impl Store {
    /// Creates an administration (tenant) and starts its audit chain.
    pub async fn create_administration(
        &self,
        code: &str,
        kind: AdministrationKind,
        names: Names,
        actor: &Actor,
    ) -> Result<Administration> {
        let code = diwan_core::org::parse_code(code)
            .map_err(|e| StoreError::Invalid(format!("administration code {e}")))?;
        let id = AdministrationId::new();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO administrations (id, code, kind, name_fr, name_ar, name_zgh, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(id.to_string())
        .bind(&code)
        .bind(kind.as_str())
        .bind(&names.fr)
        .bind(&names.ar)
        .bind(names.zgh.clone())
        .bind(micros(time::OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "an administration with this code"))?;
        let admin = id.to_string();
        audit::init_chain(&mut tx, &admin).await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "administration.create",
            "administration",
            &admin,
            &json!({ "code": code }),
        )
        .await?;
        tx.commit().await?;
        Ok(Administration {
            id,
            code,
            kind,
            names,
        })
    }

    /// Every administration, ordered by French name (the public directory).
    pub async fn administrations(&self) -> Result<Vec<Administration>> {
        let rows = sqlx::query(&format!(
            "SELECT {ADMIN_COLS} FROM administrations ORDER BY name_fr"
        ))
        .fetch_all(self.read())
        .await?;
        rows.iter().map(admin_from_row).collect()
    }

    pub async fn administration(&self, id: AdministrationId) -> Result<Administration> {
        let row = sqlx::query(&format!(
            "SELECT {ADMIN_COLS} FROM administrations WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.read())
        .await?
        .ok_or(StoreError::NotFound("administration"))?;
        admin_from_row(&row)
    }

    pub async fn administration_by_code(&self, code: &str) -> Result<Administration> {
        let row = sqlx::query(&format!(
            "SELECT {ADMIN_COLS} FROM administrations WHERE code = $1"
        ))
        .bind(code.trim().to_uppercase())
        .fetch_optional(self.read())
        .await?
        .ok_or(StoreError::NotFound("administration"))?;
        admin_from_row(&row)
    }
}

impl Tenant {
    pub async fn administration(&self) -> Result<Administration> {
        self.store.administration(self.admin).await
    }

    /// Adds an entity under `parent` (or at the root).
    pub async fn create_entity(&self, new: NewEntity, actor: &Actor) -> Result<Entity> {
        let code = diwan_core::org::parse_code(&new.code)
            .map_err(|e| StoreError::Invalid(format!("entity code {e}")))?;
        if let Some(p) = new.parent {
            self.entity(p).await?;
        }
        let id = EntityId::new();
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO entities (id, administration_id, parent_id, code, kind, level, name_fr, name_ar, name_zgh, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(id.to_string())
        .bind(&admin)
        .bind(new.parent.map(|p| p.to_string()))
        .bind(&code)
        .bind(new.kind.as_str())
        .bind(new.level.as_str())
        .bind(&new.names.fr)
        .bind(&new.names.ar)
        .bind(new.names.zgh.clone())
        .bind(micros(time::OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "an entity with this code"))?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "entity.create",
            "entity",
            &id.to_string(),
            &json!({ "code": code, "kind": new.kind, "level": new.level, "parent": new.parent }),
        )
        .await?;
        tx.commit().await?;
        Ok(Entity {
            id,
            parent: new.parent,
            code,
            kind: new.kind,
            level: new.level,
            names: new.names,
        })
    }

    /// The whole entity tree, parents before children (by creation order).
    pub async fn entities(&self) -> Result<Vec<Entity>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE administration_id = $1 ORDER BY created_at, id"
        ))
        .bind(self.admin_str())
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(entity_from_row).collect()
    }

    pub async fn entity(&self, id: EntityId) -> Result<Entity> {
        let row = sqlx::query(&format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE administration_id = $1 AND id = $2"
        ))
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("entity"))?;
        entity_from_row(&row)
    }

    pub async fn entity_by_code(&self, code: &str) -> Result<Entity> {
        let row = sqlx::query(&format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE administration_id = $1 AND code = $2"
        ))
        .bind(self.admin_str())
        .bind(code.trim().to_uppercase())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("entity"))?;
        entity_from_row(&row)
    }

    /// Creates a user account. The password must already be hashed (see [`crate::auth`]).
    pub async fn create_user(
        &self,
        login: &str,
        display_name: &str,
        email: Option<&str>,
        password_hash: &str,
        actor: &Actor,
    ) -> Result<User> {
        let login = parse_login(login)?;
        let display_name = clean_text(display_name, 120, false)
            .map_err(|e| StoreError::Invalid(format!("name {e}")))?;
        let email = email
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                diwan_core::text::parse_email(e).map_err(|e| StoreError::Invalid(e.to_string()))
            })
            .transpose()?;
        let id = UserId::new();
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, administration_id, login, display_name, email, password_hash, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(id.to_string())
        .bind(&admin)
        .bind(&login)
        .bind(&display_name)
        .bind(email.clone())
        .bind(password_hash)
        .bind(micros(time::OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "a user with this login"))?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "user.create",
            "user",
            &id.to_string(),
            &json!({ "login": login }),
        )
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            administration_id: self.admin,
            login,
            display_name,
            email,
            locale: None,
            disabled: false,
        })
    }

    pub async fn user(&self, id: UserId) -> Result<User> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE administration_id = $1 AND id = $2"
        ))
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        user_from_row(&row)
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE administration_id = $1 ORDER BY login"
        ))
        .bind(self.admin_str())
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Gives `user` a role in `entity`.
    pub async fn add_membership(
        &self,
        user: UserId,
        entity: EntityId,
        role: Role,
        actor: &Actor,
    ) -> Result<()> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let r = sqlx::query(
            "INSERT INTO memberships (administration_id, user_id, entity_id, role, created_at) VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(&admin)
        .bind(user.to_string())
        .bind(entity.to_string())
        .bind(role.as_str())
        .bind(micros(time::OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d))
                if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation =>
            {
                return Err(StoreError::NotFound("user or entity"));
            }
            Err(e) => return Err(StoreError::unique(e, "this membership")),
        }
        audit::append(
            &mut tx,
            &admin,
            actor,
            "membership.add",
            "user",
            &user.to_string(),
            &json!({ "entity": entity, "role": role }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn memberships(&self, user: UserId) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT entity_id, role FROM memberships WHERE administration_id = $1 AND user_id = $2 ORDER BY created_at",
        )
        .bind(self.admin_str())
        .bind(user.to_string())
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Membership {
                    entity_id: parse_id(&r.try_get::<String, _>(0)?, "entity")?,
                    role: parse_code(&r.try_get::<String, _>(1)?, "role")?,
                })
            })
            .collect()
    }

    /// Members of an entity with their roles.
    pub async fn members(&self, entity: EntityId) -> Result<Vec<(User, Role)>> {
        let rows = sqlx::query(
            "SELECT u.id, u.administration_id, u.login, u.display_name, u.email, u.locale, u.disabled, m.role \
             FROM memberships m JOIN users u ON u.id = m.user_id AND u.administration_id = m.administration_id \
             WHERE m.administration_id = $1 AND m.entity_id = $2 ORDER BY u.display_name",
        )
        .bind(self.admin_str())
        .bind(entity.to_string())
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    user_from_row(r)?,
                    parse_code(&r.try_get::<String, _>("role")?, "role")?,
                ))
            })
            .collect()
    }

    /// Opens a register of `direction` at a registry office.
    pub async fn create_register(
        &self,
        entity: EntityId,
        direction: Direction,
        name: &str,
        format: &NumberFormat,
        actor: &Actor,
    ) -> Result<Register> {
        let e = self.entity(entity).await?;
        if e.kind != EntityKind::RegistryOffice {
            return Err(StoreError::Invalid(format!(
                "entity {} is not a registry office",
                e.code
            )));
        }
        let name = clean_text(name, 120, false)
            .map_err(|e| StoreError::Invalid(format!("register name {e}")))?;
        let id = RegisterId::new();
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO registers (id, administration_id, entity_id, direction, name, number_format, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(id.to_string())
        .bind(&admin)
        .bind(entity.to_string())
        .bind(direction.as_str())
        .bind(&name)
        .bind(format.as_str())
        .bind(micros(time::OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "a register of this direction at this registry office"))?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "register.create",
            "register",
            &id.to_string(),
            &json!({ "entity": entity, "direction": direction, "format": format.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(Register {
            id,
            entity_id: entity,
            direction,
            name,
            number_format: format.as_str().to_string(),
        })
    }

    pub async fn registers(&self) -> Result<Vec<Register>> {
        let rows = sqlx::query(&format!(
            "SELECT {REGISTER_COLS} FROM registers WHERE administration_id = $1 ORDER BY created_at"
        ))
        .bind(self.admin_str())
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(register_from_row).collect()
    }

    pub async fn register(&self, id: RegisterId) -> Result<Register> {
        let row = sqlx::query(&format!(
            "SELECT {REGISTER_COLS} FROM registers WHERE administration_id = $1 AND id = $2"
        ))
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("register"))?;
        register_from_row(&row)
    }

    /// The register of `direction` at a registry office.
    pub async fn register_of(&self, entity: EntityId, direction: Direction) -> Result<Register> {
        let row = sqlx::query(&format!(
            "SELECT {REGISTER_COLS} FROM registers WHERE administration_id = $1 AND entity_id = $2 AND direction = $3"
        ))
        .bind(self.admin_str())
        .bind(entity.to_string())
        .bind(direction.as_str())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("register"))?;
        register_from_row(&row)
    }
}
