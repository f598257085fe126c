//! `diwan sign`: PAdES signatures from the command line, streaming (memory does not grow with
//! the file's size); any other file gets a detached CAdES signature (`FILE.p7s`), and `--asice`
//! puts files and their CAdES signature in an ASiC-E container.

use anyhow::{bail, Context, Result};
use diwan_crypto::cms::CmsSigner;
use diwan_crypto::keys::PrivateKey;
use diwan_crypto::pki::Certificate;
use diwan_crypto::tsa::{HttpTimestampClient, TimestampSource};
use diwan_pades::{Level, SignOptions, ValidationData, Visible};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct SignArgs {
    /// The signer's PKCS#12 file (.p12/.pfx): key, certificate and chain.
    #[arg(long, conflicts_with_all = ["key", "cert"], required_unless_present = "key")]
    p12: Option<PathBuf>,
    /// Password of the PKCS#12 file (or the DIWAN_P12_PASSWORD variable).
    #[arg(
        long,
        env = "DIWAN_P12_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    p12_password: String,
    /// The signer's private key (PEM: PKCS#8, SEC1 or PKCS#1; EC P-256 or RSA).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// The signer's certificate (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Intermediate and root certificates (PEM, repeatable or several in one file).
    #[arg(long)]
    chain: Vec<PathBuf>,
    /// PAdES baseline level: b-b, b-t (default), b-lt, b-lta.
    #[arg(long, default_value = "b-t")]
    level: Level,
    /// RFC 3161 time-stamping service URL (for b-t and above).
    #[arg(long)]
    tsa: Option<String>,
    /// Use the time-stamping unit of the Diwan platform in this data directory instead of a URL
    /// (and its root certificate and CRL as validation data).
    #[arg(long, conflicts_with = "tsa")]
    data: Option<PathBuf>,
    /// CRLs (DER or PEM) to embed for b-lt/b-lta, one per certificate authority.
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// For b-lt/b-lta: fetch OCSP responses from the responders the certificates name (AIA)
    /// and embed them. With --data, the platform's own responder answers in-process anyway.
    #[arg(long)]
    ocsp: bool,
    /// Put the files and a CAdES signature over their manifest in an ASiC-E container
    /// (ETSI EN 319 162-1), written to -o (default: FIRST-FILE.asice).
    #[arg(long)]
    asice: bool,
    /// Reason shown by PDF readers.
    #[arg(long)]
    reason: Option<String>,
    /// Location shown by PDF readers.
    #[arg(long)]
    location: Option<String>,
    /// Signer's name (default: the certificate's common name).
    #[arg(long)]
    name: Option<String>,
    /// A visible signature block: PAGE/X1,Y1,X2,Y2 in points from the page's bottom-left corner,
    /// e.g. 1/350,50,560,130.
    #[arg(long)]
    visible: Option<String>,
    /// A visible signature block where TEXT is written in the PDF (a placeholder such as
    /// #signature# or [[SIGN_DG]]; its first occurrence): the block's top-left corner on the
    /// text's, kept inside the page, drawn over the text.
    #[arg(long, value_name = "TEXT", conflicts_with = "visible")]
    visible_tag: Option<String>,
    /// Size of the block placed by --visible-tag: W,H in points.
    #[arg(
        long,
        value_name = "W,H",
        requires = "visible_tag",
        default_value = "200,70"
    )]
    visible_size: String,
    /// The file to sign: a PDF gets a PAdES signature, any other file a detached CAdES
    /// signature; with --asice, one or more files.
    #[arg(required = true)]
    input: Vec<PathBuf>,
    /// Where to write the signed PDF (required for PDFs), the .p7s (default: FILE.p7s) or the
    /// container (default: FILE.asice).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Print what was produced as JSON.
    #[arg(long)]
    json: bool,
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
}

fn certs_from(p: &Path) -> Result<Vec<Certificate>> {
    let text =
        String::from_utf8(read(p)?).with_context(|| format!("{} is not PEM", p.display()))?;
    let certs =
        Certificate::all_from_pem(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", p.display());
    }
    Ok(certs)
}

/// Parses `PAGE/X1,Y1,X2,Y2`.
fn parse_visible(s: &str) -> Result<(usize, [f32; 4])> {
    let bad =
        || anyhow::anyhow!("--visible must be PAGE/X1,Y1,X2,Y2 (e.g. 1/350,50,560,130), got {s:?}");
    let (page, rect) = s.split_once('/').ok_or_else(bad)?;
    let page: usize = page.trim().parse().map_err(|_| bad())?;
    let v: Vec<f32> = rect
        .split(',')
        .map(|x| x.trim().parse::<f32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad())?;
    let [x1, y1, x2, y2] = v[..] else {
        return Err(bad());
    };
    if page == 0 || x2 <= x1 || y2 <= y1 || v.iter().any(|c| !c.is_finite() || *c < 0.0) {
        return Err(bad());
    }
    Ok((page, [x1, y1, x2, y2]))
}

/// Parses `W,H` (points).
fn parse_size(s: &str) -> Result<(f32, f32)> {
    let bad = || anyhow::anyhow!("--visible-size must be W,H in points (e.g. 200,70), got {s:?}");
    let (w, h) = s.split_once(',').ok_or_else(bad)?;
    let (w, h): (f32, f32) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    if !(w.is_finite() && h.is_finite() && w > 0.0 && h > 0.0) {
        return Err(bad());
    }
    Ok((w, h))
}

/// Where `tag` is written in the PDF at `path` (read lazily, not loaded).
fn find_tag(path: &Path, tag: &str) -> Result<diwan_pades::TextHit> {
    let src = diwan_pades::reader::FileSource::open(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let reader = diwan_pades::reader::Reader::open(Box::new(src))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    diwan_pades::find_text_in(&reader, tag)
        .map_err(|e| anyhow::anyhow!("{}: looking for {tag:?}: {e}", path.display()))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: the text {tag:?} is not in the document: no place for the visible signature (--visible-tag)",
                path.display()
            )
        })
}

fn crl_der(bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.starts_with(b"-----BEGIN") {
        let text = String::from_utf8(bytes)?;
        let (_, der) =
            diwan_crypto::keys::pem_rfc7468_decode(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(der);
    }
    Ok(bytes)
}

pub async fn run(args: SignArgs, config_file: Option<&Path>) -> Result<std::process::ExitCode> {
    let (key, cert, mut chain) = match (&args.p12, &args.key, &args.cert) {
        (Some(p12), _, _) => {
            let id = diwan_crypto::pkcs12::open(&read(p12)?, &args.p12_password)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p12.display()))?;
            (id.key, id.cert, id.chain)
        }
        (None, Some(k), Some(c)) => {
            let pem = String::from_utf8(read(k)?).context("the key is not PEM")?;
            let key =
                PrivateKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", k.display()))?;
            let mut certs = certs_from(c)?;
            let cert = certs.remove(0);
            (key, cert, certs)
        }
        _ => bail!("give --p12 FILE, or --key PEM with --cert PEM"),
    };
    if key.public_key_der().ok() != cert.spki_der().ok() {
        bail!(
            "the private key does not belong to the certificate {:?}",
            cert.common_name()
        );
    }
    for c in &args.chain {
        chain.extend(certs_from(c)?);
    }
    let mut crls = Vec::new();
    for c in &args.crl {
        crls.push(crl_der(read(c)?)?);
    }
    let mut ocsps: Vec<Vec<u8>> = Vec::new();
    let long_term = matches!(args.level, Level::BLT | Level::BLTA);
    let format = format_of(&args)?;
    if format != Format::Pades
        && (long_term || args.visible.is_some() || args.visible_tag.is_some())
    {
        bail!("b-lt, b-lta, --visible and --visible-tag are for PDFs: detached CAdES signatures and ASiC-E containers are b-b or b-t");
    }
    // Where the visible block goes, known before anything is signed or time-stamped.
    let visible_at = match (&args.visible, &args.visible_tag) {
        (Some(v), _) => Some(parse_visible(v)?),
        (None, Some(tag)) => {
            let (w, h) = parse_size(&args.visible_size)?;
            let hit = tokio::task::block_in_place(|| find_tag(&args.input[0], tag))?;
            let v = Visible::at_tag(&hit, w, h, vec![]);
            Some((v.page, v.rect))
        }
        (None, None) => None,
    };
    // The time-stamping service, and what the platform adds as validation data.
    let mut tsa_certs = Vec::new();
    let tsa: Option<Arc<dyn TimestampSource>> = match (&args.tsa, &args.data) {
        (Some(url), _) => Some(Arc::new(HttpTimestampClient::new(url.clone()))),
        (None, Some(_)) => {
            let app = crate::tools::open_app(config_file, &args.data).await?;
            let pki = app.pki();
            tsa_certs.push(pki.authority.certificate().clone());
            tsa_certs.push(pki.root.clone());
            if !chain.iter().any(|c| c.der() == pki.root.der())
                && cert.issuer() == pki.root.subject()
            {
                chain.push(pki.root.clone());
            }
            crls.push(
                pki.crl(&app.store)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
            if long_term {
                // The platform's OCSP responder, in-process, for what its root issued.
                for c in [&cert, pki.authority.certificate()] {
                    if let Some(r) = pki.ocsp_for(&app.store, c).await {
                        ocsps.push(r);
                    }
                }
            }
            let ts = pki.timestamps.clone();
            app.store.close().await;
            Some(ts)
        }
        (None, None) => None,
    };
    if args.level != Level::BB && tsa.is_none() {
        bail!(
            "level {:?} needs a time-stamp: give --tsa URL (or --data DIR), or choose --level b-b",
            args.level
        );
    }
    if long_term && args.ocsp {
        ocsps.extend(fetch_ocsps(&cert, &chain)?);
    }
    if long_term && crls.is_empty() && ocsps.is_empty() {
        bail!("b-lt and b-lta embed revocation data: give --crl FILE for each certificate authority, --ocsp, or --data DIR");
    }
    let signing_time = time::OffsetDateTime::now_utc();
    if format != Format::Pades {
        let signer = CmsSigner {
            key: &key,
            cert: &cert,
            chain: &chain,
        };
        return tokio::task::block_in_place(|| {
            let tsa = if args.level == Level::BB {
                None
            } else {
                tsa.as_deref()
            };
            sign_detached(&args, format, &signer, signing_time, tsa)
        });
    }
    let Some(output) = args.output.clone() else {
        bail!("give -o FILE for the signed PDF");
    };
    let input = args.input[0].clone();
    let name = args.name.clone().unwrap_or_else(|| cert.common_name());
    let mut opts = SignOptions::new(args.level);
    opts.reason = args.reason.clone();
    opts.location = args.location.clone();
    opts.name = Some(name.clone());
    opts.signing_time = signing_time;
    opts.tsa = tsa.as_deref();
    if let Some((page, rect)) = visible_at {
        let mut lines = vec![
            format!("Signé par / وقعه : {name}"),
            format!(
                "Le / بتاريخ : {}",
                signing_time
                    .format(&time::macros::format_description!(
                        "[day]/[month]/[year] [hour]:[minute] UTC"
                    ))
                    .unwrap_or_default()
            ),
        ];
        if let Some(r) = &args.reason {
            lines.push(r.clone());
        }
        opts.visible = Some(Visible { page, rect, lines });
    }
    if matches!(args.level, Level::BLT | Level::BLTA) {
        let mut certificates = vec![cert.clone()];
        certificates.extend(chain.iter().cloned());
        certificates.extend(tsa_certs);
        opts.validation_data = Some(ValidationData {
            certificates,
            crls,
            ocsps,
        });
    }
    let signer = CmsSigner {
        key: &key,
        cert: &cert,
        chain: &chain,
    };
    let summary =
        tokio::task::block_in_place(|| diwan_pades::sign_file(&input, &output, &signer, &opts))
            .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "signed {} -> {} ({:?}, field {}, {} bytes)",
            input.display(),
            output.display(),
            args.level,
            summary.field,
            summary.output_len
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// What `diwan sign` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pades,
    Cades,
    Asice,
}

fn is_pdf(p: &Path) -> Result<bool> {
    use std::io::Read;
    let mut head = Vec::with_capacity(1024);
    std::fs::File::open(p)
        .with_context(|| format!("reading {}", p.display()))?
        .take(1024)
        .read_to_end(&mut head)?;
    Ok(head.windows(5).any(|w| w == b"%PDF-"))
}

fn format_of(args: &SignArgs) -> Result<Format> {
    if args.asice {
        return Ok(Format::Asice);
    }
    match &args.input[..] {
        [one] if is_pdf(one)? => Ok(Format::Pades),
        [one]
            if one
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("pdf")) =>
        {
            bail!("{} is named .pdf but is not a PDF", one.display())
        }
        [_] => Ok(Format::Cades),
        _ => bail!("several files go in one ASiC-E container: add --asice"),
    }
}

/// OCSP responses for the signer and its chain, from the responders their certificates name.
fn fetch_ocsps(cert: &Certificate, chain: &[Certificate]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for c in std::iter::once(cert).chain(chain.iter()) {
        let Some(url) = c.ocsp_url() else { continue };
        let Some(issuer) = chain
            .iter()
            .find(|i| i.der() != c.der() && c.verify_signed_by(i).is_ok())
        else {
            continue;
        };
        let (der, answer) = diwan_crypto::ocsp::fetch(&url, c, issuer)
            .map_err(|e| anyhow::anyhow!("OCSP for {}: {e}", c.common_name()))?;
        if let diwan_crypto::ocsp::CertStatus::Revoked { at, .. } = answer.status {
            bail!("{} was revoked on {at} (OCSP)", c.common_name());
        }
        out.push(der);
    }
    Ok(out)
}

/// Streams a file through SHA-256.
fn sha256_file(p: &Path) -> Result<[u8; 32]> {
    use std::io::Read;
    let mut f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
    let mut h = diwan_crypto::DigestAlg::Sha256.hasher();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize()
        .try_into()
        .map_err(|_| anyhow::anyhow!("SHA-256 gave an odd length"))
}

fn with_extension(p: &Path, ext: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// A detached CAdES signature (`FILE.p7s`) or an ASiC-E container.
fn sign_detached(
    args: &SignArgs,
    format: Format,
    signer: &CmsSigner<'_>,
    signing_time: time::OffsetDateTime,
    tsa: Option<&dyn TimestampSource>,
) -> Result<std::process::ExitCode> {
    let first = &args.input[0];
    let (output, bytes) = if format == Format::Cades {
        let digest = sha256_file(first)?;
        let cms = diwan_crypto::cms::sign_cades_detached(signer, &digest, signing_time, tsa)
            .map_err(|e| anyhow::anyhow!("{}: {e}", first.display()))?;
        (
            args.output
                .clone()
                .unwrap_or_else(|| with_extension(first, ".p7s")),
            cms,
        )
    } else {
        let mut files = Vec::new();
        for p in &args.input {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| anyhow::anyhow!("{} is not a file", p.display()))?;
            files.push((name, read(p)?));
        }
        let z = diwan_crypto::asic::build(&files, signer, signing_time, tsa)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        (
            args.output
                .clone()
                .unwrap_or_else(|| first.with_extension("asice")),
            z,
        )
    };
    std::fs::write(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    let kind = if format == Format::Cades {
        "CAdES detached signature"
    } else {
        "ASiC-E container"
    };
    let level = if tsa.is_some() { "B-T" } else { "B-B" };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "format": if format == Format::Cades { "cades" } else { "asic-e" },
                "level": level, "output": output.display().to_string(), "output_len": bytes.len(),
                "files": args.input.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            }))?
        );
    } else {
        println!(
            "signed {} -> {} ({kind}, {level}, {} bytes)",
            args.input
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            output.display(),
            bytes.len()
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn visible_spec() {
        assert_eq!(
            super::parse_visible("1/350,50,560,130").unwrap(),
            (1, [350.0, 50.0, 560.0, 130.0])
        );
        for bad in [
            "0/1,1,2,2",
            "1/2,2,1,1",
            "1/1,1,2",
            "x/1,1,2,2",
            "1-1,1,2,2",
            "1/1,1,2,NaN",
        ] {
            assert!(super::parse_visible(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn size_spec() {
        assert_eq!(super::parse_size("200, 70.5").unwrap(), (200.0, 70.5));
        for bad in ["200", "0,70", "-1,2", "a,b", "1,inf", ""] {
            assert!(super::parse_size(bad).is_err(), "{bad}");
        }
    }
}
