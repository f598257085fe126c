//! The signature book end to end, against the real binary on SQLite and PostgreSQL: a folder
//! through a visa, a 2-of-3 parallel signature step, a signature by delegation and a seal step,
//! with the final PDF and the signature certificate checked by pyHanko and qpdf; rejection,
//! recall, batch signing, transfer, turn and visibility rules, templates and certificate import.

mod support;

use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Command;
use support::{engines, pdf, pdf_text, require, run, Server};

struct Ctx<'a> {
    s: &'a Server,
    c: Client,
    tokens: HashMap<String, String>,
    ids: HashMap<String, String>,
}

impl Ctx<'_> {
    fn t(&mut self, login: &str) -> String {
        let login = format!("{login}@mtnra");
        if let Some(t) = self.tokens.get(&login) {
            return t.clone();
        }
        let t = self.s.token(&login);
        self.tokens.insert(login, t.clone());
        t
    }

    fn id(&self, login: &str) -> String {
        self.ids[&format!("{login}@mtnra")].clone()
    }

    fn send(&mut self, who: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.t(who);
        let url = self.s.url(&format!("/api/v1{path}"));
        let rb = match method {
            "GET" => self.c.get(url),
            "PUT" => self.c.put(url),
            "DELETE" => self.c.delete(url),
            _ => self.c.post(url),
        }
        .bearer_auth(token);
        let rb = match body {
            Some(b) => rb.json(&b),
            None => rb,
        };
        let r = rb.send().unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&mut self, who: &str, path: &str) -> (u16, Value) {
        self.send(who, "GET", path, None)
    }

    fn post(&mut self, who: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(who, "POST", path, Some(body))
    }

    fn act(&mut self, who: &str, folder: &str, body: Value) -> (u16, Value) {
        self.post(who, &format!("/folders/{folder}/actions"), body)
    }

    fn bytes(&mut self, who: &str, path: &str) -> (u16, Vec<u8>) {
        let token = self.t(who);
        let r = self
            .c
            .get(self.s.url(&format!("/api/v1{path}")))
            .bearer_auth(token)
            .send()
            .unwrap();
        (r.status().as_u16(), r.bytes().unwrap().to_vec())
    }

    /// Creates a folder as `who` with the given metadata and parts `(part, name, bytes)`.
    fn create(
        &mut self,
        who: &str,
        meta: Value,
        parts: Vec<(&str, &str, Vec<u8>)>,
    ) -> (u16, Value) {
        let token = self.t(who);
        let mut form = Form::new().part(
            "metadata",
            Part::text(meta.to_string())
                .mime_str("application/json")
                .unwrap(),
        );
        for (part, name, bytes) in parts {
            form = form.part(
                part.to_string(),
                Part::bytes(bytes).file_name(name.to_string()),
            );
        }
        let r = self
            .c
            .post(self.s.url("/api/v1/folders"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// A started folder written by agent.sa with `steps`; its id.
    fn started(&mut self, title: &str, steps: Value) -> String {
        let (st, f) = self.create(
            "agent.sa",
            json!({ "title": title, "document_type": "note", "circuit": steps }),
            vec![("file", "note.pdf", pdf(title))],
        );
        assert_eq!(st, 201, "{f}");
        let id = f["id"].as_str().unwrap().to_string();
        let (st, f) = self.post("agent.sa", &format!("/folders/{id}/start"), json!({}));
        assert_eq!(st, 200, "{f}");
        id
    }
}

fn user_step(kind: &str, id: &str) -> Value {
    json!({ "kind": kind, "assignee": { "type": "user", "user": id } })
}

/// The bytes of a file that sniffs as a Word document.
fn docx() -> Vec<u8> {
    let mut b = b"PK\x03\x04".to_vec();
    b.resize(30, 0);
    b.extend_from_slice(b"[Content_Types].xml....word/document.xml");
    b.resize(400, b'x');
    b
}

fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.resize(200, 0);
    b
}

fn check_pdf_with_tools(dir: &std::path::Path, name: &str, bytes: &[u8], root: &std::path::Path) {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    if require("pyhanko", &["--version"]) {
        let (ok, out) = run(Command::new("pyhanko")
            .args(["sign", "validate", "--trust"])
            .arg(root)
            .arg("--trust-replace")
            .arg(&p));
        assert!(ok, "pyHanko refused {name}:\n{out}");
    }
    if require("qpdf", &["--version"]) {
        let (ok, out) = run(Command::new("qpdf").arg("--check").arg(&p));
        assert!(ok, "qpdf refused {name}:\n{out}");
    }
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn signature_book_end_to_end() {
    for (engine, env) in engines("parapheur") {
        eprintln!("engine: {engine}");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let s = Server::demo(&env);
        scenario(&s);
    }
}

/// A client knowing every user's id, a work directory, and the platform root in it.
fn setup(s: &Server) -> (Ctx<'_>, tempfile::TempDir, std::path::PathBuf) {
    let mut x = Ctx {
        s,
        c: Client::new(),
        tokens: HashMap::new(),
        ids: HashMap::new(),
    };
    let (st, users) = x.get("admin", "/users");
    assert_eq!(st, 200);
    for u in users["items"].as_array().unwrap() {
        x.ids.insert(
            u["login"].as_str().unwrap().to_string(),
            u["id"].as_str().unwrap().to_string(),
        );
    }
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root.pem");
    let r = x.c.get(s.url("/api/v1/pki/root")).send().unwrap();
    std::fs::write(&root, r.bytes().unwrap()).unwrap();
    (x, work, root)
}

fn scenario(s: &Server) {
    let (mut x, work, root) = setup(s);

    // The demo platform shows folders: the secretary-general has one to sign.
    let (st, q) = x.get("sg", "/folders?queue=to_act");
    assert_eq!(st, 200);
    assert_eq!(q["items"].as_array().unwrap().len(), 1, "{q}");

    // Documents to sign must be PDF: office files are refused with a clear message.
    let (st, e) = x.create(
        "agent.sa",
        json!({ "title": "Note", "document_type": "note" }),
        vec![("file", "note.docx", docx())],
    );
    assert_eq!(st, 415, "{e}");
    assert!(
        e["detail"].as_str().unwrap().contains("convert it to PDF"),
        "{e}"
    );
    let (st, _) = x.create(
        "agent.sa",
        json!({ "title": "Note", "document_type": "note" }),
        vec![("file", "scan.png", png())],
    );
    assert_eq!(st, 415);

    // A visa by the head of the author's parent entity, two of three heads in parallel, the
    // secretary-general, and the administration's seal applied by the head of the DSI.
    let steps = json!([
        { "kind": "visa", "assignee": { "type": "role", "role": "head", "entity": { "kind": "author_parent" } } },
        { "kind": "signature", "assignee": { "type": "group", "users": [x.id("chef.dsi"), x.id("chef.kenitra"), x.id("chef.dev")] },
          "quorum": { "type": "n_of", "n": 2 } },
        user_step("signature", &x.id("sg")),
        user_step("seal", &x.id("chef.dsi")),
    ]);
    let (st, f) = x.create(
        "agent.sa",
        json!({ "title": "Décision portant organisation du télétravail", "document_type": "decision", "circuit": steps }),
        vec![
            ("file", "decision.pdf", pdf("Decision")),
            ("annex", "plan.png", png()),
        ],
    );
    assert_eq!(st, 201, "{f}");
    assert_eq!(f["status"], "draft");
    assert_eq!(f["steps"].as_array().unwrap().len(), 4);
    let id = f["id"].as_str().unwrap().to_string();
    let main_doc = f["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["role"] == "main")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A quorum that cannot be met is refused.
    let (st, e) = x.send(
        "agent.sa",
        "PUT",
        &format!("/folders/{id}/circuit"),
        Some(json!({ "steps": [{ "kind": "signature", "assignee": { "type": "group", "users": [x.id("sg")] }, "quorum": { "type": "n_of", "n": 2 } }] })),
    );
    assert_eq!(st, 422, "{e}");

    // Outside the circuit: not found. A draft is its author's alone until it is sent.
    assert_eq!(x.get("agent.kenitra", &format!("/folders/{id}")).0, 404);
    assert_eq!(x.get("bo", &format!("/folders/{id}")).0, 404);
    assert_eq!(
        x.act("chef.dev", &id, json!({ "action": "approve" })).0,
        404
    );
    assert_eq!(x.get("admin", &format!("/folders/{id}")).0, 200);
    assert_eq!(x.get("audit", &format!("/folders/{id}")).0, 200);

    let (st, f) = x.post("agent.sa", &format!("/folders/{id}/start"), json!({}));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["status"], "in_circuit");
    assert_eq!(f["current_step"], 1);
    assert_eq!(f["steps"][1]["required"], 2);
    // The circuit cannot change any more.
    let (st, _) = x.send(
        "agent.sa",
        "PUT",
        &format!("/folders/{id}/circuit"),
        Some(json!({ "steps": [user_step("visa", &x.id("sg"))] })),
    );
    assert_eq!(st, 409);

    // Out of turn: the secretary-general is on step 3 (409); outsiders do not see it (404).
    assert_eq!(x.act("sg", &id, json!({ "action": "sign" })).0, 409);
    assert_eq!(
        x.act("agent.kenitra", &id, json!({ "action": "approve" }))
            .0,
        404
    );
    let (st, q) = x.get("chef.dev", "/folders?queue=to_act");
    assert_eq!(st, 200);
    assert!(q["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == id.as_str()));
    // A visa is approved, not signed.
    assert_eq!(x.act("chef.dev", &id, json!({ "action": "sign" })).0, 409);
    let (st, f) = x.act(
        "chef.dev",
        &id,
        json!({ "action": "approve", "reason": "Vu." }),
    );
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["current_step"], 2);

    // Two of three heads sign; the same head cannot sign twice.
    let (st, f) = x.act("chef.dsi", &id, json!({ "action": "sign" }));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["current_step"], 2);
    assert_eq!(x.act("chef.dsi", &id, json!({ "action": "sign" })).0, 409);
    let (st, f) = x.act("chef.kenitra", &id, json!({ "action": "sign" }));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["current_step"], 3);
    assert_eq!(x.act("chef.dev", &id, json!({ "action": "sign" })).0, 409);

    // The secretary-general delegates to agent.kenitra, who then sees the folder and signs on
    // their behalf.
    let today = time::OffsetDateTime::now_utc().date();
    let day = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let (st, e) = x.post(
        "sg",
        "/delegations",
        json!({ "delegate": x.id("agent.kenitra"), "from": day(today), "to": day(today.previous_day().unwrap()) }),
    );
    assert_eq!(st, 422, "{e}");
    let (st, d) = x.post(
        "sg",
        "/delegations",
        json!({ "delegate": x.id("agent.kenitra"), "from": day(today.previous_day().unwrap()),
                "to": day(today.next_day().unwrap()), "document_type": "decision" }),
    );
    assert_eq!(st, 201, "{d}");
    let (st, q) = x.get("agent.kenitra", "/folders?queue=to_act");
    assert_eq!(st, 200);
    assert!(
        q["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == id.as_str()),
        "{q}"
    );
    let (st, f) = x.act("agent.kenitra", &id, json!({ "action": "sign" }));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["current_step"], 4);
    let by_delegation = f["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "sign" && a["user_id"] == x.id("agent.kenitra").as_str())
        .unwrap()
        .clone();
    assert_eq!(by_delegation["on_behalf_of"], x.id("sg").as_str());

    // The seal step: "sign" applies the administration's seal.
    let (st, f) = x.act("chef.dsi", &id, json!({ "action": "sign" }));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["status"], "completed", "{f}");
    assert!(f["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "seal"));
    // Completed: nobody acts any more.
    assert_eq!(x.act("chef.dsi", &id, json!({ "action": "sign" })).0, 409);

    // The signed document: four signatures, each valid for pyHanko, a sound file for qpdf, the
    // delegation in the signer's name.
    let (st, signed) = x.bytes("agent.sa", &format!("/folders/{id}/documents/{main_doc}"));
    assert_eq!(st, 200);
    assert!(
        count(&signed, b"/ByteRange") >= 4,
        "{} signatures",
        count(&signed, b"/ByteRange")
    );
    assert!(count(&signed, b"on behalf of Mohammed Bennani") >= 1);
    check_pdf_with_tools(work.path(), "signed.pdf", &signed, &root);
    let (ok, out) = run(Command::new(support::BIN)
        .arg("verify")
        .arg("--trust")
        .arg(&root)
        .arg(work.path().join("signed.pdf")));
    assert!(ok, "diwan verify refused the signed document:\n{out}");

    // The signature certificate, sealed, with the delegation stated.
    let (st, evidence) = x.bytes("agent.sa", &format!("/folders/{id}/evidence.pdf"));
    assert_eq!(st, 200);
    assert!(evidence.starts_with(b"%PDF-"));
    check_pdf_with_tools(work.path(), "evidence.pdf", &evidence, &root);
    if let Some(out) = pdf_text(&work.path().join("evidence.pdf")) {
        assert!(out.contains("on behalf of Mohammed Bennani"), "{out}");
        assert!(out.contains("BORDEREAU DE SIGNATURE"), "{out}");
    }
    // The signatories got a certificate issued by the platform.
    let (st, c) = x.get("sg", "/me/certificate");
    assert_eq!(st, 200);
    assert!(
        c["certificate"].is_null(),
        "sg did not sign personally: {c}"
    );
    let (st, c) = x.get("chef.dsi", "/me/certificate");
    assert_eq!(st, 200);
    assert_eq!(c["certificate"]["source"], "platform", "{c}");
    let (st, q) = x.get("chef.kenitra", "/folders?queue=done");
    assert_eq!(st, 200);
    assert!(q["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == id.as_str()));

    // Rejection: a reason is required; then the folder is back with its author, who is told.
    let r = x.started(
        "Note à rejeter",
        json!([user_step("visa", &x.id("chef.dev"))]),
    );
    let (st, e) = x.act("chef.dev", &r, json!({ "action": "reject" }));
    assert_eq!(st, 422, "{e}");
    let (st, e) = x.act(
        "chef.dev",
        &r,
        json!({ "action": "reject", "reason": "  " }),
    );
    assert_eq!(st, 422, "{e}");
    let (st, f) = x.act(
        "chef.dev",
        &r,
        json!({ "action": "reject", "reason": "Chiffres à vérifier" }),
    );
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["status"], "rejected");
    let (_, n) = x.get("agent.sa", "/notifications");
    assert!(n.to_string().contains("Chiffres à vérifier"), "{n}");
    assert_eq!(x.get("agent.kenitra", &format!("/folders/{r}")).0, 404);
    // The author sends it again.
    let (st, f) = x.post("agent.sa", &format!("/folders/{r}/start"), json!({}));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["round"], 2);

    // Recall: possible until somebody acts.
    let rc = x.started(
        "Note à retirer",
        json!([
            user_step("visa", &x.id("chef.dev")),
            user_step("signature", &x.id("sg"))
        ]),
    );
    assert_eq!(
        x.post("chef.dev", &format!("/folders/{rc}/recall"), json!({}))
            .0,
        403
    );
    let (st, f) = x.post("agent.sa", &format!("/folders/{rc}/recall"), json!({}));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["status"], "recalled");
    assert_eq!(
        x.act("chef.dev", &rc, json!({ "action": "approve" })).0,
        409
    );
    let (st, _) = x.post("agent.sa", &format!("/folders/{rc}/start"), json!({}));
    assert_eq!(st, 200);
    assert_eq!(
        x.act("chef.dev", &rc, json!({ "action": "approve" })).0,
        200
    );
    assert_eq!(
        x.post("agent.sa", &format!("/folders/{rc}/recall"), json!({}))
            .0,
        409
    );

    // Transfer and opinion.
    let tr = x.started(
        "Note à transférer",
        json!([user_step("visa", &x.id("chef.dev"))]),
    );
    let (st, _) = x.act(
        "chef.dev",
        &tr,
        json!({ "action": "opinion", "to_user": x.id("agent.kenitra"), "reason": "Votre avis ?" }),
    );
    assert_eq!(st, 200);
    assert_eq!(x.get("agent.kenitra", &format!("/folders/{tr}")).0, 200);
    let (st, _) = x.act(
        "agent.kenitra",
        &tr,
        json!({ "action": "annotate", "reason": "Favorable." }),
    );
    assert_eq!(st, 200);
    let (st, f) = x.act(
        "chef.dev",
        &tr,
        json!({ "action": "transfer", "to_user": x.id("chef.dsi") }),
    );
    assert_eq!(st, 200, "{f}");
    assert_eq!(
        x.act("chef.dev", &tr, json!({ "action": "approve" })).0,
        409
    );
    let (st, f) = x.act("chef.dsi", &tr, json!({ "action": "approve" }));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["status"], "completed");

    // Batch signing: three folders, each signed alone; an unknown id gets its own 404.
    let batch: Vec<String> = (1..=3)
        .map(|i| {
            x.started(
                &format!("Courrier {i}"),
                json!([user_step("signature", &x.id("chef.dsi"))]),
            )
        })
        .collect();
    let mut ids: Vec<Value> = batch.iter().map(|b| json!(b)).collect();
    ids.push(json!("not-a-folder"));
    let (st, out) = x.post("chef.dsi", "/folders/batch-sign", json!({ "ids": ids }));
    assert_eq!(st, 200, "{out}");
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in &results[..3] {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["folder_status"], "completed");
    }
    assert_eq!(results[3]["status"], 404);
    let (st, signed) = x.bytes("agent.sa", &format!("/folders/{}", batch[0]));
    assert_eq!(st, 200);
    let f: Value = serde_json::from_slice(&signed).unwrap();
    let doc = f["documents"][0]["id"].as_str().unwrap();
    let (_, bytes) = x.bytes(
        "agent.sa",
        &format!("/folders/{}/documents/{doc}", batch[0]),
    );
    check_pdf_with_tools(work.path(), "batch.pdf", &bytes, &root);

    // Templates: administrators define a circuit per document type; folders of that type get it.
    let (st, _) = x.post(
        "chef.dev",
        "/circuit-templates",
        json!({ "document_type": "arrete", "name": "Arrêté", "steps": [user_step("signature", &x.id("sg"))] }),
    );
    assert_eq!(st, 403);
    let (st, t) = x.post(
        "admin",
        "/circuit-templates",
        json!({ "document_type": "arrete", "name": "Arrêté", "steps": [user_step("visa", &x.id("chef.dev")), user_step("signature", &x.id("sg"))] }),
    );
    assert_eq!(st, 201, "{t}");
    let (st, f) = x.create(
        "agent.sa",
        json!({ "title": "Arrêté", "document_type": "arrete" }),
        vec![("file", "arrete.pdf", pdf("Arrete"))],
    );
    assert_eq!(st, 201);
    assert_eq!(f["steps"].as_array().unwrap().len(), 2, "{f}");

    // Importing one's own PKCS#12.
    if require("openssl", &["version"]) {
        let d = work.path();
        support::openssl_self_signed(d, ("k.pem", "c.pem"), "30", "/CN=Omar Tazi/O=MTNRA", &[]);
        let (ok, out) = run(Command::new("openssl")
            .args(["pkcs12", "-export", "-passout", "pass:secret", "-inkey"])
            .arg(d.join("k.pem"))
            .arg("-in")
            .arg(d.join("c.pem"))
            .arg("-out")
            .arg(d.join("id.p12")));
        assert!(ok, "{out}");
        use base64::Engine;
        let p12 = base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(d.join("id.p12")).unwrap());
        let (st, _) = x.post(
            "chef.dev",
            "/me/certificate",
            json!({ "pkcs12": p12, "password": "wrong" }),
        );
        assert_eq!(st, 422);
        let (st, c) = x.post(
            "chef.dev",
            "/me/certificate",
            json!({ "pkcs12": p12, "password": "secret" }),
        );
        assert_eq!(st, 201, "{c}");
        let (_, c) = x.get("chef.dev", "/me/certificate");
        assert_eq!(c["certificate"]["source"], "imported", "{c}");
    }
}

/// Folders signed for archives: B-LT puts the certificates, the root's CRL and the responder's
/// OCSP answers in the document security store; B-LTA adds a document time-stamp over it all.
#[test]
fn archive_levels_b_lt_and_b_lta() {
    let s = Server::demo(&[]);
    let (mut x, work, root) = setup(&s);
    for level in ["b-lt", "b-lta"] {
        let title = format!("Archive {level}");
        let (st, f) = x.create(
            "agent.sa",
            json!({ "title": title, "document_type": "decision", "level": level,
                    "circuit": [user_step("signature", &x.id("chef.dsi"))] }),
            vec![("file", "decision.pdf", pdf(&title))],
        );
        assert_eq!(st, 201, "{f}");
        let id = f["id"].as_str().unwrap().to_string();
        let doc = f["documents"][0]["id"].as_str().unwrap().to_string();
        let (st, f) = x.post("agent.sa", &format!("/folders/{id}/start"), json!({}));
        assert_eq!(st, 200, "{f}");
        let (st, f) = x.post(
            "chef.dsi",
            &format!("/folders/{id}/actions"),
            json!({ "action": "sign" }),
        );
        assert_eq!(st, 200, "{f}");
        assert_eq!(f["status"], "completed", "{f}");
        let (st, signed) = x.bytes("agent.sa", &format!("/folders/{id}/documents/{doc}"));
        assert_eq!(st, 200);
        assert!(
            count(&signed, b"/DSS") >= 1,
            "{level}: no document security store"
        );
        assert!(count(&signed, b"/OCSPs") >= 1, "{level}: no OCSP answers");
        assert!(count(&signed, b"/CRLs") >= 1, "{level}: no CRL");
        assert_eq!(
            count(&signed, b"/ETSI.RFC3161") >= 1,
            level == "b-lta",
            "{level}: document time-stamp"
        );
        check_pdf_with_tools(work.path(), &format!("{level}.pdf"), &signed, &root);
        // The platform's own validation: every signature and the document time-stamp pass.
        let form = Form::new().part(
            "file",
            Part::bytes(signed.clone()).file_name(format!("{level}.pdf")),
        );
        let v: Value =
            x.c.post(s.url("/api/v1/verify"))
                .multipart(form)
                .send()
                .unwrap()
                .json()
                .unwrap();
        assert_eq!(v["ok"], true, "{level}: {v}");
    }
}

impl Ctx<'_> {
    /// Sends multipart `parts` `(part, name, bytes)` (a part without a file name when `name` is
    /// empty) to a folder's documents, as `who`.
    fn documents(
        &mut self,
        who: &str,
        method: &str,
        path: &str,
        parts: Vec<(&str, &str, Vec<u8>)>,
    ) -> (u16, Value) {
        let token = self.t(who);
        let mut form = Form::new();
        for (part, name, bytes) in parts {
            form = if name.is_empty() {
                form.part(part.to_string(), Part::bytes(bytes))
            } else {
                form.part(
                    part.to_string(),
                    Part::bytes(bytes).file_name(name.to_string()),
                )
            };
        }
        let url = self.s.url(&format!("/api/v1{path}"));
        let rb = if method == "PUT" {
            self.c.put(url)
        } else {
            self.c.post(url)
        };
        let r = rb.bearer_auth(token).multipart(form).send().unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let body = r.json().unwrap_or(Value::Null);
        if status >= 400 {
            assert_eq!(ct, "application/problem+json", "{status} {body}");
        }
        (status, body)
    }
}

fn docs_of(f: &Value) -> Vec<(String, String, String)> {
    f["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                d["file_name"].as_str().unwrap().to_string(),
                d["role"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The author edits the documents of a draft (add, replace, remove), only while it is editable;
/// a folder without a document to sign is not sent; the edited folder is signed, and the signed
/// document is the new one. The same through the folder page's forms.
#[test]
fn documents_edited_while_draft() {
    for (engine, env) in engines("parapheur_docs") {
        eprintln!("engine: {engine}");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let s = Server::demo(&env);
        edit_documents(&s);
    }
}

fn edit_documents(s: &Server) {
    let (mut x, work, root) = setup(s);
    let (st, f) = x.create(
        "agent.sa",
        json!({ "title": "Arrêté de nomination", "document_type": "decision",
                "circuit": [user_step("signature", &x.id("chef.dsi"))] }),
        vec![("file", "ancien.pdf", pdf("Ancien texte"))],
    );
    assert_eq!(st, 201, "{f}");
    let id = f["id"].as_str().unwrap().to_string();
    let first = docs_of(&f)[0].0.clone();
    let docs = format!("/folders/{id}/documents");

    // A document to sign and (role=annex) an annex.
    let (st, f) = x.documents(
        "agent.sa",
        "POST",
        &docs,
        vec![
            ("role", "", b"main".to_vec()),
            ("file", "brouillon.pdf", pdf("Brouillon")),
        ],
    );
    assert_eq!(st, 201, "{f}");
    let (st, f) = x.documents(
        "agent.sa",
        "POST",
        &docs,
        vec![("file", "plan.png", png()), ("role", "", b"annex".to_vec())],
    );
    assert_eq!(st, 201, "{f}");
    let d = docs_of(&f);
    assert_eq!(
        d.iter()
            .map(|(_, n, r)| (n.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        [
            ("ancien.pdf", "main"),
            ("brouillon.pdf", "main"),
            ("plan.png", "annex")
        ]
    );
    let (draft, annex) = (d[1].0.clone(), d[2].0.clone());

    // Documents to sign are PDF, as at creation; a bad role is refused; nothing changes.
    let (st, e) = x.documents(
        "agent.sa",
        "POST",
        &docs,
        vec![("file", "note.docx", docx())],
    );
    assert_eq!(st, 415, "{e}");
    assert!(
        e["detail"].as_str().unwrap().contains("convert it to PDF"),
        "{e}"
    );
    let (st, e) = x.documents(
        "agent.sa",
        "POST",
        &docs,
        vec![("role", "", b"cover".to_vec()), ("file", "a.pdf", pdf("A"))],
    );
    assert_eq!(st, 422, "{e}");
    let (st, e) = x.documents(
        "agent.sa",
        "POST",
        &docs,
        vec![("role", "", b"main".to_vec())],
    );
    assert_eq!(st, 422, "{e}");
    let (_, f) = x.get("agent.sa", &format!("/folders/{id}"));
    assert_eq!(docs_of(&f).len(), 3);

    // Only the author: the actor does not see the draft (404), an administrator sees it but
    // may not change it (403).
    let (st, _) = x.documents("chef.dsi", "POST", &docs, vec![("file", "x.pdf", pdf("X"))]);
    assert_eq!(st, 404);
    let (st, e) = x.documents("admin", "POST", &docs, vec![("file", "x.pdf", pdf("X"))]);
    assert_eq!(st, 403, "{e}");
    assert_eq!(
        x.send("admin", "DELETE", &format!("{docs}/{first}"), None)
            .0,
        403
    );

    // Replace the draft: a new version of the same document; a document to sign stays a PDF.
    let (st, e) = x.documents(
        "agent.sa",
        "PUT",
        &format!("{docs}/{draft}"),
        vec![("file", "scan.png", png())],
    );
    assert_eq!(st, 415, "{e}");
    let (st, f) = x.documents(
        "agent.sa",
        "PUT",
        &format!("{docs}/{draft}"),
        vec![("file", "brouillon-2.pdf", pdf("Brouillon 2"))],
    );
    assert_eq!(st, 200, "{f}");
    let replaced = f["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == draft.as_str())
        .unwrap()
        .clone();
    assert_eq!(replaced["file_name"], "brouillon-2.pdf");
    assert_eq!(replaced["version"], 2);

    // Remove everything: an unknown document is not found; with no document to sign the folder
    // is not sent.
    for d in [&first, &draft, &annex] {
        let (st, e) = x.send("agent.sa", "DELETE", &format!("{docs}/{d}"), None);
        assert_eq!(st, 204, "{e}");
    }
    assert_eq!(
        x.send("agent.sa", "DELETE", &format!("{docs}/{first}"), None)
            .0,
        404
    );
    let (st, e) = x.post("agent.sa", &format!("/folders/{id}/start"), json!({}));
    assert_eq!(st, 422, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("no document to sign"),
        "{e}"
    );

    // The final text, sent and signed.
    let final_pdf = pdf("Texte definitif");
    let (st, f) = x.documents(
        "agent.sa",
        "POST",
        &docs,
        vec![("file", "definitif.pdf", final_pdf.clone())],
    );
    assert_eq!(st, 201, "{f}");
    let doc = docs_of(&f)[0].0.clone();
    let (st, f) = x.post("agent.sa", &format!("/folders/{id}/start"), json!({}));
    assert_eq!(st, 200, "{f}");
    // In the circuit: no change (409), nothing written.
    let (st, e) = x.documents(
        "agent.sa",
        "POST",
        &docs,
        vec![("file", "tard.pdf", pdf("Tard"))],
    );
    assert_eq!(st, 409, "{e}");
    assert_eq!(
        x.send("agent.sa", "DELETE", &format!("{docs}/{doc}"), None)
            .0,
        409
    );
    let (st, f) = x.act("chef.dsi", &id, json!({ "action": "sign" }));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["status"], "completed", "{f}");
    assert_eq!(docs_of(&f).len(), 1);
    let (st, signed) = x.bytes("agent.sa", &format!("{docs}/{doc}"));
    assert_eq!(st, 200);
    // An incremental update of the new document.
    assert!(signed.starts_with(&final_pdf));
    assert!(signed.len() > final_pdf.len());
    check_pdf_with_tools(work.path(), "edited.pdf", &signed, &root);
    // The history tells every change.
    let actions: Vec<&str> = f["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for (kind, n) in [
        ("add_document", 3),
        ("replace_document", 1),
        ("remove_document", 3),
    ] {
        assert_eq!(
            actions.iter().filter(|a| **a == kind).count(),
            n,
            "{kind}: {actions:?}"
        );
    }
    // The signature certificate comes.
    assert_eq!(
        x.bytes("agent.sa", &format!("/folders/{id}/evidence.pdf"))
            .0,
        200
    );

    // Through the folder page: the forms appear for the author of a draft; adding a document
    // and removing one post back to the page.
    let (st, f) = x.create(
        "agent.sa",
        json!({ "title": "Note par la page", "document_type": "note",
                "circuit": [user_step("visa", &x.id("chef.dsi"))] }),
        vec![("file", "page.pdf", pdf("Page"))],
    );
    assert_eq!(st, 201, "{f}");
    let id = f["id"].as_str().unwrap().to_string();
    let web = signed_in(s, "agent.sa@mtnra");
    let page = web
        .get(s.url(&format!("/parapheur/{id}")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("id=\"add-documents\""), "no upload form");
    let csrf = csrf_in(&page);
    let upload = |role: &str, name: &str, bytes: Vec<u8>| {
        web.post(s.url(&format!("/parapheur/{id}/documents")))
            .multipart(
                Form::new()
                    .text("_csrf", csrf.clone())
                    .text("role", role.to_string())
                    .part("file", Part::bytes(bytes).file_name(name.to_string())),
            )
            .send()
            .unwrap()
    };
    let r = upload("main", "lettre.docx", docx());
    assert_eq!(r.status().as_u16(), 415);
    let html = r.text().unwrap();
    assert!(html.contains("id=\"action-error\"") && html.contains("convert it to PDF"));
    let r = upload("annex", "plan.png", png());
    assert_eq!(r.status().as_u16(), 303);
    let (_, f) = x.get("agent.sa", &format!("/folders/{id}"));
    let d = docs_of(&f);
    assert_eq!(d.len(), 2);
    assert_eq!(d[1].2, "annex");
    // Without the CSRF token: refused, nothing removed.
    let r = web
        .post(s.url(&format!("/parapheur/{id}/documents/{}/remove", d[1].0)))
        .form(&[("_csrf", "wrong")])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = web
        .post(s.url(&format!("/parapheur/{id}/documents/{}/remove", d[1].0)))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (_, f) = x.get("agent.sa", &format!("/folders/{id}"));
    assert_eq!(docs_of(&f).len(), 1);
    let page = web
        .get(s.url(&format!("/parapheur/{id}?fait=remove_document")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("id=\"done\""));
}

/// The rectangles of the signature widgets in a PDF, in the order written.
fn widget_rects(pdf: &[u8]) -> Vec<[f32; 4]> {
    diwan_pades::signature_widgets(pdf)
        .unwrap()
        .into_iter()
        .map(|w| w.rect)
        .collect()
}

#[test]
fn signature_blocks_go_to_the_steps_tag() {
    let s = Server::demo(&[]);
    let (mut x, work, root) = setup(&s);
    // A tag on a visa has nothing to place.
    let (st, f) = x.create(
        "agent.sa",
        json!({ "title": "Visa", "document_type": "note",
                "circuit": [{ "kind": "visa", "tag": "#v#",
                              "assignee": { "type": "user", "user": x.id("chef.dsi") } }] }),
        vec![("file", "note.pdf", pdf("Visa"))],
    );
    assert_eq!(st, 422, "{f}");
    assert!(f["detail"].as_str().unwrap_or("").contains("tag"), "{f}");
    // Two signers of one step, both at the tag "#sig-dg#" written after "Note " (Helvetica
    // 12 pt at 72,720: "Note " is 28.68 pt wide), the second below the first.
    let group = json!([x.id("chef.dsi"), x.id("chef.dev")]);
    let (st, f) = x.create(
        "agent.sa",
        json!({ "title": "Note à signer", "document_type": "note",
                "circuit": [{ "kind": "signature", "tag": "#sig-dg#", "quorum": { "type": "all" },
                              "assignee": { "type": "group", "users": group } }] }),
        vec![("file", "note.pdf", pdf("Note #sig-dg# fin"))],
    );
    assert_eq!(st, 201, "{f}");
    assert_eq!(f["steps"][0]["tag"], "#sig-dg#", "{f}");
    let id = f["id"].as_str().unwrap().to_string();
    let doc = f["documents"][0]["id"].as_str().unwrap().to_string();
    let (st, f) = x.post("agent.sa", &format!("/folders/{id}/start"), json!({}));
    assert_eq!(st, 200, "{f}");
    for who in ["chef.dsi", "chef.dev"] {
        let (st, f) = x.act(who, &id, json!({ "action": "sign" }));
        assert_eq!(st, 200, "{who}: {f}");
    }
    let (st, signed) = x.bytes("agent.sa", &format!("/folders/{id}/documents/{doc}"));
    assert_eq!(st, 200);
    let rects = widget_rects(&signed);
    assert_eq!(rects.len(), 2, "{rects:?}");
    let [x1, _, x2, top] = rects[0];
    assert!((x1 - 100.68).abs() < 1.0, "block not at the tag: {rects:?}");
    assert!((x2 - x1 - 172.0).abs() < 0.5, "{rects:?}");
    assert!(
        (720.0..736.0).contains(&top),
        "block top not at the tag's: {rects:?}"
    );
    assert!((rects[1][0] - x1).abs() < 0.5, "{rects:?}");
    assert!(
        (top - rects[1][3] - 90.0).abs() < 0.5,
        "second signer not below: {rects:?}"
    );
    check_pdf_with_tools(work.path(), "tagged.pdf", &signed, &root);
    // The blocks name the signers' function (head of their entity), in French and Arabic.
    if let Some(text) = pdf_text(&work.path().join("tagged.pdf")) {
        assert!(text.contains("Chef — "), "{text}");
        assert!(text.contains("رئيس"), "{text}");
        assert!(text.contains("بتاريخ"), "{text}");
    }
    // Without the tag in the document, the block goes to the foot of the page.
    let (st, f) = x.create(
        "agent.sa",
        json!({ "title": "Sans repère", "document_type": "note",
                "circuit": [{ "kind": "signature", "tag": "#absent#",
                              "assignee": { "type": "user", "user": x.id("chef.dsi") } }] }),
        vec![("file", "note.pdf", pdf("Sans repere"))],
    );
    assert_eq!(st, 201, "{f}");
    let id = f["id"].as_str().unwrap().to_string();
    let doc = f["documents"][0]["id"].as_str().unwrap().to_string();
    let (st, f) = x.post("agent.sa", &format!("/folders/{id}/start"), json!({}));
    assert_eq!(st, 200, "{f}");
    let (st, f) = x.act("chef.dsi", &id, json!({ "action": "sign" }));
    assert_eq!(st, 200, "{f}");
    let (_, signed) = x.bytes("agent.sa", &format!("/folders/{id}/documents/{doc}"));
    let rects = widget_rects(&signed);
    assert_eq!(rects.len(), 1, "{rects:?}");
    assert!(
        rects[0][1] < 100.0,
        "not at the foot of the page: {rects:?}"
    );
}

/// Every URL-encoded form of a signed-in user has its token checked before it is read: a wrong
/// or missing token is refused (403) and changes nothing, another kind of body is refused
/// (415), and a form that does not parse is a 400 page, not a crash.
#[test]
fn forms_check_their_token_before_anything() {
    let s = Server::demo(&[]);
    let web = signed_in(&s, "agent.sa@mtnra");
    let home = web.get(s.url("/")).send().unwrap();
    assert_eq!(home.status().as_u16(), 200);
    let csrf = csrf_in(&home.text().unwrap());
    let post = |path: &str, fields: &[(&str, &str)]| {
        let r = web.post(s.url(path)).form(fields).send().unwrap();
        let status = r.status().as_u16();
        (status, r.text().unwrap())
    };
    for path in [
        "/logout",
        "/corbeilles/actions",
        "/courriers/00000000-0000-0000-0000-000000000000/actions",
        "/parapheur/signer",
        "/parapheur/delegations",
        "/administration/webhooks",
    ] {
        let (status, page) = post(path, &[("_csrf", "wrong"), ("action", "close")]);
        assert_eq!(status, 403, "{path}: {page}");
        assert!(page.contains("reload the page"), "{path}: {page}");
        let (status, _) = post(path, &[("action", "close")]);
        assert_eq!(status, 403, "{path} without a token");
    }
    // Still signed in: the refused sign-outs did nothing.
    assert_eq!(web.get(s.url("/")).send().unwrap().status().as_u16(), 200);
    // Not a URL-encoded form.
    let r = web
        .post(s.url("/logout"))
        .header("content-type", "application/json")
        .body(format!("{{\"_csrf\":\"{csrf}\"}}"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    // The right token but a form without its action: a 400 page.
    let (status, page) = post(
        "/courriers/00000000-0000-0000-0000-000000000000/actions",
        &[("_csrf", csrf.as_str())],
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("action"), "{page}");
    // The right token signs out.
    let (status, _) = post("/logout", &[("_csrf", csrf.as_str())]);
    assert_eq!(status, 303);
    assert!(web
        .get(s.url("/"))
        .send()
        .unwrap()
        .status()
        .is_redirection());
}

/// A browser-like client (cookies kept, redirects not followed) signed in through `/login`.
fn signed_in(s: &Server, login: &str) -> Client {
    let web = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = web.get(s.url("/login")).send().unwrap().text().unwrap();
    let r = web
        .post(s.url("/login"))
        .form(&[
            ("login", login.to_string()),
            ("password", s.password(login)),
            ("_csrf", csrf_in(&page)),
        ])
        .send()
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    web
}

/// The value of a page's `_csrf` field.
fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}
