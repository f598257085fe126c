//! The digital registry office, against the real binary and a real SMTP server.

mod support;
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use support::*;

fn filing_form(meta: &Value, files: Vec<(&str, Vec<u8>)>) -> Form {
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

fn file(s: &Server, meta: &Value, files: Vec<(&str, Vec<u8>)>) -> reqwest::blocking::Response {
    Client::new()
        .post(s.url("/api/v1/portal/filings"))
        .multipart(filing_form(meta, files))
        .send()
        .unwrap()
}

fn citizen() -> Value {
    json!({"kind": "person", "name": "Youssef El Amrani", "id_number": "BK123456", "email": "youssef@example.ma"})
}

fn server_with_smtp(smtp: Option<&Smtp>, extra: &[(&str, String)]) -> Server {
    let mut env: Vec<(String, String)> = vec![("DIWAN_PORTAL__CHALLENGE".into(), "false".into())];
    if let Some(m) = smtp {
        env.push(("DIWAN_SMTP__HOST".into(), "127.0.0.1".into()));
        env.push(("DIWAN_SMTP__PORT".into(), m.port.to_string()));
    }
    for (k, v) in extra {
        env.push((k.to_string(), v.clone()));
    }
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::demo(&refs)
}

#[test]
fn filing_is_registered_at_once_tracked_and_announced_by_email() {
    let smtp = Smtp::start();
    let s = server_with_smtp(smtp.as_ref(), &[]);
    // The directory lists the administrations and their registry offices.
    let dir: Value = Client::new()
        .get(s.url("/api/v1/administrations?q=tanger"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(dir["items"].as_array().unwrap().len(), 1);
    assert_eq!(dir["items"][0]["code"], "CTANGER");
    assert_eq!(dir["items"][0]["registry_offices"][0]["code"], "BO-COMMUNE");

    let meta = json!({"administration": "CTANGER", "filer": citizen(), "subject": "Demande d'autorisation de terrasse", "message": "Bonjour, je sollicite…"});
    let blobs = s.data().join("blobs");
    let blobs_before = files_under(&blobs);
    let letter = pdf("Demande de terrasse");
    let r = file(
        &s,
        &meta,
        vec![("demande.pdf", letter.clone()), ("plan.pdf", pdf("Plan"))],
    );
    assert_eq!(r.status(), 201);
    let filed: Value = r.json().unwrap();
    let number = filed["number"].as_str().unwrap();
    let year = time::OffsetDateTime::now_utc().year();
    assert!(
        number.starts_with(&format!("BO-COMMUNE/A/{year}/")),
        "{number}"
    );
    let code = filed["tracking_code"].as_str().unwrap();
    assert_eq!(code.len(), 14);
    assert!(filed["receipt_pdf"].as_str().unwrap().ends_with(".pdf"));
    assert!(filed["receipt_json"].as_str().unwrap().ends_with(".json"));
    // The JSON receipt is the one the PDF embeds, and is stored there only (no blob of its
    // own). The PDF is stored in two parts: the bytes every receipt starts with (header and
    // fonts), once for all as a blob, and its own tail, kept in the filing's database row. The
    // two documents, small, are kept in the database too, written by the registration's
    // transaction. So the filing added no file to the blob store but the shared prefix, if no
    // receipt had stored it before.
    let get = |url: &str| Client::new().get(url).send().unwrap().bytes().unwrap();
    let receipt_pdf = get(filed["receipt_pdf"].as_str().unwrap());
    let receipt_json = get(filed["receipt_json"].as_str().unwrap());
    assert!(serde_json::from_slice::<Value>(&receipt_json).is_ok());
    assert!(receipt_pdf
        .windows(receipt_json.len())
        .any(|w| w == receipt_json.as_ref()));
    let read_new = |before: &[std::path::PathBuf]| -> Vec<Vec<u8>> {
        files_under(&blobs)
            .iter()
            .filter(|p| !before.contains(p))
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    };
    let added = read_new(&blobs_before);
    let stored: Vec<Vec<u8>> = files_under(&blobs)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let prefix = stored
        .iter()
        .find(|b| b.len() >= 16 * 1024 && b.len() < receipt_pdf.len() && receipt_pdf.starts_with(b))
        .expect("the receipts' shared prefix is a blob")
        .clone();
    assert!(
        !stored.iter().any(|b| b[..] == receipt_pdf[prefix.len()..]),
        "the tail is not a blob"
    );
    assert!(
        !stored.iter().any(|b| b[..] == receipt_pdf[..]),
        "not stored whole"
    );
    assert_eq!(added.len(), usize::from(added.contains(&prefix)));
    // The next filing's receipt starts with the same bytes, and stores only its tail, in the
    // database with its document.
    let blobs_between = files_under(&blobs);
    let mut other = citizen();
    other["email"] = json!("relance@example.ma");
    let second = file(
        &s,
        &json!({"administration": "CTANGER", "filer": other, "subject": "Relance"}),
        vec![("relance.pdf", pdf("Relance"))],
    );
    assert_eq!(second.status(), 201);
    let second: Value = second.json().unwrap();
    let second_pdf = get(second["receipt_pdf"].as_str().unwrap());
    assert!(second_pdf.starts_with(&prefix));
    let added = read_new(&blobs_between);
    assert!(added.is_empty(), "no file");
    // The metrics count the receipt and the processor time its sealing took.
    let m = s.metrics();
    let metric = |name: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {m}"))
    };
    assert!(metric("diwan_receipt_production_seconds_count") >= 1.0);
    assert!(metric("diwan_receipt_sealing_cpu_seconds_total") > 0.0);
    assert!(filed["due_date"].as_str().unwrap().len() == 10);

    // The registry office sees it in its register, channel portal, with its documents.
    let clerk = s.token("bo@ctanger");
    let list: Value = Client::new()
        .get(s.url(&format!("/api/v1/correspondences?q={}", urlencode(number))))
        .bearer_auth(&clerk)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["channel"], "portal");
    assert_eq!(list["items"][0]["party_name"], "Youssef El Amrani");
    let id = list["items"][0]["id"].as_str().unwrap();
    let c: Value = Client::new()
        .get(s.url(&format!("/api/v1/correspondences/{id}")))
        .bearer_auth(&clerk)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(c["documents"].as_array().unwrap().len(), 2);
    assert_eq!(c["summary"], "Bonjour, je sollicite…");
    // The letter, kept in the database, downloads as filed.
    let doc = c["documents"][0]["id"].as_str().unwrap();
    let r = Client::new()
        .get(s.url(&format!("/api/v1/correspondences/{id}/documents/{doc}")))
        .bearer_auth(&clerk)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), &letter[..]);

    // Tracking with number and code; a wrong code is indistinguishable from a wrong number.
    let t: Value = Client::new()
        .get(s.url(&format!(
            "/api/v1/portal/track?number={}&code={}",
            urlencode(number),
            code.to_lowercase()
        )))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(t["status"], "registered");
    assert_eq!(t["administration"], "CTANGER");
    for (n, c) in [
        (number, "AAAA-BBBB-CCCC"),
        ("BO-COMMUNE/A/1999/000001", code),
    ] {
        let r = Client::new()
            .get(s.url(&format!(
                "/api/v1/portal/track?number={}&code={c}",
                urlencode(n)
            )))
            .send()
            .unwrap();
        assert_eq!(r.status(), 404);
    }

    // The filer receives an e-mail through the SMTP server.
    if let Some(m) = &smtp {
        let mail = m.wait_for("youssef@example.ma");
        let text = decode_mail(&mail);
        assert!(text.contains(number), "{text}");
        assert!(text.contains("/api/v1/portal/receipts/"), "{text}");
        assert!(!text.contains(code), "the tracking code is never e-mailed");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// (what, expected status, metadata, files, expected text in the answer)
type Case<'a> = (&'a str, u16, Value, Vec<(&'a str, Vec<u8>)>, &'a str);

#[test]
fn refused_filings_leave_nothing() {
    let s = server_with_smtp(
        None,
        &[
            ("DIWAN_MAX_FILE_BYTES", "50000".into()),
            ("DIWAN_PORTAL__FILINGS_PER_MINUTE", "1000".into()),
        ],
    );
    let admin = s.token("admin@ctanger");
    let count = || {
        let v: Value = Client::new()
            .get(s.url("/api/v1/correspondences?per_page=1"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["total"].as_i64().unwrap()
    };
    let before = (count(), files_under(&s.data().join("blobs")).len());
    let ok = || vec![("a.pdf", pdf("x"))];
    let cases: Vec<Case> = vec![
        (
            "unknown administration",
            422,
            json!({"administration": "NOPE", "filer": citizen(), "subject": "x"}),
            ok(),
            "administration",
        ),
        (
            "missing CIN",
            422,
            json!({"administration": "CTANGER", "filer": {"kind": "person", "name": "A", "email": "a@b.ma"}, "subject": "x"}),
            ok(),
            "filer.id_number",
        ),
        (
            "bad CIN",
            422,
            json!({"administration": "CTANGER", "filer": {"kind": "person", "name": "A", "id_number": "12", "email": "a@b.ma"}, "subject": "x"}),
            ok(),
            "national identity number",
        ),
        (
            "bad ICE",
            422,
            json!({"administration": "CTANGER", "filer": {"kind": "company", "name": "A SARL", "id_number": "123", "email": "a@b.ma"}, "subject": "x"}),
            ok(),
            "ICE",
        ),
        (
            "no contact",
            422,
            json!({"administration": "CTANGER", "filer": {"kind": "person", "name": "A", "id_number": "AB1"}, "subject": "x"}),
            ok(),
            "e-mail address or a phone",
        ),
        (
            "bad email",
            422,
            json!({"administration": "CTANGER", "filer": {"kind": "person", "name": "A", "id_number": "AB1", "email": "nope"}, "subject": "x"}),
            ok(),
            "filer.email",
        ),
        (
            "nothing filed",
            422,
            json!({"administration": "CTANGER", "filer": citizen(), "subject": "x"}),
            vec![],
            "attach a document",
        ),
        (
            "unknown field",
            422,
            json!({"administration": "CTANGER", "filer": citizen(), "subject": "x", "priority": "urgent"}),
            ok(),
            "unknown field",
        ),
        (
            "unknown office",
            422,
            json!({"administration": "CTANGER", "registry_office": "BO-MARS", "filer": citizen(), "subject": "x"}),
            ok(),
            "registry_office",
        ),
        (
            "executable",
            415,
            json!({"administration": "CTANGER", "filer": citizen(), "subject": "x"}),
            vec![("a.pdf", b"\x7fELF\x02\x01".to_vec())],
            "not an accepted format",
        ),
        (
            "too big",
            413,
            json!({"administration": "CTANGER", "filer": citizen(), "subject": "x"}),
            vec![("a.pdf", [b"%PDF-1.4 ".to_vec(), vec![0u8; 60000]].concat())],
            "limit",
        ),
        (
            "path trick",
            422,
            json!({"administration": "CTANGER", "filer": citizen(), "subject": "x"}),
            vec![("..\\..\\boot.ini", pdf("x"))],
            "file[0].name",
        ),
    ];
    for (what, status, meta, files, needle) in cases {
        let r = file(&s, &meta, files);
        assert_eq!(r.status().as_u16(), status, "{what}");
        let body = r.text().unwrap();
        assert!(body.contains(needle), "{what}: {body}");
        assert_eq!(
            (count(), files_under(&s.data().join("blobs")).len()),
            before,
            "{what} left something behind"
        );
    }
    // The next filing takes the next number: none was consumed.
    let r = file(
        &s,
        &json!({"administration": "CTANGER", "filer": citizen(), "subject": "ok", "message": "ok"}),
        vec![],
    );
    assert_eq!(r.status(), 201);
    let clerk = s.token("bo@ctanger");
    let v: Value = Client::new()
        .get(s.url("/api/v1/correspondences?per_page=2&direction=incoming"))
        .bearer_auth(&clerk)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (a, b) = (
        v["items"][0]["seq"].as_i64().unwrap(),
        v["items"][1]["seq"].as_i64().unwrap(),
    );
    assert_eq!(a, b + 1);
}

#[test]
fn challenge_and_rate_limit() {
    let s = Server::demo(&[
        ("DIWAN_PORTAL__CHALLENGE_BITS", "12"),
        ("DIWAN_PORTAL__FILINGS_PER_MINUTE", "4"),
    ]);
    let meta = |challenge: Option<Value>| {
        let mut m = json!({"administration": "MTNRA", "filer": citizen(), "subject": "Demande", "message": "Texte"});
        if let Some(c) = challenge {
            m["challenge"] = c;
        }
        m
    };
    // Without a challenge: refused.
    let r = file(&s, &meta(None), vec![]);
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("challenge"));
    // A solved challenge: accepted, once.
    let c: Value = Client::new()
        .get(s.url("/api/v1/portal/challenge"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(c["bits"], 12);
    let token = c["token"].as_str().unwrap();
    let nonce = diwan_app::portal::solve_challenge(token, 12);
    let answer = json!({"token": token, "nonce": nonce});
    assert_eq!(file(&s, &meta(Some(answer.clone())), vec![]).status(), 201);
    let r = file(&s, &meta(Some(answer)), vec![]);
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("already used"));
    // A wrong nonce or a forged token: refused.
    let c: Value = Client::new()
        .get(s.url("/api/v1/portal/challenge"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let r = file(
        &s,
        &meta(Some(
            json!({"token": c["token"], "nonce": "definitely-wrong"}),
        )),
        vec![],
    );
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("does not solve"));
    // The fifth request of the minute from this address is rate-limited, before its body is
    // read; the body is read away all the same, so that the client, still sending its 4 MiB,
    // gets the 429 and not a connection reset.
    let r = file(&s, &meta(None), vec![("big.pdf", pdf_of_size(4 << 20))]);
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // The same on the public page's form.
    let page = Client::new()
        .post(s.url("/portail/MTNRA"))
        .multipart(Form::new().text("subject", "Demande").part(
            "file",
            Part::bytes(pdf_of_size(4 << 20)).file_name("big.pdf"),
        ))
        .send()
        .unwrap();
    let html = page.text().unwrap();
    assert!(html.contains("filings per minute"), "{html}");
}

/// A PDF header followed by filler, `n` bytes in all.
fn pdf_of_size(n: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.resize(n, b'x');
    v
}

/// Law 55-19: an administration sets its rule per type of request (days, unit, silence means
/// acceptance) and its own days off; a filing gets the due date computed with them, the record
/// and both receipts state it, and only administrators may change rules.
#[test]
fn deadline_rules_and_holidays_per_administration() {
    let s = server_with_smtp(None, &[]);
    let admin = s.token("admin@mtnra");
    let clerk = s.token("bo@mtnra");
    let http = Client::new();
    // The built-in types are listed, publicly too.
    let list: Value = http
        .get(s.url("/api/v1/administrations/MTNRA/procedures"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let codes: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["general", "investment", "access_to_information", "none"]
    );
    assert_eq!(list["items"][0]["days"], 60);
    assert_eq!(list["items"][1]["days"], 30);

    let rule = json!({"label_fr": "Permis de construire", "label_ar": "رخصة البناء", "days": 10,
                      "unit": "working", "legal_basis": "law_55_19", "silence_means_acceptance": true});
    // A clerk may not set rules; bad input is refused precisely and changes nothing.
    let r = http
        .put(s.url("/api/v1/deadline-rules/building_permit"))
        .bearer_auth(&clerk)
        .json(&rule)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    for (code, body, field) in [
        (
            "building_permit",
            json!({"label_fr": "x", "label_ar": "y", "days": 0}),
            "days",
        ),
        ("Bad-Code", rule.clone(), "code"),
        (
            "building_permit",
            json!({"label_fr": "x", "label_ar": "y", "days": 5, "colour": 1}),
            "colour",
        ),
        (
            "building_permit",
            json!({"label_fr": "x", "label_ar": "y", "days": 5, "unit": "weeks"}),
            "unit",
        ),
    ] {
        let r = http
            .put(s.url(&format!("/api/v1/deadline-rules/{code}")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .unwrap();
        assert!(r.status().is_client_error(), "{body}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
        let text = r.text().unwrap();
        assert!(text.contains(field), "{text} should name {field}");
    }
    let r = http
        .put(s.url("/api/v1/deadline-rules/building_permit"))
        .bearer_auth(&admin)
        .json(&rule)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());

    // The next three working days are made holidays: the due date moves by three working days.
    let cal = diwan_core::calendar::Calendar::morocco(2020..=2040);
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap())
        .date();
    let before = cal.add_working_days(today, 10);
    let mut day = today;
    let mut added = Vec::new();
    while added.len() < 3 {
        day = day.next_day().unwrap();
        if cal.is_working_day(day) {
            let r = http
                .post(s.url("/api/v1/holidays"))
                .bearer_auth(&admin)
                .json(&json!({"day": day.to_string(), "label": "Aïd (test)"}))
                .send()
                .unwrap();
            assert_eq!(r.status(), 201);
            added.push(day);
        }
    }
    let r = http
        .post(s.url("/api/v1/holidays"))
        .bearer_auth(&admin)
        .json(&json!({"day": added[0].to_string(), "label": "twice"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 409, "the same day twice is a conflict");
    let mut cal2 = cal.clone();
    for d in &added {
        cal2.add_holiday(*d);
    }
    let expected = cal2.add_working_days(today, 10);
    assert!(expected > before);

    let mut meta = json!({"administration": "MTNRA", "filer": citizen(), "subject": "Permis de construire — lot 12",
                          "procedure": "building_permit"});
    let r = file(&s, &meta, vec![("plan.pdf", pdf("plan"))]);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let filed: Value = r.json().unwrap();
    let receipt: Value = http
        .get(filed["receipt_json"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let dl = &receipt["deadline"];
    assert_eq!(dl["due_date"], expected.to_string(), "{receipt}");
    assert_eq!(dl["days"], 10);
    assert_eq!(dl["procedure"], "building_permit");
    assert_eq!(dl["silence_means_acceptance"], true);
    assert_eq!(dl["legal_basis"], "law_55_19");
    // The tracking answer and the record carry it.
    let t: Value = http
        .get(s.url(&format!(
            "/api/v1/portal/track?number={}&code={}",
            filed["number"].as_str().unwrap(),
            filed["tracking_code"].as_str().unwrap()
        )))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(t["due_date"], expected.to_string());
    assert_eq!(t["silence_means_acceptance"], true);
    // The PDF receipt states the rule.
    let pdf_bytes = http
        .get(filed["receipt_pdf"].as_str().unwrap())
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(&pdf_bytes[..5], b"%PDF-");

    // An unknown type of request is refused and consumes no number.
    meta["procedure"] = json!("no_such_type");
    let r = file(&s, &meta, vec![("plan.pdf", pdf("plan"))]);
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("procedure"));
    meta["procedure"] = json!("general");
    let next: Value = file(&s, &meta, vec![("plan.pdf", pdf("plan"))])
        .json()
        .unwrap();
    let seq = |n: &Value| {
        n.as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    assert_eq!(seq(&next["number"]), seq(&filed["number"]) + 1);

    // Removing the rule and a holiday; the audit log keeps who did it.
    let r = http
        .delete(s.url("/api/v1/deadline-rules/building_permit"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .delete(s.url(&format!("/api/v1/holidays/{}", added[0])))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let h: Value = http
        .get(s.url("/api/v1/holidays"))
        .bearer_auth(&clerk)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(h["items"].as_array().unwrap().len(), 2);
    assert_eq!(h["national"].as_array().unwrap().len(), 10);
}
