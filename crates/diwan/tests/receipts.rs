//! The acknowledgement of receipt and the transparency log, checked by tools we did not write:
//! pyHanko, qpdf, OpenSSL, and an independent RFC 9162 implementation in Python.

mod support;
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::process::Command;
use support::*;

fn file(s: &Server, subject: &str, doc: &[u8]) -> Value {
    let meta = json!({"administration": "MTNRA", "filer": {"kind": "company", "name": "Atlas Numérique SARL", "id_number": "002345678000091", "email": "contact@atlas.ma"}, "subject": subject, "message": "Veuillez trouver ci-joint notre demande."});
    let form = Form::new()
        .part(
            "metadata",
            Part::text(meta.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part("file", Part::bytes(doc.to_vec()).file_name("demande.pdf"));
    let r = Client::new()
        .post(s.url("/api/v1/portal/filings"))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().unwrap()
}

const EXTRACT_TOKEN: &str = r#"
import sys
from asn1crypto import cms
data = open(sys.argv[1], 'rb').read()
start = data.index(b'/ETSI.CAdES.detached')
c = data.index(b'/Contents <', start) + 11
end = data.index(b'>', c)
der = bytes.fromhex(data[c:end].decode())
# The /Contents string is zero-padded after the DER value: parse leniently.
ci = cms.ContentInfo.load(der, strict=False)
si = ci['content']['signer_infos'][0]
tok = [a for a in si['unsigned_attrs'] if a['type'].native == 'signature_time_stamp_token'][0]['values'][0]
open(sys.argv[2], 'wb').write(tok.dump())
open(sys.argv[3], 'wb').write(si['signature'].native)
"#;

const RFC9162: &str = r#"
import sys, json, base64, hashlib
def node(l, r): return hashlib.sha256(b'\x01' + l + r).digest()
def leaf(e): return hashlib.sha256(b'\x00' + e).digest()
def verify_inclusion(lh, index, size, path, root):
    if index >= size: return False
    fn, sn, r = index, size - 1, lh
    for p in path:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root
def verify_consistency(first, second, path, r1, r2):
    if first == second: return not path and r1 == r2
    if first & (first - 1) == 0: path = [r1] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1; sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr = node(c, fr); sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1; sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    return sn == 0 and fr == r1 and sr == r2
d = json.load(open(sys.argv[1]))
b = lambda s: base64.b64decode(s)
inc = d['inclusion']
assert leaf(d['entry'].encode()) == b(inc['leaf_hash']), 'leaf hash'
assert verify_inclusion(b(inc['leaf_hash']), inc['leaf_index'], inc['tree_size'], [b(x) for x in inc['audit_path']], b(d['sth']['root_hash'])), 'inclusion'
bad = [b(x) for x in inc['audit_path']]
if bad:
    bad[0] = bytes([bad[0][0] ^ 1]) + bad[0][1:]
    assert not verify_inclusion(b(inc['leaf_hash']), inc['leaf_index'], inc['tree_size'], bad, b(d['sth']['root_hash'])), 'tampered inclusion accepted'
c = d['consistency']
assert verify_consistency(c['first'], c['second'], [b(x) for x in c['consistency']], b(c['first_root']), b(c['second_root'])), 'consistency'
assert b(c['second_root']) == b(d['sth']['root_hash'])
assert not verify_consistency(c['first'], c['second'], [b(x) for x in c['consistency']], hashlib.sha256(b'x').digest(), b(c['second_root'])), 'wrong old root accepted'
print('ok')
"#;

#[test]
fn sealed_receipt_and_log_proofs_pass_outside_tools() {
    let s = Server::demo(&[("DIWAN_PORTAL__CHALLENGE", "false")]);
    let d = tempfile::tempdir().unwrap();
    let doc = pdf("Demande de raccordement");
    let filed = file(&s, "Demande de raccordement au réseau", &doc);
    let receipt_pdf = Client::new()
        .get(filed["receipt_pdf"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(receipt_pdf.headers()["content-type"], "application/pdf");
    let receipt_pdf = receipt_pdf.bytes().unwrap().to_vec();
    let receipt_json = Client::new()
        .get(filed["receipt_json"].as_str().unwrap())
        .send()
        .unwrap()
        .bytes()
        .unwrap()
        .to_vec();
    let root = Command::new(BIN)
        .args(["pki", "export-root", "--data"])
        .arg(s.data())
        .output()
        .unwrap();
    assert!(root.status.success());
    let p = |n: &str| d.path().join(n);
    std::fs::write(p("root.pem"), &root.stdout).unwrap();
    std::fs::write(p("accuse.pdf"), &receipt_pdf).unwrap();
    std::fs::write(p("accuse.json"), &receipt_json).unwrap();
    std::fs::write(p("demande.pdf"), &doc).unwrap();
    let receipt: Value = serde_json::from_slice(&receipt_json).unwrap();
    assert_eq!(receipt["number"], filed["number"]);
    assert_eq!(
        receipt["documents"][0]["sha256"].as_str().unwrap().len(),
        64
    );

    // diwan verify: receipt PDF, receipt JSON and the document filed.
    let (ok, out) = run(Command::new(BIN)
        .arg("verify")
        .arg("--trust")
        .arg(p("root.pem"))
        .arg(p("accuse.pdf"))
        .arg(p("accuse.json"))
        .arg(p("demande.pdf")));
    assert!(ok, "{out}");
    assert!(out.contains("matches document 1"), "{out}");
    // A document that was not filed is refused.
    std::fs::write(p("autre.pdf"), pdf("autre chose")).unwrap();
    let (ok, out) = run(Command::new(BIN)
        .arg("verify")
        .arg("--trust")
        .arg(p("root.pem"))
        .arg(p("accuse.pdf"))
        .arg(p("autre.pdf")));
    assert!(!ok, "{out}");

    if require("pyhanko", &["--version"]) {
        let (ok, out) = run(Command::new("pyhanko")
            .args(["sign", "validate", "--trust"])
            .arg(p("root.pem"))
            .arg("--trust-replace")
            .arg(p("accuse.pdf")));
        assert!(ok, "pyHanko refused the receipt:\n{out}");
    }
    if require("qpdf", &["--version"]) {
        let (ok, out) = run(Command::new("qpdf").arg("--check").arg(p("accuse.pdf")));
        assert!(ok, "{out}");
    }
    if require("openssl", &["version"]) && require("python3", &["-c", "import asn1crypto"]) {
        let (ok, out) = run(Command::new("python3")
            .args(["-c", EXTRACT_TOKEN])
            .arg(p("accuse.pdf"))
            .arg(p("token.der"))
            .arg(p("sigvalue.bin")));
        assert!(ok, "{out}");
        let (ok, out) = run(Command::new("openssl")
            .args(["ts", "-verify", "-token_in", "-in"])
            .arg(p("token.der"))
            .arg("-data")
            .arg(p("sigvalue.bin"))
            .arg("-CAfile")
            .arg(p("root.pem")));
        assert!(
            ok && out.contains("Verification: OK"),
            "openssl ts -verify:\n{out}"
        );
    }

    // One byte changed: both pyHanko and diwan verify refuse.
    let mut tampered = receipt_pdf.clone();
    let i = tampered.windows(8).position(|w| w == b"/MediaBo").unwrap();
    tampered[i + 12] ^= 0x01;
    std::fs::write(p("tampered.pdf"), &tampered).unwrap();
    let (ok, _) = run(Command::new(BIN)
        .arg("verify")
        .arg("--trust")
        .arg(p("root.pem"))
        .arg(p("tampered.pdf")));
    assert!(!ok);
    if require("pyhanko", &["--version"]) {
        let (ok, _) = run(Command::new("pyhanko")
            .args(["sign", "validate", "--trust"])
            .arg(p("root.pem"))
            .arg("--trust-replace")
            .arg(p("tampered.pdf")));
        assert!(!ok, "pyHanko accepted a tampered receipt");
    }
    let mut json_tampered: Value = receipt.clone();
    json_tampered["subject"] = json!("Autre objet");
    std::fs::write(
        p("tampered.json"),
        serde_json::to_vec(&json_tampered).unwrap(),
    )
    .unwrap();
    let (ok, _) = run(Command::new(BIN)
        .arg("verify")
        .arg("--trust")
        .arg(p("root.pem"))
        .arg(p("tampered.json")));
    assert!(!ok);
    // Another platform's root is not trusted.
    let other = demo_dir(&[]);
    let other_root = Command::new(BIN)
        .args(["pki", "export-root", "--data"])
        .arg(other.path())
        .output()
        .unwrap();
    std::fs::write(p("other.pem"), &other_root.stdout).unwrap();
    let (ok, _) = run(Command::new(BIN)
        .arg("verify")
        .arg("--trust")
        .arg(p("other.pem"))
        .arg(p("accuse.pdf")));
    assert!(!ok);

    // The log: a second filing grows the tree; proofs verify in an independent implementation.
    let first_sth: Value = Client::new()
        .get(s.url("/api/v1/log/sth"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for k in ["tree_size", "root_hash", "timestamp", "signature"] {
        assert!(first_sth.get(k).is_some(), "{k}");
    }
    file(&s, "Seconde demande", &pdf("seconde"));
    let sth: Value = Client::new()
        .get(s.url("/api/v1/log/sth"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let size = sth["tree_size"].as_u64().unwrap();
    assert!(size > first_sth["tree_size"].as_u64().unwrap());
    let index = receipt["log"]["leaf_index"].as_u64().unwrap();
    let inclusion: Value = Client::new()
        .get(s.url(&format!("/api/v1/log/proof?index={index}&size={size}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let first = first_sth["tree_size"].as_u64().unwrap();
    let consistency: Value = Client::new()
        .get(s.url(&format!(
            "/api/v1/log/consistency?first={first}&second={size}"
        )))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(consistency["first_root"], first_sth["root_hash"]);
    let bundle = json!({ "entry": receipt["log"]["entry"], "inclusion": inclusion, "consistency": consistency, "sth": sth });
    std::fs::write(p("proofs.json"), bundle.to_string()).unwrap();
    let (ok, out) = run(Command::new("python3")
        .args(["-c", RFC9162])
        .arg(p("proofs.json")));
    assert!(ok && out.trim() == "ok", "{out}");

    // Bad proof requests are precise 4xx.
    let r = Client::new()
        .get(s.url(&format!("/api/v1/log/proof?index={}&size={size}", size + 5)))
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
    let r = Client::new()
        .get(s.url("/api/v1/log/consistency?first=0&second=3"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    // The time-stamping service answers RFC 3161 requests.
    if require("openssl", &["version"]) {
        std::fs::write(p("data.bin"), b"to be time-stamped").unwrap();
        let (ok, out) = run(Command::new("openssl")
            .args(["ts", "-query", "-sha256", "-cert", "-data"])
            .arg(p("data.bin"))
            .arg("-out")
            .arg(p("q.tsq")));
        assert!(ok, "{out}");
        let resp = Client::new()
            .post(s.url("/tsa"))
            .header("content-type", "application/timestamp-query")
            .body(std::fs::read(p("q.tsq")).unwrap())
            .send()
            .unwrap();
        assert_eq!(
            resp.headers()["content-type"],
            "application/timestamp-reply"
        );
        std::fs::write(p("r.tsr"), resp.bytes().unwrap()).unwrap();
        let (ok, out) = run(Command::new("openssl")
            .args(["ts", "-verify", "-in"])
            .arg(p("r.tsr"))
            .arg("-queryfile")
            .arg(p("q.tsq"))
            .arg("-CAfile")
            .arg(p("root.pem")));
        assert!(ok, "{out}");
    }
}
