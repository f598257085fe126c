//! Canonical JSON (RFC 8785, JCS) and signed JSON documents (machine-readable receipts).
//!
//! Canonical form: no whitespace, object members sorted by the UTF-16 code units of their names,
//! strings with the minimal escapes, numbers as integers (receipts carry no fractions; a
//! non-integer number is refused rather than risk a second encoding).
//!
//! A signed document carries a `signature` member: `{"alg": "ES256"|"RS256", "certificates":
//! [base64 DER, signer first], "value": base64}`; the value signs the canonical bytes of the
//! document *without* its `signature` member.

use crate::keys::PrivateKey;
use crate::pki::Certificate;
use crate::{CryptoError, Result};
use base64::Engine;
use serde_json::{Map, Value};

/// Canonical bytes of a JSON value.
pub fn canonical_json(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut Vec<u8>) -> Result<()> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(CryptoError::Unsupported(
                    "non-integer numbers in canonical JSON".into(),
                ));
            }
        }
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(x, out)?;
            }
            out.push(b']');
        }
        Value::Object(o) => write_object(o, out)?,
    }
    Ok(())
}

fn write_object(o: &Map<String, Value>, out: &mut Vec<u8>) -> Result<()> {
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write(&o[*k], out)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Signs a JSON object: returns it with a `signature` member.
pub fn sign(doc: &Value, key: &PrivateKey, chain: &[&Certificate]) -> Result<Value> {
    let Value::Object(map) = doc else {
        return Err(CryptoError::Unsupported(
            "only JSON objects can be signed".into(),
        ));
    };
    let mut unsigned = map.clone();
    unsigned.remove("signature");
    let mut bytes = Vec::with_capacity(4096);
    write_object(&unsigned, &mut bytes)?;
    let sig = key.sign_sha256(&bytes)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let alg = match key {
        PrivateKey::P256(_) => "ES256",
        PrivateKey::Rsa(_) => "RS256",
    };
    let mut signed: Map<String, Value> = unsigned;
    signed.insert(
        "signature".into(),
        serde_json::json!({
            "alg": alg,
            "certificates": chain.iter().map(|c| b64.encode(c.der())).collect::<Vec<_>>(),
            "value": b64.encode(sig),
        }),
    );
    Ok(Value::Object(signed))
}

/// Checks a signed JSON object; returns the certificates it carries (signer first). The
/// certificate path is for the caller to validate.
pub fn verify(doc: &Value) -> Result<Vec<Certificate>> {
    let Value::Object(map) = doc else {
        return Err(CryptoError::malformed("signed JSON", "not an object"));
    };
    let sig = map
        .get("signature")
        .ok_or_else(|| CryptoError::malformed("signed JSON", "no signature member"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let certs = sig["certificates"]
        .as_array()
        .ok_or_else(|| CryptoError::malformed("signed JSON", "no certificates"))?
        .iter()
        .map(|c| {
            let der = b64
                .decode(c.as_str().unwrap_or(""))
                .map_err(|e| CryptoError::malformed("certificate", e))?;
            Certificate::from_der(&der)
        })
        .collect::<Result<Vec<_>>>()?;
    let signer = certs
        .first()
        .ok_or_else(|| CryptoError::malformed("signed JSON", "empty certificate list"))?;
    let value = b64
        .decode(sig["value"].as_str().unwrap_or(""))
        .map_err(|e| CryptoError::malformed("signature value", e))?;
    let mut unsigned = map.clone();
    unsigned.remove("signature");
    let bytes = canonical_json(&Value::Object(unsigned))?;
    let alg = match sig["alg"].as_str() {
        Some("ES256") => spki::AlgorithmIdentifierOwned {
            oid: crate::oids::ECDSA_WITH_SHA256,
            parameters: None,
        },
        Some("RS256") => spki::AlgorithmIdentifierOwned {
            oid: crate::oids::SHA256_WITH_RSA,
            parameters: None,
        },
        other => {
            return Err(CryptoError::Unsupported(format!(
                "JSON signature algorithm {other:?}"
            )))
        }
    };
    signer.public_key()?.verify(&alg, None, &bytes, &value)?;
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jcs_examples() {
        // From RFC 8785 §3.2.3 (without the float members).
        let v = json!({"string": "€$\u{000f}\nA'B\"\\\\\"/", "literals": [null, true, false], "numbers": [333333333, -1, 0]});
        let out = String::from_utf8(canonical_json(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"literals":[null,true,false],"numbers":[333333333,-1,0],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        // Sorting by UTF-16 code units.
        let v = json!({"\u{20ac}": 1, "\r": 2, "1": 3, "\u{1f600}": 4, "\u{fb33}": 5});
        let out = String::from_utf8(canonical_json(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"\\r\":2,\"1\":3,\"\u{20ac}\":1,\"\u{1f600}\":4,\"\u{fb33}\":5}"
        );
        assert!(canonical_json(&json!({"x": 1.5})).is_err());
    }

    #[test]
    fn sign_verify_tamper() {
        let (root, _, ica, _, seal, sk) = crate::pki::tests::chain();
        let doc = json!({"number": "BO/A/2026/000001", "administration": "وزارة"});
        let signed = sign(&doc, &sk, &[&seal, &ica, &root]).unwrap();
        let certs = verify(&signed).unwrap();
        assert_eq!(certs[0], seal);
        let mut tampered = signed.clone();
        tampered["number"] = json!("BO/A/2026/000002");
        assert!(verify(&tampered).is_err());
    }
}
