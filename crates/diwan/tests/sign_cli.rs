//! `diwan sign` against the real binary: PKCS#12 and PEM identities from OpenSSL, RSA and
//! ECDSA, two signatures on one file with a visible block, time-stamps from the platform's unit;
//! checked with pyHanko, qpdf and `diwan verify`; bad input refused with a clear message.

mod support;
use std::path::Path;
use std::process::Command;
use support::*;

fn diwan(args: &[&str], dir: &Path) -> (bool, String) {
    diwan_in(dir, args)
}

/// A certificate authority and two signers (RSA in a PKCS#12, ECDSA in PEM files).
fn make_identities(d: &Path) {
    openssl_ca(d);
    openssl_signer(d, "rsa", "rsa:2048", "Amina Signataire");
    openssl_signer(d, "ec", "ec", "Karim Directeur");
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "rsa.key",
            "-in",
            "rsa.pem",
            "-certfile",
            "ca.pem",
            "-out",
            "rsa.p12",
            "-passout",
            "pass:s3cret",
        ],
    );
}

#[test]
fn sign_from_the_command_line() {
    if !require("openssl", &["version"]) {
        return;
    }
    let platform = demo_dir(&[]);
    let data = platform.path().to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_identities(d);
    std::fs::write(d.join("in.pdf"), pdf("Decision n 12/2026")).unwrap();
    let root = diwan(&["pki", "export-root", "--data", &data], d);
    assert!(root.0, "{}", root.1);
    let root_pem = root
        .1
        .lines()
        .filter(|l| !l.contains("INFO"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(d.join("platform.pem"), &root_pem).unwrap();
    let trust = format!(
        "{}{}",
        std::fs::read_to_string(d.join("ca.pem")).unwrap(),
        root_pem
    );
    std::fs::write(d.join("trust.pem"), trust).unwrap();

    // RSA from a PKCS#12, B-T with the platform's time-stamping unit, a visible block.
    let (ok, out) = diwan(
        &[
            "sign",
            "--p12",
            "rsa.p12",
            "--p12-password",
            "s3cret",
            "--data",
            &data,
            "--reason",
            "Approbation",
            "--visible",
            "1/330,40,560,120",
            "in.pdf",
            "-o",
            "one.pdf",
        ],
        d,
    );
    assert!(ok, "{out}");
    // ECDSA from PEM files on top of it: the first signature stays valid.
    let (ok, out) = diwan(
        &[
            "sign", "--key", "ec.key", "--cert", "ec.pem", "--chain", "ca.pem", "--data", &data,
            "--level", "b-t", "one.pdf", "-o", "two.pdf",
        ],
        d,
    );
    assert!(ok, "{out}");

    let (ok, out) = diwan(&["verify", "--trust", "trust.pem", "--json", "two.pdf"], d);
    assert!(ok, "diwan verify refused our own signatures:\n{out}");
    let report: serde_json::Value = serde_json::from_str(&out[out.find('{').unwrap()..]).unwrap();
    let sigs = &report["files"][0]["pdf"]["signatures"];
    assert_eq!(sigs.as_array().map(|a| a.len()), Some(2), "{report}");
    if require("qpdf", &["--version"]) {
        let o = Command::new("qpdf")
            .arg("--check")
            .arg(d.join("two.pdf"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    if require("pyhanko", &["--version"]) {
        for f in ["one.pdf", "two.pdf"] {
            pyhanko_accepts(d, &["ca.pem", "platform.pem"], f);
        }
    }
    // Changing one byte of the signed content is caught.
    let mut bytes = std::fs::read(d.join("two.pdf")).unwrap();
    let i = bytes.windows(9).position(|w| w == b"/MediaBox").unwrap();
    bytes[i + 1] = b'N';
    std::fs::write(d.join("bad.pdf"), bytes).unwrap();
    let (ok, _) = diwan(&["verify", "--trust", "trust.pem", "bad.pdf"], d);
    assert!(!ok, "a tampered file verified");

    // Bad input: a clear message, a non-zero exit, no output file.
    std::fs::write(d.join("not.pdf"), b"hello, this is not a PDF").unwrap();
    for (args, needle) in [
        (
            vec![
                "sign",
                "--p12",
                "rsa.p12",
                "--p12-password",
                "wrong",
                "--level",
                "b-b",
                "in.pdf",
                "-o",
                "x.pdf",
            ],
            "password",
        ),
        (
            vec![
                "sign", "--key", "ec.key", "--cert", "rsa.pem", "--level", "b-b", "in.pdf", "-o",
                "x.pdf",
            ],
            "does not belong",
        ),
        (
            vec![
                "sign", "--key", "ec.key", "--cert", "ec.pem", "in.pdf", "-o", "x.pdf",
            ],
            "--tsa",
        ),
        (
            vec![
                "sign", "--key", "ec.key", "--cert", "ec.pem", "--level", "b-b", "not.pdf", "-o",
                "x.pdf",
            ],
            "not.pdf",
        ),
        (
            vec![
                "sign",
                "--key",
                "ec.key",
                "--cert",
                "ec.pem",
                "--level",
                "b-b",
                "--visible",
                "1/9,9,1,1",
                "in.pdf",
                "-o",
                "x.pdf",
            ],
            "--visible",
        ),
        (
            vec![
                "sign", "--key", "ec.key", "--cert", "ec.pem", "--level", "b-z", "in.pdf", "-o",
                "x.pdf",
            ],
            "level",
        ),
    ] {
        let (ok, out) = diwan(&args, d);
        assert!(!ok, "{args:?} succeeded");
        assert!(out.contains(needle), "{args:?}: {out}");
        assert!(!out.contains("panicked"), "{out}");
        assert!(!d.join("x.pdf").exists());
    }
}

#[test]
fn visible_block_at_a_text_tag() {
    if !require("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_identities(d);
    std::fs::write(
        d.join("in.pdf"),
        pdf("Decision n 12/2026 - Le Directeur [[SIGN_DG]]"),
    )
    .unwrap();
    let (ok, out) = diwan(
        &[
            "sign",
            "--key",
            "ec.key",
            "--cert",
            "ec.pem",
            "--chain",
            "ca.pem",
            "--level",
            "b-b",
            "--visible-tag",
            "[[SIGN_DG]]",
            "--visible-size",
            "180,60",
            "in.pdf",
            "-o",
            "tag.pdf",
        ],
        d,
    );
    assert!(ok, "{out}");

    // The widget's /Rect: 180×60 with its top-left corner on the tag's.
    let signed = std::fs::read(d.join("tag.pdf")).unwrap();
    let widgets = diwan_pades::signature_widgets(&signed).unwrap();
    assert_eq!(widgets.len(), 1, "{widgets:?}");
    assert_eq!(widgets[0].page, 1);
    let rect = widgets[0].rect;
    assert!((rect[2] - rect[0] - 180.0).abs() < 0.01, "{rect:?}");
    assert!((rect[3] - rect[1] - 60.0).abs() < 0.01, "{rect:?}");
    let hit = diwan_pades::find_text(&std::fs::read(d.join("in.pdf")).unwrap(), "[[SIGN_DG]]")
        .unwrap()
        .unwrap();
    assert!((rect[0] - hit.rect[0]).abs() < 0.01 && (rect[3] - hit.rect[3]).abs() < 0.01);
    // Where poppler sees the tag (top-left origin).
    if require("pdftotext", &["-v"]) {
        let o = Command::new("pdftotext")
            .args(["-bbox", "in.pdf", "-"])
            .current_dir(d)
            .output()
            .unwrap();
        let html = String::from_utf8_lossy(&o.stdout);
        let line = html
            .lines()
            .find(|l| l.contains(">[[SIGN_DG]]</word>"))
            .unwrap_or_else(|| panic!("pdftotext does not see the tag: {html}"));
        let attr = |name: &str| -> f32 {
            let s = &line[line.find(&format!("{name}=\"")).unwrap() + name.len() + 2..];
            s[..s.find('"').unwrap()].parse().unwrap()
        };
        assert!((rect[0] - attr("xMin")).abs() <= 2.0, "{rect:?} {line}");
        assert!(
            (rect[3] - (842.0 - attr("yMin"))).abs() <= 2.0,
            "{rect:?} {line}"
        );
    }
    if require("qpdf", &["--version"]) {
        let o = Command::new("qpdf")
            .arg("--check")
            .arg(d.join("tag.pdf"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    if require("pyhanko", &["--version"]) {
        pyhanko_accepts(d, &["ca.pem"], "tag.pdf");
    }

    // A missing tag, both placements, a size without a tag: refused, nothing written.
    let base = [
        "sign", "--key", "ec.key", "--cert", "ec.pem", "--level", "b-b",
    ];
    for (extra, needle) in [
        (
            vec!["--visible-tag", "#absent#"],
            "\"#absent#\" is not in the document",
        ),
        (
            vec![
                "--visible-tag",
                "[[SIGN_DG]]",
                "--visible",
                "1/10,10,100,100",
            ],
            "--visible",
        ),
        (vec!["--visible-size", "100,50"], "--visible-tag"),
        (
            vec!["--visible-tag", "[[SIGN_DG]]", "--visible-size", "100"],
            "--visible-size",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        args.extend(["in.pdf", "-o", "x.pdf"]);
        let (ok, out) = diwan(&args, d);
        assert!(!ok, "{args:?} succeeded");
        assert!(out.contains(needle), "{args:?}: {out}");
        assert!(!out.contains("panicked"), "{out}");
        assert!(!d.join("x.pdf").exists());
    }
}

/// `pyhanko sign validate --trust … --trust-replace FILE` in `dir` exits 0.
fn pyhanko_accepts(dir: &std::path::Path, trust: &[&str], file: &str) {
    let mut args = vec!["sign", "validate"];
    for t in trust {
        args.extend(["--trust", t]);
    }
    args.extend(["--trust-replace", file]);
    let o = Command::new("pyhanko")
        .args(&args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pyHanko refused {file}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
