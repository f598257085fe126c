//! Starts the real `diwan` binary on a free port with a temporary data directory.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_diwan");

/// A running server; killed on drop.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub base: String,
    pub child: Child,
    pub logins: Vec<Value>,
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `diwan demo` in a new temporary directory.
pub fn demo_dir(env: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--data"])
        .arg(dir.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

impl Server {
    /// A demo platform served by the binary. `env` adds `DIWAN_*` settings.
    pub fn demo(env: &[(&str, &str)]) -> Server {
        let dir = demo_dir(env);
        Server::start(dir, env)
    }

    pub fn start(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let child = Command::new(BIN)
            .args(["serve", "--data"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .envs(env.iter().copied())
            .env("DIWAN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let logins: Vec<Value> = serde_json::from_slice(
            &std::fs::read(dir.path().join("demo-logins.json")).unwrap_or_else(|_| b"[]".to_vec()),
        )
        .unwrap();
        let server = Server {
            dir,
            base,
            child,
            logins,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send() {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become ready");
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        reqwest::blocking::get(self.url("/metrics"))
            .and_then(|r| r.text())
            .expect("metrics")
    }

    /// The password of a demo login.
    pub fn password(&self, login: &str) -> String {
        self.logins
            .iter()
            .find(|l| l["login"] == login)
            .unwrap_or_else(|| panic!("no demo login {login}"))["password"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A bearer token for a demo login.
    pub fn token(&self, login: &str) -> String {
        let r = reqwest::blocking::Client::new()
            .post(self.url("/api/v1/sessions"))
            .json(&serde_json::json!({ "login": login, "password": self.password(login) }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "login {login}");
        r.json::<Value>().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Stops the server with SIGTERM and returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an external tool answers `args` successfully; when it does not, the caller skips
/// its checks, unless `DIWAN_REQUIRE_TOOLS` is set (CI), where a missing tool fails the test.
pub fn require(tool: &str, args: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("DIWAN_REQUIRE_TOOLS").is_ok() {
        panic!("{tool} is required");
    }
    if !ok {
        eprintln!(
            "{tool} {} failed or is missing: skipping its checks",
            args.join(" ")
        );
    }
    ok
}

/// Runs a command; whether it succeeded, and its output (stdout then stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Runs `openssl` in `dir`, failing the test with its message when it fails; its output.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let (ok, out) = run(Command::new("openssl").args(args).current_dir(dir));
    assert!(ok, "openssl {args:?}:\n{out}");
    out
}

/// Runs the `diwan` binary in `dir`.
pub fn diwan_in(dir: &Path, args: &[&str]) -> (bool, String) {
    run(Command::new(BIN).args(args).current_dir(dir))
}

/// A test certificate authority made by OpenSSL in `d` (`ca.key`, `ca.pem`, ECDSA P-256), with
/// `ext.cnf` holding the extensions of a signer's certificate (section `leaf`).
pub fn openssl_ca(d: &Path) {
    std::fs::write(
        d.join("ext.cnf"),
        "[leaf]\nbasicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    openssl_self_signed(
        d,
        ("ca.key", "ca.pem"),
        "365",
        "/CN=Autorite de test/O=Test",
        &[
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A self-signed ECDSA P-256 certificate made by OpenSSL in `d`: `(key, cert)` file names,
/// valid for `days`, with subject `subj` and `extra` arguments (extensions).
pub fn openssl_self_signed(
    d: &Path,
    (key, cert): (&str, &str),
    days: &str,
    subj: &str,
    extra: &[&str],
) {
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        days,
        "-subj",
        subj,
    ];
    args.extend_from_slice(extra);
    openssl(d, &args);
}

/// A signer issued by the authority of [`openssl_ca`]: `NAME.key` and `NAME.pem`, with a key
/// of `alg` (`ec` for P-256, or `rsa:2048`) and common name `cn`.
pub fn openssl_signer(d: &Path, name: &str, alg: &str, cn: &str) {
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let subj = format!("/CN={cn}/O=Test");
    let mut args = vec!["req", "-newkey", alg, "-nodes", "-keyout"];
    args.extend([key.as_str(), "-out", csr.as_str(), "-subj", subj.as_str()]);
    if alg == "ec" {
        args.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    openssl(d, &args);
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "leaf",
        ],
    );
}

/// The text poppler's `pdftotext` extracts from a PDF file, or `None` when the tool is missing
/// (see [`require`]).
pub fn pdf_text(path: &Path) -> Option<String> {
    if !require("pdftotext", &["-v"]) {
        return None;
    }
    let (ok, text) = run(Command::new("pdftotext").arg(path).arg("-"));
    assert!(ok, "pdftotext {}: {text}", path.display());
    Some(text)
}

/// Every file under a directory (recursively).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A small valid PDF.
pub fn pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).into_bytes());
    }
    let x = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).into_bytes());
    for o in offs {
        out.extend(format!("{o:010} 00000 n \n").into_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n",
            objs.len() + 1
        )
        .into_bytes(),
    );
    out
}

/// The engines to run a scenario on: SQLite, and PostgreSQL when `DIWAN_TEST_DATABASE_URL` is
/// set (a new database named `{prefix}_{pid}`), each with the environment that selects it.
pub fn engines(prefix: &str) -> Vec<(&'static str, Vec<(String, String)>)> {
    let mut out = vec![("sqlite", vec![])];
    if let Ok(base) = std::env::var("DIWAN_TEST_DATABASE_URL") {
        let db = format!("{prefix}_{}", std::process::id());
        let ok = std::process::Command::new("psql")
            .arg(&base)
            .args(["-qc", &format!("CREATE DATABASE {db}")])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "cannot create a PostgreSQL database with psql");
        let url = match base.rfind('/') {
            Some(i) if i > "postgres://".len() => format!("{}/{db}", &base[..i]),
            _ => format!("{base}/{db}"),
        };
        out.push(("postgres", vec![("DIWAN_DATABASE_URL".into(), url)]));
    }
    out
}

/// Registers a correspondence through the API (`metadata` JSON and one PDF) as `token`; the
/// answer of the 201.
pub fn register_letter(
    client: &reqwest::blocking::Client,
    server: &Server,
    token: &str,
    meta: &Value,
) -> Value {
    register_with_file(client, server, token, meta, "lettre.pdf", pdf("Lettre"))
}

/// Registers a correspondence through the API with one document of the caller's choosing; the
/// answer of the 201.
pub fn register_with_file(
    client: &reqwest::blocking::Client,
    server: &Server,
    token: &str,
    meta: &Value,
    file_name: &str,
    bytes: Vec<u8>,
) -> Value {
    use reqwest::blocking::multipart::{Form, Part};
    let form = Form::new()
        .part(
            "metadata",
            Part::text(meta.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part("file", Part::bytes(bytes).file_name(file_name.to_string()));
    let r = client
        .post(server.url("/api/v1/correspondences"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().unwrap()
}

/// A real SMTP server (Python's aiosmtpd) writing what it receives to a Maildir.
pub struct Smtp {
    child: Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl Smtp {
    pub fn start() -> Option<Smtp> {
        let ok = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            if std::env::var("DIWAN_REQUIRE_TOOLS").is_ok() {
                panic!("aiosmtpd is required (pip install aiosmtpd)");
            }
            eprintln!("aiosmtpd not installed: skipping the e-mail checks");
            return None;
        }
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "SMTP server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Smtp {
            child,
            port,
            maildir,
        })
    }

    /// Messages received so far (raw RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            for f in files_under(&self.maildir.path().join("mail").join(sub)) {
                out.push(String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned());
            }
        }
        out
    }

    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| m.contains(needle)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no e-mail containing {needle:?} arrived"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The headers and decoded body of an e-mail, with Python's email package (not our code).
pub fn decode_mail(raw: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, email; m = email.message_from_string(sys.stdin.read()); \
             print(str(email.header.make_header(email.header.decode_header(m['Subject'])))); \
             print(m.get_payload(decode=True).decode())",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(raw.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
