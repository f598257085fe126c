//! Webhooks: an administration's administrators register HTTP endpoints; every status change of
//! its correspondence (registration included) and every reply registered is POSTed to them as a
//! JSON event, signed with HMAC-SHA256.
//!
//! Events are queued by the store in the transaction of the change (see
//! `diwan_store::webhooks`); this module validates registrations, keeps the secrets sealed under
//! the master key, and runs the worker that delivers, with retries and exponential backoff.
//!
//! Signature scheme: `Diwan-Signature: sha256=<hex>` where `<hex>` is the lowercase hexadecimal
//! HMAC-SHA256, keyed with the endpoint's secret (the string shown at creation, as UTF-8 bytes),
//! of `"<Diwan-Timestamp>.<body>"`: the decimal Unix time of the attempt, a full stop, and the
//! raw request body. Receivers recompute it, compare in constant time and refuse timestamps
//! older than a few minutes (replays).

use crate::access::Principal;
use crate::context::App;
use crate::error::AppError;
use diwan_core::org::Role;
use diwan_store::webhooks::{Delivery, DueDelivery, NewWebhook, Webhook, EVENT_TYPES};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Retry delays as multiples of `webhooks.retry_base_seconds` (default 60 s: 1 min, 5 min,
/// 30 min, 2 h, 12 h); after the last one fails the delivery is given up.
pub const RETRY_MULTIPLIERS: &[u64] = &[1, 5, 30, 120, 720];

/// Endpoints delivered to at the same time (each endpoint's events go one after another).
const CONCURRENT_ENDPOINTS: usize = 8;

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    pub url: String,
    /// Event types; every type when absent.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// A new endpoint with its secret, shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
}

/// Why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
    #[error("cannot reach the endpoint: {0}")]
    Transport(String),
    #[error("the endpoint's secret cannot be opened: {0}")]
    Secret(String),
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the `Diwan-Signature` header.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The delay before the attempt after `attempts_before + 1` failed ones, or none to give up.
pub fn retry_delay(base_seconds: u64, attempts_before: i64) -> Option<Duration> {
    let i = usize::try_from(attempts_before).ok()?;
    RETRY_MULTIPLIERS
        .get(i)
        .map(|m| Duration::from_secs(base_seconds.saturating_mul(*m)))
}

/// Addresses an endpoint may not point at unless `webhooks.allow_private_addresses` is set:
/// loopback, private, link-local (cloud metadata), unspecified, multicast and the like.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Checks an endpoint URL: absolute http(s), a host, no credentials, not too long, and (unless
/// allowed) not a private address written as such.
pub fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let raw = raw.trim();
    if raw.len() > 2000 {
        return Err("at most 2000 characters".into());
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL must start with http:// or https://".into());
    }
    let Some(host) = url.host_str() else {
        return Err("the URL has no host".into());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials; the signature authenticates us".into());
    }
    if !allow_private {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let private = match bare.parse::<IpAddr>() {
            Ok(ip) => is_private(ip),
            Err(_) => {
                let d = bare.to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost")
            }
        };
        if private {
            return Err("the URL points at a private or local address".into());
        }
    }
    Ok(url)
}

/// Resolves host names like the system does, but refuses private addresses: a public name
/// cannot be made to point inside the platform's network.
struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// The HTTP client of the worker: the configured timeout, no redirects (a redirect is a failed
/// attempt), private addresses refused unless allowed.
pub fn client(app: &App) -> Result<reqwest::Client, AppError> {
    let c = &app.config.webhooks;
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(c.timeout_seconds))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Diwan-Webhooks/", env!("CARGO_PKG_VERSION")));
    if !c.allow_private_addresses {
        b = b.dns_resolver(Arc::new(PublicResolver));
    }
    b.build()
        .map_err(|e| AppError::Internal(format!("webhook client: {e}")))
}

fn secret_aad(id: &str) -> String {
    format!("webhook:{id}")
}

impl App {
    /// Registers an endpoint (administrators); the secret is returned this once.
    pub async fn create_webhook(
        &self,
        who: &Principal,
        req: WebhookRequest,
    ) -> Result<CreatedWebhook, AppError> {
        who.require_role(Role::Admin)?;
        let url = check_url(&req.url, self.config.webhooks.allow_private_addresses)
            .map_err(|m| AppError::field("url", m))?;
        let mut events: Vec<String> = match req.events {
            Some(e) => e,
            None => EVENT_TYPES.iter().map(|e| e.to_string()).collect(),
        };
        events.sort();
        events.dedup();
        if events.is_empty() {
            return Err(AppError::field("events", "name at least one event type"));
        }
        if let Some(bad) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
            return Err(AppError::field(
                "events",
                format!(
                    "unknown event type {bad:?}; known: {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let secret = format!("whsec_{}", hex::encode(raw));
        let id = uuid::Uuid::now_v7().to_string();
        let sealed_secret =
            diwan_crypto::seal::seal_bytes(self.master_key(), &secret_aad(&id), secret.as_bytes())
                .map_err(|e| AppError::Internal(e.to_string()))?;
        let webhook = self
            .store
            .tenant(who.admin())
            .create_webhook(
                &NewWebhook {
                    id,
                    url: url.to_string(),
                    sealed_secret,
                    events,
                },
                &who.actor(),
            )
            .await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    /// The administration's endpoints, without secrets (administrators).
    pub async fn webhooks(&self, who: &Principal) -> Result<Vec<Webhook>, AppError> {
        who.require_role(Role::Admin)?;
        Ok(self.store.tenant(who.admin()).webhooks().await?)
    }

    /// Removes an endpoint; its pending deliveries are dropped (administrators).
    pub async fn delete_webhook(&self, who: &Principal, id: &str) -> Result<(), AppError> {
        who.require_role(Role::Admin)?;
        Ok(self
            .store
            .tenant(who.admin())
            .delete_webhook(id, &who.actor())
            .await?)
    }

    /// The 100 most recent deliveries of an endpoint (administrators).
    pub async fn webhook_deliveries(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<Vec<Delivery>, AppError> {
        who.require_role(Role::Admin)?;
        Ok(self.store.tenant(who.admin()).deliveries(id, 100).await?)
    }

    /// One attempt of one delivery: the HTTP status answered, or why it failed.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        d: &DueDelivery,
    ) -> (Option<u16>, Result<(), DeliveryError>) {
        let secret = match diwan_crypto::seal::open_bytes(
            self.master_key(),
            &secret_aad(&d.webhook_id),
            &d.sealed_secret,
        ) {
            Ok(s) => s,
            Err(e) => return (None, Err(DeliveryError::Secret(e.to_string()))),
        };
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let sent = client
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Diwan-Event", &d.event_type)
            .header("Diwan-Delivery", &d.id)
            .header("Diwan-Timestamp", timestamp.to_string())
            .header(
                "Diwan-Signature",
                signature(&secret, timestamp, d.payload.as_bytes()),
            )
            .body(d.payload.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), Ok(())),
            Ok(r) => {
                let code = r.status().as_u16();
                (Some(code), Err(DeliveryError::Status(code)))
            }
            Err(e) => (None, Err(DeliveryError::Transport(e.to_string()))),
        }
    }

    /// Delivers one endpoint's due events in order; returns (delivered, failed).
    async fn deliver_endpoint(
        &self,
        client: &reqwest::Client,
        batch: Vec<DueDelivery>,
    ) -> Result<(usize, usize), AppError> {
        let (mut ok, mut failed) = (0, 0);
        for d in batch {
            if !self.store.claim_delivery(&d).await? {
                continue;
            }
            let (status, result) = self.attempt(client, &d).await;
            match result {
                Ok(()) => {
                    self.store.record_attempt(&d.id, status, None, None).await?;
                    ok += 1;
                }
                Err(e) => {
                    let retry = match e {
                        DeliveryError::Secret(_) => None,
                        _ => retry_delay(self.config.webhooks.retry_base_seconds, d.attempts),
                    };
                    tracing::warn!(delivery = %d.id, attempt = d.attempts + 1, error = %e,
                        given_up = retry.is_none(), "webhook not delivered");
                    let retry = retry.and_then(|r| time::Duration::try_from(r).ok());
                    self.store
                        .record_attempt(&d.id, status, Some(&e.to_string()), retry)
                        .await?;
                    failed += 1;
                }
            }
        }
        Ok((ok, failed))
    }

    /// Attempts every due delivery once, endpoints in parallel. Returns (delivered, failed).
    pub async fn deliver_webhooks(
        &self,
        client: &reqwest::Client,
    ) -> Result<(usize, usize), AppError> {
        let due = self.store.due_deliveries(200).await?;
        let mut groups: Vec<Vec<DueDelivery>> = Vec::new();
        for d in due {
            match groups.iter_mut().find(|g| g[0].webhook_id == d.webhook_id) {
                Some(g) => g.push(d),
                None => groups.push(vec![d]),
            }
        }
        let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_ENDPOINTS));
        let mut tasks = tokio::task::JoinSet::new();
        for g in groups {
            let (app, client, limit) = (self.clone(), client.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                app.deliver_endpoint(&client, g).await
            });
        }
        let (mut ok, mut failed) = (0, 0);
        while let Some(r) = tasks.join_next().await {
            let (o, f) = r.map_err(|e| AppError::Internal(e.to_string()))??;
            ok += o;
            failed += f;
        }
        Ok((ok, failed))
    }

    /// Runs the webhook worker until `stop` changes.
    pub async fn run_webhooks(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let client = match client(self) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhooks are not delivered");
                return;
            }
        };
        loop {
            if let Err(e) = self.deliver_webhooks(&client).await {
                tracing::error!(error = %e, "webhook delivery failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() {
        let s = signature(b"Jefe", 1_700_000_000, b"{}");
        let hexpart = s.strip_prefix("sha256=").expect("sha256= prefix");
        assert_eq!(hexpart.len(), 64);
        assert!(hexpart
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        // The MAC of the concatenation "<timestamp>.<body>".
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(hexpart, hex::encode(mac.finalize().into_bytes()));
        // Any change of timestamp, body or key changes it.
        assert_ne!(s, signature(b"Jefe", 1_700_000_001, b"{}"));
        assert_ne!(s, signature(b"Jefe", 1_700_000_000, b"{ }"));
        assert_ne!(s, signature(b"jefe", 1_700_000_000, b"{}"));
    }

    #[test]
    fn signature_matches_openssl() {
        // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature(b"whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "sha256=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn retries_back_off_then_give_up() {
        let d: Vec<_> = (0..7).map(|i| retry_delay(60, i)).collect();
        assert_eq!(
            d,
            vec![
                Some(Duration::from_secs(60)),
                Some(Duration::from_secs(300)),
                Some(Duration::from_secs(1800)),
                Some(Duration::from_secs(7200)),
                Some(Duration::from_secs(43200)),
                None,
                None
            ]
        );
        assert_eq!(retry_delay(1, 0), Some(Duration::from_secs(1)));
        assert_eq!(retry_delay(60, -1), None);
    }

    #[test]
    fn urls_are_http_and_public() {
        assert!(check_url("https://hooks.example.ma/diwan", false).is_ok());
        assert!(check_url("http://hooks.example.ma:8080/x?y=1", false).is_ok());
        for bad in [
            "ftp://example.ma/x",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "hooks.example.ma/x",
            "https://user:pw@example.ma/",
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:192.168.1.1]/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} accepted");
        }
        assert!(check_url("http://127.0.0.1:9000/", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
    }
}
