//! `diwan sign` on files that are not PDFs: a detached CAdES B-T signature (`FILE.p7s`) that
//! `openssl cms -verify` and pyHanko accept, and an ASiC-E container (mimetype first and stored,
//! manifest with SHA-256 digests, CAdES over the manifest); `diwan verify` gives ETSI indications
//! and refuses a changed file, a file no signature covers, and a changed signature.

mod support;
use std::path::Path;
use std::process::Command;
use support::*;

/// A certificate authority and an ECDSA signer, made by OpenSSL.
fn identity(d: &Path) {
    openssl_ca(d);
    openssl_signer(d, "signer", "ec", "Amina Signataire");
}

/// Rewrites a ZIP with Python: `change` maps entry names to new contents, `add` appends.
fn rezip(src: &Path, dst: &Path, change: &[(&str, &[u8])], add: &[(&str, &[u8])]) {
    let script = r#"
import sys, zipfile, json
src, dst, change, add = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        data = zin.read(info.filename)
        if info.filename in change:
            data = bytes(change[info.filename])
        zout.writestr(info, data)
    for name, data in add.items():
        zout.writestr(name, bytes(data), compress_type=zipfile.ZIP_DEFLATED)
"#;
    let change: serde_json::Map<String, serde_json::Value> = change
        .iter()
        .map(|(n, d)| (n.to_string(), serde_json::json!(d)))
        .collect();
    let add: serde_json::Map<String, serde_json::Value> = add
        .iter()
        .map(|(n, d)| (n.to_string(), serde_json::json!(d)))
        .collect();
    let (ok, out) = run(Command::new("python3")
        .args(["-c", script])
        .arg(src)
        .arg(dst)
        .arg(serde_json::Value::Object(change).to_string())
        .arg(serde_json::Value::Object(add).to_string()));
    assert!(ok, "{out}");
}

#[test]
fn cades_and_asice() {
    if !require("openssl", &["version"]) || !require("python3", &["--version"]) {
        return;
    }
    let data = demo_dir(&[]);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let p = |n: &str| dir.join(n);
    let data_dir = data.path().to_str().unwrap();
    let (ok, root) = diwan_in(dir, &["pki", "export-root", "--data", data_dir]);
    assert!(ok, "{root}");
    std::fs::write(p("root.pem"), root).unwrap();
    identity(dir);
    std::fs::write(p("note.txt"), "Note de service n° 12 — مذكرة\n").unwrap();
    std::fs::write(p("annexe.pdf"), pdf("Annexe")).unwrap();
    let who = [
        "--key",
        "signer.key",
        "--cert",
        "signer.pem",
        "--chain",
        "ca.pem",
        "--data",
        data_dir,
    ];

    // A detached CAdES B-T signature next to the file.
    let (ok, out) = diwan_in(dir, &[&["sign"][..], &who, &["note.txt"]].concat());
    assert!(ok, "{out}");
    assert!(out.contains("note.txt.p7s") && out.contains("B-T"), "{out}");
    let out = openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-content",
            "note.txt",
            "-inform",
            "DER",
            "-in",
            "note.txt.p7s",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    );
    assert!(out.contains("Verification successful"), "{out}");
    let printed = openssl(
        dir,
        &[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            "note.txt.p7s",
        ],
    );
    assert!(printed.contains("id-smime-aa-timeStampToken"), "{printed}");
    if require("pyhanko", &["--version"]) {
        let (ok, out) = run(Command::new("pyhanko")
            .args([
                "sign",
                "validate",
                "--trust",
                "ca.pem",
                "--trust",
                "root.pem",
                "--trust-replace",
                "--detached",
                "note.txt.p7s",
                "note.txt",
            ])
            .current_dir(dir));
        assert!(
            ok && out.contains("INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>"),
            "pyHanko:\n{out}"
        );
    }
    let trust = ["verify", "--trust", "ca.pem", "--trust", "root.pem"];
    let (ok, out) = diwan_in(dir, &[&trust[..], &["note.txt", "note.txt.p7s"]].concat());
    assert!(ok, "{out}");
    assert!(
        out.contains("CAdES B-T signature by Amina Signataire: TOTAL-PASSED"),
        "{out}"
    );
    // Without the signer's root: INDETERMINATE.
    let (ok, out) = diwan_in(
        dir,
        &["verify", "--trust", "root.pem", "note.txt", "note.txt.p7s"],
    );
    assert!(
        !ok && out.contains("INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND"),
        "{out}"
    );
    // The file changed: TOTAL-FAILED.
    std::fs::write(p("note2.txt"), "Note de service n° 13\n").unwrap();
    std::fs::copy(p("note.txt.p7s"), p("note2.txt.p7s")).unwrap();
    let (ok, out) = diwan_in(dir, &[&trust[..], &["note2.txt", "note2.txt.p7s"]].concat());
    assert!(!ok && out.contains("TOTAL-FAILED / HASH_FAILURE"), "{out}");
    // A PDF at B-LT with the platform: its responder's answer (for the time-stamping unit it
    // issued) is embedded, produced in-process.
    let (ok, out) = diwan_in(
        dir,
        &[
            &["sign", "--level", "b-lt"][..],
            &who,
            &["annexe.pdf", "-o", "annexe-lt.pdf"],
        ]
        .concat(),
    );
    assert!(ok, "{out}");
    let lt = std::fs::read(p("annexe-lt.pdf")).unwrap();
    assert!(lt.windows(7).any(|w| w == b"/OCSPs "), "no OCSP in the DSS");
    let (ok, out) = diwan_in(dir, &[&trust[..], &["annexe-lt.pdf"]].concat());
    assert!(ok && out.contains("TOTAL-PASSED"), "{out}");
    // Long-term levels are for PDFs.
    let (ok, out) = diwan_in(
        dir,
        &[&["sign", "--level", "b-lt"][..], &who, &["note.txt"]].concat(),
    );
    assert!(!ok && out.contains("are for PDFs"), "{out}");
    let (ok, out) = diwan_in(
        dir,
        &[&["sign"][..], &who, &["note.txt", "annexe.pdf"]].concat(),
    );
    assert!(!ok && out.contains("--asice"), "{out}");

    // An ASiC-E container of two files.
    let (ok, out) = diwan_in(
        dir,
        &[
            &["sign", "--asice", "-o", "dossier.asice"][..],
            &who,
            &["note.txt", "annexe.pdf"],
        ]
        .concat(),
    );
    assert!(ok, "{out}");
    let (ok, out) = run(Command::new("python3")
        .args([
            "-c",
            r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
first = z.infolist()[0]
assert first.filename == "mimetype", first.filename
assert first.compress_type == zipfile.ZIP_STORED
assert first.extra == b"", first.extra
assert z.read("mimetype") == b"application/vnd.etsi.asic-e+zip"
names = z.namelist()
assert names[1:] == ["note.txt", "annexe.pdf", "META-INF/ASiCManifest.xml", "META-INF/signature001.p7s"], names
open("manifest.xml", "wb").write(z.read("META-INF/ASiCManifest.xml"))
open("signature001.p7s", "wb").write(z.read("META-INF/signature001.p7s"))
print(z.read("META-INF/ASiCManifest.xml").decode())
"#,
        ])
        .arg("dossier.asice")
        .current_dir(dir));
    assert!(ok, "{out}");
    assert!(
        out.contains("URI=\"note.txt\"") && out.contains("xmlenc#sha256"),
        "{out}"
    );
    let out = openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-content",
            "manifest.xml",
            "-inform",
            "DER",
            "-in",
            "signature001.p7s",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    );
    assert!(out.contains("Verification successful"), "{out}");
    let (ok, out) = diwan_in(dir, &[&trust[..], &["dossier.asice"]].concat());
    assert!(ok, "{out}");
    assert!(
        out.contains("(asic-e)") && out.contains("TOTAL-PASSED"),
        "{out}"
    );
    assert!(
        out.contains("annexe.pdf matches its SHA-256 digest"),
        "{out}"
    );
    let (ok, out) = diwan_in(dir, &[&trust[..], &["--json", "dossier.asice"]].concat());
    assert!(ok, "{out}");

    // A changed data file.
    rezip(
        &p("dossier.asice"),
        &p("changed.asice"),
        &[("note.txt", b"Note de service n\xc2\xb0 99\n")],
        &[],
    );
    let (ok, out) = diwan_in(dir, &[&trust[..], &["changed.asice"]].concat());
    assert!(!ok, "{out}");
    assert!(out.contains("note.txt was changed"), "{out}");
    // A file slipped in that no signature covers.
    rezip(
        &p("dossier.asice"),
        &p("added.asice"),
        &[],
        &[("virement.txt", b"RIB ...")],
    );
    let (ok, out) = diwan_in(dir, &[&trust[..], &["added.asice"]].concat());
    assert!(
        !ok && out.contains("virement.txt is in the container but no signature covers it"),
        "{out}"
    );
    // A changed manifest: the signature no longer matches.
    let manifest = std::fs::read_to_string(p("manifest.xml")).unwrap();
    let forged = manifest.replace("annexe.pdf", "annexe.PDF");
    rezip(
        &p("dossier.asice"),
        &p("forged.asice"),
        &[("META-INF/ASiCManifest.xml", forged.as_bytes())],
        &[],
    );
    let (ok, out) = diwan_in(dir, &[&trust[..], &["forged.asice"]].concat());
    assert!(!ok && out.contains("HASH_FAILURE"), "{out}");
}
