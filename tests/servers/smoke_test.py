#!/usr/bin/env python3
"""End-to-end smoke test of the two test authorization servers.

    python3 tests/servers/smoke_test.py [authlib|oidc]...

Starts each server on a free port (the server binds port 0 and reports the
real one in its READY line), drives every grant with a plain HTTP client and
a cookie jar, prints a transcript of every exchange and ends with the line
"N passed, N failed". Stdlib only; needs tests/servers/install.sh to have run.
"""

import base64
import os
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpprobe import Browser, form_fields, pkce_pair  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REDIRECT = "http://127.0.0.1:9/callback"
REDIRECT2 = "http://127.0.0.1:9/other-callback"

RESULTS = []


def check(name, cond):
    RESULTS.append((name, bool(cond)))
    print(f"    [{'ok' if cond else 'FAIL'}] {name}")


def start(cmd):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    dt = time.monotonic() - t0
    if not line.startswith("READY "):
        p.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
    base = line.split(" ", 1)[1]
    print(f"\n=== started {' '.join(cmd[:2])} -> {base} in {dt:.2f}s")
    return p, base


def stop(p):
    t0 = time.monotonic()
    p.terminate()
    rc = p.wait(10)
    print(f"=== SIGTERM -> exit {rc} in {time.monotonic() - t0:.2f}s")
    check("server exits on SIGTERM", rc in (0, -15))


# ------------------------------------------------------------------ Authlib
def authlib_code_flow(base, client, scope="profile email", pkce=True, redirect_uri=REDIRECT,
                      login=True, decision="grant", state="xyz"):
    """Browser-like: GET authorize -> login form -> POST /login -> 302 back ->
    consent page -> POST confirm=grant|deny -> 302 to redirect_uri."""
    b = Browser()
    params = {"response_type": "code", "client_id": client, "state": state}
    if redirect_uri:
        params["redirect_uri"] = redirect_uri
    if scope is not None:
        params["scope"] = scope
    verifier = None
    if pkce:
        verifier, challenge = pkce_pair()
        params.update(code_challenge=challenge, code_challenge_method="S256")
    r = b.get(base + "/oauth/authorize?" + urllib.parse.urlencode(params), label="GET /oauth/authorize (not signed in)")
    f = form_fields(r.text)
    r = b.post(urllib.parse.urljoin(base, f["action"]),
               form={**f["fields"], "username": "alice", "password": "wonderland"},
               label=f"POST {f['action']} (sign in)")
    r = b.get(urllib.parse.urljoin(base, r.header("Location")), label="GET Location (consent page)")
    f = form_fields(r.text)
    r = b.post(urllib.parse.urljoin(base, f["action"]), form={"confirm": decision},
               label=f"POST consent confirm={decision}")
    return b, r, verifier


RFC8414_KEYS = {
    "issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint",
    "scopes_supported", "response_types_supported", "response_modes_supported", "grant_types_supported",
    "token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported",
    "service_documentation", "ui_locales_supported", "op_policy_uri", "op_tos_uri", "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported", "revocation_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint", "introspection_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_signing_alg_values_supported", "code_challenge_methods_supported",
}
ODD_SECRET = "s3cr+t%2F:/ x"
AS_WK = "/.well-known/oauth-authorization-server"
OP_WK = "/.well-known/openid-configuration"


def basic_header(user, secret, how):
    """HTTP Basic credentials: raw, RFC 6749 2.3.1 form-urlencoded (space -> '+'),
    or percent-encoded (space -> %20)."""
    if how == "form":
        user, secret = urllib.parse.quote_plus(user), urllib.parse.quote_plus(secret)
    elif how == "percent":
        user, secret = urllib.parse.quote(user, safe=""), urllib.parse.quote(secret, safe="")
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def odd_secret_checks(tok, client, expect):
    """expect: {"raw": status, "form": status, "percent": status}"""
    b = Browser()
    for how, want in expect.items():
        r = b.post(tok, {"grant_type": "client_credentials", "scope": "profile"},
                   headers=basic_header(client, ODD_SECRET, how),
                   label=f"client_credentials, {client}, secret {how} in Basic")
        check(f"{client}: {how} secret in Basic -> {want}", r.status == want)


def authlib_client_checks(base):
    """Needs the server started with --no-password-client."""
    b = Browser()
    tok = base + "/oauth/token"
    print("\n---- authlib-odd-client (secret s3cr+t%2F:/ x): Authlib percent-decodes Basic (unquote), '+' stays '+'")
    odd_secret_checks(tok, "authlib-odd-client", {"raw": 401, "form": 401, "percent": 200})

    print("\n---- authlib-nopassword-client (no password grant)")
    NP = ("authlib-nopassword-client", "authlib-nopassword-secret")
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "wonderland",
                     "scope": "profile email"}, basic=NP, label="password grant by authlib-nopassword-client")
    check("nopassword client, password grant -> 400 unauthorized_client",
          r.status == 400 and r.json().get("error") == "unauthorized_client")
    r = b.post(tok, {"grant_type": "client_credentials", "scope": "profile"}, basic=NP,
               label="client_credentials by authlib-nopassword-client")
    check("nopassword client, client_credentials -> 200", r.status == 200)


def authlib_metadata_shapes():
    """One short server per --metadata shape: which documents answer, and what they say."""
    def docs(origin, paths):
        b = Browser(verbose=False)
        out = {}
        for path in paths:
            r = b.get(origin + path)
            out[path] = r.json() if r.status == 200 else r.status
        return out

    for shape, extra in (("openid", []), ("both", []), ("both-disagree", []), ("root", []),
                         ("rfc8414", ["--issuer-path", "/tenant"])):
        p, origin = start([sys.executable, os.path.join(HERE, "authlib_server.py"), "--port", "0",
                           "--redirect-uri", REDIRECT, "--metadata", shape, *extra])
        try:
            b = Browser()
            if shape in ("openid", "both", "both-disagree"):
                d = docs(origin, [AS_WK, OP_WK])
                print(f"    {shape}: {d}")
                op = d[OP_WK]
                check(f"{shape}: openid-configuration 200 with userinfo_endpoint, no revocation_endpoint",
                      isinstance(op, dict) and op["issuer"] == origin
                      and op.get("userinfo_endpoint") == origin + "/api/me" and "revocation_endpoint" not in op
                      and op.get("subject_types_supported") == ["public"]
                      and op.get("id_token_signing_alg_values_supported") == ["RS256"])
                if shape == "openid":
                    check("openid: RFC 8414 URL -> 404", d[AS_WK] == 404)
                else:
                    asm = d[AS_WK]
                    check(f"{shape}: RFC 8414 doc 200 with revocation_endpoint, no userinfo_endpoint",
                          isinstance(asm, dict) and asm["issuer"] == origin and "userinfo_endpoint" not in asm
                          and asm.get("revocation_endpoint") == origin + "/oauth/revoke")
                    same_token = asm["token_endpoint"] == op["token_endpoint"]
                    check(f"{shape}: token_endpoint {'differs' if shape == 'both-disagree' else 'agrees'}",
                          same_token == (shape == "both"))
                # Whatever URL the OpenID document names must work.
                r = b.post(op["token_endpoint"], {"grant_type": "password", "username": "alice",
                                                  "password": "wonderland", "scope": "profile"},
                           basic=("authlib-client", "authlib-secret"), label=f"{shape}: password grant at {op['token_endpoint']}")
                check(f"{shape}: OpenID token_endpoint works", r.status == 200)
                r = b.get(op["userinfo_endpoint"], bearer=r.json()["access_token"])
                check(f"{shape}: userinfo_endpoint (/api/me) works", r.status == 200)
            else:
                issuer = origin + "/tenant"
                d = docs(origin, [AS_WK, AS_WK + "/tenant", OP_WK, "/tenant" + OP_WK])
                print(f"    {shape} {extra}: {d}")
                served_at = AS_WK if shape == "root" else AS_WK + "/tenant"
                other = AS_WK + "/tenant" if shape == "root" else AS_WK
                asm = d[served_at]
                check(f"{shape} {extra}: RFC 8414 doc at {served_at}, issuer {issuer}",
                      isinstance(asm, dict) and asm["issuer"] == issuer
                      and asm["token_endpoint"] == issuer + "/oauth/token" and "userinfo_endpoint" not in asm)
                check(f"{shape} {extra}: {other} and both openid URLs -> 404",
                      d[other] == 404 and d[OP_WK] == 404 and d["/tenant" + OP_WK] == 404)
                if shape == "root":
                    _, r, verifier = authlib_code_flow(issuer, "authlib-client")
                    code = r.location_params().get("code")
                    check("root: code flow under /tenant -> 302 with code", r.status == 302 and code)
                    r = b.post(asm["token_endpoint"], {"grant_type": "authorization_code", "code": code,
                                                       "redirect_uri": REDIRECT, "code_verifier": verifier},
                               basic=("authlib-client", "authlib-secret"), label="root: code exchange at /tenant/oauth/token")
                    check("root: code exchange 200", r.status == 200)
                    r = b.get(issuer + "/api/me", bearer=r.json()["access_token"])
                    check("root: /tenant/api/me 200", r.status == 200)
        finally:
            stop(p)


def authlib_checks(base):
    b = Browser()
    C = ("authlib-client", "authlib-secret")
    tok = base + "/oauth/token"

    print("\n---- metadata")
    r = b.get(base + "/.well-known/oauth-authorization-server")
    check("RFC 8414 metadata 200", r.status == 200 and r.json()["issuer"] == base)
    check("RFC 8414 metadata: RFC 8414 fields only (no userinfo_endpoint)",
          r.status == 200 and not set(r.json()) - RFC8414_KEYS and "userinfo_endpoint" not in r.json())
    r = b.get(base + "/.well-known/openid-configuration")
    check("no openid-configuration (404)", r.status == 404)

    print("\n---- password grant")
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "wonderland",
                     "scope": "profile email"}, basic=C)
    check("password grant 200 with refresh_token", r.status == 200 and "refresh_token" in r.json())
    pw = r.json()
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "nope"}, basic=C,
               label="password grant, wrong password")
    check("wrong password -> 400", r.status == 400)
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "wonderland"}, basic=C,
               label="password grant, NO scope")
    noscope = r.json()
    check("no scope -> token without scope field", r.status == 200 and "scope" not in noscope)
    r = b.get(base + "/api/me", bearer=noscope["access_token"], label="/api/me with the no-scope token")
    check("no-scope token -> 403 insufficient_scope", r.status == 403)
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "wonderland",
                     "scope": "profile admin"}, basic=C, label="password grant, scope=profile admin (unknown scope)")
    check("unknown scope -> 400 invalid_scope", r.status == 400)
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "wonderland", "scope": "profile"},
               basic=("authlib-client", "wrong"), label="password grant, wrong client secret (basic)")
    check("wrong secret -> 401 invalid_client", r.status == 401)
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "wonderland", "scope": "profile",
                     "client_id": "authlib-client", "client_secret": "authlib-secret"},
               label="password grant, authlib-client via client_secret_post (registered for basic)")
    check("basic client refused with post auth", r.status in (400, 401))
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "wonderland", "scope": "profile",
                     "client_id": "authlib-post-client", "client_secret": "authlib-post-secret"},
               label="password grant, authlib-post-client via client_secret_post")
    check("post client accepted with client_secret_post", r.status == 200)

    print("\n---- resource /api/me")
    r = b.get(base + "/api/me", bearer=pw["access_token"])
    check("/api/me 200 alice", r.status == 200 and r.json()["username"] == "alice")
    b.get(base + "/api/me", label="/api/me without Authorization")
    r = b.get(base + "/api/me", bearer="not-a-token", label="/api/me with unknown token")
    check("bad token -> 401 invalid_token", r.status == 401 and "invalid_token" in (r.header("WWW-Authenticate") or ""))

    print("\n---- client_credentials")
    r = b.post(tok, {"grant_type": "client_credentials", "scope": "email"}, basic=C)
    check("client_credentials 200, no refresh_token", r.status == 200 and "refresh_token" not in r.json())
    cc = r.json()
    r = b.get(base + "/api/me", bearer=cc["access_token"], label="/api/me with client_credentials token (scope=email)")
    check("cc token scope=email -> 403 insufficient_scope", r.status == 403)
    b.post(tok, {"grant_type": "client_credentials"}, basic=C, label="client_credentials, NO scope")
    r = b.post(tok, {"grant_type": "client_credentials", "scope": "profile"}, basic=C,
               label="client_credentials, scope=profile")
    b.get(base + "/api/me", bearer=r.json()["access_token"], label="/api/me with client_credentials token (scope=profile)")

    print("\n---- refresh twice (Authlib default INCLUDE_NEW_REFRESH_TOKEN=False)")
    r1 = b.post(tok, {"grant_type": "refresh_token", "refresh_token": pw["refresh_token"]}, basic=C,
                label="refresh #1")
    check("refresh #1 200", r1.status == 200)
    check("refresh #1 has no new refresh_token (no rotation)", "refresh_token" not in r1.json())
    r = b.get(base + "/api/me", bearer=pw["access_token"], label="/api/me with the access token replaced by refresh #1")
    check("old access token revoked after refresh", r.status == 401)
    r2 = b.post(tok, {"grant_type": "refresh_token", "refresh_token": pw["refresh_token"]}, basic=C,
                label="refresh #2 (same refresh token)")
    check("refresh #2 with same refresh token 200", r2.status == 200)
    r = b.post(tok, {"grant_type": "refresh_token", "refresh_token": pw["refresh_token"], "scope": "profile"},
               basic=C, label="refresh #3 narrowing scope=profile")
    check("refresh with narrower scope 200", r.status == 200 and r.json().get("scope") == "profile")
    b.post(tok, {"grant_type": "refresh_token", "refresh_token": pw["refresh_token"], "scope": "profile email admin"},
           basic=C, label="refresh widening scope")
    b.post(tok, {"grant_type": "refresh_token", "refresh_token": pw["refresh_token"]},
           basic=("authlib-post-client", "authlib-post-secret"), label="refresh by another client (basic creds of post client)")

    print("\n---- revocation")
    r = b.post(base + "/oauth/revoke", {"token": r2.json()["access_token"], "token_type_hint": "access_token"}, basic=C,
               label="revoke access token (hint access_token)")
    check("revoke -> 200", r.status == 200)
    r = b.get(base + "/api/me", bearer=r2.json()["access_token"], label="/api/me with revoked token")
    check("revoked token -> 401 invalid_token", r.status == 401)
    r = b.post(base + "/oauth/revoke", {"token": pw["refresh_token"]}, basic=C, label="revoke refresh token (no hint)")
    r = b.post(tok, {"grant_type": "refresh_token", "refresh_token": pw["refresh_token"]}, basic=C,
               label="refresh with revoked refresh token")
    check("revoked refresh token -> 400 invalid_grant", r.status == 400)
    b.post(base + "/oauth/revoke", {"token": "unknown-token"}, basic=C, label="revoke unknown token")
    b.post(base + "/oauth/revoke", {"token": "x"}, label="revoke without client auth")

    print("\n---- authorization code + PKCE (browser-like)")
    _, r, verifier = authlib_code_flow(base, "authlib-client")
    p = r.location_params()
    check("authorize -> 302 with code and state", r.status == 302 and "code" in p and p.get("state") == "xyz")
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": "wrong-verifier-" + "a" * 40}, basic=C, label="code exchange, WRONG code_verifier")
    check("wrong verifier -> 400 invalid_grant", r.status == 400 and r.json()["error"] == "invalid_grant")
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": verifier}, basic=C, label="same code again with the RIGHT verifier")
    print("    (code still usable after a failed verifier?)", r.status)
    _, r, verifier = authlib_code_flow(base, "authlib-client")
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT}, basic=C,
               label="code exchange, MISSING code_verifier (challenge was sent)")
    check("missing verifier -> 400", r.status == 400)
    _, r, verifier = authlib_code_flow(base, "authlib-client")
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"],
                     "code_verifier": verifier}, basic=C,
               label="code exchange WITHOUT redirect_uri (authorize request had one)")
    check("omitted redirect_uri at exchange -> 400 invalid_grant", r.status == 400)
    _, r, verifier = authlib_code_flow(base, "authlib-client")
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": verifier}, basic=C, label="code exchange OK")
    check("code exchange 200 with refresh_token", r.status == 200 and "refresh_token" in r.json())
    at = r.json()["access_token"]
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": verifier}, basic=C, label="code replay")
    check("code replay -> 400 invalid_grant", r.status == 400)
    r = b.get(base + "/api/me", bearer=at)
    check("/api/me with code token", r.status == 200)

    print("\n---- code flow without PKCE, without redirect_uri, no scope, client_secret_post client")
    _, r, _ = authlib_code_flow(base, "authlib-post-client", scope=None, pkce=False, redirect_uri=None)
    p = r.location_params()
    check("no redirect_uri -> redirected to the first registered URI", r.header("Location", ).startswith(REDIRECT))
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"],
                     "client_id": "authlib-post-client", "client_secret": "authlib-post-secret"},
               label="exchange (no redirect_uri anywhere, client_secret_post, no verifier)")
    check("exchange without PKCE/redirect_uri 200", r.status == 200)

    print("\n---- deny + errors at the authorization endpoint")
    _, r, _ = authlib_code_flow(base, "authlib-client", decision="deny")
    check("deny -> 302 error=access_denied", r.location_params().get("error") == "access_denied")
    b2 = Browser()
    b2.get(base + "/oauth/authorize?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": "authlib-client", "redirect_uri": "http://evil.example/cb"}),
        label="authorize with unregistered redirect_uri")
    b2.get(base + "/oauth/authorize?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": "nobody", "redirect_uri": REDIRECT}), label="authorize with unknown client_id")
    b2.get(base + "/oauth/authorize?" + urllib.parse.urlencode(
        {"response_type": "token", "client_id": "authlib-client", "redirect_uri": REDIRECT, "state": "s"}),
        label="authorize with response_type=token")
    b2.get(base + "/oauth/authorize?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": "authlib-client", "redirect_uri": REDIRECT, "scope": "admin", "state": "s"}),
        label="authorize with scope=admin (unsupported)")
    b2.get(base + "/oauth/authorize?" + urllib.parse.urlencode(
        {"response_type": "code", "client_id": "authlib-client", "redirect_uri": REDIRECT, "state": "s",
         "code_challenge": "a" * 43, "code_challenge_method": "plain"}),
        label="authorize with code_challenge_method=plain")
    r = b2.post(base + "/login", {"username": "alice", "password": "bad", "next": "/oauth/authorize"},
                label="POST /login wrong password")
    b.post(tok, {"grant_type": "implicit"}, basic=C, label="token request with unsupported grant_type")


def main():
    which = sys.argv[1:] or ["authlib", "oidc"]
    if "authlib" in which:
        p, base = start([sys.executable, os.path.join(HERE, "authlib_server.py"), "--port", "0",
                         "--redirect-uri", REDIRECT, "--redirect-uri", REDIRECT2, "--no-password-client"])
        try:
            authlib_checks(base)
            authlib_client_checks(base)
        finally:
            stop(p)
        authlib_metadata_shapes()
    if "oidc" in which:
        import smoke_oidc

        p, base = start(["node", os.path.join(HERE, "oidc-provider", "server.mjs"), "--port", "0",
                         "--redirect-uri", REDIRECT, "--redirect-uri", REDIRECT2])
        try:
            smoke_oidc.oidc_checks(base, check)
            print("\n---- oidc-odd-client (secret s3cr+t%2F:/ x): oidc-provider form-decodes Basic ('+' -> space)")
            odd_secret_checks(base + "/token", "oidc-odd-client", {"raw": 401, "form": 200, "percent": 200})
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
