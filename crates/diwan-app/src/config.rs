//! Configuration: defaults, then `diwan.toml`, then `DIWAN_*` environment variables, then
//! command-line flags. Nested keys use a double underscore in the environment
//! (`DIWAN_SMTP__HOST`, `DIWAN_PORTAL__CHALLENGE`).

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings of the public filing portal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Require a proof-of-work challenge with each filing (disable only for tests).
    pub challenge: bool,
    /// Leading zero bits the challenge's SHA-256 must have.
    pub challenge_bits: u8,
    /// Filings allowed per client address and minute.
    pub filings_per_minute: u32,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            challenge: true,
            challenge_bits: 18,
            filings_per_minute: 10,
        }
    }
}

/// Outgoing e-mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// SMTP server host; e-mail stays queued in the outbox when empty.
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub security: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Sender address of notifications.
    pub from: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 25,
            security: "none".into(),
            username: None,
            password: None,
            from: "Diwan <no-reply@diwan.localhost>".into(),
        }
    }
}

/// Reading documents for search (text layers, and OCR of scans).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextConfig {
    /// Read documents in the background (needs poppler's `pdftotext`/`pdftoppm` and Tesseract).
    pub enabled: bool,
    /// Tesseract's languages, `+`-separated.
    pub ocr_languages: String,
    /// Seconds between two looks for new documents.
    pub interval_seconds: u64,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ocr_languages: "fra+ara".into(),
            interval_seconds: 10,
        }
    }
}

/// Delivery of webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// The first retry delay in seconds; later ones are 5, 30, 120 and 720 times it (with the
    /// default of 60: 1 min, 5 min, 30 min, 2 h, 12 h), then the delivery is given up.
    pub retry_base_seconds: u64,
    /// Seconds an endpoint has to answer.
    pub timeout_seconds: u64,
    /// Allow endpoints on loopback, private and link-local addresses (tests, closed networks).
    /// Off by default: an administrator must not reach into the platform's own network.
    pub allow_private_addresses: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            retry_base_seconds: 60,
            timeout_seconds: 10,
            allow_private_addresses: false,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database, blobs and keys live.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: String,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://DATA_DIR/diwan.db`.
    pub database_url: Option<String>,
    /// The address users reach the platform at (links in receipts and e-mails).
    pub public_url: Option<String>,
    /// Largest accepted file, in bytes.
    pub max_file_bytes: u64,
    /// Most files in one upload.
    pub max_files: usize,
    /// Offset of local time from UTC (numbering years, dates on receipts), e.g. `+01:00`.
    pub utc_offset: String,
    /// 32-byte master key (hex) that encrypts private keys at rest. When absent, a key is
    /// generated once in `DATA_DIR/master.key` (mode 0600).
    pub master_key: Option<String>,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Database connections.
    pub max_connections: u32,
    /// SQLite only: `full` (the default: every acknowledged filing survives a power loss) or
    /// `normal` (faster; the last transactions may be lost on power loss, never corrupted).
    pub sqlite_synchronous: String,
    pub portal: PortalConfig,
    pub smtp: SmtpConfig,
    pub webhooks: WebhookConfig,
    pub text: TextConfig,
    /// An external RFC 3161 time-stamping service; the platform's own is used when absent.
    pub tsa_url: Option<String>,
    /// Fixes the day the processing rules see (deadlines, the late queue, reminders), as
    /// `YYYY-MM-DD`: for rehearsals and tests of a scripted calendar. Unset in production.
    pub today: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./diwan-data"),
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            public_url: None,
            max_file_bytes: 100 * 1024 * 1024,
            max_files: 20,
            utc_offset: "+01:00".into(),
            master_key: None,
            log_format: "text".into(),
            max_connections: 8,
            sqlite_synchronous: "full".into(),
            portal: PortalConfig::default(),
            smtp: SmtpConfig::default(),
            webhooks: WebhookConfig::default(),
            text: TextConfig::default(),
            tsa_url: None,
            today: None,
        }
    }
}

/// Top-level keys that `DIWAN_*` variables may set (others, such as test settings, are ignored).
const ENV_KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "database_url",
    "public_url",
    "max_file_bytes",
    "max_files",
    "utc_offset",
    "master_key",
    "log_format",
    "max_connections",
    "sqlite_synchronous",
    "portal",
    "smtp",
    "webhooks",
    "text",
    "tsa_url",
    "today",
];

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the configuration. `file` is an explicit `--config`; otherwise `diwan.toml` in the
    /// current directory is read when present. `overrides` are command-line flags.
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                if !f.exists() {
                    return Err(ConfigError::Invalid(format!(
                        "config file {} does not exist",
                        f.display()
                    )));
                }
                fig = fig.merge(Toml::file(f));
            }
            None => fig = fig.merge(Toml::file("diwan.toml")),
        }
        fig = fig.merge(Env::prefixed("DIWAN_").split("__").filter(|k| {
            let key = k.as_str().to_ascii_lowercase();
            let top = key.split('.').next().unwrap_or("");
            ENV_KEYS.contains(&top)
        }));
        for (k, v) in overrides {
            fig = fig.merge(Serialized::default(k, v));
        }
        let cfg: Config = fig.extract().map_err(|e| ConfigError::Load(Box::new(e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.offset()?;
        if self.max_file_bytes == 0 || self.max_files == 0 {
            return Err(ConfigError::Invalid(
                "max_file_bytes and max_files must be positive".into(),
            ));
        }
        if !matches!(self.sqlite_synchronous.as_str(), "full" | "normal") {
            return Err(ConfigError::Invalid(
                "sqlite_synchronous must be full or normal".into(),
            ));
        }
        if !matches!(self.smtp.security.as_str(), "none" | "starttls" | "tls") {
            return Err(ConfigError::Invalid(
                "smtp.security must be none, starttls or tls".into(),
            ));
        }
        if self.webhooks.timeout_seconds == 0 || self.webhooks.timeout_seconds > 300 {
            return Err(ConfigError::Invalid(
                "webhooks.timeout_seconds must be between 1 and 300".into(),
            ));
        }
        if let Some(k) = &self.master_key {
            if k.len() != 64 || hex::decode(k).is_err() {
                return Err(ConfigError::Invalid(
                    "master_key must be 64 hexadecimal characters".into(),
                ));
            }
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("diwan.db").display()))
    }

    /// The public base URL without trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }

    /// The local time offset.
    pub fn offset(&self) -> Result<time::UtcOffset, ConfigError> {
        let fmt = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
        time::UtcOffset::parse(&self.utc_offset, &fmt).map_err(|_| {
            ConfigError::Invalid(format!(
                "utc_offset {:?} is not like +01:00",
                self.utc_offset
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::load(Some(Path::new("/nonexistent/diwan.toml")), &[]);
        assert!(c.is_err());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("diwan.toml");
        std::fs::write(
            &f,
            "listen = \"0.0.0.0:9000\"\n[portal]\nchallenge = false\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), &[("data_dir", "/srv/diwan".into())]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert!(!c.portal.challenge);
        assert_eq!(c.database_url(), "sqlite:///srv/diwan/diwan.db");
        assert_eq!(
            c.offset().unwrap(),
            time::UtcOffset::from_hms(1, 0, 0).unwrap()
        );
        std::fs::write(&f, "lisen = 1\n").unwrap();
        assert!(Config::load(Some(&f), &[]).is_err(), "typos are refused");
        std::env::set_var("DIWAN_MAX_FILE_BYTES", "1234");
        std::env::set_var("DIWAN_PORTAL__FILINGS_PER_MINUTE", "3");
        std::env::set_var("DIWAN_TEST_DATABASE_URL", "ignored");
        std::fs::write(&f, "").unwrap();
        let c = Config::load(Some(&f), &[]).unwrap();
        assert_eq!(c.max_file_bytes, 1234);
        assert_eq!(c.portal.filings_per_minute, 3);
        std::env::remove_var("DIWAN_MAX_FILE_BYTES");
        std::env::remove_var("DIWAN_PORTAL__FILINGS_PER_MINUTE");
        std::fs::write(&f, "utc_offset = \"CET\"\n").unwrap();
        assert!(Config::load(Some(&f), &[]).is_err());
    }
}
