"""oidc-provider part of smoke_test.py (see there)."""

import base64
import json
import re
import urllib.parse

from httpprobe import Browser, form_fields, pkce_pair

REDIRECT = "http://127.0.0.1:9/callback"
C = ("oidc-client", "oidc-secret")


def code_flow(base, scope="openid profile email offline_access", prompt="consent", pkce=True,
              redirect_uri=REDIRECT, deny=False, state="xyz", extra=None, browser=None, login="alice"):
    """Drive /auth -> dev login page -> dev consent page -> redirect_uri like a
    browser (cookie jar, follow same-origin redirects, submit forms).
    Returns (browser, final response whose Location is on redirect_uri, verifier)."""
    b = browser or Browser()
    params = {"response_type": "code", "client_id": "oidc-client", "state": state}
    if redirect_uri:
        params["redirect_uri"] = redirect_uri
    if scope is not None:
        params["scope"] = scope
    if prompt:
        params["prompt"] = prompt
    verifier = None
    if pkce:
        verifier, challenge = pkce_pair()
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra or {})
    r = b.get(base + "/auth?" + urllib.parse.urlencode(params), label="GET /auth")
    for _ in range(12):
        if r.status in (302, 303):
            loc = urllib.parse.urljoin(base, r.header("Location"))
            if not loc.startswith(base):
                return b, r, verifier
            r = b.get(loc, label=f"GET {urllib.parse.urlsplit(loc).path}")
            continue
        if r.status == 200 and "<form" in r.text:
            f = form_fields(r.text)
            action = urllib.parse.urljoin(base, f["action"])
            if f["fields"].get("prompt") == "login":
                r = b.post(action, {"prompt": "login", "login": login, "password": "any"},
                           label=f"POST {f['action']} (dev login page)")
            elif f["fields"].get("prompt") == "consent":
                if deny:
                    abort = re.search(r'href="([^"]*/abort)"', r.text)
                    r = b.get(urllib.parse.urljoin(base, abort.group(1)), label="GET …/abort (deny)")
                else:
                    r = b.post(action, {"prompt": "consent"}, label=f"POST {f['action']} (dev consent page)")
            else:
                raise RuntimeError("unexpected form: " + r.text[:300])
            continue
        return b, r, verifier
    raise RuntimeError("too many steps")


def jwt_payload(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def oidc_checks(base, check):
    b = Browser()
    tok = base + "/token"
    rev = base + "/token/revocation"
    me = base + "/me"

    print("\n---- discovery")
    r = b.get(base + "/.well-known/openid-configuration")
    d = r.json()
    check("discovery 200 issuer", r.status == 200 and d["issuer"] == base)
    print("    token_endpoint_auth_methods_supported:", d.get("token_endpoint_auth_methods_supported"))
    print("    grant_types_supported:", d.get("grant_types_supported"))
    b.get(base + "/.well-known/oauth-authorization-server", label="GET /.well-known/oauth-authorization-server")

    print("\n---- authorization code + PKCE + offline_access + prompt=consent")
    _, r, verifier = code_flow(base)
    p = r.location_params()
    check("code flow -> redirect with code, state, iss", "code" in p and p.get("state") == "xyz" and p.get("iss") == base)
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": "wrong-" + "a" * 43}, basic=C, label="code exchange WRONG code_verifier")
    check("wrong verifier -> 400 invalid_grant", r.status == 400 and r.json()["error"] == "invalid_grant")
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": verifier}, basic=C, label="same code with RIGHT verifier after a failure")
    print("    (code still usable after a failed verifier?)", r.status)

    _, r, verifier = code_flow(base)
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "code_verifier": verifier}, basic=C,
               label="code exchange WITHOUT redirect_uri")
    _, r, verifier = code_flow(base)
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT}, basic=C,
               label="code exchange MISSING code_verifier (challenge was sent)")
    _, r, verifier = code_flow(base)
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": verifier}, basic=C, label="code exchange OK")
    t = r.json()
    check("code exchange 200: access, refresh, id_token", r.status == 200 and {"access_token", "refresh_token", "id_token"} <= set(t))
    print("    id_token claims:", jwt_payload(t["id_token"]))
    code_used = (p["code"], verifier)
    r = b.get(me, bearer=t["access_token"], label="GET /me (userinfo)")
    check("userinfo 200 sub alice", r.status == 200 and r.json().get("sub") == "alice")

    print("\n---- refresh twice")
    r1 = b.post(tok, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}, basic=C, label="refresh #1")
    check("refresh #1 200", r1.status == 200)
    rt1 = r1.json().get("refresh_token")
    print("    refresh #1 rotated refresh token?", rt1 is not None and rt1 != t["refresh_token"])
    r = b.get(me, bearer=t["access_token"], label="userinfo with the access token issued before refresh #1")
    r2 = b.post(tok, {"grant_type": "refresh_token", "refresh_token": rt1 or t["refresh_token"]}, basic=C,
                label="refresh #2 (with the refresh token returned by #1)")
    check("refresh #2 200", r2.status == 200)
    r = b.post(tok, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}, basic=C,
               label="refresh #3 with the ORIGINAL refresh token")
    at2 = r2.json()["access_token"]

    print("\n---- revocation")
    r = b.post(rev, {"token": at2, "token_type_hint": "access_token"}, basic=C, label="revoke access token")
    check("revoke -> 200", r.status == 200)
    r = b.get(me, bearer=at2, label="userinfo with revoked access token")
    check("revoked token -> 401 invalid_token", r.status == 401 and "invalid_token" in (r.header("WWW-Authenticate") or ""))
    r = b.post(rev, {"token": r2.json()["refresh_token"]}, basic=C, label="revoke refresh token (no hint)")
    r = b.post(tok, {"grant_type": "refresh_token", "refresh_token": r2.json()["refresh_token"]}, basic=C,
               label="refresh with revoked refresh token")
    check("revoked refresh -> 400 invalid_grant", r.status == 400)
    r = b.get(me, bearer=r1.json()["access_token"], label="userinfo with access token from refresh #1 after revoking AT #2 and the refresh token")
    print("    (oidc-provider revokes the whole grant on revocation)", r.status)

    print("\n---- code replay (revokes what the code issued)")
    r = b.post(tok, {"grant_type": "authorization_code", "code": code_used[0], "redirect_uri": REDIRECT,
                     "code_verifier": code_used[1]}, basic=C, label="code replay")
    check("code replay -> 400 invalid_grant", r.status == 400)
    r = b.get(me, bearer=r1.json()["access_token"], label="userinfo with token from refresh #1 after the code replay")
    b.post(rev, {"token": "unknown"}, basic=C, label="revoke unknown token")
    b.post(rev, {"token": "x"}, label="revoke without client auth")
    b.get(me, bearer="not-a-token", label="userinfo with unknown token")
    b.get(me, label="userinfo without Authorization")

    print("\n---- without offline_access / without prompt=consent")
    _, r, verifier = code_flow(base, scope="openid profile email", prompt=None)
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": verifier}, basic=C, label="exchange (scope without offline_access)")
    check("no offline_access -> no refresh_token", r.status == 200 and "refresh_token" not in r.json())
    _, r, verifier = code_flow(base, prompt=None)
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": verifier}, basic=C, label="exchange (offline_access WITHOUT prompt=consent)")
    print("    scope granted:", r.json().get("scope"), "refresh_token:", "refresh_token" in r.json())

    print("\n---- no PKCE (confidential client), no redirect_uri, no scope, no openid")
    _, r, _ = code_flow(base, pkce=False)
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT}, basic=C,
               label="exchange without PKCE")
    check("PKCE not required for confidential client", r.status == 200)
    _, r, _ = code_flow(base, redirect_uri=None)
    print("    no redirect_uri ->", r.status, r.header("Location"))
    _, r, _ = code_flow(base, scope=None)
    print("    no scope ->", r.status, r.header("Location"))
    _, r, v = code_flow(base, scope="profile email")
    print("    scope without openid ->", r.status, r.header("Location"))
    p = r.location_params()
    r = b.post(tok, {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": REDIRECT,
                     "code_verifier": v}, basic=C, label="exchange (scope=profile email, no openid)")
    b.get(me, bearer=r.json()["access_token"], label="userinfo with a token lacking openid")
    _, r, _ = code_flow(base, deny=True)
    p = r.location_params()
    check("deny (abort) -> error=access_denied", p.get("error") == "access_denied")
    _, r, _ = code_flow(base, redirect_uri="http://evil.example/cb")
    print("    unregistered redirect_uri ->", r.status, r.text[:300])
    _, r, _ = code_flow(base, scope="openid admin")
    print("    scope=openid admin ->", r.status, r.header("Location"))

    print("\n---- client_credentials")
    r = b.post(tok, {"grant_type": "client_credentials"}, basic=C, label="client_credentials, NO scope")
    check("client_credentials no scope 200", r.status == 200)
    cc = r.json()
    b.post(tok, {"grant_type": "client_credentials", "scope": "profile email"}, basic=C,
           label="client_credentials, scope=profile email")
    b.post(tok, {"grant_type": "client_credentials", "scope": "openid"}, basic=C,
           label="client_credentials, scope=openid")
    r = b.get(me, bearer=cc["access_token"], label="userinfo with client_credentials token")
    check("userinfo with cc token refused", r.status >= 400)

    print("\n---- other token endpoint errors")
    r = b.post(tok, {"grant_type": "password", "username": "alice", "password": "wonderland", "scope": "openid"},
               basic=C, label="password grant")
    check("password grant -> unsupported_grant_type", r.status == 400 and r.json().get("error") == "unsupported_grant_type")
    b.post(tok, {"grant_type": "client_credentials"}, basic=("oidc-client", "wrong"), label="wrong client secret")
    b.post(tok, {"grant_type": "client_credentials", "client_id": "oidc-client", "client_secret": "oidc-secret"},
           label="client_secret_post for a client_secret_basic client")
