//! Mail between administrations of the platform, against the real binary on SQLite and
//! PostgreSQL: delivery into the other administration's incoming register, the sender seeing the
//! recipient's number, evidence events sealed and time-stamped (checked with OpenSSL and an
//! independent canonicalisation in Python), refusal by the recipient, rejection by the platform,
//! isolation between the two administrations, and no number consumed when a delivery fails.

mod support;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::process::Command;
use support::*;

/// Writes the parts of an evidence event to `dir`, independently of the server's code: the
/// canonical statement (RFC 8785 for these ASCII keys: sorted keys, no spaces, UTF-8), the seal
/// certificate, the signature value and the time-stamp token.
const SPLIT_EVIDENCE: &str = r#"
import sys, json, base64, os
d = json.load(open(sys.argv[1]))
out = sys.argv[2]
sig = d.pop('signature')
open(os.path.join(out, 'statement.bin'), 'wb').write(
    json.dumps(d, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode())
open(os.path.join(out, 'seal.der'), 'wb').write(base64.b64decode(sig['certificates'][0]))
open(os.path.join(out, 'sig.der'), 'wb').write(base64.b64decode(sig['value']))
open(os.path.join(out, 'token.der'), 'wb').write(base64.b64decode(sig['timestamp']))
"#;

struct Ctx<'a> {
    s: &'a Server,
    c: Client,
    env: Vec<(String, String)>,
}

impl Ctx<'_> {
    fn get(&self, token: &str, path: &str) -> reqwest::blocking::Response {
        self.c
            .get(self.s.url(path))
            .bearer_auth(token)
            .send()
            .unwrap()
    }
    fn post(&self, token: &str, path: &str, body: &Value) -> reqwest::blocking::Response {
        self.c
            .post(self.s.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .unwrap()
    }
    fn outgoing(&self, token: &str, subject: &str) -> String {
        let meta = json!({"direction": "outgoing", "subject": subject,
            "recipient": {"kind": "administration", "name": "Commune de Tanger", "id_number": "CTANGER"}});
        register_with_file(&self.c, self.s, token, &meta, "lettre.pdf", pdf(subject))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn deliver(&self, token: &str, id: &str, to: &str) -> reqwest::blocking::Response {
        self.post(
            token,
            &format!("/api/v1/correspondences/{id}/deliveries"),
            &json!({ "administration": to }),
        )
    }
    /// The incoming records of an administration as seen by its registry office.
    fn incoming(&self, token: &str) -> Vec<Value> {
        let r = self.get(
            token,
            "/api/v1/correspondences?direction=incoming&per_page=200",
        );
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    }
    fn evidence(&self, token: &str, id: &str) -> Vec<Value> {
        let r = self.get(token, &format!("/api/v1/correspondences/{id}/evidence"));
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn types(d: &Value) -> Vec<String> {
    d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

fn seq_of(number: &str) -> u64 {
    number.rsplit('/').next().unwrap().parse().unwrap()
}

/// Checks an evidence file with tools we did not write; `false` when the tools are missing.
fn check_with_openssl(dir: &std::path::Path, file: &std::path::Path, root: &std::path::Path) {
    if !(require("openssl", &["version"]) && require("python3", &["--version"])) {
        return;
    }
    let (ok, out) = run(Command::new("python3")
        .args(["-c", SPLIT_EVIDENCE])
        .arg(file)
        .arg(dir));
    assert!(ok, "{out}");
    let p = |n: &str| dir.join(n);
    let (ok, out) = run(Command::new("openssl")
        .args(["x509", "-inform", "DER", "-in"])
        .arg(p("seal.der"))
        .arg("-out")
        .arg(p("seal.pem")));
    assert!(ok, "{out}");
    let (ok, out) = run(Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(p("seal.pem"))
        .arg("-out")
        .arg(p("seal.pub")));
    assert!(ok, "{out}");
    let (ok, out) = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(p("seal.pub"))
        .arg("-signature")
        .arg(p("sig.der"))
        .arg(p("statement.bin")));
    assert!(ok && out.contains("Verified OK"), "openssl dgst:\n{out}");
    let (ok, out) = run(Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(root)
        .arg(p("seal.pem")));
    assert!(ok, "the seal does not chain to the root:\n{out}");
    let (ok, out) = run(Command::new("openssl")
        .args(["ts", "-verify", "-token_in", "-in"])
        .arg(p("token.der"))
        .arg("-data")
        .arg(p("sig.der"))
        .arg("-CAfile")
        .arg(root));
    assert!(
        ok && out.contains("Verification: OK"),
        "openssl ts -verify:\n{out}"
    );
}

/// Runs the scenario; returns an outgoing letter of A not delivered yet, and B's last number.
fn scenario(s: &Server, env: Vec<(String, String)>) -> (String, u64) {
    let x = Ctx {
        s,
        c: Client::new(),
        env,
    };
    let a = s.token("bo@mtnra");
    let b = s.token("bo@ctanger");
    // B's register is listed by its auditor, who sees confidential mail too.
    let b_audit = s.token("audit@ctanger");
    let tmp = tempfile::tempdir().unwrap();

    // The directory lists the administrations one can send to.
    let dir: Value = x.get(&a, "/api/v1/administrations").json().unwrap();
    assert!(dir["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["code"] == "CTANGER"));

    // The demo already delivered one letter from MTNRA to CTANGER.
    let before = x.incoming(&b_audit);
    let demo = before
        .iter()
        .find(|c| c["channel"] == "inter_administration")
        .expect("the demo delivery");
    let last_b = before
        .iter()
        .map(|c| seq_of(c["number"].as_str().unwrap()))
        .max()
        .unwrap();
    assert!(seq_of(demo["number"].as_str().unwrap()) <= last_b);

    // A sends an outgoing letter to B.
    let a1 = x.outgoing(&a, "Transmission du plan d'aménagement");
    let r = x.deliver(&a, &a1, "CTANGER");
    assert_eq!(r.status(), 201);
    let d: Value = r.json().unwrap();
    assert_eq!(d["state"], "consigned", "{d}");
    assert_eq!(d["side"], "sent");
    let b_number = d["recipient"]["number"].as_str().unwrap().to_string();
    assert_eq!(seq_of(&b_number), last_b + 1, "B's next number");
    assert_eq!(
        types(&d),
        ["SubmissionAcceptance", "ContentConsignment"],
        "{d}"
    );
    let consignment = &d["events"][1];
    assert_eq!(consignment["recipient_number"], b_number.as_str());

    // B's incoming register holds it, numbered, with the same document.
    let b_items = x.incoming(&b_audit);
    let b1 = b_items
        .iter()
        .find(|c| c["number"] == b_number.as_str())
        .expect("the delivered record in B's register");
    let b1_id = b1["id"].as_str().unwrap().to_string();
    let a_rec: Value = x
        .get(&a, &format!("/api/v1/correspondences/{a1}"))
        .json()
        .unwrap();
    let b_rec: Value = x
        .get(&b, &format!("/api/v1/correspondences/{b1_id}"))
        .json()
        .unwrap();
    assert_eq!(b_rec["channel"], "inter_administration");
    assert_eq!(b_rec["direction"], "incoming");
    assert_eq!(b_rec["external_ref"], a_rec["number"]);
    assert_eq!(b_rec["party_kind"], "administration");
    assert_eq!(
        b_rec["documents"][0]["sha256"], a_rec["documents"][0]["sha256"],
        "the document is carried as is"
    );
    assert_eq!(a_rec["status"], "sent", "the sender's record is sent");

    // Isolation: neither side reads the other's record.
    assert_eq!(
        x.get(&a, &format!("/api/v1/correspondences/{b1_id}"))
            .status(),
        404
    );
    assert_eq!(
        x.get(&a, &format!("/api/v1/correspondences/{b1_id}/evidence"))
            .status(),
        404
    );
    assert_eq!(
        x.get(&b, &format!("/api/v1/correspondences/{a1}")).status(),
        404
    );
    assert_eq!(
        x.get(&b, &format!("/api/v1/correspondences/{a1}/evidence"))
            .status(),
        404
    );

    // B looks at it: a handover event, seen by both sides.
    let seen_b = x.evidence(&b, &b1_id);
    assert_eq!(seen_b.len(), 1);
    assert_eq!(seen_b[0]["side"], "received");
    assert_eq!(seen_b[0]["sender"]["number"], a_rec["number"]);
    let seen_a = x.evidence(&a, &a1);
    assert_eq!(seen_a[0]["recipient"]["number"], b_number.as_str());
    assert_eq!(
        types(&seen_a[0]),
        [
            "SubmissionAcceptance",
            "ContentConsignment",
            "ContentHandover"
        ]
    );

    // Every event's evidence verifies: with diwan verify, and with OpenSSL alone.
    let root = tmp.path().join("root.pem");
    let out = Command::new(BIN)
        .args(["pki", "export-root", "--data"])
        .arg(s.data())
        .envs(x.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&root, &out.stdout).unwrap();
    for (i, e) in seen_a[0]["events"].as_array().unwrap().iter().enumerate() {
        let id = e["id"].as_str().unwrap();
        let r = x.get(&a, &format!("/api/v1/evidence/{id}"));
        assert_eq!(r.status(), 200);
        let body = r.bytes().unwrap().to_vec();
        // B downloads the very same evidence.
        let rb = x.get(&b, &format!("/api/v1/evidence/{id}"));
        assert_eq!(rb.status(), 200);
        assert_eq!(rb.bytes().unwrap().to_vec(), body);
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["type"], "diwan.evidence");
        assert_eq!(doc["event"], e["type"]);
        assert_eq!(doc["message_id"], seen_a[0]["id"]);
        assert_eq!(doc["sender"]["administration"], "MTNRA");
        assert_eq!(doc["recipient"]["administration"], "CTANGER");
        assert_eq!(
            doc["content"]["documents"][0]["sha256"],
            a_rec["documents"][0]["sha256"]
        );
        assert!(doc["event_time"].as_str().is_some());
        assert!(doc["issuer"]["name"].as_str().is_some());
        if e["type"] != "SubmissionAcceptance" {
            assert_eq!(doc["recipient"]["number"], b_number.as_str());
        }
        let file = tmp.path().join(format!("evidence-{i}.json"));
        std::fs::write(&file, &body).unwrap();
        let sub = tmp.path().join(format!("e{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        check_with_openssl(&sub, &file, &root);
        let (ok, out) = run(Command::new(BIN)
            .args(["verify", "--trust"])
            .arg(&root)
            .arg(&file));
        assert!(ok, "diwan verify refused the evidence:\n{out}");
        // One changed character breaks the seal, for both checkers.
        let mut tampered = doc.clone();
        tampered["recipient"]["administration"] = json!("CTANGEX");
        let tfile = tmp.path().join(format!("tampered-{i}.json"));
        std::fs::write(&tfile, serde_json::to_vec(&tampered).unwrap()).unwrap();
        let (ok, out) = run(Command::new(BIN)
            .args(["verify", "--trust"])
            .arg(&root)
            .arg(&tfile));
        assert!(!ok, "diwan verify accepted tampered evidence:\n{out}");
        if require("openssl", &["version"]) {
            let tsub = tmp.path().join(format!("t{i}"));
            std::fs::create_dir_all(&tsub).unwrap();
            let (ok, _) = run(Command::new("python3")
                .args(["-c", SPLIT_EVIDENCE])
                .arg(&tfile)
                .arg(&tsub));
            assert!(ok);
            let (ok, _) = run(Command::new("openssl")
                .args(["x509", "-inform", "DER", "-pubkey", "-noout", "-in"])
                .arg(tsub.join("seal.der"))
                .arg("-out")
                .arg(tsub.join("seal.pub")));
            assert!(ok);
            let (ok, out) = run(Command::new("openssl")
                .args(["dgst", "-sha256", "-verify"])
                .arg(tsub.join("seal.pub"))
                .arg("-signature")
                .arg(tsub.join("sig.der"))
                .arg(tsub.join("statement.bin")));
            assert!(!ok, "openssl accepted a tampered statement:\n{out}");
        }
    }
    // Someone of A who may not read the record does not get its evidence either.
    let agent = s.token("agent.sa@mtnra");
    let ev = seen_a[0]["events"][0]["id"].as_str().unwrap();
    assert_eq!(
        x.get(&agent, &format!("/api/v1/evidence/{ev}")).status(),
        404
    );
    assert_eq!(
        x.get(&a, "/api/v1/evidence/00000000-0000-0000-0000-000000000000")
            .status(),
        404
    );

    // Delivering it again to the same administration: 409, and no number consumed.
    let r = x.deliver(&a, &a1, "CTANGER");
    assert_eq!(r.status(), 409);
    // An incoming record is not delivered: 409.
    let r = x.deliver(&b, &b1_id, "MTNRA");
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Unknown administration, own administration: 422.
    assert_eq!(x.deliver(&a, &a1, "NOPE").status(), 422);
    assert_eq!(x.deliver(&a, &a1, "MTNRA").status(), 422);

    // B refuses another delivery, with a reason: A sees the rejection and the reason.
    let a2 = x.outgoing(&a, "Demande d'avis sur le lotissement");
    let d2: Value = x.deliver(&a, &a2, "CTANGER").json().unwrap();
    assert_eq!(d2["state"], "consigned");
    let b2_number = d2["recipient"]["number"].as_str().unwrap().to_string();
    assert_eq!(
        seq_of(&b2_number),
        seq_of(&b_number) + 1,
        "no number lost by the refused attempts"
    );
    let b2_id = x
        .incoming(&b_audit)
        .iter()
        .find(|c| c["number"] == b2_number.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/correspondences/{b2_id}/refuse-delivery");
    assert_eq!(x.post(&b, &path, &json!({ "reason": "  " })).status(), 422);
    // A cannot refuse in B's name.
    assert_eq!(
        x.post(
            &a,
            &format!("/api/v1/correspondences/{a2}/refuse-delivery"),
            &json!({ "reason": "x" })
        )
        .status(),
        409
    );
    let reason = "Ne relève pas des attributions de la commune";
    let r = x.post(&b, &path, &json!({ "reason": reason }));
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["state"], "refused");
    assert_eq!(
        x.post(&b, &path, &json!({ "reason": reason })).status(),
        409
    );
    let seen = x.evidence(&a, &a2);
    assert_eq!(seen[0]["state"], "refused");
    assert_eq!(seen[0]["reason"], reason);
    let rejection = seen[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "RejectionByRecipient")
        .expect("a rejection event");
    assert_eq!(rejection["reason"], reason);
    let doc: Value = x
        .get(
            &a,
            &format!("/api/v1/evidence/{}", rejection["id"].as_str().unwrap()),
        )
        .json()
        .unwrap();
    assert_eq!(doc["reason"]["text"], reason);
    let file = tmp.path().join("rejection.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (ok, out) = run(Command::new(BIN)
        .args(["verify", "--trust"])
        .arg(&root)
        .arg(&file));
    assert!(ok, "{out}");
    let b2: Value = x
        .get(&b, &format!("/api/v1/correspondences/{b2_id}"))
        .json()
        .unwrap();
    assert_eq!(b2["status"], "closed_without_follow_up");

    // An administration without an incoming register: the platform refuses the submission,
    // with a reason, and nothing is registered there.
    let out = Command::new(BIN)
        .args(["admin", "--data"])
        .arg(s.data())
        .args([
            "create-administration",
            "NOREG",
            "--kind",
            "local_authority",
            "--name-fr",
            "Commune sans bureau d'ordre",
            "--name-ar",
            "جماعة بدون مكتب ضبط",
        ])
        .envs(x.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a3 = x.outgoing(&a, "Invitation à un atelier");
    let r = x.deliver(&a, &a3, "NOREG");
    assert_eq!(r.status(), 201);
    let d3: Value = r.json().unwrap();
    assert_eq!(d3["state"], "rejected", "{d3}");
    assert_eq!(d3["reason_code"], "no_incoming_register");
    assert!(d3["recipient"]["number"].is_null());
    assert_eq!(types(&d3), ["SubmissionRejection"]);
    assert!(d3["events"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("no incoming register"));
    let doc: Value = x
        .get(
            &a,
            &format!(
                "/api/v1/evidence/{}",
                d3["events"][0]["id"].as_str().unwrap()
            ),
        )
        .json()
        .unwrap();
    assert_eq!(doc["reason"]["code"], "no_incoming_register");
    let a3_rec: Value = x
        .get(&a, &format!("/api/v1/correspondences/{a3}"))
        .json()
        .unwrap();
    assert_eq!(
        a3_rec["status"], "registered",
        "a rejected delivery sends nothing"
    );

    // All or nothing under concurrency: one letter delivered four times at once to B is
    // consigned once; the others fail and B's numbering has no gap.
    let a4 = x.outgoing(&a, "Note de cadrage");
    let results: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| sc.spawn(|| x.deliver(&a, &a4, "CTANGER").status().as_u16()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|s| **s == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|s| *s == 201 || *s == 409),
        "{results:?}"
    );
    let a5 = x.outgoing(&a, "Rappel");
    let d5: Value = x.deliver(&a, &a5, "CTANGER").json().unwrap();
    assert_eq!(
        seq_of(d5["recipient"]["number"].as_str().unwrap()),
        seq_of(&b2_number) + 2,
        "B's numbers are gapless"
    );
    let numbers: Vec<u64> = x
        .incoming(&b_audit)
        .iter()
        .map(|c| seq_of(c["number"].as_str().unwrap()))
        .collect();
    let max = *numbers.iter().max().unwrap();
    assert_eq!(numbers.len() as u64, max, "gapless: {numbers:?}");
    (x.outgoing(&a, "Compte rendu de la réunion"), max)
}

#[test]
fn mail_between_administrations_with_evidence() {
    for (engine, env) in engines("exchange") {
        eprintln!("engine: {engine}");
        let env_ref: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut s = Server::demo(&env_ref);
        let (letter, last_b) = scenario(&s, env.clone());
        // The platform now delivers smaller documents than the letter: the submission is
        // rejected with the reason, and B's register does not move.
        assert!(s.stop());
        let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
        drop(s);
        let mut small = env_ref.clone();
        small.push(("DIWAN_MAX_FILE_BYTES", "64"));
        let s = Server::start(dir, &small);
        let c = Client::new();
        let a = s.token("bo@mtnra");
        let r = c
            .post(s.url(&format!("/api/v1/correspondences/{letter}/deliveries")))
            .bearer_auth(&a)
            .json(&json!({ "administration": "CTANGER" }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
        let d: Value = r.json().unwrap();
        assert_eq!(d["state"], "rejected", "{d}");
        assert_eq!(d["reason_code"], "content_too_large");
        assert_eq!(types(&d), ["SubmissionRejection"]);
        let audit = s.token("audit@ctanger");
        let list: Value = c
            .get(s.url("/api/v1/correspondences?direction=incoming&per_page=200"))
            .bearer_auth(&audit)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(list["total"].as_u64().unwrap(), last_b, "nothing reached B");
    }
}
