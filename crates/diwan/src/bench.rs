//! `diwan bench`: measures the platform as users meet it — through HTTP, against a separate
//! `diwan serve` process — and prints figures for docs/BENCHMARKS.md.

use anyhow::{bail, Context, Result};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Database URL for the server (default: SQLite in a temporary directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Registrations to time.
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Requests in flight at once. 24 by default: on two cores, past 16 in flight the server is
    /// saturated and more requests only wait longer (docs/BENCHMARKS.md).
    #[arg(long, default_value_t = 24)]
    concurrency: usize,
    /// Size of each registered document, bytes.
    #[arg(long, default_value_t = 10 * 1024)]
    size: usize,
    /// Size of the large upload whose memory cost is measured, MiB (0 to skip).
    #[arg(long, default_value_t = 100)]
    big_mib: u64,
    /// Portal filings (each with its sealed receipt) to time (0 to skip).
    #[arg(long, default_value_t = 2000)]
    filings: usize,
    /// SQLite `synchronous=FULL` (durable on power loss; the default) or NORMAL.
    #[arg(long)]
    sqlite_normal: bool,
    /// Instead of the write benchmarks: load this many synthetic correspondences (assigned
    /// across the ministry's entities) and time the work-queue and search requests on them.
    #[arg(long, default_value_t = 0)]
    corpus: u64,
    /// Instead of the HTTP benchmarks: produce this many sealed receipts of one filing in
    /// process, timing the reads and the sealing (rendering, PAdES B-T seal with the platform's
    /// time-stamp, signed JSON) separately.
    #[arg(long, default_value_t = 0)]
    receipts: usize,
    /// Instead of the HTTP benchmarks: sign a PDF this many times in process (`sign_bytes`,
    /// PAdES B-B), then validate the signed PDF as many times (`verify_bytes`): the Rust side of
    /// bench/pyhanko-inprocess.sh.
    #[arg(long, default_value_t = 0)]
    sign: usize,
    /// For --sign: the signer's key (PEM; default: a new P-256 key and certificate).
    #[arg(long, requires = "sign_cert")]
    sign_key: Option<PathBuf>,
    /// For --sign: the signer's certificate (PEM).
    #[arg(long, requires = "sign_key")]
    sign_cert: Option<PathBuf>,
    /// For --sign: the root to validate against (PEM; default: the signer's issuer as generated).
    #[arg(long)]
    sign_trust: Option<PathBuf>,
    /// For --sign: the PDF to sign (default: a 1-page PDF).
    #[arg(long)]
    sign_pdf: Option<PathBuf>,
}

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((get("VmRSS:")?, get("VmHWM:")?))
}

/// CPU time (user + system) a process has used so far, in seconds (Linux `/proc`), with its
/// children's (the document reader's tools) once they were waited for.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // utime, stime, cutime, cstime.
    stat_cpu(&s, 11..15).map(|(_, secs)| secs)
}

/// The command name of a `/proc/…/stat` line and the seconds its `fields` (counted after the
/// name) add up to: utime and stime are fields 14-15 of stat(5), 12-13 after the name; cutime
/// and cstime follow.
fn stat_cpu(stat: &str, fields: std::ops::Range<usize>) -> Option<(&str, f64)> {
    // The command name is in parentheses and may contain spaces.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(').map_or("", |(_, n)| n);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f
        .get(fields)?
        .iter()
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((name, ticks / hz.max(1.0)))
}

/// CPU time (user + system) of a process's threads so far, in seconds, by thread name: the
/// group-commit writer (`diwan-writer`), the blob syncer, the SQLite readers…
fn thread_cpu_seconds(pid: u32) -> std::collections::HashMap<String, f64> {
    let mut by_name = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let Some((name, secs)) = stat_cpu(&stat, 11..13) else {
            continue;
        };
        // Numbered threads of one kind count together.
        let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        *by_name.entry(name.to_string()).or_insert(0.0) += secs;
    }
    by_name
}

/// A PDF of exactly `size` bytes (padding in a comment), unique per `n`.
fn pdf_of_size(n: usize, size: usize) -> Vec<u8> {
    let mut v = format!("%PDF-1.4\n% registration {n}\n").into_bytes();
    v.resize(size.max(v.len()), b'.');
    v
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn start(args: &BenchArgs) -> Result<Server> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let mut env: Vec<(&str, String)> = vec![
        // Quiet unless asked (DIWAN_LOG=warn,diwan_store::batch=debug shows the writer's batches).
        (
            "DIWAN_LOG",
            std::env::var("DIWAN_LOG").unwrap_or_else(|_| "error".into()),
        ),
        // The portal's abuse controls would throttle the benchmark's single client.
        ("DIWAN_PORTAL__CHALLENGE", "false".into()),
        ("DIWAN_PORTAL__FILINGS_PER_MINUTE", "1000000000".into()),
    ];
    if let Some(u) = &args.database_url {
        env.push(("DIWAN_DATABASE_URL", u.clone()));
    }
    let big = (args.big_mib + 1) * 1024 * 1024;
    env.push((
        "DIWAN_MAX_FILE_BYTES",
        big.max(100 * 1024 * 1024).to_string(),
    ));
    let demo = Command::new(&exe)
        .args(["demo", "--data"])
        .arg(dir.path())
        .envs(env.clone())
        .output()?;
    if !demo.status.success() {
        bail!("demo failed: {}", String::from_utf8_lossy(&demo.stderr));
    }
    if args.corpus > 0 {
        fill_corpus(dir.path(), args).await?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = Command::new(&exe);
    cmd.args(["serve", "--data"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .envs(env);
    if args.sqlite_normal {
        cmd.env("DIWAN_SQLITE_SYNCHRONOUS", "normal");
    }
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    for _ in 0..600 {
        if c.get(format!("{base}/healthz"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
        {
            return Ok(Server {
                child,
                base,
                _dir: dir,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("server did not start")
}

fn password(dir: &Path, login: &str) -> Result<String> {
    let logins: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("demo-logins.json"))?)?;
    logins
        .iter()
        .find(|l| l["login"] == login)
        .and_then(|l| l["password"].as_str())
        .map(String::from)
        .context("demo login")
}

async fn register(c: &reqwest::Client, base: &str, token: &str, body: Vec<u8>) -> Result<Value> {
    let meta = r#"{"direction":"incoming","subject":"Benchmark","sender":{"kind":"company","name":"Bench SARL"}}"#;
    let form = Form::new()
        .part("metadata", Part::text(meta).mime_str("application/json")?)
        .part("file", Part::bytes(body).file_name("bench.pdf"));
    let r = c
        .post(format!("{base}/api/v1/correspondences"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    if r.status() != 201 {
        bail!(
            "registration failed: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    Ok(r.json().await?)
}

/// Loads the synthetic corpus into the demo database, in process, before the server starts.
async fn fill_corpus(dir: &Path, args: &BenchArgs) -> Result<()> {
    let mut overrides = vec![("data_dir", dir.display().to_string())];
    if let Some(u) = &args.database_url {
        overrides.push(("database_url", u.clone()));
    }
    let config = diwan_app::config::Config::load(None, &overrides)?;
    let app = diwan_app::App::open(config).await?;
    let admin = app.store.administration_by_code("MTNRA").await?;
    let tenant = app.store.tenant(admin.id);
    let office = tenant.entity_by_code("BO-CENTRAL").await?;
    let register = tenant
        .register_of(office.id, diwan_core::numbering::Direction::Incoming)
        .await?;
    let mut entities = Vec::new();
    for code in ["DSI", "DSI-DEV", "DSI-DEV-SA", "DRH", "DR-RSK", "DP-KEN"] {
        entities.push(tenant.entity_by_code(code).await?.id);
    }
    let spec = diwan_store::synthetic::SyntheticSpec {
        rows: args.corpus,
        register: register.id,
        entities,
        year: 2019,
        today: app.today(),
    };
    let started = Instant::now();
    tenant
        .fill_synthetic(&spec, |n| {
            if n % 100_000 == 0 || n == args.corpus {
                eprintln!(
                    "  {n} correspondences loaded ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        })
        .await?;
    app.store.close().await;
    Ok(())
}

/// Times the production of sealed receipts in process, on a demo platform.
async fn receipts_bench(args: &BenchArgs, engine: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let mut demo = Command::new(&exe);
    demo.args(["demo", "--data"]).arg(dir.path());
    if let Some(u) = &args.database_url {
        demo.env("DIWAN_DATABASE_URL", u);
    }
    let out = demo.env("DIWAN_LOG", "error").output()?;
    if !out.status.success() {
        bail!("demo failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut overrides = vec![("data_dir", dir.path().display().to_string())];
    if let Some(u) = &args.database_url {
        overrides.push(("database_url", u.clone()));
    }
    let mut config = diwan_app::config::Config::load(None, &overrides)?;
    config.portal.challenge = false;
    let app = diwan_app::App::open(config).await?;
    let request: diwan_app::portal::FilingRequest = serde_json::from_value(json!({
        "administration": "MTNRA",
        "filer": {"kind": "person", "name": "Fatima Zahra El Alaoui", "id_number": "AB123456", "email": "fz@example.ma"},
        "subject": "Demande de certificat administratif — طلب شهادة إدارية",
        "message": "Veuillez trouver ci-joint ma demande.",
    }))?;
    let blob = app
        .store
        .blobs()
        .stage_bytes(&pdf_of_size(1, args.size))
        .await?;
    let file = diwan_app::upload::AcceptedFile {
        name: diwan_core::text::FileName::parse("demande.pdf")?,
        media_type: diwan_core::media::MediaType::Pdf,
        blob,
    };
    let request = diwan_app::portal::FilingRequest {
        challenge: None,
        ..request
    };
    let filed = app
        .file(request, vec![file])
        .await
        .map_err(|e| anyhow::anyhow!("the filing was refused: {e:?}"))?;
    let filing = app
        .store
        .filing_of(filed.id)
        .await?
        .context("the filing was not found")?;
    eprintln!(
        "producing {} receipts of one filing on {engine}…",
        args.receipts
    );
    for _ in 0..20 {
        app.produce_receipts(&filing).await?;
    }
    let (mut reads, mut seals, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    for _ in 0..args.receipts {
        let t = Instant::now();
        let inputs = app.receipt_inputs(&filing).await?;
        let read = t.elapsed();
        let t2 = Instant::now();
        let receipts = inputs.seal()?;
        let seal = t2.elapsed();
        std::hint::black_box(receipts);
        reads.push(read);
        seals.push(seal);
        totals.push(read + seal);
    }
    let elapsed = started.elapsed();
    for v in [&mut reads, &mut seals, &mut totals] {
        v.sort();
    }
    let mean = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64() * 1e3 / v.len() as f64;
    for (what, v) in [
        ("reading the filing (store)", &reads),
        (
            "sealing (JSON signature, PDF, PAdES B-T with time-stamp)",
            &seals,
        ),
        ("one sealed receipt, reads included", &totals),
    ] {
        println!(
            "{what}: mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms",
            mean(v),
            percentile(v, 0.5),
            percentile(v, 0.99)
        );
    }
    println!(
        "{} receipts one after the other in {:.2} s = {:.0}/s on one core",
        args.receipts,
        elapsed.as_secs_f64(),
        args.receipts as f64 / elapsed.as_secs_f64()
    );
    app.store.close().await;
    Ok(())
}

/// Times the work queues and full-text search on the loaded corpus.
async fn corpus_bench(args: &BenchArgs, engine: &str) -> Result<()> {
    eprintln!(
        "loading {} synthetic correspondences on {engine}…",
        args.corpus
    );
    let server = start(args).await?;
    let base = server.base.clone();
    let c = reqwest::Client::new();
    let mut tokens = std::collections::HashMap::new();
    for login in ["bo@mtnra", "chef.dsi@mtnra", "agent.sa@mtnra"] {
        let pw = password(server._dir.path(), login)?;
        let v: Value = c
            .post(format!("{base}/api/v1/sessions"))
            .json(&json!({"login": login, "password": pw}))
            .send()
            .await?
            .json()
            .await?;
        tokens.insert(login, v["token"].as_str().context("token")?.to_string());
    }
    let cases: &[(&str, &str, String)] = &[
        (
            "queue to handle, head of directorate (count + first page)",
            "chef.dsi@mtnra",
            "/api/v1/queues/to_handle?per_page=25".into(),
        ),
        (
            "queue to handle, agent (count + first page)",
            "agent.sa@mtnra",
            "/api/v1/queues/to_handle?per_page=25".into(),
        ),
        (
            "queue late, head of directorate",
            "chef.dsi@mtnra",
            "/api/v1/queues/late?per_page=25".into(),
        ),
        (
            "all queue counts (seven), head of directorate",
            "chef.dsi@mtnra",
            "/api/v1/queues".into(),
        ),
        (
            "search two rare words (a person)",
            "bo@mtnra",
            "/api/v1/search?q=Zineb%20Kettani&per_page=25".into(),
        ),
        (
            "search subject + place",
            "bo@mtnra",
            "/api/v1/search?q=certificat%20fes&per_page=25".into(),
        ),
        (
            "search Arabic words",
            "bo@mtnra",
            "/api/v1/search?q=%D8%B1%D8%AE%D8%B5%D9%87%20%D8%B7%D9%84%D8%A8&per_page=25".into(),
        ),
        (
            "search a number",
            "bo@mtnra",
            "/api/v1/search?q=SYN%2FA%2F2019%2F0424242&per_page=25".into(),
        ),
        (
            "search a common word",
            "bo@mtnra",
            "/api/v1/search?q=demande&per_page=25".into(),
        ),
        (
            "search as head of directorate (visibility filter)",
            "chef.dsi@mtnra",
            "/api/v1/search?q=reclamation%20rabat&per_page=25".into(),
        ),
    ];
    for (what, login, path) in cases {
        let token = &tokens[login];
        let mut lat = Vec::new();
        let mut total = 0;
        for i in 0..60 {
            let t = Instant::now();
            let r = c
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("{path}: {}", r.status());
            }
            let v: Value = r.json().await?;
            if i >= 10 {
                lat.push(t.elapsed());
            }
            total = v["total"]
                .as_i64()
                .unwrap_or(v["items"].as_array().map(|a| a.len() as i64).unwrap_or(0));
        }
        lat.sort();
        println!(
            "{what} ({engine}, {} records): {total} found; p50 {:.1} ms, p95 {:.1} ms",
            args.corpus,
            percentile(&lat, 0.5),
            percentile(&lat, 0.95)
        );
    }
    Ok(())
}

pub async fn run(args: BenchArgs) -> Result<()> {
    let engine = if args
        .database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"))
    {
        "postgresql"
    } else {
        "sqlite"
    };
    if args.corpus > 0 {
        return corpus_bench(&args, engine).await;
    }
    if args.receipts > 0 {
        return receipts_bench(&args, engine).await;
    }
    if args.sign > 0 {
        return tokio::task::block_in_place(|| sign_bench(&args));
    }
    eprintln!("starting a demo server on {engine}…");
    let server = start(&args).await?;
    let base = server.base.clone();
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let pw = password(server._dir.path(), "bo@mtnra")?;
    let login: Value = c
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"login": "bo@mtnra", "password": pw}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().context("token")?.to_string();

    // Warm-up.
    for i in 0..100 {
        register(&c, &base, &token, pdf_of_size(1_000_000 + i, args.size)).await?;
    }

    // Throughput.
    let (elapsed, lat) = {
        let (c, base, token, size) = (c.clone(), base.clone(), token.clone(), args.size);
        run_concurrently(args.concurrency, args.requests as u64, move |i| {
            let (c, base, token) = (c.clone(), base.clone(), token.clone());
            async move {
                let body = pdf_of_size(i as usize, size);
                let t = Instant::now();
                register(&c, &base, &token, body).await?;
                Ok(t.elapsed())
            }
        })
        .await?
    };
    report(
        &format!(
            "registrations ({engine}, {} B documents, concurrency {})",
            args.size, args.concurrency
        ),
        args.requests,
        elapsed,
        &lat,
    );

    // 64 concurrent registrations on one register: numbers must be exactly consecutive.
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (c, base, token) = (c.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            register(&c, &base, &token, pdf_of_size(2_000_000 + i, 2048)).await
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await??["sequence"].as_i64().context("sequence")?);
    }
    seqs.sort();
    let consecutive = seqs.windows(2).all(|w| w[1] == w[0] + 1);
    println!(
        "64 concurrent registrations on one register ({engine}): numbers {}..{} — {}",
        seqs[0],
        seqs[63],
        if consecutive {
            "exactly consecutive, no gap, no duplicate"
        } else {
            "NOT CONSECUTIVE"
        }
    );
    if !consecutive {
        bail!("numbering is not gapless under concurrency: {seqs:?}");
    }

    if args.filings > 0 {
        let blobs = server._dir.path().join("blobs");
        filings(&c, &base, &args, engine, server.child.id(), &blobs).await?;
    }

    // Memory while uploading a large file.
    if args.big_mib > 0 {
        let pid = server.child.id();
        let path: PathBuf = server._dir.path().join("big.pdf");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&path)?;
            f.write_all(b"%PDF-1.4\n")?;
            let chunk = vec![b'.'; 1 << 20];
            for _ in 0..args.big_mib {
                f.write_all(&chunk)?;
            }
        }
        let (rss_before, _) = rss_kib(pid).context("server RSS")?;
        let peak = Arc::new(AtomicU64::new(rss_before));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some((rss, _)) = rss_kib(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let file = tokio::fs::File::open(&path).await?;
        let len = file.metadata().await?.len();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        let meta = r#"{"direction":"incoming","subject":"Large scan","sender":{"kind":"person","name":"Bench"}}"#;
        let form = Form::new()
            .part("metadata", Part::text(meta).mime_str("application/json")?)
            .part(
                "file",
                Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
                    .file_name("big.pdf"),
            );
        let t = Instant::now();
        let r = c
            .post(format!("{base}/api/v1/correspondences"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await?;
        let status = r.status();
        let took = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.join();
        if status != 201 {
            bail!("large upload failed: {status}");
        }
        let growth = peak.load(Ordering::Relaxed).saturating_sub(rss_before);
        println!(
            "upload of a {} MiB file: {:.2} s ({:.0} MiB/s); server RSS {} KiB before, peak {} KiB, growth {:.1} MiB",
            args.big_mib,
            took.as_secs_f64(),
            args.big_mib as f64 / took.as_secs_f64(),
            rss_before,
            peak.load(Ordering::Relaxed),
            growth as f64 / 1024.0
        );
    }
    Ok(())
}

/// Reads one sample of the server's metrics.
async fn metric(c: &reqwest::Client, base: &str, name: &str) -> Result<f64> {
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .with_context(|| format!("metric {name}"))
}

/// Portal filings with their sealed receipts: throughput and latency, then one at a time.
async fn filings(
    c: &reqwest::Client,
    base: &str,
    args: &BenchArgs,
    engine: &str,
    pid: u32,
    blobs: &Path,
) -> Result<()> {
    let file = |c: reqwest::Client, base: String, i: usize, size: usize| async move {
        let meta = json!({"administration": "MTNRA", "subject": format!("Demande {i}"),
            "filer": {"kind": "person", "name": "Bench Citoyen", "id_number": "BK123456", "email": "bench@example.ma"}});
        let form = Form::new()
            .part(
                "metadata",
                Part::text(meta.to_string()).mime_str("application/json")?,
            )
            .part(
                "file",
                Part::bytes(pdf_of_size(3_000_000 + i, size)).file_name("demande.pdf"),
            );
        let t = Instant::now();
        let r = c
            .post(format!("{base}/api/v1/portal/filings"))
            .multipart(form)
            .send()
            .await?;
        if r.status() != 201 {
            bail!(
                "filing failed: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        let v: Value = r.json().await?;
        if v["receipt_pdf"].as_str().is_none() {
            bail!("no receipt in the answer");
        }
        Ok::<_, anyhow::Error>(t.elapsed())
    };
    for i in 0..50 {
        file(c.clone(), base.to_string(), i, args.size).await?;
    }
    let (n0, s0) = (
        metric(c, base, "diwan_receipt_production_seconds_count").await?,
        metric(c, base, "diwan_receipt_production_seconds_sum").await?,
    );
    let cpu = || {
        (
            cpu_seconds(&pid.to_string()).unwrap_or(0.0),
            cpu_seconds("self").unwrap_or(0.0),
        )
    };
    // SQLite's database file and its log (nothing for PostgreSQL, whose files are elsewhere).
    let database = |name: &str| {
        blobs
            .parent()
            .and_then(|d| std::fs::metadata(d.join(name)).ok())
            .map_or(0, |m| m.len())
    };
    let database_bytes = || database("diwan.db") + database("diwan.db-wal");
    let (stored0, database0) = (bytes_under(blobs), database_bytes());
    let (server0, client0) = cpu();
    let (threads0, sealing0) = (
        thread_cpu_seconds(pid),
        metric(c, base, "diwan_receipt_sealing_cpu_seconds_total").await?,
    );
    let (elapsed, lat) = {
        let (c, base, size) = (c.clone(), base.to_string(), args.size);
        run_concurrently(args.concurrency, args.filings as u64, move |i| {
            file(c.clone(), base.clone(), 100 + i as usize, size)
        })
        .await?
    };
    let (server1, client1) = cpu();
    let (stored1, database1) = (bytes_under(blobs), database_bytes());
    let (threads1, sealing1) = (
        thread_cpu_seconds(pid),
        metric(c, base, "diwan_receipt_sealing_cpu_seconds_total").await?,
    );
    report(
        &format!(
            "portal filings with sealed receipts ({engine}, {} B documents, concurrency {})",
            args.size, args.concurrency
        ),
        args.filings,
        elapsed,
        &lat,
    );
    let per = |a: f64, b: f64| (b - a) / args.filings as f64 * 1000.0;
    println!(
        "CPU per filing: server {:.2} ms, benchmark client {:.2} ms (both on the same {} cores; \
         the server alone would need {:.0} cores for 1,000/s)",
        per(server0, server1),
        per(client0, client1),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        per(server0, server1)
    );
    let thread = |name: &str| {
        per(
            threads0.get(name).copied().unwrap_or(0.0),
            threads1.get(name).copied().unwrap_or(0.0),
        )
    };
    let (sealing, writer) = (per(sealing0, sealing1), thread("diwan-writer"));
    let (blob_sync, readers) = (thread("diwan-blob-sync"), thread("sqlx-sqlite-wor"));
    println!(
        "  of which: sealing receipts {sealing:.2} ms, group-commit writer {writer:.2} ms, \
         blob syncs {blob_sync:.2} ms, database reads {readers:.2} ms, requests and the rest {:.2} ms",
        per(server0, server1) - sealing - writer - blob_sync - readers
    );
    let per_filing = |a: u64, b: u64| b.saturating_sub(a) as f64 / args.filings as f64 / 1000.0;
    let database_growth = if engine == "postgresql" {
        "the database's growth is not measured on PostgreSQL".to_string()
    } else {
        format!(
            "{:.1} KB more database (SQLite file and log: the records, the receipt's own part \
             after the fonts all receipts share, and the document)",
            per_filing(database0, database1)
        )
    };
    println!(
        "stored per filing: {:.1} KB of blob files, {database_growth}; documents up to {} KiB \
         ({} B here) are kept in the database",
        per_filing(stored0, stored1),
        diwan_store::small_blobs::SMALL_BLOB_LIMIT / 1024,
        args.size,
    );
    // One at a time: the latency of a lone filing and the cost of one receipt.
    let mut lone = Vec::new();
    for i in 0..200 {
        lone.push(file(c.clone(), base.to_string(), 900_000 + i, args.size).await?);
    }
    lone.sort();
    let (n1, s1) = (
        metric(c, base, "diwan_receipt_production_seconds_count").await?,
        metric(c, base, "diwan_receipt_production_seconds_sum").await?,
    );
    println!(
        "one filing at a time: p50 {:.1} ms, p99 {:.1} ms; from a filing's commit to its sealed receipt (PDF B-T + signed JSON, own TSA; reads and waits under the load above included) {:.2} ms on average over {:.0}",
        percentile(&lone, 0.5),
        percentile(&lone, 0.99),
        (s1 - s0) / (n1 - n0).max(1.0) * 1000.0,
        n1 - n0
    );
    if let Some((rss, hwm)) = rss_kib(pid) {
        println!(
            "server memory after the filings: RSS {:.1} MiB, peak {:.1} MiB",
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    Ok(())
}

/// Bytes of the files under `dir` (0 for what cannot be read).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Runs `total` operations, `concurrency` at a time; returns the elapsed time and the sorted
/// latencies.
async fn run_concurrently<F, Fut>(
    concurrency: usize,
    total: u64,
    op: F,
) -> Result<(Duration, Vec<Duration>)>
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Duration>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, op) = (next.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                lat.push(op(i).await?);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let elapsed = started.elapsed();
    lat.sort();
    Ok((elapsed, lat))
}

fn report(what: &str, n: usize, elapsed: Duration, lat: &[Duration]) {
    println!(
        "{what}: {n} in {:.2} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(lat, 0.5),
        percentile(lat, 0.99)
    );
}

/// `--sign N`: PAdES B-B signing and validation in process, N times each (after one warm-up).
fn sign_bench(args: &BenchArgs) -> Result<()> {
    use diwan_crypto::pki::{self, CertificateSpec, DistinguishedName, PkiUrls, Profile};
    use diwan_crypto::{Certificate, KeyAlgorithm, PrivateKey, TrustStore};
    let text =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let (key, cert, root) = match (&args.sign_key, &args.sign_cert) {
        (Some(k), Some(c)) => {
            let key = PrivateKey::from_pem(&text(k)?).map_err(|e| anyhow::anyhow!("{e}"))?;
            let cert = Certificate::from_pem(&text(c)?).map_err(|e| anyhow::anyhow!("{e}"))?;
            let root = match &args.sign_trust {
                Some(t) => Certificate::from_pem(&text(t)?).map_err(|e| anyhow::anyhow!("{e}"))?,
                None => cert.clone(),
            };
            (key, cert, root)
        }
        _ => {
            let now = time::OffsetDateTime::now_utc();
            let spec = |cn: &str, profile| CertificateSpec {
                subject: DistinguishedName::new(cn),
                profile,
                not_before: now - time::Duration::hours(1),
                not_after: now + time::Duration::days(30),
                urls: PkiUrls::default(),
            };
            let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
            let root = pki::issue(
                &spec("Bench CA", Profile::RootCa),
                &rk.public_key_der()?,
                None,
                &rk,
            )?;
            let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
            let cert = pki::issue(
                &spec("Bench Signer", Profile::PersonSignature),
                &key.public_key_der()?,
                Some(&root),
                &rk,
            )?;
            (key, cert, root)
        }
    };
    let pdf = match &args.sign_pdf {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => diwan_pdf_one_page(),
    };
    let chain = if root.der() == cert.der() {
        vec![]
    } else {
        vec![root.clone()]
    };
    let signer = diwan_crypto::cms::CmsSigner {
        key: &key,
        cert: &cert,
        chain: &chain,
    };
    let opts = diwan_pades::SignOptions::new(diwan_pades::Level::BB);
    let sign = || diwan_pades::sign_bytes(&pdf, &signer, &opts).map_err(|e| anyhow::anyhow!("{e}"));
    let signed = sign()?;
    let t = Instant::now();
    for _ in 0..args.sign {
        std::hint::black_box(sign()?);
    }
    let sign_ms = t.elapsed().as_secs_f64() * 1000.0 / args.sign as f64;
    let trust = TrustStore::new(vec![root]);
    let now = time::OffsetDateTime::now_utc();
    let first =
        diwan_pades::verify_bytes(&signed, &trust, now).map_err(|e| anyhow::anyhow!("{e}"))?;
    let passed = first
        .signatures
        .iter()
        .all(|s| s.indication == diwan_pades::Indication::TotalPassed);
    if !passed {
        bail!("the signed PDF does not validate: {:?}", first.signatures);
    }
    let t = Instant::now();
    for _ in 0..args.sign {
        std::hint::black_box(
            diwan_pades::verify_bytes(&signed, &trust, now).map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    let verify_ms = t.elapsed().as_secs_f64() * 1000.0 / args.sign as f64;
    println!(
        "{}",
        json!({
            "tool": "diwan", "n": args.sign, "input_bytes": pdf.len(), "signed_bytes": signed.len(),
            "sign_ms": sign_ms, "validate_ms": verify_ms,
        })
    );
    Ok(())
}

/// A one-page PDF with a line of text.
fn diwan_pdf_one_page() -> Vec<u8> {
    let content = b"BT /F1 14 Tf 72 770 Td (Decision) Tj ET";
    let objs: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        [format!("<< /Length {} >>\nstream\n", content.len()).as_bytes(), content, b"\nendstream"].concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}
