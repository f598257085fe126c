//! `diwan verify` and `diwan pki`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use diwan_app::{App, Config};
use diwan_crypto::{Certificate, TrustStore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct VerifyArgs {
    /// Trusted root certificate(s), PEM. Repeatable.
    #[arg(long)]
    trust: Vec<PathBuf>,
    /// Trust the root of the platform in this data directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Print the full report as JSON.
    #[arg(long)]
    json: bool,
    /// Files: receipts (.pdf, .json), signed PDFs, .p7s signatures with their data, documents.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub enum PkiCommand {
    /// Print the platform's root certificate (PEM).
    ExportRoot {
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// List the certificates the platform's root issued (serial, purpose, subject, revocation).
    Certificates {
        #[arg(long)]
        data: Option<PathBuf>,
        /// JSON lines with the PEM certificate.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a certificate by serial number (hex): the CRL (/pki/crl) and the OCSP responder
    /// (/pki/ocsp) say so at once.
    Revoke {
        #[arg(long)]
        data: Option<PathBuf>,
        /// RFC 5280 reason: unspecified, keyCompromise, superseded, cessationOfOperation, …
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// The certificate's serial number in hexadecimal.
        serial: String,
    },
}

/// Opens the platform of a data directory (which must exist).
pub async fn open_app(config_file: Option<&Path>, data: &Option<PathBuf>) -> Result<App> {
    open(config_file, data).await
}

async fn open(config_file: Option<&Path>, data: &Option<PathBuf>) -> Result<App> {
    let mut o = Vec::new();
    if let Some(d) = data {
        o.push(("data_dir", d.display().to_string()));
    }
    let config = Config::load(config_file, &o)?;
    if !config.data_dir.exists() {
        bail!("{} does not exist", config.data_dir.display());
    }
    App::open(config).await.map_err(|e| anyhow::anyhow!("{e}"))
}

pub async fn pki(cmd: PkiCommand, config_file: Option<&Path>) -> Result<()> {
    match cmd {
        PkiCommand::ExportRoot { data } => {
            let app = open(config_file, &data).await?;
            print!("{}", app.pki().root.to_pem());
            app.store.close().await;
        }
        PkiCommand::Certificates { data, json } => {
            let app = open(config_file, &data).await?;
            let certs = app.pki().issued_certificates(&app.store).await;
            app.store.close().await;
            for (k, c) in certs.map_err(|e| anyhow::anyhow!("{e}"))? {
                let revoked = k.revoked_at.map(|t| t.to_string());
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "serial": c.serial_hex(), "purpose": k.purpose, "subject": c.subject(),
                            "not_after": c.not_after().to_string(), "revoked_at": revoked,
                            "revocation_reason": k.revocation_reason, "pem": c.to_pem(),
                        })
                    );
                } else {
                    println!(
                        "{} {:9} {}{}",
                        c.serial_hex(),
                        k.purpose,
                        c.subject(),
                        revoked
                            .map(|t| format!(" (revoked {t})"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        PkiCommand::Revoke {
            data,
            reason,
            serial,
        } => {
            let app = open(config_file, &data).await?;
            let r = app.pki().revoke(&app.store, &serial, &reason).await;
            app.store.close().await;
            let c = r.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("revoked {} ({}) for {reason}", c.serial_hex(), c.subject());
        }
    }
    Ok(())
}

pub async fn verify(args: VerifyArgs, config_file: Option<&Path>) -> Result<ExitCode> {
    let mut store = TrustStore::default();
    for t in &args.trust {
        let pem = std::fs::read_to_string(t).with_context(|| format!("reading {}", t.display()))?;
        let certs =
            Certificate::all_from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", t.display()))?;
        if certs.is_empty() {
            bail!("{} holds no PEM certificate", t.display());
        }
        for c in certs {
            store.add_anchor(c);
        }
    }
    if args.data.is_some() {
        let app = open(config_file, &args.data).await?;
        store.add_anchor(app.pki().root.clone());
        app.store.close().await;
    }
    if store.anchors().is_empty() {
        bail!("nothing to trust: give --trust ROOT.pem (diwan pki export-root prints the platform's root)");
    }
    let mut files = Vec::new();
    for f in &args.files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((name, bytes));
    }
    let outcomes = diwan_app::verify::verify_files(&files, &store, time::OffsetDateTime::now_utc());
    // Every file has its outcome, but the data of a detached signature, checked with it.
    let signed_data = files
        .iter()
        .filter(|(n, _)| files.iter().any(|(s, _)| *s == format!("{n}.p7s")))
        .count();
    let ok = outcomes.iter().all(|o| o.ok) && outcomes.len() + signed_data == files.len();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "ok": ok, "files": outcomes }))?
        );
    } else {
        for o in &outcomes {
            println!(
                "{} {} ({})",
                if o.ok { "OK  " } else { "FAIL" },
                o.file,
                o.kind
            );
            for c in &o.checks {
                println!("  {} {}", if c.ok { "✓" } else { "✗" }, c.what);
            }
        }
        println!(
            "{}",
            if ok {
                "all files verify"
            } else {
                "VERIFICATION FAILED"
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
