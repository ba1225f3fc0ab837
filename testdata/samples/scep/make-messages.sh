#!/usr/bin/env bash
# Regenerates the SCEP pkiMessages (RFC 8894 PKCSReq, CMS SignedData) that the sample's iPhone
# sends in PKIOperation GETs. They are produced by a real SCEP client, `scepclient` from Debian's
# `scep` package, against a throwaway CA made by `scepserver ca -init`. A small Python stand-in
# for NDES on 127.0.0.1 answers GetCACaps (without POSTPKIOperation, so the client uses GET) and
# GetCACert, and captures the message= parameter of the PKIOperation GET; nothing leaves the
# machine. The client sends base64url; we store the DER, which ../make-samples.py encodes in the
# standard base64 alphabet that iOS uses.
#
# Keys are fresh on every run, so running this changes the transactionIDs; rerun
# ../make-samples.py afterwards to rebuild the logs that quote the messages.
#
# usage: testdata/samples/scep/make-messages.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for tool in scepserver scepclient python3 openssl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install scep openssl python3)" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'kill "${srv:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

scepserver ca -init -depot depot -keySize 2048 -organization Contoso \
  -organizational_unit "Contoso Issuing CA" -country US >/dev/null
openssl x509 -in depot/ca.pem -outform DER -out ca.der

cat > ndes-standin.py <<'PY'
import http.server, sys, urllib.parse
ca_der = open("ca.der", "rb").read()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.urlsplit(self.path).query
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        op = params.get("operation")
        status, body = 404, b""
        if op == "GetCACaps":
            status, body = 200, b"SHA-256\nAES\n"
        elif op == "GetCACert":
            status, body = 200, ca_der
        elif op == "PKIOperation":
            with open(sys.argv[2], "w") as f:
                f.write(params.get("message", ""))
            status, body = 500, b"captured"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY

port=$((20000 + RANDOM % 20000))
capture() { # name cn
  # scepclient keeps its key, CSR and self-signed signer in the working directory and reuses
  # them, so each message gets a directory of its own (and thus its own key and transactionID).
  mkdir "$1" && cp ca.der ndes-standin.py "$1/" && pushd "$1" >/dev/null
  python3 ndes-standin.py "$port" "$1.url" & srv=$!
  sleep 1
  # The client reports the stand-in's 500 as a failure; the message is already captured.
  scepclient -server-url "http://127.0.0.1:$port/certsrv/mscep/mscep.dll" -cn "$2" \
    -organization Contoso -ou "" -challenge 7A2F1C9E0B3D4A5F -private-key "$1.key" >/dev/null 2>&1 || true
  kill "$srv"; wait "$srv" 2>/dev/null || true
  python3 - "$1" "$here" <<'PY'
import base64, sys, urllib.parse
name, out = sys.argv[1], sys.argv[2]
url_b64 = urllib.parse.unquote(open(name + ".url").read().strip())
der = base64.urlsafe_b64decode(url_b64 + "=" * (-len(url_b64) % 4))
open(f"{out}/{name}.der", "wb").write(der)
PY
  popd >/dev/null
}
capture iphone-anna-1230 "anna@contoso.com"
capture iphone-anna-1530 "anna@contoso.com"
for m in iphone-anna-1230 iphone-anna-1530; do
  printf '%s: %s bytes, transactionID %s\n' "$m" "$(wc -c < "$here/$m.der")" \
    "$(openssl cms -cmsout -print -inform DER -in "$here/$m.der" | grep -A2 '2.16.840.1.113733.1.9.7' | sed -n 's/.*PRINTABLESTRING://p')"
done
