"""Logging HTTP proxy for capturing SCEP fixtures (see README.md).

Usage: python3 capture_proxy.py LISTEN_PORT UPSTREAM_URL OUT_DIR

Listens on 127.0.0.1:LISTEN_PORT, forwards every GET/POST to UPSTREAM_URL, appends one line per
request to OUT_DIR/log.txt and saves the bodies of each PKIOperation exchange as
OUT_DIR/NN-request.der (POST) or NN-request.url (GET query) and OUT_DIR/NN-response.der.
"""
import http.server, itertools, os, sys, urllib.error, urllib.parse, urllib.request
UP = sys.argv[2]
OUT = sys.argv[3]
counter = itertools.count(1)
class H(http.server.BaseHTTPRequestHandler):
    def _do(self, method):
        n = next(counter)
        body = None
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        q = urllib.parse.urlparse(self.path).query
        params = urllib.parse.parse_qs(q)
        op = params.get("operation", [""])[0]
        req = urllib.request.Request(UP + self.path, data=body, method=method)
        for k in ("Content-Type",):
            if self.headers.get(k): req.add_header(k, self.headers[k])
        try:
            r = urllib.request.urlopen(req)
            code, rb, ct = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            code, rb, ct = e.code, e.read(), e.headers.get("Content-Type", "")
        with open(os.path.join(OUT, "log.txt"), "a") as f:
            f.write(f"{n} {method} {self.path[:200]} -> {code} {ct} {len(rb)}\n")
        if op == "PKIOperation":
            if method == "POST":
                open(os.path.join(OUT, f"{n:02}-request.der"), "wb").write(body)
            else:
                open(os.path.join(OUT, f"{n:02}-request.url"), "wb").write(q.encode())
            open(os.path.join(OUT, f"{n:02}-response.der"), "wb").write(rb)
        self.send_response(code)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(rb)))
        self.end_headers()
        self.wfile.write(rb)
    def do_GET(self): self._do("GET")
    def do_POST(self): self._do("POST")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
