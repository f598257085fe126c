//! The OCSP responder at /pki/ocsp against the real binary, asked by `openssl ocsp`: a
//! certificate the platform issued is good, then revoked after `diwan pki revoke`; a serial the
//! platform never issued is unknown; GET and POST forms; bad requests answered precisely.

mod support;
use base64::Engine;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use support::*;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn ask(s: &Server, d: &Path, cert: &str) -> String {
    let (ok, out) = run(Command::new("openssl")
        .args(["ocsp", "-issuer", "root.pem", "-cert", cert, "-url"])
        .arg(s.url("/pki/ocsp"))
        .args(["-CAfile", "root.pem", "-resp_text"])
        .current_dir(d));
    assert!(ok, "openssl ocsp:\n{out}");
    out
}

type Env = Vec<(String, String)>;

/// The platform's certificates, as `diwan pki certificates --json` lists them.
fn certificates(s: &Server, env: &Env) -> Vec<Value> {
    let (ok, out) = run(Command::new(BIN)
        .args(["pki", "certificates", "--json", "--data"])
        .arg(s.data())
        .envs(env.iter().cloned()));
    assert!(ok, "{out}");
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn openssl_asks_the_responder() {
    if !require("openssl", &["version"]) {
        return;
    }
    for (engine, env) in engines("diwan_ocsp") {
        eprintln!("engine {engine}");
        responder(env);
    }
}

fn responder(env: Env) {
    // Certificates point to the responder of the configured public address.
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.push(("DIWAN_PUBLIC_URL", "https://diwan.example.ma/"));
    let s = Server::demo(&all);
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let client = reqwest::blocking::Client::new();
    let root = client
        .get(s.url("/pki/root.pem"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    std::fs::write(p("root.pem"), &root).unwrap();

    // The log's certificate, issued by the root, points to the responder.
    let certs = certificates(&s, &env);
    let log = certs
        .iter()
        .find(|c| c["purpose"] == "log")
        .expect("the log certificate");
    std::fs::write(p("cert.pem"), log["pem"].as_str().unwrap()).unwrap();
    let (ok, out) = run(Command::new("openssl")
        .args(["x509", "-noout", "-ocsp_uri", "-in", "cert.pem"])
        .current_dir(d.path()));
    assert!(
        ok && out.trim() == "https://diwan.example.ma/pki/ocsp",
        "{out}"
    );

    let out = ask(&s, d.path(), "cert.pem");
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("cert.pem: good"), "{out}");
    assert!(out.contains("Next Update"), "{out}");
    // openssl sends a nonce and checks it is echoed (it warns otherwise).
    assert!(!out.contains("WARNING: no nonce"), "{out}");

    // The GET form, with the request openssl writes.
    let (ok, out) = run(Command::new("openssl")
        .args([
            "ocsp",
            "-issuer",
            "root.pem",
            "-cert",
            "cert.pem",
            "-no_nonce",
            "-reqout",
            "req.der",
        ])
        .current_dir(d.path()));
    assert!(ok, "{out}");
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p("req.der")).unwrap());
    let encoded: String = b64
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    let r = client
        .get(s.url(&format!("/pki/ocsp/{encoded}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/ocsp-response"
    );
    std::fs::write(p("resp.der"), r.bytes().unwrap()).unwrap();
    let (ok, out) = run(Command::new("openssl")
        .args([
            "ocsp", "-respin", "resp.der", "-issuer", "root.pem", "-cert", "cert.pem", "-CAfile",
            "root.pem",
        ])
        .current_dir(d.path()));
    assert!(ok && out.contains("cert.pem: good"), "{out}");

    // A serial the platform never issued, asked with the root as issuer: unknown.
    openssl_self_signed(d.path(), ("other.key", "other.pem"), "2", "/CN=Autre", &[]);
    let out = ask(&s, d.path(), "other.pem");
    assert!(out.contains("other.pem: unknown"), "{out}");

    // Bad requests: wrong media type, garbage (malformedRequest, unsigned).
    let r = client
        .post(s.url("/pki/ocsp"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = client
        .post(s.url("/pki/ocsp"))
        .header("content-type", "application/ocsp-request")
        .body(b"\x30\x03\x02\x01\x01".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().unwrap().to_vec(),
        vec![0x30, 0x03, 0x0a, 0x01, 0x01]
    );
    let r = client.get(s.url("/pki/ocsp/%%%")).send().unwrap();
    assert_eq!(
        r.bytes().unwrap().to_vec(),
        vec![0x30, 0x03, 0x0a, 0x01, 0x01]
    );

    // Revocation: an unknown reason is refused, then the responder says revoked at once.
    let serial = log["serial"].as_str().unwrap();
    let (ok, out) = run(Command::new(BIN)
        .args(["pki", "revoke", "--reason", "because", "--data"])
        .arg(s.data())
        .arg(serial)
        .envs(env.iter().cloned()));
    assert!(!ok && out.contains("unknown revocation reason"), "{out}");
    let (ok, out) = run(Command::new(BIN)
        .args(["pki", "revoke", "--reason", "keyCompromise", "--data"])
        .arg(s.data())
        .arg(serial)
        .envs(env.iter().cloned()));
    assert!(ok, "{out}");
    let (ok, out) = run(Command::new(BIN)
        .args(["pki", "revoke", "--data"])
        .arg(s.data())
        .arg(serial)
        .envs(env.iter().cloned()));
    assert!(!ok && out.contains("already revoked"), "{out}");
    let out = ask(&s, d.path(), "cert.pem");
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("cert.pem: revoked"), "{out}");
    assert!(out.contains("Reason: keyCompromise"), "{out}");
    assert!(
        certificates(&s, &env)
            .iter()
            .any(|c| c["serial"] == serial && !c["revoked_at"].is_null()),
        "listed as revoked"
    );
}
