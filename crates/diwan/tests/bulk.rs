//! Bulk actions from a queue, against the real binary: many correspondences assigned at once,
//! each checked as if alone (a refused one is reported, the others go through), bad requests
//! refused whole with a precise problem and no change.

mod support;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use support::*;

fn post(client: &Client, s: &Server, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = client
        .post(s.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().unwrap_or(Value::Null))
}

fn get(client: &Client, s: &Server, token: &str, path: &str) -> Value {
    client
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn bulk_assignment_and_take_up() {
    let s = Server::demo(&[]);
    let client = Client::new();
    let clerk = s.token("bo@mtnra");
    let ents = get(&client, &s, &clerk, "/api/v1/entities");
    let id_of = |code: &str| {
        ents["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == code)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let dsi = id_of("DSI");
    let mut ids = Vec::new();
    for i in 0..5 {
        let meta = json!({"direction": "incoming", "subject": format!("Lot de courrier {i}"),
                          "sender": {"kind": "person", "name": "Citoyen Exemple"}});
        ids.push(
            register_letter(&client, &s, &clerk, &meta)["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // One of them is closed first: assigning it is refused, the four others go through.
    let (code, v) = post(
        &client,
        &s,
        &clerk,
        &format!("/api/v1/correspondences/{}/status", ids[4]),
        &json!({"status": "closed_without_follow_up", "reason": "Doublon"}),
    );
    assert_eq!(code, 200, "{v}");
    let mut with_dup = ids.clone();
    with_dup.push(ids[0].clone());
    let (code, v) = post(
        &client,
        &s,
        &clerk,
        "/api/v1/correspondences/bulk",
        &json!({"ids": with_dup, "assign": {"to_entity": dsi, "purpose": "action", "instructions": "Pour traitement"}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["succeeded"], 4, "{v}");
    assert_eq!(v["failed"], 1, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "a duplicate id is acted on once: {v}");
    assert_eq!(results[4]["id"], ids[4].as_str());
    assert_eq!(results[4]["ok"], false);
    assert!(results[4]["status"].as_u64().unwrap() >= 400);
    for id in &ids[..4] {
        let a = get(
            &client,
            &s,
            &clerk,
            &format!("/api/v1/correspondences/{id}/assignments"),
        );
        assert_eq!(a["items"].as_array().unwrap().len(), 1, "{a}");
    }

    // The head of the IT directorate takes the four up at once.
    let head = s.token("chef.dsi@mtnra");
    let (code, v) = post(
        &client,
        &s,
        &head,
        "/api/v1/correspondences/bulk",
        &json!({"ids": &ids[..4], "status": {"status": "in_progress"}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["succeeded"], 4, "{v}");
    let c = get(
        &client,
        &s,
        &head,
        &format!("/api/v1/correspondences/{}", ids[0]),
    );
    assert_eq!(c["status"], "in_progress", "{c}");

    // Refused whole, nothing changed: no ids, too many, a malformed id, no action, a reader.
    for body in [
        json!({"ids": [], "status": {"status": "in_progress"}}),
        json!({"ids": vec![ids[0].clone(); 201], "status": {"status": "in_progress"}}),
        json!({"ids": ["pas-un-identifiant"], "status": {"status": "in_progress"}}),
        json!({"ids": [ids[0]]}),
    ] {
        let (code, v) = post(&client, &s, &clerk, "/api/v1/correspondences/bulk", &body);
        assert!(code == 422 || code == 400, "{body}: {code} {v}");
    }
    let auditor = s.token("audit@mtnra");
    let (code, _) = post(
        &client,
        &s,
        &auditor,
        "/api/v1/correspondences/bulk",
        &json!({"ids": [ids[0]], "status": {"status": "closed", "outcome": "x"}}),
    );
    assert_eq!(code, 403);
    let c = get(
        &client,
        &s,
        &head,
        &format!("/api/v1/correspondences/{}", ids[0]),
    );
    assert_eq!(c["status"], "in_progress", "{c}");
}

#[test]
fn dispatch_slip_of_outgoing_mail() {
    let s = Server::demo(&[]);
    let client = Client::new();
    let clerk = s.token("bo@mtnra");
    let outgoing = register_letter(
        &client,
        &s,
        &clerk,
        &json!({"direction": "outgoing", "subject": "Envoi du procès-verbal",
                "sender": {"kind": "company", "name": "Société Atlas Numérique"}}),
    );
    let id = outgoing["id"].as_str().unwrap();
    let r = client
        .get(s.url(&format!("/api/v1/correspondences/{id}/slip.pdf")))
        .bearer_auth(&clerk)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slip.pdf");
    std::fs::write(&path, &pdf).unwrap();
    if require("qpdf", &["--version"]) {
        let (ok, out) = run(std::process::Command::new("qpdf").arg("--check").arg(&path));
        assert!(ok, "{out}");
    }
    if let Some(text) = pdf_text(&path) {
        for needle in [
            "BORDEREAU D'ENVOI",
            outgoing["number"].as_str().unwrap(),
            "Société Atlas Numérique",
            "lettre.pdf",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
    }
    // Incoming mail has no dispatch slip; a stranger does not see the record at all.
    let incoming = register_letter(
        &client,
        &s,
        &clerk,
        &json!({"direction": "incoming", "subject": "Demande", "sender": {"kind": "person", "name": "Citoyen"}}),
    );
    let r = client
        .get(s.url(&format!(
            "/api/v1/correspondences/{}/slip.pdf",
            incoming["id"].as_str().unwrap()
        )))
        .bearer_auth(&clerk)
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = client
        .get(s.url(&format!("/api/v1/correspondences/{id}/slip.pdf")))
        .bearer_auth(s.token("agent.kenitra@mtnra"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn urgent_mail_gets_a_shorter_handling_deadline() {
    let s = Server::demo(&[]);
    let client = Client::new();
    let clerk = s.token("bo@mtnra");
    let ents = get(&client, &s, &clerk, "/api/v1/entities");
    let dsi = ents["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "DSI")
        .unwrap()["id"]
        .clone();
    let mut dues = Vec::new();
    for priority in ["normal", "urgent", "very_urgent"] {
        let c = register_letter(
            &client,
            &s,
            &clerk,
            &json!({"direction": "incoming", "subject": format!("Courrier {priority}"), "priority": priority,
                    "sender": {"kind": "person", "name": "Citoyen Exemple"}}),
        );
        let id = c["id"].as_str().unwrap();
        let (code, v) = post(
            &client,
            &s,
            &clerk,
            &format!("/api/v1/correspondences/{id}/assignments"),
            &json!({"to_entity": dsi, "purpose": "action"}),
        );
        assert_eq!(code, 201, "{v}");
        let record = get(
            &client,
            &s,
            &clerk,
            &format!("/api/v1/correspondences/{id}"),
        );
        let legal = record["due_date"].as_str().unwrap().to_string();
        let due = v["items"][0]["due_date"].as_str().unwrap().to_string();
        dues.push((priority, legal, due));
    }
    // Normal mail: the legal deadline (60 days); urgent: 5 working days; very urgent: 2.
    let (_, legal, normal) = &dues[0];
    assert_eq!(normal, legal);
    let (urgent, very) = (&dues[1].2, &dues[2].2);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert!(
        very > &today && very < urgent && urgent < normal,
        "{dues:?}"
    );
    // An explicit deadline still wins.
    let c = register_letter(
        &client,
        &s,
        &clerk,
        &json!({"direction": "incoming", "subject": "Urgent, délai fixé", "priority": "urgent",
                "sender": {"kind": "person", "name": "Citoyen Exemple"}}),
    );
    let (code, v) = post(
        &client,
        &s,
        &clerk,
        &format!(
            "/api/v1/correspondences/{}/assignments",
            c["id"].as_str().unwrap()
        ),
        &json!({"to_entity": dsi, "purpose": "action", "due": legal}),
    );
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["items"][0]["due_date"].as_str().unwrap(), legal.as_str());
}
