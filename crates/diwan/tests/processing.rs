//! A scripted day of a ministry, against the real binary, a real SMTP server and (when
//! `DIWAN_TEST_DATABASE_URL` is set) PostgreSQL as well as SQLite: 200 letters registered,
//! assigned down three levels, copied, redirected, returned, answered, closed, some late;
//! queues, deadlines and reminders under a controllable clock; e-mails received; full-text search
//! checked; and every user × every correspondence checked against an access model written here,
//! independently of the server's rules.

// The script addresses letters by their position in the day, as a clerk's list would.
#![allow(clippy::needless_range_loop)]

mod support;
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use support::*;

const N: usize = 200;

struct Api<'a> {
    s: &'a Server,
    tokens: HashMap<String, String>,
    client: Client,
}

impl<'a> Api<'a> {
    fn new(s: &'a Server) -> Self {
        let mut tokens = HashMap::new();
        for l in &s.logins {
            let login = l["login"].as_str().unwrap().to_string();
            tokens.insert(login.clone(), s.token(&login));
        }
        Api {
            s,
            tokens,
            client: Client::new(),
        }
    }

    fn tok(&self, login: &str) -> &str {
        self.tokens
            .get(login)
            .unwrap_or_else(|| panic!("no login {login}"))
    }

    fn get(&self, login: &str, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.s.url(path))
            .bearer_auth(self.tok(login))
            .send()
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().unwrap_or(Value::Null))
    }

    fn post(&self, login: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.s.url(path))
            .bearer_auth(self.tok(login))
            .json(&body)
            .send()
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().unwrap_or(Value::Null))
    }

    fn ok(&self, login: &str, path: &str, body: Value, expect: u16) -> Value {
        let (code, v) = self.post(login, path, body.clone());
        assert_eq!(code, expect, "{login} POST {path} {body}: {v}");
        v
    }
}

/// What the test knows of one correspondence.
#[derive(Debug, Clone)]
struct Letter {
    id: String,
    number: String,
    subject: String,
    confidential: bool,
    creator: Option<String>,
    /// (entity code, named login) of every assignment ever made.
    assigned: Vec<(String, Option<String>)>,
}

/// The organisation as the test sees it: login → (role, entity), entity → parent.
struct Org {
    users: HashMap<String, (String, String, String)>,
    parent: HashMap<String, Option<String>>,
    ids: HashMap<String, String>,
}

impl Org {
    fn load(api: &Api) -> Org {
        let mut users = HashMap::new();
        for l in &api.s.logins {
            let login = l["login"].as_str().unwrap().to_string();
            let admin = login.split('@').nth(1).unwrap().to_string();
            users.insert(
                login,
                (
                    l["role"].as_str().unwrap().to_string(),
                    l["entity"].as_str().unwrap().to_string(),
                    admin,
                ),
            );
        }
        let (_, ents) = api.get("admin@mtnra", "/api/v1/entities");
        let items = ents["items"].as_array().unwrap();
        let code_of: HashMap<String, String> = items
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap().to_string(),
                    e["code"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut parent = HashMap::new();
        let mut ids = HashMap::new();
        for e in items {
            let code = e["code"].as_str().unwrap().to_string();
            ids.insert(code.clone(), e["id"].as_str().unwrap().to_string());
            parent.insert(code, e["parent"].as_str().map(|p| code_of[p].clone()));
        }
        Org { users, parent, ids }
    }

    fn id(&self, code: &str) -> &str {
        &self.ids[code]
    }

    /// The entities whose (non-confidential) assignments a user sees: theirs, and for a head
    /// everything below.
    fn entities_of(&self, login: &str) -> BTreeSet<String> {
        let (role, entity, _) = &self.users[login];
        let mut out = BTreeSet::from([entity.clone()]);
        if role == "head" {
            for code in self.parent.keys() {
                let mut cur = Some(code.clone());
                while let Some(c) = cur {
                    if &c == entity {
                        out.insert(code.clone());
                        break;
                    }
                    cur = self.parent.get(&c).cloned().flatten();
                }
            }
        }
        out
    }

    /// The access model: may `login` see `l` (all letters are in MTNRA's central registry)?
    fn may_see(&self, login: &str, l: &Letter) -> bool {
        let (role, entity, admin) = &self.users[login];
        if admin != "mtnra" {
            return false;
        }
        match role.as_str() {
            "auditor" => return true,
            // Administrators see everything but confidential mail they are not on.
            "admin" if !l.confidential => return true,
            "registry_clerk" if entity == "BO-CENTRAL" => {
                return !l.confidential || l.creator.as_deref() == Some(login)
            }
            _ => {}
        }
        if l.creator.as_deref() == Some(login) {
            return true;
        }
        let mine = self.entities_of(login);
        l.assigned
            .iter()
            .any(|(e, u)| u.as_deref() == Some(login) || (!l.confidential && mine.contains(e)))
    }
}

fn register(api: &Api, i: usize) -> Letter {
    let subject = match i % 4 {
        0 => format!("Demande d'autorisation d'exploitation n° {i}"),
        1 => format!("Réclamation concernant la décision {i}"),
        2 => format!("طلب الحصول على رخصة {i}"),
        _ => format!("Invitation à la réunion régionale {i}"),
    };
    let confidential = i >= 190;
    let mut sender = json!({"kind": "person", "name": format!("Citoyen {i}")});
    if i.is_multiple_of(5) {
        sender["email"] = json!(format!("citoyen{i}@example.ma"));
    }
    let meta = json!({
        "direction": "incoming", "subject": subject, "sender": sender,
        "confidentiality": if confidential { "confidential" } else { "normal" },
    });
    let form = Form::new()
        .part(
            "metadata",
            Part::text(meta.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "file",
            Part::bytes(pdf(&format!("Lettre {i}"))).file_name("lettre.pdf"),
        );
    let r = api
        .client
        .post(api.s.url("/api/v1/correspondences"))
        .bearer_auth(api.tok("bo@mtnra"))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().unwrap();
    Letter {
        id: v["id"].as_str().unwrap().to_string(),
        number: v["number"].as_str().unwrap().to_string(),
        subject,
        confidential,
        creator: Some("bo@mtnra".into()),
        assigned: vec![],
    }
}

fn assign(
    api: &Api,
    org: &Org,
    who: &str,
    l: &mut Letter,
    to: &str,
    user: Option<&str>,
    extra: Value,
) -> Value {
    let mut body = json!({"to_entity": org.id(to), "purpose": "action", "instructions": "Pour traitement et réponse"});
    if let Some(u) = user {
        body["to_user"] = json!(user_id(api, u));
    }
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let v = api.ok(
        who,
        &format!("/api/v1/correspondences/{}/assignments", l.id),
        body.clone(),
        201,
    );
    l.assigned.push((to.to_string(), user.map(String::from)));
    if let Some(copies) = body.get("copies").and_then(|c| c.as_array()) {
        for c in copies {
            let code = org
                .ids
                .iter()
                .find(|(_, id)| Some(id.as_str()) == c.as_str())
                .map(|(code, _)| code.clone())
                .unwrap();
            l.assigned.push((code, None));
        }
    }
    v
}

fn user_id(api: &Api, login: &str) -> String {
    let (_, me) = api.get(login, "/api/v1/me");
    me["user"]["id"]
        .as_str()
        .or_else(|| me["id"].as_str())
        .unwrap_or_else(|| panic!("no id in /me: {me}"))
        .to_string()
}

fn status(api: &Api, who: &str, l: &Letter, body: Value, expect: u16) -> Value {
    api.ok(
        who,
        &format!("/api/v1/correspondences/{}/status", l.id),
        body,
        expect,
    )
}

fn reply(api: &Api, who: &str, l: &Letter, letters: &mut Vec<Letter>) -> String {
    let v = api.ok(
        who,
        &format!("/api/v1/correspondences/{}/replies", l.id),
        json!({"body": "Madame, Monsieur,\n\nEn réponse à votre courrier n° {{ number }} du {{ received }} relatif à « {{ subject }} », j'ai l'honneur de vous informer que votre demande est acceptée.\n\nتحية طيبة وبعد، يشرفني أن أخبركم بقبول طلبكم.",
               "signer": "Le Chef de service"}),
        201,
    );
    letters.push(Letter {
        id: v["id"].as_str().unwrap().to_string(),
        number: v["number"].as_str().unwrap().to_string(),
        subject: format!("Réponse : {}", l.subject),
        confidential: l.confidential,
        creator: Some(who.to_string()),
        assigned: vec![],
    });
    v["number"].as_str().unwrap().to_string()
}

fn queue_count(api: &Api, who: &str, q: &str) -> i64 {
    let (code, v) = api.get(who, &format!("/api/v1/queues/{q}?per_page=1"));
    assert_eq!(code, 200, "{v}");
    v["total"].as_i64().unwrap()
}

fn search(api: &Api, who: &str, q: &str) -> (i64, BTreeSet<String>) {
    let mut ids = BTreeSet::new();
    let mut total = 0;
    for page in 1.. {
        let (code, v) = api.get(
            who,
            &format!("/api/v1/search?q={}&per_page=500&page={page}", enc(q)),
        );
        assert_eq!(code, 200, "{v}");
        total = v["total"].as_i64().unwrap();
        let items = v["items"].as_array().unwrap();
        for it in items {
            assert!(it["number"].is_string() && it["subject"].is_string());
            ids.insert(it["id"].as_str().unwrap().to_string());
        }
        if items.len() < 500 {
            break;
        }
    }
    (total, ids)
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn scripted_day_of_a_ministry() {
    for (engine, env) in engines("diwan_day") {
        eprintln!("scripted day on {engine}");
        day(&env);
    }
}

fn day(db_env: &[(String, String)]) {
    let smtp = Smtp::start();
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap())
        .date();
    let mut env: Vec<(String, String)> = db_env.to_vec();
    env.push(("DIWAN_PORTAL__CHALLENGE".into(), "false".into()));
    env.push(("DIWAN_TODAY".into(), today.to_string()));
    if let Some(m) = &smtp {
        env.push(("DIWAN_SMTP__HOST".into(), "127.0.0.1".into()));
        env.push(("DIWAN_SMTP__PORT".into(), m.port.to_string()));
    }
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut s = Server::demo(&refs);
    let api = Api::new(&s);
    let org = Org::load(&api);

    let to_assign_before = queue_count(&api, "bo@mtnra", "to_assign");
    // Morning: the registry office registers 200 letters.
    let mut letters: Vec<Letter> = (0..N).map(|i| register(&api, i)).collect();

    // It assigns them: the first hundred to the IT directorate (ten with a copy to Kenitra),
    // fifty to the Kenitra provincial office, ten more there with a deadline of today; five
    // need no follow-up; confidential ones go to a named agent.
    for i in 0..100 {
        let extra = if i < 10 {
            json!({"copies": [org.id("DP-KEN")]})
        } else {
            json!({})
        };
        assign(&api, &org, "bo@mtnra", &mut letters[i], "DSI", None, extra);
    }
    for i in 100..150 {
        assign(
            &api,
            &org,
            "bo@mtnra",
            &mut letters[i],
            "DP-KEN",
            None,
            json!({}),
        );
    }
    for i in 155..165 {
        assign(
            &api,
            &org,
            "bo@mtnra",
            &mut letters[i],
            "DP-KEN",
            None,
            json!({"due": today.to_string()}),
        );
    }
    for l in &letters[150..155] {
        status(
            &api,
            "bo@mtnra",
            l,
            json!({"status": "closed_without_follow_up"}),
            422,
        );
        status(
            &api,
            "bo@mtnra",
            l,
            json!({"status": "closed_without_follow_up", "reason": "Doublon d'un courrier déjà traité"}),
            200,
        );
    }
    // A confidential letter goes to a named person, never to a whole entity.
    let (code, v) = api.post(
        "bo@mtnra",
        &format!("/api/v1/correspondences/{}/assignments", letters[195].id),
        json!({"to_entity": org.id("DSI-DEV-SA"), "purpose": "action"}),
    );
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "to_user", "{v}");
    for i in 190..195 {
        assign(
            &api,
            &org,
            "bo@mtnra",
            &mut letters[i],
            "DSI-DEV-SA",
            Some("agent.sa@mtnra"),
            json!({}),
        );
    }
    // Bad input changes nothing: a deadline in the past, an unknown entity, a stranger.
    let yesterday = today.previous_day().unwrap();
    let (code, v) = api.post(
        "bo@mtnra",
        &format!("/api/v1/correspondences/{}/assignments", letters[170].id),
        json!({"to_entity": org.id("DSI"), "purpose": "action", "due": yesterday.to_string()}),
    );
    assert_eq!(code, 422, "{v}");
    let (code, _) = api.post(
        "bo@mtnra",
        &format!("/api/v1/correspondences/{}/assignments", letters[170].id),
        json!({"to_entity": "0190d2a4-0000-7000-8000-000000000000", "purpose": "action"}),
    );
    assert_eq!(code, 422);
    let (code, _) = api.post(
        "bo@ctanger",
        &format!("/api/v1/correspondences/{}/assignments", letters[170].id),
        json!({"to_entity": org.id("DSI"), "purpose": "action"}),
    );
    assert_eq!(
        code, 404,
        "another administration does not even learn it exists"
    );
    let (_, c170) = api.get(
        "bo@mtnra",
        &format!("/api/v1/correspondences/{}", letters[170].id),
    );
    assert_eq!(c170["status"], "registered");
    assert_eq!(c170["assignments"].as_array().unwrap().len(), 0);

    // The head of the directorate passes sixty down to the division, redirects five to
    // Kenitra; he cannot pass one down to an entity that is not below his.
    for i in 0..60 {
        assign(
            &api,
            &org,
            "chef.dsi@mtnra",
            &mut letters[i],
            "DSI-DEV",
            None,
            json!({}),
        );
    }
    for i in 60..65 {
        assign(
            &api,
            &org,
            "chef.dsi@mtnra",
            &mut letters[i],
            "DP-KEN",
            None,
            json!({"redirect": true, "instructions": "Relève de la compétence provinciale"}),
        );
    }
    let (code, v) = api.post(
        "chef.dsi@mtnra",
        &format!("/api/v1/correspondences/{}/assignments", letters[65].id),
        json!({"to_entity": org.id("DP-KEN"), "purpose": "action"}),
    );
    assert_eq!(code, 422, "{v}");
    let (code, _) = api.post(
        "agent.sa@mtnra",
        &format!("/api/v1/correspondences/{}/assignments", letters[66].id),
        json!({"to_entity": org.id("DSI-DEV-SA"), "purpose": "action"}),
    );
    assert_eq!(
        code, 404,
        "an agent who cannot see it does not learn it exists"
    );

    // The head of division passes forty down to the service, to its agent by name.
    for i in 0..40 {
        assign(
            &api,
            &org,
            "chef.dev@mtnra",
            &mut letters[i],
            "DSI-DEV-SA",
            Some("agent.sa@mtnra"),
            json!({}),
        );
    }

    // The agent takes them up, answers twenty, closes ten, returns five.
    for l in &letters[0..40] {
        status(
            &api,
            "agent.sa@mtnra",
            l,
            json!({"status": "in_progress"}),
            200,
        );
    }
    let mut reply_numbers = Vec::new();
    for i in 0..20 {
        let l = letters[i].clone();
        reply_numbers.push(reply(&api, "agent.sa@mtnra", &l, &mut letters));
    }
    status(
        &api,
        "agent.sa@mtnra",
        &letters[20],
        json!({"status": "closed"}),
        422,
    );
    for l in &letters[20..30] {
        status(
            &api,
            "agent.sa@mtnra",
            l,
            json!({"status": "closed", "outcome": "Traité par téléphone avec le demandeur"}),
            200,
        );
    }
    for l in &letters[30..35] {
        let v = status(
            &api,
            "agent.sa@mtnra",
            l,
            json!({"status": "returned", "reason": "Ne relève pas du service"}),
            200,
        );
        // Back to the head who passed it down: still assigned, to the division.
        assert_eq!(v["status"], "assigned");
    }
    let (_, c30) = api.get(
        "chef.dev@mtnra",
        &format!("/api/v1/correspondences/{}", letters[30].id),
    );
    assert_eq!(c30["handling_entity"], org.id("DSI-DEV"));

    // Opinions in parallel: the division asks Kenitra's opinion on one letter.
    assign(
        &api,
        &org,
        "chef.dev@mtnra",
        &mut letters[35],
        "DP-KEN",
        None,
        json!({"purpose": "opinion", "instructions": "Votre avis sous huitaine"}),
    );
    let (_, c35) = api.get(
        "agent.kenitra@mtnra",
        &format!("/api/v1/correspondences/{}", letters[35].id),
    );
    let opinion = c35["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["purpose"] == "opinion")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = format!(
        "/api/v1/correspondences/{}/assignments/{opinion}/done",
        letters[35].id
    );
    api.ok("agent.kenitra@mtnra", &done, json!({}), 422);
    api.ok(
        "agent.kenitra@mtnra",
        &done,
        json!({"outcome": "Avis favorable"}),
        200,
    );

    // Notes: a public one is searchable, a restricted one is neither shown nor searchable
    // outside the service.
    api.ok(
        "agent.sa@mtnra",
        &format!("/api/v1/correspondences/{}/notes", letters[36].id),
        json!({"body": "Pièce manquante : attestation fiscale"}),
        201,
    );
    api.ok(
        "agent.sa@mtnra",
        &format!("/api/v1/correspondences/{}/notes", letters[37].id),
        json!({"body": "Remarque interne xylophone", "restricted": true}),
        201,
    );
    let (_, n) = api.get(
        "chef.dsi@mtnra",
        &format!("/api/v1/correspondences/{}/notes", letters[37].id),
    );
    assert_eq!(n["items"].as_array().unwrap().len(), 0);
    let (_, n) = api.get(
        "agent.sa@mtnra",
        &format!("/api/v1/correspondences/{}/notes", letters[37].id),
    );
    assert_eq!(n["items"].as_array().unwrap().len(), 1);

    // Kenitra answers ten of its letters. Eight clerks clicking "take up" at once: one wins.
    for i in 100..110 {
        status(
            &api,
            "agent.kenitra@mtnra",
            &letters[i],
            json!({"status": "in_progress"}),
            200,
        );
        let l = letters[i].clone();
        reply(&api, "agent.kenitra@mtnra", &l, &mut letters);
    }
    let l110 = letters[110].id.clone();
    let tok = api.tok("agent.kenitra@mtnra").to_string();
    let url = s.url(&format!("/api/v1/correspondences/{l110}/status"));
    let codes: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (tok, url) = (tok.clone(), url.clone());
                sc.spawn(move || {
                    Client::new()
                        .post(url)
                        .bearer_auth(tok)
                        .json(&json!({"status": "in_progress"}))
                        .send()
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409), "{codes:?}");

    // A citizen files on the portal; the registry office assigns it; the filer is told which
    // service handles it, then receives the answer; tracking shows both.
    let filed: Value = Client::new()
        .post(s.url("/api/v1/portal/filings"))
        .multipart(
            Form::new()
                .part(
                    "metadata",
                    Part::text(
                        json!({"administration": "MTNRA", "filer": {"kind": "person", "name": "Salma Idrissi",
                               "id_number": "AB123456", "email": "salma@example.ma"},
                               "subject": "Demande de raccordement au réseau", "message": "Bonjour"})
                        .to_string(),
                    )
                    .mime_str("application/json")
                    .unwrap(),
                )
                .part("file", Part::bytes(pdf("Demande")).file_name("demande.pdf")),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (fnum, fcode) = (
        filed["number"].as_str().unwrap().to_string(),
        filed["tracking_code"].as_str().unwrap().to_string(),
    );
    let (_, found) = api.get("bo@mtnra", &format!("/api/v1/search?q={}", enc(&fnum)));
    let fid = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == fnum.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut filing = Letter {
        id: fid,
        number: fnum.clone(),
        subject: "Demande de raccordement au réseau".into(),
        confidential: false,
        creator: None,
        assigned: vec![],
    };
    assign(&api, &org, "bo@mtnra", &mut filing, "DSI", None, json!({}));
    let track = |s: &Server| -> Value {
        Client::new()
            .get(s.url(&format!(
                "/api/v1/portal/track?number={}&code={}",
                enc(&fnum),
                fcode
            )))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let t = track(&s);
    assert_eq!(t["status"], "assigned");
    assert_eq!(
        t["service"]["fr"], "Direction des systèmes d'information",
        "{t}"
    );
    assert!(t["answer"].is_null());
    let answer = reply(&api, "chef.dsi@mtnra", &filing.clone(), &mut letters);
    let t = track(&s);
    assert_eq!(t["status"], "answered");
    assert_eq!(t["answer"]["number"], answer.as_str());
    assert!(
        t["answer"]["text"].as_str().unwrap().contains(&fnum),
        "merge fields filled: {t}"
    );
    letters.push(filing);

    // Queues, as each person sees them.
    assert_eq!(
        queue_count(&api, "agent.sa@mtnra", "to_handle"),
        5 + 5,
        "35..39 and the five confidential ones"
    );
    assert_eq!(
        queue_count(&api, "chef.dev@mtnra", "to_handle"),
        5 + 5 + 20,
        "returned, at the service, at the division"
    );
    assert_eq!(
        queue_count(&api, "chef.dsi@mtnra", "to_handle"),
        35 + 30,
        "at the directorate and below"
    );
    assert_eq!(
        queue_count(&api, "chef.kenitra@mtnra", "for_information"),
        10
    );
    assert_eq!(
        queue_count(&api, "bo@mtnra", "to_assign") - to_assign_before,
        25 + 5,
        "unassigned normal and confidential letters"
    );
    assert_eq!(
        queue_count(&api, "chef.dsi@mtnra", "followed"),
        60 + 5 - 20 - 10,
        "what he assigned and is not finished"
    );
    assert_eq!(queue_count(&api, "chef.kenitra@mtnra", "late"), 0);
    let (_, qs) = api.get("chef.kenitra@mtnra", "/api/v1/queues");
    assert_eq!(qs["items"].as_array().unwrap().len(), 7);

    // Full-text search: accents, Arabic letter variants, numbers, notes; only what one may see.
    let matching = |pred: &dyn Fn(&Letter) -> bool, login: &str| -> BTreeSet<String> {
        letters
            .iter()
            .filter(|l| pred(l) && org.may_see(login, l))
            .map(|l| l.id.clone())
            .collect()
    };
    for (q, needle) in [
        ("decision", "décision"),
        ("DÉCISION", "décision"),
        ("autorisation exploitation", "autorisation d'exploitation"),
        ("رخصه", "رخصة"),
        ("رخصة", "رخصة"),
        ("reunion regionale", "réunion régionale"),
    ] {
        for login in [
            "bo@mtnra",
            "chef.dev@mtnra",
            "agent.kenitra@mtnra",
            "audit@mtnra",
        ] {
            let (total, ids) = search(&api, login, q);
            let want = matching(
                &|l: &Letter| l.subject.to_lowercase().contains(needle),
                login,
            );
            let ours: BTreeSet<String> = ids
                .iter()
                .filter(|i| letters.iter().any(|l| &l.id == *i))
                .cloned()
                .collect();
            assert_eq!(ours, want, "search {q:?} as {login}");
            assert!(total >= want.len() as i64);
        }
    }
    let ours = |ids: BTreeSet<String>| -> BTreeSet<String> {
        ids.into_iter()
            .filter(|i| letters.iter().any(|l| &l.id == i))
            .collect()
    };
    let (_, ids) = search(&api, "bo@mtnra", "attestation fiscale");
    assert_eq!(ours(ids), BTreeSet::from([letters[36].id.clone()]));
    let (total, _) = search(&api, "audit@mtnra", "xylophone");
    assert_eq!(total, 0, "restricted notes are not searchable");
    let (_, ids) = search(&api, "bo@mtnra", &letters[7].number.clone());
    assert!(ids.contains(&letters[7].id));
    let (_, ids) = search(&api, "bo@ctanger", "decision");
    assert!(ids.iter().all(|i| !letters.iter().any(|l| &l.id == i)));
    let (code, _) = api.get("bo@mtnra", "/api/v1/search?q=");
    assert_eq!(code, 422);

    // The register's year as CSV, for the registry office only; the dashboard's figures.
    let (_, regs) = api.get("bo@mtnra", "/api/v1/registers");
    let incoming = regs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entity_id"] == org.id("BO-CENTRAL") && r["direction"] == "incoming")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let csv_path = format!(
        "/api/v1/registers/{incoming}/export.csv?year={}",
        today.year()
    );
    let r = api
        .client
        .get(s.url(&csv_path))
        .bearer_auth(api.tok("bo@mtnra"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().unwrap();
    assert!(csv.lines().count() > N, "{} lines", csv.lines().count());
    assert!(csv.contains(&letters[0].number));
    assert!(
        csv.contains("Direction des systèmes d'information"),
        "handling entity column"
    );
    let (code, _) = api.get("agent.sa@mtnra", &csv_path);
    assert_eq!(code, 403);
    let (code, dash) = api.get("chef.dsi@mtnra", "/api/v1/dashboard?days=30");
    assert_eq!(code, 200, "{dash}");
    let this_month = dash["months"].as_array().unwrap().last().unwrap().clone();
    assert!(
        this_month["incoming"].as_i64().unwrap() >= N as i64,
        "{this_month}"
    );
    let dev = dash["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity"] == org.id("DSI-DEV"))
        .unwrap()
        .clone();
    assert_eq!(dev["open"], 25, "returned and at the division: {dev}");
    assert!(
        dash["entities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["entity"] != org.id("DP-KEN")),
        "a head sees only the entities under him"
    );
    let (code, _) = api.get("agent.sa@mtnra", "/api/v1/dashboard");
    assert_eq!(code, 403);

    // Nobody ever sees a correspondence they are not entitled to: every user × every letter,
    // one by one and through the register view.
    let logins: Vec<String> = org.users.keys().cloned().collect();
    for login in &logins {
        let mut listed = BTreeSet::new();
        for page in 1.. {
            let (code, v) = api.get(
                login,
                &format!("/api/v1/correspondences?per_page=500&page={page}"),
            );
            assert_eq!(code, 200);
            let items = v["items"].as_array().unwrap();
            for it in items {
                listed.insert(it["id"].as_str().unwrap().to_string());
            }
            if items.len() < 500 {
                break;
            }
        }
        for l in &letters {
            let want = org.may_see(login, l);
            let (code, _) = api.get(login, &format!("/api/v1/correspondences/{}", l.id));
            assert_eq!(code == 200, want, "{login} on {} ({code})", l.number);
            assert!(code == 200 || code == 404);
            assert_eq!(listed.contains(&l.id), want, "{login} lists {}", l.number);
        }
    }

    // E-mails went out through the SMTP server: assignments, the answers, the filer's news.
    if let Some(m) = &smtp {
        let mail = decode_mail(&m.wait_for("chef-dsi@mtnra.gov.ma"));
        assert!(mail.contains("à traiter"), "{mail}");
        let mail = decode_mail(&m.wait_for("citoyen0@example.ma"));
        assert!(mail.contains("Réponse à votre courrier"), "{mail}");
        assert!(mail.contains(&letters[0].number), "{mail}");
        assert!(mail.contains("votre demande est acceptée"), "{mail}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let news = m
                .messages()
                .into_iter()
                .filter(|r| r.contains("salma@example.ma"))
                .map(|r| decode_mail(&r))
                .filter(|t| t.contains(&fnum))
                .collect::<Vec<_>>();
            let assigned = news.iter().any(|t| {
                t.contains("transmis au service compétent")
                    && t.contains("Direction des systèmes d'information")
            });
            let answered = news.iter().any(|t| t.contains("Réponse à votre courrier"));
            if assigned && answered {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "filer's e-mails: {news:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }

    // Ten days later (the clock is the server's setting): ten letters are late at Kenitra;
    // reminders go out once, with an escalation a week past the deadline.
    assert!(s.stop());
    let later = today + time::Duration::days(10);
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let mut env2 = env.clone();
    for (k, v) in env2.iter_mut() {
        if k == "DIWAN_TODAY" {
            *v = later.to_string();
        }
    }
    let refs: Vec<(&str, &str)> = env2.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s2 = Server::start(dir, &refs);
    let api2 = Api::new(&s2);
    assert_eq!(queue_count(&api2, "chef.kenitra@mtnra", "late"), 10);
    assert_eq!(queue_count(&api2, "agent.kenitra@mtnra", "late"), 10);
    let r = api2.ok("admin@mtnra", "/api/v1/reminders/run", json!({}), 200);
    assert_eq!(r["late"], 10, "{r}");
    assert_eq!(r["escalated"], 10, "{r}");
    let r = api2.ok("admin@mtnra", "/api/v1/reminders/run", json!({}), 200);
    assert_eq!(
        (r["late"].as_i64(), r["escalated"].as_i64()),
        (Some(0), Some(0)),
        "each reminder once: {r}"
    );
    let (code, _) = api2.post("agent.kenitra@mtnra", "/api/v1/reminders/run", json!({}));
    assert_eq!(code, 403);
    let (_, notes) = api2.get("chef.kenitra@mtnra", "/api/v1/notifications");
    assert!(
        notes["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "late"),
        "{notes}"
    );
    if let Some(m) = &smtp {
        // Decoding is done by Python, one process per message: only the head's are decoded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let late = m
                .messages()
                .into_iter()
                .filter(|r| r.contains("chef-kenitra@mtnra.gov.ma"))
                .map(|r| decode_mail(&r))
                .filter(|t| t.contains("En retard"))
                .count();
            if late >= 10 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "late notices by e-mail: {late}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}
