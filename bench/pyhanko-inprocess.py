"""pyHanko in process, the counterpart of `diwan bench --sign N`: sign a PDF N times with
`signers.sign_pdf` (PAdES B-B, ETSI.CAdES.detached, SHA-256, no time-stamp), then validate the
signed PDF N times with `validate_pdf_signature` (no revocation fetching), after one warm-up each.
Prints one JSON line. Usage: python3 pyhanko-inprocess.py N KEY.pem CERT.pem CA.pem IN.pdf
"""

import io
import json
import sys
import time

from asn1crypto import pem, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

n = int(sys.argv[1])
key, cert, ca, pdf = sys.argv[2:6]
data = open(pdf, "rb").read()
signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(ca,), key_passphrase=None)
meta = signers.PdfSignatureMetadata(
    field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
)


def sign():
    w = IncrementalPdfFileWriter(io.BytesIO(data))
    return signers.sign_pdf(w, meta, signer=signer).getvalue()


signed = sign()
t = time.perf_counter()
for _ in range(n):
    sign()
sign_ms = (time.perf_counter() - t) * 1000 / n

root_der = open(ca, "rb").read()
if pem.detect(root_der):
    root_der = pem.unarmor(root_der)[2]
root = x509.Certificate.load(root_der)


def validate():
    r = PdfFileReader(io.BytesIO(signed))
    vc = ValidationContext(trust_roots=[root], allow_fetching=False)
    return validate_pdf_signature(r.embedded_signatures[0], vc)


status = validate()
if not (status.intact and status.valid and status.trusted):
    sys.exit("pyHanko does not validate its own signature: " + status.summary())
t = time.perf_counter()
for _ in range(n):
    validate()
validate_ms = (time.perf_counter() - t) * 1000 / n
print(
    json.dumps(
        {
            "tool": "pyhanko",
            "n": n,
            "input_bytes": len(data),
            "signed_bytes": len(signed),
            "sign_ms": sign_ms,
            "validate_ms": validate_ms,
        }
    )
)
