#!/usr/bin/env bash
# Side by side with pyHanko, command line against command line, same key, same files, same
# machine, one run: sign a 1-page PDF (B-B), sign a 40 MB PDF (B-B, against sha256sum of the
# file), validate a signed 1-page PDF. Usage: DIWAN=target/release/diwan bench/pyhanko-compare.sh
set -euo pipefail
DIWAN="${DIWAN:-diwan}"
N="${N:-20}"
W=$(mktemp -d /tmp/diwan-pyhanko.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
  -subj "/CN=Bench CA" -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out k.csr -subj "/CN=Bench Signer" 2>/dev/null
printf "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature,nonRepudiation\n" > leaf.cnf
openssl x509 -req -in k.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out c.pem -days 30 -extfile leaf.cnf 2>/dev/null
python3 - <<'PY'
# A 1-page PDF and a ~40 MB one (one page with a large incompressible image stream).
import os
def pdf(path, extra_len):
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> /XObject << /Im 6 0 R >> >> >>",
            None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", None]
    content = b"BT /F1 14 Tf 72 770 Td (Decision) Tj ET"
    objs[3] = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
    side = max(1, int((extra_len / 3) ** 0.5))
    data = os.urandom(side * side * 3)
    objs[5] = b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 /Length %d >>\nstream\n" % (side, side, len(data)) + data + b"\nendstream"
    out = bytearray(b"%PDF-1.7\n")
    offs = []
    for i, o in enumerate(objs):
        offs.append(len(out))
        o = o.encode() if isinstance(o, str) else o
        out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x)
    open(path, "wb").write(out)
pdf("small.pdf", 3)
pdf("big.pdf", 40 * 1024 * 1024)
PY
t() { python3 -c 'import time,sys,subprocess
n=int(sys.argv[1]); cmd=sys.argv[2:]
t=time.perf_counter()
for _ in range(n): subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("%.1f" % ((time.perf_counter()-t)/n*1000))' "$@"; }
echo "machine: $(nproc) cores, $(python3 -c 'import importlib.metadata as m; print("pyHanko", m.version("pyhanko"))'), $("$DIWAN" --version)"
echo "sizes: small.pdf $(stat -c %s small.pdf) B, big.pdf $(stat -c %s big.pdf) B"
ph_sign="pyhanko sign addsig --field Sig1 pemder --key k.pem --cert c.pem --no-pass"
a=$(t "$N" $ph_sign small.pdf ph-small.pdf)
b=$(t "$N" "$DIWAN" sign --key k.pem --cert c.pem --chain ca.pem --level b-b small.pdf -o dw-small.pdf)
echo "sign 1-page PDF (B-B, CLI, mean of $N): pyHanko $a ms, diwan $b ms, ratio $(python3 -c "print('%.0fx' % ($a/$b))")"
a=$(t 3 $ph_sign big.pdf ph-big.pdf)
b=$(t 3 "$DIWAN" sign --key k.pem --cert c.pem --chain ca.pem --level b-b big.pdf -o dw-big.pdf)
h=$(t 3 sha256sum big.pdf)
echo "sign 40 MB PDF (B-B, CLI, mean of 3): pyHanko $a ms, diwan $b ms, sha256sum $h ms, diwan/sha256sum $(python3 -c "print('%.2f' % ($b/$h))")"
a=$(t "$N" pyhanko sign validate --trust ca.pem --trust-replace dw-small.pdf)
b=$(t "$N" "$DIWAN" verify --trust ca.pem dw-small.pdf)
echo "validate a signed 1-page PDF (CLI, mean of $N): pyHanko $a ms, diwan $b ms, ratio $(python3 -c "print('%.0fx' % ($a/$b))")"
# Peak memory of signing the 40 MB file.
/usr/bin/time -f "diwan sign 40 MB: peak RSS %M KiB" "$DIWAN" sign --key k.pem --cert c.pem --level b-b big.pdf -o dw-big2.pdf 2>&1 >/dev/null | tail -1
/usr/bin/time -f "pyhanko sign 40 MB: peak RSS %M KiB" $ph_sign big.pdf ph-big2.pdf 2>&1 >/dev/null | tail -1
