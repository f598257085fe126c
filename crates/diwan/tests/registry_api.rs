//! The foundation's API contract, against the real binary.

mod support;
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use support::*;

fn form(meta: &str, files: Vec<(&str, Vec<u8>)>) -> Form {
    let mut f = Form::new().part(
        "metadata",
        Part::text(meta.to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    for (name, bytes) in files {
        f = f.part("file", Part::bytes(bytes).file_name(name.to_string()));
    }
    f
}

fn register(
    s: &Server,
    token: &str,
    meta: &str,
    files: Vec<(&str, Vec<u8>)>,
) -> reqwest::blocking::Response {
    Client::new()
        .post(s.url("/api/v1/correspondences"))
        .bearer_auth(token)
        .multipart(form(meta, files))
        .send()
        .unwrap()
}

const META: &str = r#"{"direction":"incoming","subject":"Demande de stage","sender":{"kind":"person","name":"Imane Tahiri"}}"#;

#[test]
fn register_fetch_list_download() {
    let s = Server::demo(&[]);
    let token = s.token("bo@mtnra");
    let doc = pdf("Lettre de demande de stage");
    let r = register(
        &s,
        &token,
        META,
        vec![("demande.pdf", doc.clone()), ("cv.pdf", pdf("CV"))],
    );
    assert_eq!(r.status(), 201);
    let created: Value = r.json().unwrap();
    let number = created["number"].as_str().unwrap();
    let year = time::OffsetDateTime::now_utc().year();
    // The demo registered 4 letters at the central registry office before.
    assert!(
        number.starts_with(&format!("BO-CENTRAL/A/{year}/")),
        "{number}"
    );
    // The contract's metadata shape works for every direction: outgoing and internal mail get
    // their own registers and numbers.
    for (direction, letter) in [("outgoing", "D"), ("internal", "I")] {
        let meta = META.replace("\"incoming\"", &format!("\"{direction}\""));
        let r = register(&s, &token, &meta, vec![("lettre.pdf", pdf(direction))]);
        assert_eq!(
            r.status(),
            201,
            "{direction}: {}",
            r.text().unwrap_or_default()
        );
        let v: Value = r.json().unwrap();
        assert!(
            v["number"]
                .as_str()
                .unwrap()
                .starts_with(&format!("BO-CENTRAL/{letter}/{year}/")),
            "{v}"
        );
    }
    let seq = created["sequence"].as_i64().unwrap();
    assert!(
        number.ends_with(&format!("{seq:06}")),
        "{number} ends with its zero-padded sequence"
    );

    let id = created["id"].as_str().unwrap();
    let c: Value = Client::new()
        .get(s.url(&format!("/api/v1/correspondences/{id}")))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(c["number"], number);
    assert_eq!(c["subject"], "Demande de stage");
    assert_eq!(c["status"], "registered");
    assert_eq!(c["channel"], "counter");
    assert!(
        c["due_date"].as_str().unwrap().len() == 10,
        "law 55-19 due date set: {}",
        c["due_date"]
    );
    let docs = c["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["role"], "main");
    assert_eq!(docs[0]["media_type"], "application/pdf");
    let body = Client::new()
        .get(s.url(docs[0]["url"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(body.headers()["content-type"], "application/pdf");
    assert_eq!(body.bytes().unwrap().to_vec(), doc);

    let list: Value = Client::new()
        .get(s.url("/api/v1/correspondences?q=stage&direction=incoming&per_page=10"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id);
    let history: Value = Client::new()
        .get(s.url(&format!("/api/v1/correspondences/{id}/history")))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(history["items"][0]["action"], "correspondence.register");
    assert_eq!(history["items"][0]["ip"], "127.0.0.1");

    // Another administration's users do not see it, not even that it exists.
    let other = s.token("bo@ctanger");
    let r = Client::new()
        .get(s.url(&format!("/api/v1/correspondences/{id}")))
        .bearer_auth(&other)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Without a token: 401.
    assert_eq!(
        Client::new()
            .get(s.url("/api/v1/correspondences"))
            .send()
            .unwrap()
            .status(),
        401
    );
}

/// State that must not change when a request is refused.
fn snapshot(s: &Server, token: &str) -> (i64, usize) {
    let list: Value = Client::new()
        .get(s.url("/api/v1/correspondences?per_page=1"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let blobs = files_under(&s.data().join("blobs")).len();
    (list["total"].as_i64().unwrap(), blobs)
}

#[test]
fn bad_input_is_refused_precisely_and_changes_nothing() {
    let s = Server::demo(&[("DIWAN_MAX_FILE_BYTES", "20000")]);
    let token = s.token("bo@mtnra");
    let admin = s.token("admin@mtnra");
    let before = snapshot(&s, &admin);
    let ok_pdf = || vec![("lettre.pdf", pdf("ok"))];
    let cases: Vec<(&str, u16, Form, &str)> = vec![
        (
            "unknown field",
            422,
            form(
                r#"{"direction":"incoming","subject":"x","sender":{"kind":"person","name":"A"},"colour":"red"}"#,
                ok_pdf(),
            ),
            "unknown field `colour`",
        ),
        (
            "wrong type",
            422,
            form(
                r#"{"direction":"incoming","subject":42,"sender":{"kind":"person","name":"A"}}"#,
                ok_pdf(),
            ),
            "subject",
        ),
        (
            "bad enum",
            422,
            form(
                r#"{"direction":"sideways","subject":"x","sender":{"kind":"person","name":"A"}}"#,
                ok_pdf(),
            ),
            "direction",
        ),
        (
            "nested wrong value",
            422,
            form(
                r#"{"direction":"incoming","subject":"x","sender":{"kind":"robot","name":"A"}}"#,
                ok_pdf(),
            ),
            "sender.kind",
        ),
        (
            "bad national id",
            422,
            form(
                r#"{"direction":"incoming","subject":"x","sender":{"kind":"person","name":"A","id_number":"12"}}"#,
                ok_pdf(),
            ),
            "national identity number",
        ),
        (
            "missing sender",
            422,
            form(r#"{"direction":"incoming","subject":"x"}"#, ok_pdf()),
            "sender",
        ),
        (
            "empty subject",
            422,
            form(
                r#"{"direction":"incoming","subject":"  ","sender":{"kind":"person","name":"A"}}"#,
                ok_pdf(),
            ),
            "subject",
        ),
        ("no file", 422, form(META, vec![]), "at least one document"),
        (
            "empty file",
            422,
            form(META, vec![("vide.pdf", vec![])]),
            "is empty",
        ),
        (
            "oversized",
            413,
            form(
                META,
                vec![(
                    "gros.pdf",
                    [b"%PDF-1.4\n".to_vec(), vec![b'x'; 30000]].concat(),
                )],
            ),
            "limit of 20000 bytes",
        ),
        (
            "executable named pdf",
            415,
            form(
                META,
                vec![("lettre.pdf", b"MZ\x90\x00\x03\x00\x00\x00".to_vec())],
            ),
            "not an accepted format",
        ),
        (
            "html named pdf",
            415,
            form(
                META,
                vec![("ok.pdf", b"<html><script>alert(1)</script>".to_vec())],
            ),
            "not an accepted format",
        ),
        (
            "path trick",
            422,
            form(META, vec![("../../etc/passwd.pdf", pdf("x"))]),
            "path separator",
        ),
        (
            "dot-dot name",
            422,
            form(META, vec![("..", pdf("x"))]),
            "file[0].name",
        ),
        (
            "not json",
            400,
            form("{direction:", ok_pdf()),
            "not valid JSON",
        ),
        (
            "due date in the past",
            422,
            form(
                r#"{"direction":"incoming","subject":"x","sender":{"kind":"person","name":"A"},"due_date":"2001-01-01"}"#,
                ok_pdf(),
            ),
            "due_date",
        ),
        (
            "bad date",
            422,
            form(
                r#"{"direction":"incoming","subject":"x","sender":{"kind":"person","name":"A"},"letter_date":"31/12/2025"}"#,
                ok_pdf(),
            ),
            "letter_date",
        ),
        (
            "portal channel",
            422,
            form(
                r#"{"direction":"incoming","subject":"x","sender":{"kind":"person","name":"A"},"channel":"portal"}"#,
                ok_pdf(),
            ),
            "channel",
        ),
    ];
    for (what, status, f, needle) in cases {
        let r = Client::new()
            .post(s.url("/api/v1/correspondences"))
            .bearer_auth(&token)
            .multipart(f)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let body = r.text().unwrap();
        assert!(body.contains(needle), "{what}: {body}");
        assert_eq!(snapshot(&s, &admin), before, "{what} changed something");
    }

    // Invalid UTF-8 in the metadata part.
    let f = Form::new()
        .part(
            "metadata",
            Part::bytes(b"{\"subject\":\"\xff\xfe\"}".to_vec())
                .mime_str("application/json")
                .unwrap(),
        )
        .part("file", Part::bytes(pdf("x")).file_name("a.pdf"));
    let r = Client::new()
        .post(s.url("/api/v1/correspondences"))
        .bearer_auth(&token)
        .multipart(f)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("UTF-8"));

    // A register of another administration.
    let other = s.token("admin@ctanger");
    let regs: Value = Client::new()
        .get(s.url("/api/v1/registers"))
        .bearer_auth(&other)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let foreign = regs["items"][0]["id"].as_str().unwrap();
    let meta = format!(
        r#"{{"direction":"incoming","subject":"x","sender":{{"kind":"person","name":"A"}},"register":"{foreign}"}}"#
    );
    let r = register(&s, &token, &meta, vec![("a.pdf", pdf("x"))]);
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("register"));
    // A register of the right administration but another registry office: forbidden for this clerk.
    let regs: Value = Client::new()
        .get(s.url("/api/v1/registers"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let entities: Value = Client::new()
        .get(s.url("/api/v1/entities"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let rsk = entities["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "BO-RSK")
        .unwrap()["id"]
        .clone();
    let rsk_incoming = regs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entity_id"] == rsk && r["direction"] == "incoming")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let meta = format!(
        r#"{{"direction":"incoming","subject":"x","sender":{{"kind":"person","name":"A"}},"register":"{rsk_incoming}"}}"#
    );
    assert_eq!(
        register(&s, &token, &meta, vec![("a.pdf", pdf("x"))]).status(),
        403
    );
    // Unknown route and wrong method: problem+json too.
    let r = Client::new()
        .get(s.url("/api/v1/nothing-here"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["content-type"].to_str().unwrap()
        ),
        (404, "application/problem+json")
    );
    assert_eq!(snapshot(&s, &admin), before);

    // No number was consumed: the next registration follows the demo's last one.
    let list: Value = Client::new()
        .get(s.url("/api/v1/correspondences?per_page=1&direction=incoming"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let last_seq = list["items"][0]["seq"].as_i64().unwrap();
    let r = register(&s, &token, META, vec![("ok.pdf", pdf("ok"))]);
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().unwrap()["sequence"].as_i64().unwrap(),
        last_seq + 1
    );
    // Nothing left in staging.
    assert!(files_under(&s.data().join("blobs/staging")).is_empty());
}

#[test]
fn sessions_lockout_and_json_errors() {
    let s = Server::demo(&[]);
    let c = Client::new();
    let r = c
        .post(s.url("/api/v1/sessions"))
        .json(&json!({"login": "bo@mtnra"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("missing field `password`"));
    let r = c
        .post(s.url("/api/v1/sessions"))
        .body("login=x")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);
    for _ in 0..4 {
        let r = c
            .post(s.url("/api/v1/sessions"))
            .json(&json!({"login": "chef.dsi@mtnra", "password": "wrong"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = c
        .post(s.url("/api/v1/sessions"))
        .json(&json!({"login": "chef.dsi@mtnra", "password": "wrong"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("locked"));
    let r = c
        .post(s.url("/api/v1/sessions"))
        .json(&json!({"login": "chef.dsi@mtnra", "password": s.password("chef.dsi@mtnra")}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401, "locked even with the right password");
    // Logout revokes the token.
    let token = s.token("bo@mtnra");
    assert_eq!(
        c.get(s.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.delete(s.url("/api/v1/sessions"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.get(s.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status(),
        401
    );
}

#[test]
fn organisation_api() {
    let s = Server::demo(&[]);
    let admin = s.token("admin@ctanger");
    let c = Client::new();
    let tree: Value = c
        .get(s.url("/api/v1/entities"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = tree["items"].as_array().unwrap();
    assert!(items.iter().all(|e| e["id"].is_string()
        && e.get("parent").is_some()
        && e["level"].is_string()
        && e["name_ar"].is_string()));
    let pres = items.iter().find(|e| e["code"] == "PRES").unwrap()["id"].clone();
    let r = c
        .post(s.url("/api/v1/entities"))
        .bearer_auth(&admin)
        .json(&json!({"parent": pres, "code": "BO-ANNEXE", "kind": "registry_office", "level": "local", "name_fr": "Bureau d'ordre annexe", "name_ar": "مكتب الضبط الملحق"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let office = r.json::<Value>().unwrap()["id"].clone();
    let r = c
        .post(s.url("/api/v1/registers"))
        .bearer_auth(&admin)
        .json(&json!({"entity": office, "direction": "incoming", "name": "Arrivée annexe", "number_format": "{ENTITY}-{YYYY}-{0000}"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(s.url("/api/v1/registers"))
        .bearer_auth(&admin)
        .json(&json!({"entity": office, "direction": "outgoing", "name": "x", "number_format": "{ENTITY}-{SEQ}"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422, "a format without year is refused");
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"login": "clerk.annexe", "display_name": "Clerk annexe", "password": "long-enough-1", "memberships": [{"entity": office, "role": "registry_clerk"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(s.url("/api/v1/sessions"))
        .json(&json!({"login": "clerk.annexe", "password": "long-enough-1"}))
        .send()
        .unwrap();
    let tok = r.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = register(&s, &tok, META, vec![("a.pdf", pdf("annexe"))]);
    assert_eq!(r.status(), 201);
    let year = time::OffsetDateTime::now_utc().year();
    assert_eq!(
        r.json::<Value>().unwrap()["number"],
        format!("BO-ANNEXE-{year}-0001")
    );
    // Only administrators administer.
    let clerk = s.token("bo@ctanger");
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&clerk)
        .json(&json!({"login": "x.y", "display_name": "X", "password": "long-enough-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[test]
fn fsck_health_metrics_and_shutdown() {
    let mut s = Server::demo(&[]);
    let token = s.token("bo@mtnra");
    assert_eq!(
        register(&s, &token, META, vec![("a.pdf", pdf("fsck"))]).status(),
        201
    );
    let m = s.metrics();
    assert!(m.contains("diwan_registrations_total 1"), "{m}");
    assert!(m.contains("diwan_http_requests_total{method=\"POST\",route=\"/api/v1/correspondences\",status=\"201\"} 1"), "{m}");
    let spec: Value = Client::new()
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(spec["paths"]["/correspondences"]["post"].is_object());
    assert!(s.stop(), "graceful shutdown exits 0");

    let fsck = |extra: &[&str]| {
        std::process::Command::new(BIN)
            .args(["fsck", "--data"])
            .arg(s.data())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = fsck(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Damage one document: fsck names it and exits 1.
    let blob = files_under(&s.data().join("blobs/sha256"))
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.len() == 64))
        .unwrap();
    let name = blob.file_name().unwrap().to_str().unwrap().to_string();
    std::fs::write(&blob, b"damaged").unwrap();
    let out = fsck(&["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["damage"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&name),
        "{report}"
    );
}
