"""pyHanko's AdES (LTV) validation with online fetching of revocation data disabled.

`pyhanko sign adesverify` fetches OCSP responses from a certificate's AIA whenever it can, and
then ignores the responses embedded in the /DSS; with fetching disabled only the embedded
validation data can prove the signer's status. Usage:
python3 pyhanko_offline_ades.py ROOT.pem FILE.pdf
"""

import sys

import pyhanko.sign.validation.policy_decl as policy_decl

# No fetcher backend: revocation data comes from the document only.
policy_decl._backend_if_necessary = lambda **_: None

from pyhanko.cli import cli_root  # noqa: E402

root, pdf = sys.argv[1], sys.argv[2]
sys.argv = [
    "pyhanko",
    "sign",
    "adesverify",
    "--trust",
    root,
    "--trust-replace",
    "--pretty-print",
    pdf,
]
cli_root()
