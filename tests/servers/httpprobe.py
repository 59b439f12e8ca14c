"""Tiny stdlib HTTP helper used by smoke_test.py: no redirects followed,
a cookie jar, and a transcript printer. Not used by the servers themselves."""

import base64
import hashlib
import http.cookiejar
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name)

    def location_params(self):
        loc = self.header("Location") or ""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))


class Browser:
    def __init__(self, verbose=True):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        self.verbose = verbose

    def request(self, method, url, form=None, basic=None, bearer=None, headers=None, label=None):
        data = None
        hdrs = dict(headers or {})
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if basic:
            # RFC 6749 2.3.1: form-urlencode id and secret before base64
            u = urllib.parse.quote(basic[0], safe="")
            p = urllib.parse.quote(basic[1], safe="")
            hdrs["Authorization"] = "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()
        if bearer:
            hdrs["Authorization"] = "Bearer " + bearer
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=10) as r:
                resp = Resp(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            resp = Resp(e.code, e.headers, e.read())
        if self.verbose:
            show(label or f"{method} {url}", resp, form)
        return resp

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, form=None, **kw):
        return self.request("POST", url, form=form, **kw)


INTERESTING = ("Location", "WWW-Authenticate", "Content-Type", "Cache-Control", "Pragma", "Set-Cookie")


def show(label, resp, form=None):
    print(f"\n### {label}")
    if form:
        safe = {k: (v if k not in ("password",) else "***") for k, v in form.items()}
        print(f"    form: {safe}")
    print(f"    -> {resp.status}")
    for k in INTERESTING:
        for v in resp.headers.get_all(k) or []:
            if k == "Set-Cookie":
                v = v.split(";")[0].split("=")[0] + "=…"
            print(f"    {k}: {v}")
    ct = resp.headers.get("Content-Type") or ""
    if "json" in ct:
        print("    " + resp.text[:600])
    elif resp.body:
        print("    " + re.sub(r"\s+", " ", resp.text)[:300])


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def form_fields(html_text):
    """Return (action, method, {name: value}) of the first <form>, plus all submit buttons."""
    m = re.search(r"<form([^>]*)>(.*?)</form>", html_text, re.S | re.I)
    if not m:
        return None
    attrs, inner = m.group(1), m.group(2)
    action = re.search(r'action="([^"]*)"', attrs)
    method = re.search(r'method="([^"]*)"', attrs, re.I)
    fields = {}
    for im in re.finditer(r"<input([^>]*)>", inner, re.I):
        a = im.group(1)
        n = re.search(r'name="([^"]*)"', a)
        v = re.search(r'value="([^"]*)"', a)
        if n:
            fields[n.group(1)] = _unescape(v.group(1)) if v else ""
    buttons = []
    for bm in re.finditer(r"<button([^>]*)>", inner, re.I):
        a = bm.group(1)
        n = re.search(r'name="([^"]*)"', a)
        v = re.search(r'value="([^"]*)"', a)
        buttons.append((n.group(1) if n else None, _unescape(v.group(1)) if v else None))
    return {
        "action": _unescape(action.group(1)) if action else "",
        "method": (method.group(1) if method else "get").lower(),
        "fields": fields,
        "buttons": buttons,
    }


def _unescape(s):
    import html

    return html.unescape(s)
