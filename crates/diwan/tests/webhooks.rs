//! Webhooks against the real binary: an administrator registers endpoints served by this test,
//! a correspondence is registered, assigned, answered and closed through the API, and the events
//! arrive in order with the right types and a signature this test verifies with its own HMAC;
//! an endpoint that answers 500 is retried; non-administrators and bad URLs are refused.

mod support;
use hmac::{Hmac, Mac};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// One request received by an endpoint.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    /// Header names lowercased.
    headers: HashMap<String, String>,
    body: Vec<u8>,
    /// What the endpoint answered.
    answered: u16,
}

/// A small HTTP/1.1 endpoint on 127.0.0.1:0 recording what it receives; it answers 500 to the
/// first `fail_first` requests, then 204.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/diwan", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(fail_first));
        let sink = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sink, failures) = (sink.clone(), failures.clone());
                std::thread::spawn(move || serve(stream, &sink, &failures));
            }
        });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests were answered 2xx.
    fn wait_delivered(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let ok: Vec<Received> = self
                .received()
                .into_iter()
                .filter(|r| r.answered < 300)
                .collect();
            if ok.len() >= n {
                return ok;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} events delivered: {:?}",
                ok.len(),
                self.received()
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Serves one connection (keep-alive: several requests).
fn serve(stream: TcpStream, sink: &Mutex<Vec<Received>>, failures: &AtomicUsize) {
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let fail = failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let answered = if fail { 500 } else { 204 };
        sink.lock().unwrap().push(Received {
            method,
            path,
            headers,
            body,
            answered,
        });
        let reply = if fail {
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nboom"
        } else {
            "HTTP/1.1 204 No Content\r\n\r\n"
        };
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// The receiver's own check of `Diwan-Signature`: HMAC-SHA256 keyed with the secret over
/// "<Diwan-Timestamp>.<body>", in lowercase hex after "sha256=", compared in constant time.
fn verify(secret: &str, r: &Received) -> bool {
    let (Some(ts), Some(sig)) = (
        r.headers.get("diwan-timestamp"),
        r.headers.get("diwan-signature"),
    ) else {
        return false;
    };
    let Some(hex_sig) = sig.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = (0..hex_sig.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex_sig.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    mac.verify_slice(&expected).is_ok()
}

struct Api {
    s: Server,
    client: Client,
    tokens: HashMap<&'static str, String>,
}

impl Api {
    fn call(
        &self,
        method: reqwest::Method,
        login: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let mut req = self
            .client
            .request(method, self.s.url(path))
            .bearer_auth(&self.tokens[login]);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().unwrap();
        let code = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (code, ct, r.json().unwrap_or(Value::Null))
    }

    fn post(&self, login: &str, path: &str, body: Value, expect: u16) -> Value {
        let (code, _, v) = self.call(reqwest::Method::POST, login, path, Some(body.clone()));
        assert_eq!(code, expect, "{login} POST {path} {body}: {v}");
        v
    }

    fn get(&self, login: &str, path: &str) -> (u16, Value) {
        let (code, _, v) = self.call(reqwest::Method::GET, login, path, None);
        (code, v)
    }

    fn register(&self, subject: &str) -> (String, String) {
        let meta = json!({"direction": "incoming", "subject": subject,
            "sender": {"kind": "person", "name": "Imane Tahiri"}});
        let v = register_letter(&self.client, &self.s, &self.tokens["bo@mtnra"], &meta);
        (
            v["id"].as_str().unwrap().to_string(),
            v["number"].as_str().unwrap().to_string(),
        )
    }
}

#[test]
fn webhooks_are_signed_ordered_retried_and_for_administrators_only() {
    for (engine, db_env) in engines("diwan_webhooks") {
        eprintln!("webhooks on {engine}");
        let mut env: Vec<(&str, &str)> = db_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("DIWAN_WEBHOOKS__RETRY_BASE_SECONDS", "1"));
        env.push(("DIWAN_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES", "true"));
        scenario(Server::demo(&env));
    }
}

fn scenario(s: Server) {
    let mut tokens = HashMap::new();
    for login in ["admin@mtnra", "bo@mtnra", "chef.dsi@mtnra", "admin@ctanger"] {
        tokens.insert(login, s.token(login));
    }
    let api = Api {
        s,
        client: Client::new(),
        tokens,
    };
    let ok = Receiver::start(0);
    let flaky = Receiver::start(1);

    // Administrators only; bad URLs and unknown events are refused with a problem document.
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": ok.url})),
        ),
        (reqwest::Method::GET, "/api/v1/webhooks", None),
    ] {
        for login in ["bo@mtnra", "chef.dsi@mtnra"] {
            let (code, ct, v) = api.call(method.clone(), login, path, body.clone());
            assert_eq!(code, 403, "{login} {method} {path}: {v}");
            assert!(ct.starts_with("application/problem+json"), "{ct}");
        }
    }
    for (body, field) in [
        (json!({"url": "ftp://127.0.0.1/x"}), "url"),
        (json!({"url": "javascript:alert(1)"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": ok.url, "events": ["deleted"]}), "events"),
        (json!({"url": ok.url, "events": []}), "events"),
    ] {
        let (code, ct, v) = api.call(
            reqwest::Method::POST,
            "admin@mtnra",
            "/api/v1/webhooks",
            Some(body.clone()),
        );
        assert_eq!(code, 422, "{body}: {v}");
        assert!(ct.starts_with("application/problem+json"), "{ct}");
        assert!(v.to_string().contains(field), "{v}");
    }

    // Two endpoints: one for every event, one for status changes that fails once.
    let a = api.post(
        "admin@mtnra",
        "/api/v1/webhooks",
        json!({"url": ok.url, "events": ["status_changed", "reply_registered"]}),
        201,
    );
    let b = api.post(
        "admin@mtnra",
        "/api/v1/webhooks",
        json!({"url": flaky.url, "events": ["status_changed"]}),
        201,
    );
    let secret_a = a["secret"].as_str().unwrap().to_string();
    let secret_b = b["secret"].as_str().unwrap().to_string();
    assert!(secret_a.len() >= 32 && secret_a != secret_b);
    let (code, list) = api.get("admin@mtnra", "/api/v1/webhooks");
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains("secret") && !list.to_string().contains(&secret_a),
        "secrets are shown once: {list}"
    );
    // Another administration sees none of them.
    let (_, other) = api.get("admin@ctanger", "/api/v1/webhooks");
    assert_eq!(other["items"].as_array().unwrap().len(), 0);

    // A correspondence registered, assigned, answered and closed.
    let (id, number) = api.register("Demande de raccordement au réseau");
    let (_, ents) = api.get("admin@mtnra", "/api/v1/entities");
    let dsi = ents["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "DSI")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Refused actions queue nothing.
    api.post(
        "bo@mtnra",
        &format!("/api/v1/correspondences/{id}/status"),
        json!({"status": "closed"}),
        409,
    );
    api.post(
        "bo@mtnra",
        &format!("/api/v1/correspondences/{id}/assignments"),
        json!({"to_entity": dsi, "purpose": "action"}),
        201,
    );
    let reply = api.post(
        "chef.dsi@mtnra",
        &format!("/api/v1/correspondences/{id}/replies"),
        json!({"body": "Réponse à votre courrier n° {{ number }}.", "send_email": false}),
        201,
    );
    api.post(
        "bo@mtnra",
        &format!("/api/v1/correspondences/{id}/status"),
        json!({"status": "closed", "outcome": "Raccordement accordé"}),
        200,
    );

    // Endpoint A: every event about the correspondence, in order, signed.
    let got = ok.wait_delivered(6);
    let mut seen_ids = std::collections::BTreeSet::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut events = Vec::new();
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hooks/diwan");
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(verify(&secret_a, r), "bad signature on {r:?}");
        assert!(!verify(&secret_b, r), "verified with the wrong secret");
        let ts: i64 = r.headers["diwan-timestamp"].parse().unwrap();
        assert!((ts - now).abs() < 120, "timestamp {ts} vs {now}");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(r.headers["diwan-event"], body["type"].as_str().unwrap());
        assert!(seen_ids.insert(r.headers["diwan-delivery"].clone()));
        assert_eq!(body["administration"], "MTNRA");
        assert!(body["id"].is_string() && body["created_at"].is_string());
        // No personal data: the party is not in events.
        assert!(!String::from_utf8_lossy(&r.body).contains("Imane"));
        events.push(body);
    }
    let about_it: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["correspondence"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pair = |t: &str, s: &str| (t.to_string(), s.to_string());
    assert_eq!(
        about_it,
        vec![
            pair("status_changed", "registered"),
            pair("status_changed", "assigned"),
            // The reply itself, registered in the outgoing register.
            pair("status_changed", "registered"),
            pair("status_changed", "answered"),
            pair("reply_registered", "answered"),
            pair("status_changed", "closed"),
        ],
        "{events:#?}"
    );
    assert_eq!(events[0]["correspondence"]["id"], id.as_str());
    assert_eq!(events[0]["correspondence"]["number"], number.as_str());
    assert_eq!(
        events[0]["correspondence"]["subject"],
        "Demande de raccordement au réseau"
    );
    assert!(events[0]["correspondence"]["previous_status"].is_null());
    assert_eq!(events[1]["correspondence"]["previous_status"], "registered");
    assert_eq!(
        events[1]["correspondence"]["handling_entity"]["code"],
        "DSI"
    );
    assert_eq!(events[2]["correspondence"]["id"], reply["id"]);
    assert_eq!(events[2]["correspondence"]["direction"], "outgoing");
    assert_eq!(events[4]["reply"]["number"], reply["number"]);
    assert_eq!(events[5]["correspondence"]["previous_status"], "answered");

    // Endpoint B: status changes only; the first attempt answered 500 and was retried with the
    // same delivery id and body.
    let got_b = flaky.wait_delivered(5);
    let all_b = flaky.received();
    assert_eq!(all_b[0].answered, 500);
    let first_id = &all_b[0].headers["diwan-delivery"];
    let retried: Vec<&Received> = all_b
        .iter()
        .filter(|r| &r.headers["diwan-delivery"] == first_id)
        .collect();
    assert_eq!(retried.len(), 2, "one failure, one retry");
    assert_eq!(retried[0].body, retried[1].body);
    assert_eq!(retried[1].answered, 204);
    for r in &got_b {
        assert!(verify(&secret_b, r));
        assert_eq!(r.headers["diwan-event"], "status_changed");
    }
    let b_id = b["id"].as_str().unwrap();
    let (code, dl) = api.get(
        "admin@mtnra",
        &format!("/api/v1/webhooks/{b_id}/deliveries"),
    );
    assert_eq!(code, 200, "{dl}");
    let items = dl["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{dl}");
    let first = items.iter().find(|d| d["id"] == first_id.as_str()).unwrap();
    assert_eq!(first["state"], "delivered", "{first}");
    assert_eq!(first["attempts"], 2);
    assert_eq!(first["last_status"], 204);
    assert!(items.iter().all(|d| d["state"] == "delivered"), "{dl}");
    let (code, _) = api.get(
        "chef.dsi@mtnra",
        &format!("/api/v1/webhooks/{b_id}/deliveries"),
    );
    assert_eq!(code, 403);

    // Removal: another administration cannot, the administrator can; nothing more is sent.
    let (code, _, _) = api.call(
        reqwest::Method::DELETE,
        "admin@ctanger",
        &format!("/api/v1/webhooks/{b_id}"),
        None,
    );
    assert_eq!(code, 404);
    let (code, _, _) = api.call(
        reqwest::Method::DELETE,
        "admin@mtnra",
        &format!("/api/v1/webhooks/{b_id}"),
        None,
    );
    assert_eq!(code, 204);
    let (_, list) = api.get("admin@mtnra", "/api/v1/webhooks");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let before_b = flaky.received().len();
    api.register("Deuxième courrier");
    ok.wait_delivered(7);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        flaky.received().len(),
        before_b,
        "a removed endpoint hears nothing"
    );
}
