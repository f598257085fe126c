//! The running application: configuration plus store, opened once and shared.

use crate::cache::TtlCache;
use crate::config::Config;
use crate::error::AppError;
use diwan_core::AdministrationId;
use diwan_store::{LocalBlobStore, Store, StoreOptions};
use std::path::Path;
use std::sync::Arc;
use time::UtcOffset;

/// Everything a use case needs. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub config: Arc<Config>,
    offset: UtcOffset,
    master_key: Arc<[u8; 32]>,
    guard: Arc<crate::portal::PortalGuard>,
    pub(crate) platform_pki: Arc<crate::pki::PlatformPki>,
    pub(crate) seals:
        Arc<tokio::sync::Mutex<std::collections::HashMap<AdministrationId, Arc<crate::pki::Seal>>>>,
    pub(crate) log_tree: Arc<tokio::sync::Mutex<crate::translog::LogState>>,
    /// The bytes every sealed receipt starts with, once stored as a blob.
    pub(crate) receipt_prefix: Arc<crate::receipt::StoredPrefix>,
    calendars: Arc<TtlCache<AdministrationId, Arc<diwan_core::calendar::Calendar>>>,
    rules: Arc<TtlCache<AdministrationId, Arc<Vec<diwan_store::deadlines::DeadlineRuleRecord>>>>,
    portal_targets: Arc<TtlCache<String, Arc<crate::portal::PortalTarget>>>,
    fixed_today: Option<time::Date>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("store", &self.store).finish()
    }
}

impl App {
    /// Opens the data directory: creates it if needed, applies migrations, loads the master key.
    pub async fn open(config: Config) -> Result<App, AppError> {
        let offset = config
            .offset()
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        let fixed_today = match config
            .today
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(d) => Some(
                crate::registration::opt_date::parse(d)
                    .map_err(|e| AppError::BadRequest(format!("today: {e}")))?,
            ),
            None => None,
        };
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            AppError::Internal(format!(
                "cannot create data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let master_key = load_master_key(&config)?;
        let blobs = LocalBlobStore::open(config.data_dir.join("blobs")).await?;
        let mut opts = StoreOptions::new(config.database_url());
        opts.max_connections = config.max_connections;
        opts.sqlite_synchronous_full = config.sqlite_synchronous == "full";
        let store = Store::open(&opts, Arc::new(blobs)).await?;
        let platform_pki = crate::pki::PlatformPki::open(
            &store,
            &master_key,
            config.tsa_url.as_deref(),
            config.public_url.as_deref(),
        )
        .await?;
        Ok(App {
            store,
            config: Arc::new(config),
            offset,
            master_key: Arc::new(master_key),
            guard: Arc::default(),
            platform_pki: Arc::new(platform_pki),
            seals: Arc::default(),
            receipt_prefix: Arc::default(),
            log_tree: Arc::new(tokio::sync::Mutex::new(crate::translog::LogState::new())),
            calendars: Arc::new(crate::deadlines::calendar_cache()),
            rules: Arc::new(crate::deadlines::rules_cache()),
            portal_targets: Arc::new(crate::portal::target_cache()),
            fixed_today,
        })
    }

    /// The local time offset (numbering years, dates shown to users).
    pub fn offset(&self) -> UtcOffset {
        self.offset
    }

    /// Abuse control state of the portal.
    pub(crate) fn portal_guard(&self) -> &crate::portal::PortalGuard {
        &self.guard
    }

    /// The key that encrypts private keys at rest.
    pub fn master_key(&self) -> &[u8; 32] {
        &self.master_key
    }

    /// Today in local time (or the day fixed by the `today` setting).
    pub fn today(&self) -> time::Date {
        if let Some(d) = self.fixed_today {
            return d;
        }
        time::OffsetDateTime::now_utc()
            .to_offset(self.offset)
            .date()
    }

    pub(crate) fn calendars(
        &self,
    ) -> &TtlCache<AdministrationId, Arc<diwan_core::calendar::Calendar>> {
        &self.calendars
    }

    pub(crate) fn rules(
        &self,
    ) -> &TtlCache<AdministrationId, Arc<Vec<diwan_store::deadlines::DeadlineRuleRecord>>> {
        &self.rules
    }

    pub(crate) fn portal_targets(&self) -> &TtlCache<String, Arc<crate::portal::PortalTarget>> {
        &self.portal_targets
    }
}

fn load_master_key(config: &Config) -> Result<[u8; 32], AppError> {
    let mut key = [0u8; 32];
    if let Some(k) = &config.master_key {
        hex::decode_to_slice(k, &mut key)
            .map_err(|_| AppError::BadRequest("master_key is not hex".into()))?;
        return Ok(key);
    }
    let path = config.data_dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| AppError::Internal(format!("cannot read {}: {e}", path.display())))?;
        hex::decode_to_slice(text.trim(), &mut key).map_err(|_| {
            AppError::Internal(format!(
                "{} does not hold a 64-hex-digit key",
                path.display()
            ))
        })?;
        return Ok(key);
    }
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
    write_private(&path, hex::encode(key).as_bytes())
        .map_err(|e| AppError::Internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(key)
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
