#!/usr/bin/env python3
"""End-to-end smoke test of the Glewlwyd test server (tests/servers/glewlwyd/server.py).

    python3 tests/servers/smoke_glewlwyd.py

Starts the server (twice: default, then --pkce-required) on a free port, drives
every grant with a plain HTTP client + cookie jar, prints the transcript (every
status, the headers that matter, every body; JWTs shortened) and ends with
"N passed, N failed". Stdlib only; needs the Debian package `glewlwyd`
(tests/servers/install.sh). The checks pin the behaviour documented in
tests/servers/README.md.
"""

import base64
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from httpprobe import Browser, Resp, pkce_pair  # noqa: E402
from smoke_test import RESULTS, basic_header, check, start, stop  # noqa: E402

REDIRECT = "http://127.0.0.1:9/callback"
REDIRECT2 = "http://127.0.0.1:9/other-callback"
C = ("glewlwyd-client", "glewlwyd-secret")
ODD = ("glewlwyd-odd-client", "s3cr+t%2F:/ x")
SKIP_HEADERS = {"date", "access-control-allow-origin", "access-control-allow-credentials",
                "x-frame-options", "content-length", "referrer-policy", "connection"}


def short(v):
    return re.sub(r"(eyJ[\w-]{8})[\w.-]{30,}", r"\1…", v)


def show(label, r, form=None):
    print(f"\n### {label}")
    if form:
        print("    form: " + json.dumps({k: ("***" if k == "password" else short(v)) for k, v in form.items()}))
    print(f"    -> {r.status}")
    for k, v in r.headers.items():
        if k.lower() in SKIP_HEADERS:
            continue
        if k.lower() == "set-cookie":
            v = v.split("=")[0] + "=…;" + v.split(";", 1)[1] if ";" in v else v
        print(f"    {k}: {short(v)}")
    print("    body: " + (short(r.text)[:900] if r.body else "(empty)"))


class B(Browser):
    def __init__(self):
        super().__init__(verbose=False)

    def request(self, method, url, form=None, label=None, **kw):
        r = super().request(method, url, form=form, **kw)
        show(label or f"{method} {urllib.parse.urlsplit(url).path}", r, form)
        return r

    def json_call(self, base, method, path, body=None, label=None):
        """What the login web app (login.html/login.js) does with XHRs."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + "/api" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with self.opener.open(req, timeout=10) as x:
                r = Resp(x.status, x.headers, x.read())
        except urllib.error.HTTPError as e:
            r = Resp(e.code, e.headers, e.read())
        show(label or f"{method} /api{path} (JSON {json.dumps(body) if body else ''})".replace("wonderland", "***"), r)
        return r


def jwt(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def qparams(r):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.header("Location") or "").query))


def code_flow(base, client=C, scope="openid profile email", pkce=True, redirect_uri=REDIRECT,
              extra=None, b=None, grant=True, password="wonderland"):
    """Browser-like: GET /api/oidc/auth -> 302 login.html?...&callback_url=<auth URL>;
    login.html's JS then POSTs the password to /api/auth/, PUTs the consent to
    /api/auth/grant/<client_id>, and navigates to callback_url + "&g_continue".
    Returns (browser, last response, code_verifier)."""
    b = b or B()
    q = {"response_type": "code", "client_id": client[0], "state": "xyz", "nonce": "n1"}
    if scope is not None:
        q["scope"] = scope
    if redirect_uri:
        q["redirect_uri"] = redirect_uri
    verifier = None
    if pkce:
        verifier, challenge = pkce_pair()
        q.update(code_challenge=challenge, code_challenge_method="S256")
    q.update(extra or {})
    q = {k: v for k, v in q.items() if v != ""}
    r = b.get(base + "/api/oidc/auth?" + urllib.parse.urlencode(q), label=f"GET /api/oidc/auth {q}")
    loc = r.header("Location") or ""
    if r.status == 302 and loc.startswith(base + "/login.html"):
        lq = qparams(r)
        b.json_call(base, "POST", "/auth/", {"username": "alice", "password": password})
        if grant:
            b.json_call(base, "GET", "/auth/grant/" + urllib.parse.quote(client[0]) + "/" +
                        urllib.parse.quote(lq.get("scope", "")))
            b.json_call(base, "PUT", "/auth/grant/" + urllib.parse.quote(client[0]),
                        {"scope": lq.get("scope", "")})
        r = b.get(lq["callback_url"] + "&g_continue", label="GET callback_url&g_continue")
    return b, r, verifier


def exchange(b, base, code, verifier=None, redirect_uri=REDIRECT, client=C, label="code exchange"):
    form = {"grant_type": "authorization_code", "code": code}
    if redirect_uri:
        form["redirect_uri"] = redirect_uri
    if verifier:
        form["code_verifier"] = verifier
    # raw id:secret in Basic (glewlwyd does not url-decode it; httpprobe's basic= would encode)
    return b.post(base + "/api/oidc/token", form, headers=basic_header(client[0], client[1], "raw"), label=label)


def glewlwyd_checks(base):
    A = base + "/api/oidc"
    TOK, REV, INTRO, UI = A + "/token", A + "/revoke", A + "/introspect", A + "/userinfo"
    b = B()

    print("\n---- discovery")
    for p in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
              "/api/oidc/.well-known/oauth-authorization-server",
              "/.well-known/oauth-authorization-server/api/oidc", "/.well-known/openid-configuration/api/oidc"):
        r = b.get(base + p, label="GET " + p)
        check(f"{p} -> 404", r.status == 404)
    r = b.get(A + "/.well-known/openid-configuration", label="GET /api/oidc/.well-known/openid-configuration")
    d = r.json()
    check("discovery at /api/oidc/.well-known/openid-configuration, issuer = origin",
          r.status == 200 and d["issuer"] == base)
    check("endpoints under /api/oidc", d["token_endpoint"] == TOK and d["authorization_endpoint"] == A + "/auth"
          and d["userinfo_endpoint"] == UI and d["revocation_endpoint"] == REV
          and d["introspection_endpoint"] == INTRO and d["jwks_uri"] == A + "/jwks")
    check("no device_authorization_endpoint", "device_authorization_endpoint" not in d)
    check("grant_types_supported = [authorization_code, implicit]",
          d["grant_types_supported"] == ["authorization_code", "implicit"])
    for k in ("token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported",
              "grant_types_supported", "response_types_supported", "scopes_supported",
              "code_challenge_methods_supported", "claims_supported", "subject_types_supported"):
        print(f"    {k}: {d.get(k)}")
    r = b.get(A + "/jwks", label="GET /api/oidc/jwks")
    check("jwks: one RSA key RS256", r.status == 200 and r.json()["keys"][0]["alg"] == "RS256")

    print("\n---- password grant")
    pw = {"grant_type": "password", "username": "alice", "password": "wonderland", "scope": "openid profile email"}
    r = b.post(TOK, pw, basic=C, label="password grant")
    t = r.json()
    check("password -> 200 bearer + refresh_token, scope echoed",
          r.status == 200 and t["token_type"] == "bearer" and "refresh_token" in t
          and t["scope"] == "openid profile email" and t["expires_in"] == 3600 and "id_token" in t)
    print("    access_token claims:", jwt(t["access_token"]))
    r = b.post(TOK, dict(pw, password="wrong"), basic=C, label="password grant, wrong password")
    check("wrong password -> 403 empty body", r.status == 403 and not r.body)
    r = b.post(TOK, {k: v for k, v in pw.items() if k != "scope"}, basic=C, label="password grant, no scope")
    check("password without scope -> 400 empty", r.status == 400 and not r.body)
    r = b.post(TOK, dict(pw, scope="openid admin"), basic=C, label="password grant, scope openid admin")
    check("unknown scope among known ones -> dropped, 200 scope openid",
          r.status == 200 and r.json()["scope"] == "openid")
    r = b.post(TOK, dict(pw, scope="admin"), basic=C, label="password grant, scope admin only")
    check("only unknown scope -> 403 empty", r.status == 403 and not r.body)
    r = b.post(TOK, pw, basic=ODD, label="password grant by glewlwyd-odd-client (not allowed)")
    check("grant not allowed for client -> 400 empty (no unauthorized_client)", r.status == 400 and not r.body)

    print("\n---- client_credentials")
    r = b.post(TOK, {"grant_type": "client_credentials", "scope": "profile email"}, basic=C, label="client_credentials")
    check("client_credentials -> 200, no refresh_token",
          r.status == 200 and r.json()["scope"] == "profile email" and "refresh_token" not in r.json())
    cc_at = r.json()["access_token"]
    print("    access_token claims:", jwt(cc_at))
    r = b.post(TOK, {"grant_type": "client_credentials"}, basic=C, label="client_credentials, no scope")
    check("client_credentials without scope -> 403 empty", r.status == 403 and not r.body)
    r = b.post(TOK, {"grant_type": "client_credentials", "scope": "admin"}, basic=C,
               label="client_credentials, unknown scope")
    check("client_credentials unknown scope -> 400 {error: scope_invalid}",
          r.status == 400 and r.json() == {"error": "scope_invalid"})
    r = b.post(TOK, {"grant_type": "client_credentials", "scope": "openid"}, basic=C,
               label="client_credentials, scope openid (not in the client's scope list)")
    check("client_credentials scope outside client's list -> 400 scope_invalid",
          r.status == 400 and r.json() == {"error": "scope_invalid"})
    r = b.get(UI, bearer=cc_at, label="userinfo with client_credentials token")
    check("userinfo with client_credentials token -> 404 empty", r.status == 404 and not r.body)

    print("\n---- client authentication")
    r = b.post(TOK, {"grant_type": "client_credentials", "scope": "profile"}, basic=(C[0], "wrong"),
               label="client_credentials, wrong secret")
    check("wrong secret -> 403 empty, no WWW-Authenticate",
          r.status == 403 and not r.body and not r.header("WWW-Authenticate"))
    r = b.post(TOK, dict(pw, scope="openid"), basic=(C[0], "wrong"), label="password grant, wrong client secret")
    check("password grant with wrong client secret -> 400 empty", r.status == 400 and not r.body)
    r = b.post(TOK, {"grant_type": "client_credentials", "scope": "profile", "client_id": C[0],
                     "client_secret": C[1]}, label="client_credentials, client_secret_post")
    check("client_secret_post (client registered basic) -> 403", r.status == 403)
    r = b.post(TOK, {"grant_type": "client_credentials", "scope": "profile"}, label="client_credentials, no client auth")
    check("no client auth -> 403", r.status == 403)
    r = b.post(TOK, {"grant_type": "foo"}, basic=C, label="unknown grant_type")
    check("unknown grant_type -> 400 empty", r.status == 400 and not r.body)
    r = b.post(TOK, {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"}, basic=C,
               label="device_code grant (plugin option off)")
    check("device_code grant -> 400 {error: access_denied}", r.status == 400 and r.json() == {"error": "access_denied"})
    print("\n---- glewlwyd-odd-client (secret s3cr+t%2F:/ x): Basic credentials are NOT url-decoded")
    for how, want in (("raw", 200), ("form", 403), ("percent", 403)):
        r = b.post(TOK, {"grant_type": "client_credentials", "scope": "profile"},
                   headers=basic_header(ODD[0], ODD[1], how), label=f"client_credentials, odd secret {how} in Basic")
        check(f"odd client: {how} secret in Basic -> {want}", r.status == want)

    print("\n---- authorization code + PKCE S256 (browser-like)")
    _, r, verifier = code_flow(base)
    p = qparams(r)
    check("302 to redirect_uri with code & state, no iss",
          r.status == 302 and r.header("Location").startswith(REDIRECT + "?") and p.get("state") == "xyz"
          and "code" in p and "iss" not in p)
    r = exchange(b, base, p["code"], "x" * 43, label="code exchange, wrong code_verifier")
    check("wrong verifier -> 403 {error: invalid_code}", r.status == 403 and r.json() == {"error": "invalid_code"})
    r = exchange(b, base, p["code"], verifier, label="same code, right verifier")
    check("code not consumed by the wrong verifier? -> 200", r.status == 200)
    t = r.json()
    check("code exchange -> access_token, refresh_token, id_token, scope",
          {"access_token", "refresh_token", "id_token", "scope", "expires_in", "token_type", "iat"} <= set(t))
    print("    access_token claims:", jwt(t["access_token"]))
    print("    id_token claims:", jwt(t["id_token"]))
    r = exchange(b, base, p["code"], verifier, label="code replay")
    check("code replay -> 403 {error: invalid_code}", r.status == 403 and r.json() == {"error": "invalid_code"})
    r = b.get(UI, bearer=t["access_token"], label="userinfo (tokens from the replayed code)")
    check("tokens survive a code replay (auth-type-code-revoke-replayed off) -> 200", r.status == 200)
    check("userinfo -> sub, name, email", set(r.json()) == {"sub", "name", "email"})

    _, r, _ = code_flow(base, extra={"nonce": ""})
    check("openid code flow without nonce -> error=invalid_request nonce required (after login)",
          qparams(r) == {"state": "xyz", "error": "invalid_request", "error_description": "nonce required"})
    _, r, _ = code_flow(base, scope="profile email", extra={"nonce": ""})
    print("    no openid, no nonce ->", r.status, r.header("Location"))
    _, r, verifier = code_flow(base)
    r = exchange(b, base, qparams(r)["code"], None, label="code exchange without code_verifier (challenge was sent)")
    check("missing verifier -> 403", r.status == 403)
    _, r, _ = code_flow(base, pkce=False)
    p = qparams(r)
    check("no PKCE at all -> code issued", "code" in p)
    r = exchange(b, base, p["code"], None, redirect_uri=None, label="code exchange without redirect_uri")
    check("exchange omitting redirect_uri -> 400 empty", r.status == 400 and not r.body)
    _, r, _ = code_flow(base, pkce=False, redirect_uri=None)
    print("    without redirect_uri ->", r.status, r.header("Location"))
    _, r, _ = code_flow(base, extra={"code_challenge_method": "plain", "code_challenge": "a" * 43})
    check("code_challenge_method=plain -> 302 error=invalid_request (no description)",
          qparams(r) == {"state": "xyz", "error": "invalid_request"})

    print("\n---- refresh and revocation")
    rt, at = t["refresh_token"], t["access_token"]
    r1 = b.post(TOK, {"grant_type": "refresh_token", "refresh_token": rt}, basic=C, label="refresh #1")
    r2 = b.post(TOK, {"grant_type": "refresh_token", "refresh_token": rt}, basic=C, label="refresh #2 (same token)")
    check("refresh twice -> 200 both, no new refresh_token (no rotation)",
          r1.status == r2.status == 200 and "refresh_token" not in r1.json() and "refresh_token" not in r2.json())
    r = b.post(TOK, {"grant_type": "refresh_token", "refresh_token": rt, "scope": "openid"}, basic=C,
               label="refresh, scope=openid (narrower)")
    check("refresh scope=openid ignored -> full scope", r.status == 200 and r.json()["scope"] == "openid profile email"
          and jwt(r.json()["access_token"])["scope"] == "openid profile email")
    r = b.post(TOK, {"grant_type": "refresh_token", "refresh_token": rt, "scope": "openid profile email admin"},
               basic=C, label="refresh, scope with extra 'admin'")
    check("refresh with wider scope ignored -> 200 original scope",
          r.status == 200 and r.json()["scope"] == "openid profile email")
    r = b.get(UI, bearer=at, label="userinfo, original access token after refreshes")
    check("old access token still valid after refresh", r.status == 200)
    r = b.post(INTRO, {"token": at}, basic=C, label="introspect access token")
    check("introspect -> active true", r.status == 200 and r.json()["active"] is True)
    r = b.post(REV, {"token": at}, basic=C, label="revoke access token")
    check("revoke -> 200 empty", r.status == 200 and not r.body)
    r = b.get(UI, bearer=at, label="userinfo with revoked access token")
    check("revoked AT on userinfo -> 401 empty, no WWW-Authenticate",
          r.status == 401 and not r.body and not r.header("WWW-Authenticate"))
    r = b.post(INTRO, {"token": at}, basic=C, label="introspect revoked access token")
    check("introspect revoked -> {active:false}", r.json() == {"active": False})
    r = b.get(UI, bearer=r1.json()["access_token"], label="userinfo, refreshed AT after revoking the first AT")
    check("revoking one AT leaves the others valid", r.status == 200)
    r = b.post(TOK, {"grant_type": "refresh_token", "refresh_token": rt}, basic=C, label="refresh after AT revoke")
    check("refresh token survives AT revocation", r.status == 200)
    r = b.post(REV, {"token": rt, "token_type_hint": "refresh_token"}, basic=C, label="revoke refresh token")
    check("revoke RT -> 200", r.status == 200)
    r = b.post(TOK, {"grant_type": "refresh_token", "refresh_token": rt}, basic=C, label="refresh with revoked RT")
    check("revoked RT -> 400 empty", r.status == 400 and not r.body)
    r = b.get(UI, bearer=r1.json()["access_token"], label="userinfo, AT from revoked RT")
    check("ATs minted from a revoked RT stay valid", r.status == 200)
    r = b.post(REV, {"token": "unknown"}, basic=C, label="revoke unknown token")
    check("revoke unknown -> 200", r.status == 200)
    r = b.post(REV, {"token": at}, label="revoke without client auth")
    check("revoke no client auth -> 401 empty", r.status == 401 and not r.body)
    r = b.post(REV, {"token": at}, basic=(C[0], "wrong"), label="revoke wrong secret")
    check("revoke wrong secret -> 401", r.status == 401)
    r = b.post(REV, {"token": r1.json()["access_token"]}, basic=ODD, label="revoke another client's token (odd client)")
    check("revoking another client's token -> 401", r.status == 401)

    print("\n---- userinfo errors")
    r = b.get(UI, label="userinfo without token")
    check("userinfo no token -> 401 empty", r.status == 401 and not r.body)
    pt = b.post(TOK, dict(pw, scope="profile"), basic=C, label="password grant scope=profile (no openid)").json()
    r = b.get(UI, bearer=pt["access_token"], label="userinfo with token lacking openid")
    check("userinfo without openid scope -> 200 {sub, name}", r.status == 200 and set(r.json()) == {"sub", "name"})

    print("\n---- authorization endpoint errors")
    _, r, _ = code_flow(base, scope="openid admin")
    check("/auth scope openid admin -> code (unknown scope dropped)", "code" in qparams(r))
    _, r, _ = code_flow(base, scope="admin")
    check("/auth only unknown scope -> 302 error=invalid_scope (no description)",
          qparams(r) == {"state": "xyz", "error": "invalid_scope"})
    _, r, _ = code_flow(base, scope=None)
    check("/auth without scope -> (login first, then) 403 empty", r.status == 403 and not r.body)
    _, r, _ = code_flow(base, redirect_uri="http://evil.example/cb")
    check("/auth unregistered redirect_uri -> 403 empty at once", r.status == 403 and not r.body)
    _, r, _ = code_flow(base, client=("nope", ""))
    check("/auth unknown client -> 403 empty at once", r.status == 403 and not r.body)
    _, r, _ = code_flow(base, extra={"response_type": "token"})
    check("/auth response_type=token (client lacks 'token') -> 302 #error=unauthorized_client",
          r.status == 302 and r.header("Location") == REDIRECT + "#state=xyz&error=unauthorized_client&error_description")
    _, r, _ = code_flow(base, scope="profile email", extra={"nonce": ""})
    check("/auth without openid and without nonce -> code", "code" in qparams(r))
    _, r, _ = code_flow(base, password="wrong")
    check("wrong password at /api/auth/ -> 401; continuing -> back to login.html",
          r.status == 302 and r.header("Location").startswith(base + "/login.html?"))

    print("\n---- consent (odd client, never granted before)")
    bd = B()
    _, r, _ = code_flow(base, client=ODD, b=bd, grant=False, scope="openid profile", pkce=False)
    check("logged in, consent NOT given, callback_url&g_continue -> code issued", "code" in qparams(r))
    r = exchange(b, base, qparams(r)["code"], None, client=ODD, label="exchange that code")
    check("... its exchange -> 200 with scope 'openid' only (un-consented scopes dropped)",
          r.status == 200 and r.json()["scope"] == "openid")
    r = b.post(TOK, {"grant_type": "authorization_code", "code": "nonexistent", "redirect_uri": REDIRECT},
               headers=basic_header(ODD[0], ODD[1], "percent"), label="code exchange, odd client, percent-encoded Basic")
    check("client auth failure at code exchange -> 403 {error: unauthorized_client}",
          r.status == 403 and r.json() == {"error": "unauthorized_client"})
    r = bd.get(base + "/api/oidc/auth?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": ODD[0], "redirect_uri": REDIRECT, "scope": "openid profile",
         "state": "xyz", "nonce": "n1"}), label="GET /api/oidc/auth again, logged in, not granted, no g_continue")
    check("without g_continue -> 302 to login.html (consent screen)",
          r.status == 302 and r.header("Location").startswith(base + "/login.html?"))
    _, r, v = code_flow(base, client=ODD)
    p = qparams(r)
    r = exchange(b, base, p["code"], v, client=ODD, label="odd client: code exchange, raw secret in Basic")
    check("odd client code flow, raw Basic secret -> 200", r.status == 200)


def pkce_required_checks(base):
    b = B()
    print("\n---- --pkce-required")
    _, r, _ = code_flow(base, pkce=False)
    check("no PKCE -> (after login) 302 error=invalid_request (no description)",
          qparams(r) == {"state": "xyz", "error": "invalid_request"})
    _, r, v = code_flow(base)
    p = qparams(r)
    check("with PKCE -> code", "code" in p)
    r = exchange(b, base, p["code"], v)
    check("exchange -> 200", r.status == 200)


def main():
    srv = os.path.join(HERE, "glewlwyd", "server.py")
    p, base = start([sys.executable, srv, "--port", "0", "--redirect-uri", REDIRECT, "--redirect-uri", REDIRECT2])
    try:
        glewlwyd_checks(base)
    finally:
        stop(p)
    p, base = start([sys.executable, srv, "--port", "0", "--redirect-uri", REDIRECT, "--pkce-required"])
    try:
        pkce_required_checks(base)
    finally:
        stop(p)
    failed = sum(1 for _, ok in RESULTS if not ok)
    for name, ok in RESULTS:
        if not ok:
            print("FAILED:", name)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
