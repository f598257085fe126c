//! The text of documents in search, against the real binary: a PDF's text layer and a scanned
//! page read by Tesseract make their records findable by words that appear nowhere else.

mod support;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::process::Command;
use support::*;

fn register(client: &Client, s: &Server, token: &str, subject: &str, name: &str, bytes: Vec<u8>) {
    let meta = json!({"direction": "incoming", "subject": subject,
                      "sender": {"kind": "person", "name": "Citoyen Exemple"}});
    register_with_file(client, s, token, &meta, name, bytes);
}

/// Searches until `word` finds a record (the reader works in the background), at most a minute.
fn found(client: &Client, s: &Server, token: &str, word: &str) -> Value {
    for _ in 0..120 {
        let v: Value = client
            .get(s.url(&format!("/api/v1/search?q={word}")))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if v["total"].as_u64().unwrap_or(0) > 0 {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("no record found by {word:?}");
}

#[test]
fn document_text_and_scans_are_searchable() {
    if !require("pdftotext", &["-v"])
        || !require("pdftoppm", &["-v"])
        || !require("tesseract", &["--version"])
    {
        return;
    }
    for (engine, env) in engines("diwan_doctext") {
        eprintln!("document text on {engine}");
        let mut env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.push(("DIWAN_TEXT__INTERVAL_SECONDS", "1"));
        searchable(&Server::demo(&env));
    }
}

fn searchable(s: &Server) {
    let client = Client::new();
    let clerk = s.token("bo@mtnra");

    // A PDF whose text layer holds a word found nowhere else.
    register(
        &client,
        s,
        &clerk,
        "Demande sans mot particulier",
        "demande.pdf",
        pdf("Objet de la demande : Zanzibarique"),
    );
    // A scanned page: an image of printed text, read by OCR.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("scan.pdf");
    std::fs::write(&src, pdf("EXPROPRIATION BOUCHAREB PARCELLE")).unwrap();
    let (ok, out) = run(Command::new("pdftoppm")
        .args(["-r", "300", "-png", "-singlefile"])
        .arg(&src)
        .arg(dir.path().join("scan")));
    assert!(ok, "{out}");
    let png = std::fs::read(dir.path().join("scan.png")).unwrap();
    register(&client, s, &clerk, "Courrier numérisé", "scan.png", png);

    let v = found(&client, s, &clerk, "zanzibarique");
    assert_eq!(v["items"][0]["subject"], "Demande sans mot particulier");
    // Accents and case do not matter, as for the other fields.
    let v = found(&client, s, &clerk, "Bouchareb");
    assert_eq!(v["items"][0]["subject"], "Courrier numérisé");
    // Someone who may not see the record does not find it by its documents either.
    let agent = s.token("agent.kenitra@mtnra");
    let v: Value = client
        .get(s.url("/api/v1/search?q=zanzibarique"))
        .bearer_auth(&agent)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["total"], 0, "{v}");
}
