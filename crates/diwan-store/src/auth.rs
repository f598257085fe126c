//! Accounts: argon2id password hashes, login with lock-out, sessions and API tokens.
//!
//! A session token is 32 random bytes (base64url) given to the client once; the database keeps
//! only its SHA-256, so a leaked database does not leak usable sessions. Web sessions carry a
//! CSRF token bound to the session (synchroniser-token pattern). After
//! [`MAX_FAILED_LOGINS`] consecutive failures an account is locked for [`LOCKOUT`].

use crate::audit::{self, Actor};
use crate::org::{user_from_row, Membership, User, USER_COLS};
use crate::{from_micros, micros, parse_code, parse_id, Result, Store, StoreError};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::{Duration, OffsetDateTime};

/// Consecutive failures before an account is locked.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::minutes(15);

/// Hashes a password with argon2id (PHC string). CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 8 {
        return Err(StoreError::Invalid(
            "password must have at least 8 characters".into(),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash password: {e}")))
}

/// Checks a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// What kind of client a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Browser: cookie + CSRF token, 12 hours.
    Web,
    /// API client: bearer token, 24 hours.
    Api,
}

impl SessionKind {
    fn as_str(&self) -> &'static str {
        match self {
            SessionKind::Web => "web",
            SessionKind::Api => "api",
        }
    }
    fn lifetime(&self) -> Duration {
        match self {
            SessionKind::Web => Duration::hours(12),
            SessionKind::Api => Duration::hours(24),
        }
    }
}

/// Why a login was refused. Deliberately vague towards the client for unknown logins.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong login or password")]
    BadCredentials,
    #[error("account locked after repeated failures; try again after {until}")]
    Locked { until: OffsetDateTime },
    #[error("account disabled")]
    Disabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LoginError {
    fn from(e: sqlx::Error) -> Self {
        LoginError::Store(StoreError::Db(e))
    }
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub memberships: Vec<Membership>,
    pub kind: SessionKind,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// A new session: the token is shown to the client once.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
    pub user: User,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A valid hash to verify against when the login is unknown, so timing does not reveal it.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Store {
    /// Checks credentials and opens a session. Counts failures and locks the account.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        kind: SessionKind,
        ip: Option<String>,
    ) -> Result<NewSession, LoginError> {
        let login = login.trim().to_lowercase();
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS}, password_hash, failed_logins, locked_until FROM users WHERE login = $1"
        ))
        .bind(&login)
        .fetch_optional(self.read())
        .await?;
        let password = password.to_string();
        let Some(row) = row else {
            let _ = tokio::task::spawn_blocking(move || {
                let dummy = DUMMY_HASH
                    .get_or_init(|| hash_password("not-a-real-password").unwrap_or_default());
                verify_password(&password, dummy)
            })
            .await;
            return Err(LoginError::BadCredentials);
        };
        let user = user_from_row(&row)?;
        let now = OffsetDateTime::now_utc();
        if user.disabled {
            return Err(LoginError::Disabled);
        }
        if let Some(until) = row
            .try_get::<Option<i64>, _>("locked_until")?
            .map(from_micros)
        {
            if until > now {
                return Err(LoginError::Locked { until });
            }
        }
        let phc: String = row.try_get("password_hash")?;
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let admin = user.administration_id.to_string();
        let actor = Actor::user(user.id, ip.clone());
        let mut tx = self.begin().await?;
        if !ok {
            let failed: i64 = sqlx::query(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
            )
            .bind(user.id.to_string())
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            let locked = failed >= MAX_FAILED_LOGINS;
            if locked {
                sqlx::query("UPDATE users SET locked_until = $2, failed_logins = 0 WHERE id = $1")
                    .bind(user.id.to_string())
                    .bind(micros(now + LOCKOUT))
                    .execute(&mut *tx)
                    .await?;
            }
            let action = if locked {
                "user.locked"
            } else {
                "user.login_failed"
            };
            audit::append(
                &mut tx,
                &admin,
                &actor,
                action,
                "user",
                &user.id.to_string(),
                &json!({ "failures": failed }),
            )
            .await?;
            tx.commit().await?;
            return Err(if locked {
                LoginError::Locked {
                    until: now + LOCKOUT,
                }
            } else {
                LoginError::BadCredentials
            });
        }
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await?;
        let token = random_token();
        let csrf_token = random_token();
        let expires_at = now + kind.lifetime();
        sqlx::query(
            "INSERT INTO sessions (token_hash, administration_id, user_id, kind, csrf_token, created_at, expires_at, ip) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(token_hash(&token))
        .bind(&admin)
        .bind(user.id.to_string())
        .bind(kind.as_str())
        .bind(&csrf_token)
        .bind(micros(now))
        .bind(micros(expires_at))
        .bind(ip)
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            &admin,
            &actor,
            "user.login",
            "user",
            &user.id.to_string(),
            &json!({ "kind": kind.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(NewSession {
            token,
            csrf_token,
            expires_at,
            user,
        })
    }

    /// The session a token belongs to, if it is valid and not expired.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT s.kind, s.csrf_token, s.expires_at, u.id, u.administration_id, u.login, u.display_name, \
             u.email, u.locale, u.disabled FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1",
        )
        .bind(token_hash(token))
        .fetch_optional(self.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at = from_micros(row.try_get("expires_at")?);
        let user = user_from_row(&row)?;
        if expires_at <= OffsetDateTime::now_utc() || user.disabled {
            return Ok(None);
        }
        let kind = match row.try_get::<String, _>("kind")?.as_str() {
            "web" => SessionKind::Web,
            _ => SessionKind::Api,
        };
        let rows = sqlx::query(
            "SELECT entity_id, role FROM memberships WHERE administration_id = $1 AND user_id = $2 ORDER BY created_at",
        )
        .bind(user.administration_id.to_string())
        .bind(user.id.to_string())
        .fetch_all(self.read())
        .await?;
        let memberships = rows
            .iter()
            .map(|r| {
                Ok(Membership {
                    entity_id: parse_id(&r.try_get::<String, _>(0)?, "entity")?,
                    role: parse_code(&r.try_get::<String, _>(1)?, "role")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Session {
            user,
            memberships,
            kind,
            csrf_token: row.try_get("csrf_token")?,
            expires_at,
        }))
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "DELETE FROM sessions WHERE token_hash = $1 RETURNING administration_id, user_id",
        )
        .bind(token_hash(token))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            let admin: String = row.try_get(0)?;
            let user: String = row.try_get(1)?;
            let actor = Actor {
                user_id: user.parse().ok(),
                ip: None,
                system: None,
            };
            audit::append(
                &mut tx,
                &admin,
                &actor,
                "user.logout",
                "user",
                &user,
                &json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes expired sessions. Returns how many.
    pub async fn purge_sessions(&self) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(micros(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn password_hashes() {
        let h = super::hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify_password("correct horse", &h));
        assert!(!super::verify_password("wrong horse", &h));
        assert!(!super::verify_password("x", "not a hash"));
        assert!(super::hash_password("short").is_err());
    }
}
