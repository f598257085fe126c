//! `diwan`: the platform's single binary.

/// jemalloc rather than the C library's allocator: 4–11 % less CPU per portal filing for about
/// 6 MiB more resident memory (docs/BENCHMARKS.md, seventh pass).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod admin;
mod bench;
mod sign;
mod tools;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use diwan_app::{App, Config};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "diwan",
    version,
    about = "Correspondence of public administrations: registry office, public filing portal, signature book."
)]
struct Cli {
    /// Configuration file (default: ./diwan.toml when present).
    #[arg(long, global = true, env = "DIWAN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform (web pages, API, portal).
    Serve {
        /// Data directory (database, documents, keys). Default ./diwan-data.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address to listen on. Default 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Create a demo platform: two administrations, users for every role, sample mail.
    Demo {
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Check every document hash, every audit-chain link and every register's numbering.
    /// Exits 1 when something is damaged.
    Fsck {
        #[arg(long)]
        data: Option<PathBuf>,
        /// Also remove documents that no record references (orphans).
        #[arg(long)]
        gc: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify receipts (PDF or JSON), signed PDFs, CMS signatures and documents, offline.
    /// Exits 0 only when every file verifies.
    Verify(tools::VerifyArgs),
    /// The platform's PKI.
    Pki {
        #[command(subcommand)]
        command: tools::PkiCommand,
    },
    /// Measure throughput, latency and memory through HTTP against a separate server process.
    Bench(bench::BenchArgs),
    /// Sign a PDF with PAdES (B-B, B-T, B-LT, B-LTA), streaming; any other file with a detached
    /// CAdES signature (.p7s), or files in an ASiC-E container (--asice). Exits 0 when signed.
    Sign(Box<sign::SignArgs>),
    /// Administer the platform from the server: administrations, entities, users, registers.
    Admin {
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

fn overrides(data: &Option<PathBuf>, listen: &Option<String>) -> Vec<(&'static str, String)> {
    let mut o = Vec::new();
    if let Some(d) = data {
        o.push(("data_dir", d.display().to_string()));
    }
    if let Some(l) = listen {
        o.push(("listen", l.clone()));
    }
    o
}

fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("DIWAN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open(config: Config) -> Result<App> {
    let dir = config.data_dir.clone();
    App::open(config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("opening {}", dir.display()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("diwan: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let config_file = cli.config.as_deref();
    match cli.command {
        Command::Serve { data, listen } => {
            let config = Config::load(config_file, &overrides(&data, &listen))?;
            init_logging(&config.log_format);
            let listen = config.listen.clone();
            let app = open(config).await?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            diwan_web::serve(app, listener, shutdown_signal()).await?;
        }
        Command::Demo { data } => {
            let config = Config::load(config_file, &overrides(&data, &None))?;
            init_logging(&config.log_format);
            let dir = config.data_dir.clone();
            let app = open(config).await?;
            let logins = app
                .create_demo()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let path = dir.join("demo-logins.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&logins)?)?;
            println!("Demo platform created in {}", dir.display());
            println!(
                "LOGIN                        PASSWORD           ROLE            ADMIN     ENTITY"
            );
            for l in &logins {
                println!(
                    "{:<28} {:<18} {:<15} {:<9} {}",
                    l.login,
                    l.password,
                    l.role.as_str(),
                    l.administration,
                    l.entity
                );
            }
            println!(
                "\nLogins saved in {}. Start with: diwan serve --data {}",
                path.display(),
                dir.display()
            );
        }
        Command::Fsck { data, gc, json } => {
            let config = Config::load(config_file, &overrides(&data, &None))?;
            if !config.data_dir.exists() {
                bail!("{} does not exist", config.data_dir.display());
            }
            init_logging(&config.log_format);
            let app = open(config).await?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("checking documents {bar:40} {pos}/{len}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let report = app
                .store
                .fsck(&|done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                })
                .await?;
            bar.finish_and_clear();
            let removed = if gc && report.is_sound() {
                Some(app.store.collect_garbage().await?)
            } else {
                None
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} administrations, {} audit entries, {} registers ({} correspondences), {} documents ({} bytes) checked",
                    report.administrations,
                    report.audit_entries,
                    report.registers_checked,
                    report.correspondences,
                    report.blobs_checked,
                    report.bytes_checked
                );
                if !report.orphan_blobs.is_empty() {
                    println!(
                        "{} unreferenced documents (run with --gc to remove them)",
                        report.orphan_blobs.len()
                    );
                }
                if let Some(n) = removed {
                    println!("{n} unreferenced documents removed");
                }
                for d in &report.damage {
                    println!("DAMAGED [{}] {}", d.area, d.message);
                }
                println!(
                    "{}",
                    if report.is_sound() {
                        "sound"
                    } else {
                        "DAMAGED"
                    }
                );
            }
            app.store.close().await;
            return Ok(if report.is_sound() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            });
        }
        Command::Bench(args) => bench::run(args).await?,
        Command::Verify(args) => return tools::verify(args, config_file).await,
        Command::Sign(args) => return sign::run(*args, config_file).await,
        Command::Pki { command } => tools::pki(command, config_file).await?,
        Command::Admin { data, command } => {
            let config = Config::load(config_file, &overrides(&data, &None))?;
            init_logging(&config.log_format);
            let app = open(config).await?;
            admin::run(&app, command).await?;
            app.store.close().await;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
