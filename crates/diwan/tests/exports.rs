//! Exports of a register's year, against the real binary, checked by tools we did not write:
//! the printed register book (qpdf --check, pdftotext finds the numbers and the Arabic text)
//! and the archive package of closed files (the Library of Congress' bagit-python validates the
//! bag, and refuses it once a payload file is changed).

mod support;
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use support::*;

struct Api<'a> {
    s: &'a Server,
    client: Client,
    clerk: String,
}

impl Api<'_> {
    fn get(&self, token: &str, path: &str) -> reqwest::blocking::Response {
        self.client
            .get(self.s.url(path))
            .bearer_auth(token)
            .send()
            .unwrap()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(self.s.url(path))
            .bearer_auth(&self.clerk)
            .json(&body)
            .send()
            .unwrap();
        let code = r.status().as_u16();
        let v: Value = r.json().unwrap_or(Value::Null);
        assert!(code == 200 || code == 201, "POST {path} {body}: {code} {v}");
        v
    }

    /// Registers an incoming letter with its documents; returns (id, number).
    fn register(&self, subject: &str, docs: &[(&str, Vec<u8>)]) -> (String, String) {
        let meta = json!({"direction": "incoming", "subject": subject,
                          "sender": {"kind": "person", "name": "Citoyen Exemple"}});
        let mut form = Form::new().part(
            "metadata",
            Part::text(meta.to_string())
                .mime_str("application/json")
                .unwrap(),
        );
        for (name, bytes) in docs {
            form = form.part(
                "file",
                Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
        }
        let r = self
            .client
            .post(self.s.url("/api/v1/correspondences"))
            .bearer_auth(&self.clerk)
            .multipart(form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            v["number"].as_str().unwrap().to_string(),
        )
    }
}

/// Text without the bidi controls some extractors add around right-to-left runs.
fn without_bidi_controls(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(*c as u32, 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069))
        .collect()
}

#[test]
fn register_book_and_archive_package() {
    let s = Server::demo(&[]);
    let api = Api {
        s: &s,
        client: Client::new(),
        clerk: s.token("bo@mtnra"),
    };
    let admin = s.token("admin@mtnra");
    let agent = s.token("agent.sa@mtnra");
    let auditor = s.token("audit@mtnra");
    // Sixty letters, every third in Arabic; the first ten are closed without follow-up, one of
    // them with a public and a restricted note.
    let mut letters = Vec::new();
    for i in 0..60 {
        let subject = if i % 3 == 0 {
            format!("طلب الحصول على رخصة {i}")
        } else {
            format!("Demande d'autorisation numéro {i}")
        };
        let mut docs = vec![("lettre.pdf", pdf(&format!("Lettre {i}")))];
        if i < 10 {
            docs.push(("بطاقة التعريف.pdf", pdf(&format!("Identite {i}"))));
        }
        let (id, number) = api.register(&subject, &docs);
        letters.push((id, number, subject));
    }
    let (first_id, _, _) = &letters[0];
    api.post(
        &format!("/api/v1/correspondences/{first_id}/notes"),
        json!({"body": "Dossier complet, vérifié au guichet"}),
    );
    api.post(
        &format!("/api/v1/correspondences/{first_id}/notes"),
        json!({"body": "Remarque interne confidentielle", "restricted": true}),
    );
    for (id, _, _) in &letters[..10] {
        api.post(
            &format!("/api/v1/correspondences/{id}/status"),
            json!({"status": "closed_without_follow_up", "reason": "Demande retirée par le requérant"}),
        );
    }
    let first: Value = api
        .get(&api.clerk, &format!("/api/v1/correspondences/{first_id}"))
        .json()
        .unwrap();
    let register = first["register_id"].as_str().unwrap().to_string();
    let year = first["year"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);

    // The printed register book.
    let pdf_path = format!("/api/v1/registers/{register}/export.pdf?year={year}");
    let r = api.get(&api.clerk, &pdf_path);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let book = r.bytes().unwrap();
    assert!(book.starts_with(b"%PDF-"));
    std::fs::write(p("registre.pdf"), &book).unwrap();
    assert_eq!(api.get(&auditor, &pdf_path).status(), 200);
    assert_eq!(api.get(&agent, &pdf_path).status(), 403);
    let r = api.get(
        &api.clerk,
        &format!("/api/v1/registers/{register}/export.pdf?year=x"),
    );
    assert_eq!(r.status(), 422);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/problem+json"));
    if require("qpdf", &["--version"]) {
        let (ok, out) = run(Command::new("qpdf").arg("--check").arg(p("registre.pdf")));
        assert!(ok, "qpdf refused the register book:\n{out}");
    }
    if require("pdftotext", &["-v"]) {
        let (ok, out) = run(Command::new("pdftotext")
            .arg(p("registre.pdf"))
            .arg(p("registre.txt")));
        assert!(ok, "{out}");
        let text = without_bidi_controls(&std::fs::read_to_string(p("registre.txt")).unwrap());
        for (_, number, _) in &letters {
            assert!(
                text.contains(number.as_str()),
                "{number} not in the register book"
            );
        }
        assert!(
            text.contains("طلب الحصول على رخصة"),
            "Arabic subject:\n{text}"
        );
        assert!(text.contains("المملكة المغربية"));
        assert!(text.contains("Page 1 /"));
        assert!(text.contains("Totaux"));
    }

    // The archive package of the closed files.
    let archive_path = format!("/api/v1/archives/export?register={register}&year={year}");
    assert_eq!(api.get(&agent, &archive_path).status(), 403);
    assert_eq!(api.get(&auditor, &archive_path).status(), 403);
    assert_eq!(
        api.get(&api.clerk, "/api/v1/archives/export?year=2026")
            .status(),
        422
    );
    assert_eq!(api.get(&admin, &archive_path).status(), 200);
    let r = api.get(&api.clerk, &archive_path);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-tar");
    std::fs::write(p("archive.tar"), r.bytes().unwrap()).unwrap();
    std::fs::create_dir(p("unpacked")).unwrap();
    let (ok, out) = run(Command::new("tar")
        .arg("-xf")
        .arg(p("archive.tar"))
        .arg("-C")
        .arg(p("unpacked")));
    assert!(ok, "tar: {out}");
    let bags: Vec<_> = std::fs::read_dir(p("unpacked"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(bags.len(), 1, "one bag directory: {bags:?}");
    let bag = &bags[0];
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    for tag in [
        "Source-Organization: ",
        "Bagging-Date: ",
        "Payload-Oxum: ",
        "Bag-Count: 1 of 1",
        "External-Identifier: ",
    ] {
        assert!(
            info.contains(tag),
            "{tag} missing from bag-info.txt:\n{info}"
        );
    }
    assert!(bag.join("bagit.txt").is_file() && bag.join("tagmanifest-sha256.txt").is_file());
    let data = bag.join("data");
    let files = files_under(&data);
    let folder = |number: &str| data.join(number.replace('/', "-"));
    for (i, (id, number, _)) in letters.iter().enumerate() {
        let f = folder(number);
        if i >= 10 {
            assert!(!f.exists(), "{number} is not closed but was archived");
            continue;
        }
        let meta: Value =
            serde_json::from_slice(&std::fs::read(f.join("metadata.json")).unwrap()).unwrap();
        assert_eq!(meta["correspondence"]["id"], id.as_str());
        assert_eq!(meta["correspondence"]["status"], "closed_without_follow_up");
        assert_eq!(meta["documents"].as_array().unwrap().len(), 2);
        assert_eq!(
            std::fs::read(f.join("documents/lettre.pdf")).unwrap(),
            pdf(&format!("Lettre {i}"))
        );
        assert!(f.join("documents/بطاقة_التعريف.pdf").is_file());
        let history = std::fs::read_to_string(f.join("history.json")).unwrap();
        assert!(history.contains("correspondence.register"), "{history}");
        if i == 0 {
            let notes = meta["notes"].to_string();
            assert!(notes.contains("Dossier complet"), "{notes}");
            assert!(
                !notes.contains("confidentielle"),
                "a restricted note was archived"
            );
        }
    }
    let manifest = std::fs::read_to_string(bag.join("manifest-sha256.txt")).unwrap();
    assert_eq!(manifest.lines().count(), files.len());
    let oxum: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    assert!(info.contains(&format!("Payload-Oxum: {oxum}.{}", files.len())));

    if require("python3", &["-c", "import bagit"]) {
        let validate = |bag: &Path| {
            run(Command::new("python3")
                .args(["-m", "bagit", "--validate"])
                .arg(bag))
        };
        let (ok, out) = validate(bag);
        assert!(
            ok,
            "bagit-python refused the bag:\n{out}\n{info}\n{manifest}"
        );
        // One byte of one document changed: the bag no longer validates.
        let target = folder(&letters[3].1).join("documents/lettre.pdf");
        let mut bytes = std::fs::read(&target).unwrap();
        bytes[10] ^= 0x01;
        std::fs::write(&target, bytes).unwrap();
        let (ok, out) = validate(bag);
        assert!(!ok, "bagit-python accepted a tampered bag:\n{out}");
    }
}
