#!/usr/bin/env bash
# In process, like with like: pyHanko's signers.sign_pdf / validate_pdf_signature in a Python loop
# against diwan's sign_bytes / verify_bytes in a Rust loop (`diwan bench --sign N`), same P-256
# key and certificate, same 1-page PDF, PAdES B-B (ETSI.CAdES.detached, SHA-256, no time-stamp),
# no revocation fetching; process start-up and file I/O are outside the loops.
# Usage: N=50 DIWAN=target/release/diwan bench/pyhanko-inprocess.sh
set -euo pipefail
DIWAN="${DIWAN:-diwan}"
N="${N:-50}"
HERE="$(cd "$(dirname "$0")" && pwd)"
W=$(mktemp -d /tmp/diwan-pyhanko-inproc.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
  -subj "/CN=Bench CA" -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out k.csr -subj "/CN=Bench Signer" 2>/dev/null
printf "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature,nonRepudiation\n" > leaf.cnf
openssl x509 -req -in k.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out c.pem -days 30 -extfile leaf.cnf 2>/dev/null
python3 - <<'PY'
content = b"BT /F1 14 Tf 72 770 Td (Decision) Tj ET"
objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
out = bytearray(b"%PDF-1.7\n")
offs = []
for i, o in enumerate(objs):
    offs.append(len(out))
    out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
x = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for o in offs:
    out += b"%010d 00000 n \n" % o
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x)
open("one-page.pdf", "wb").write(out)
PY
echo "machine: $(nproc) cores, $(python3 -c 'import importlib.metadata as m; print("pyHanko", m.version("pyhanko"))'), $("$DIWAN" --version)"
ph=$(python3 "$HERE/pyhanko-inprocess.py" "$N" k.pem c.pem ca.pem one-page.pdf)
dw=$("$DIWAN" bench --sign "$N" --sign-key k.pem --sign-cert c.pem --sign-trust ca.pem --sign-pdf one-page.pdf)
echo "$ph"
echo "$dw"
python3 - "$ph" "$dw" <<'PY'
import json, sys
p, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k, what in (("sign_ms", "sign 1-page PDF, B-B"), ("validate_ms", "validate it")):
    print("%s (in process, mean of %d): pyHanko %.2f ms, diwan %.2f ms, ratio %.0fx"
          % (what, d["n"], p[k], d[k], p[k] / d[k]))
PY
