//! Replies signed in the signature book before they are registered, against the real binary on
//! SQLite and PostgreSQL: an agent routes a reply for signature; it waits in the "waiting for
//! signature" queue of the agent and the heads above, no outgoing number is used; the head of
//! the division signs the folder, and the signed letter (a PAdES signature pyHanko accepts) is
//! registered in the outgoing register with the next number, the incoming letter answered and
//! the queue empty. A rejected folder leaves the letter unanswered with the reason shown, and
//! the agent can redraft. A reply signed while its letter is on hold is registered by its author
//! once the letter resumes.

mod support;

use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Command;
use support::{engines, register_letter, require, run, Server};

struct Ctx<'a> {
    s: &'a Server,
    c: Client,
    tokens: HashMap<String, String>,
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

    fn send(&mut self, who: &str, post: Option<Value>, path: &str) -> (u16, Value) {
        let token = self.t(who);
        let url = self.s.url(&format!("/api/v1{path}"));
        let rb = match post {
            Some(b) => self.c.post(url).json(&b),
            None => self.c.get(url),
        };
        let r = rb.bearer_auth(token).send().unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&mut self, who: &str, path: &str) -> Value {
        let (st, v) = self.send(who, None, path);
        assert_eq!(st, 200, "GET {path} as {who}: {v}");
        v
    }

    fn post(&mut self, who: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(who, Some(body), path)
    }

    fn queue_total(&mut self, who: &str, queue: &str) -> i64 {
        self.get(who, &format!("/queues/{queue}"))["total"]
            .as_i64()
            .unwrap()
    }

    fn outgoing_total(&mut self) -> i64 {
        self.get("bo", "/correspondences?direction=outgoing")["total"]
            .as_i64()
            .unwrap()
    }

    /// A letter registered by the central registry office, assigned for action to Salma
    /// Berrada of the system administration service and taken up by her; its id.
    fn letter_for_agent(&mut self, subject: &str) -> String {
        let ents = self.get("bo", "/entities");
        let sa = ents["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == "DSI-DEV-SA")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let me = self.get("agent.sa", "/me");
        let agent = me["user"]["id"]
            .as_str()
            .or_else(|| me["id"].as_str())
            .unwrap()
            .to_string();
        let meta = json!({"direction": "incoming", "subject": subject,
                          "sender": {"kind": "person", "name": "Mme Samira Idrissi"}});
        let token = self.t("bo");
        let id = register_letter(&self.c, self.s, &token, &meta)["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (st, v) = self.post(
            "bo",
            &format!("/correspondences/{id}/assignments"),
            json!({"to_entity": sa, "to_user": agent, "purpose": "action"}),
        );
        assert_eq!(st, 201, "{v}");
        let (st, v) = self.post(
            "agent.sa",
            &format!("/correspondences/{id}/status"),
            json!({"status": "in_progress"}),
        );
        assert_eq!(st, 200, "{v}");
        id
    }

    fn route(&mut self, id: &str) -> Value {
        let (st, v) = self.post(
            "agent.sa",
            &format!("/correspondences/{id}/replies"),
            json!({"body": "Madame,\n\nEn réponse à votre courrier n° {{ number }} du {{ received }}, j'ai l'honneur de vous informer que votre demande est acceptée.",
                   "signer": "Le Chef de la division du développement", "route": "signature"}),
        );
        assert_eq!(st, 202, "{v}");
        v
    }
}

#[test]
fn replies_signed_in_the_signature_book() {
    for (engine, env) in engines("replysig") {
        eprintln!("engine: {engine}");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let s = Server::demo(&env);
        scenario(&s);
    }
}

fn scenario(s: &Server) {
    let mut x = Ctx {
        s,
        c: Client::new(),
        tokens: HashMap::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    let r = x.c.get(s.url("/api/v1/pki/root")).send().unwrap();
    std::fs::write(&root, r.bytes().unwrap()).unwrap();

    let id = x.letter_for_agent("Demande de raccordement au réseau");
    let outgoing_before = x.outgoing_total();
    assert_eq!(x.queue_total("agent.sa", "waiting_for_signature"), 0);

    // The agent routes her reply for signature: a started folder of document type "letter",
    // signed by default by the head of the nearest entity above with a head (the division).
    let d = x.route(&id);
    assert_eq!(d["state"], "in_circuit", "{d}");
    assert!(d["reply_id"].is_null(), "{d}");
    let folder = d["folder_id"].as_str().unwrap().to_string();
    let f = x.get("agent.sa", &format!("/folders/{folder}"));
    assert_eq!(f["status"], "in_circuit", "{f}");
    assert_eq!(f["document_type"], "letter", "{f}");
    assert!(
        f["title"].as_str().unwrap().starts_with("Réponse : "),
        "{f}"
    );

    // The letter stays in progress, in the agent's and the heads' "waiting for signature".
    let c = x.get("agent.sa", &format!("/correspondences/{id}"));
    assert_eq!(c["status"], "in_progress", "{c}");
    for who in ["agent.sa", "chef.dev", "chef.dsi"] {
        let q = x.get(who, "/queues/waiting_for_signature");
        assert_eq!(q["total"], 1, "{who}: {q}");
        assert_eq!(q["items"][0]["id"], id.as_str(), "{who}: {q}");
    }
    assert_eq!(x.queue_total("agent.kenitra", "waiting_for_signature"), 0);
    let queues = x.get("agent.sa", "/queues");
    assert!(
        queues["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["queue"] == "waiting_for_signature" && q["count"] == 1),
        "{queues}"
    );
    // No outgoing number is used while the reply is being signed.
    assert_eq!(x.outgoing_total(), outgoing_before);
    let replies = x.get("agent.sa", &format!("/correspondences/{id}/replies"));
    assert_eq!(replies["items"].as_array().unwrap().len(), 0, "{replies}");
    assert_eq!(replies["signature"][0]["state"], "in_circuit", "{replies}");
    // A second reply is refused while this one is in the circuit.
    let (st, v) = x.post(
        "agent.sa",
        &format!("/correspondences/{id}/replies"),
        json!({"body": "Encore"}),
    );
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["type"].as_str().map(|t| t.is_empty()), Some(false), "{v}");
    // The head of the division signs: the folder completes and the signed letter is registered.
    let (st, v) = x.post(
        "chef.dev",
        &format!("/folders/{folder}/actions"),
        json!({"action": "sign"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "completed", "{v}");

    let c = x.get("agent.sa", &format!("/correspondences/{id}"));
    assert_eq!(c["status"], "answered", "{c}");
    let replies = x.get("agent.sa", &format!("/correspondences/{id}/replies"));
    let items = replies["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{replies}");
    let number = items[0]["number"].as_str().unwrap().to_string();
    assert!(number.starts_with("BO-CENTRAL/D/"), "{number}");
    let draft = &replies["signature"][0];
    assert_eq!(draft["state"], "registered", "{replies}");
    assert_eq!(draft["reply_number"], number.as_str(), "{replies}");
    assert_eq!(x.outgoing_total(), outgoing_before + 1);
    for who in ["agent.sa", "chef.dev", "chef.dsi"] {
        assert_eq!(x.queue_total(who, "waiting_for_signature"), 0, "{who}");
    }

    // The registered reply is the signed letter: linked to the incoming one, its PDF carries
    // the head's PAdES signature.
    let reply_id = items[0]["id"].as_str().unwrap().to_string();
    let reply = x.get("bo", &format!("/correspondences/{reply_id}"));
    assert_eq!(reply["direction"], "outgoing", "{reply}");
    assert_eq!(reply["in_reply_to"], id.as_str(), "{reply}");
    let url = reply["documents"][0]["url"].as_str().unwrap().to_string();
    let token = x.t("bo");
    let r = x.c.get(s.url(&url)).bearer_auth(token).send().unwrap();
    assert_eq!(r.status(), 200);
    let signed = r.bytes().unwrap().to_vec();
    let main_doc = x.get("chef.dev", &format!("/folders/{folder}"))["documents"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = x.t("chef.dev");
    let signed_folder =
        x.c.get(s.url(&format!("/api/v1/folders/{folder}/documents/{main_doc}")))
            .bearer_auth(token)
            .send()
            .unwrap()
            .bytes()
            .unwrap()
            .to_vec();
    assert_eq!(
        signed, signed_folder,
        "the registered reply is the folder's final version"
    );
    assert!(
        signed.windows(10).any(|w| w == b"/ByteRange"),
        "no signature in the reply"
    );
    let p = dir.path().join("reponse.pdf");
    std::fs::write(&p, &signed).unwrap();
    if require("pyhanko", &["--version"]) {
        let (ok, out) = run(Command::new("pyhanko")
            .args(["sign", "validate", "--trust"])
            .arg(&root)
            .arg("--trust-replace")
            .arg(&p));
        assert!(ok, "pyHanko refused the signed reply:\n{out}");
    }
    // Registering it again is refused.
    let (st, v) = x.post(
        "agent.sa",
        &format!("/correspondences/{id}/replies/register-signed"),
        json!({}),
    );
    assert_eq!(st, 409, "{v}");

    // Rejected: the letter stays unanswered, the reason is shown, the agent redrafts.
    let id2 = x.letter_for_agent("Demande d'attestation");
    let before = x.outgoing_total();
    let d = x.route(&id2);
    let folder2 = d["folder_id"].as_str().unwrap().to_string();
    let (st, v) = x.post(
        "chef.dev",
        &format!("/folders/{folder2}/actions"),
        json!({"action": "reject", "reason": "Citer la circulaire de 2024"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "rejected", "{v}");
    let c = x.get("agent.sa", &format!("/correspondences/{id2}"));
    assert_eq!(c["status"], "in_progress", "{c}");
    let replies = x.get("agent.sa", &format!("/correspondences/{id2}/replies"));
    assert_eq!(replies["items"].as_array().unwrap().len(), 0, "{replies}");
    assert_eq!(replies["signature"][0]["state"], "rejected", "{replies}");
    assert_eq!(
        replies["signature"][0]["rejection_reason"], "Citer la circulaire de 2024",
        "{replies}"
    );
    assert_eq!(x.queue_total("agent.sa", "waiting_for_signature"), 0);
    assert_eq!(x.outgoing_total(), before);
    let d = x.route(&id2);
    assert_eq!(d["state"], "in_circuit", "{d}");
    assert_ne!(d["folder_id"], folder2.as_str());
    assert_eq!(x.queue_total("agent.sa", "waiting_for_signature"), 1);

    // Signed while the letter was on hold: the registration cannot happen then (on hold is not
    // answered); the signed reply waits, and its author registers it once the letter resumes.
    let id3 = x.letter_for_agent("Demande de copie conforme");
    let d = x.route(&id3);
    let folder3 = d["folder_id"].as_str().unwrap().to_string();
    let (st, v) = x.post(
        "agent.sa",
        &format!("/correspondences/{id3}/status"),
        json!({"status": "on_hold", "reason": "Pièce manquante"}),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = x.post(
        "chef.dev",
        &format!("/folders/{folder3}/actions"),
        json!({"action": "sign"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "completed", "{v}");
    let replies = x.get("agent.sa", &format!("/correspondences/{id3}/replies"));
    assert_eq!(replies["signature"][0]["state"], "completed", "{replies}");
    assert_eq!(replies["items"].as_array().unwrap().len(), 0, "{replies}");
    let (st, v) = x.post(
        "agent.sa",
        &format!("/correspondences/{id3}/replies/register-signed"),
        json!({}),
    );
    assert_eq!(st, 409, "still on hold: {v}");
    let (st, v) = x.post(
        "agent.kenitra",
        &format!("/correspondences/{id3}/replies/register-signed"),
        json!({}),
    );
    assert_eq!(st, 404, "{v}");
    let (st, v) = x.post(
        "agent.sa",
        &format!("/correspondences/{id3}/status"),
        json!({"status": "in_progress"}),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = x.post(
        "agent.sa",
        &format!("/correspondences/{id3}/replies/register-signed"),
        json!({}),
    );
    assert_eq!(st, 201, "{v}");
    let c = x.get("agent.sa", &format!("/correspondences/{id3}"));
    assert_eq!(c["status"], "answered", "{c}");
    let replies = x.get("agent.sa", &format!("/correspondences/{id3}/replies"));
    assert_eq!(replies["signature"][0]["state"], "registered", "{replies}");
    assert_eq!(replies["items"][0]["number"], v["number"], "{replies}");

    // Bad requests change nothing.
    let (st, v) = x.post(
        "agent.sa",
        &format!("/correspondences/{id}/replies"),
        json!({"body": "x", "route": "fax"}),
    );
    assert_eq!(st, 422, "{v}");
}
