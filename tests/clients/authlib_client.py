"""Authlib's OAuth 2.0 client (PyPI, by Hsiaoming Yang) against the built-in standard server: the
device authorization grant (RFC 8628) with its polling, approved and denied through the
verification page driven by HTTP as a browser would; refresh; client credentials with both
client_secret_basic and client_secret_post; revocation (RFC 7009) and introspection (RFC 7662).

    tests/servers/.venv/bin/python tests/clients/authlib_client.py http://127.0.0.1:PORT/sandbox/oidc

Prints one line per check and `N passed, 0 failed`; exits 1 if any check failed.
"""

import html
import os
import re
import sys
import time
import traceback
from urllib.parse import urljoin

# Authlib refuses plain HTTP unless told: the server listens on loopback only.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

import requests  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session, OAuthError  # noqa: E402

DEVICE_CLIENT = "standard-device-client"
CLIENT_ID, CLIENT_SECRET = "standard-client", "standard-secret"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

passed = failed = 0


def check(name):
    def run(body):
        global passed, failed
        try:
            body()
            passed += 1
            print(f"ok   {name}", flush=True)
        except Exception:  # noqa: BLE001: every failure is reported, then counted
            failed += 1
            print(f"FAIL {name}: {traceback.format_exc()}", flush=True)
        return body

    return run


def submit(browser, page_url, page, **extra):
    """Posts the page's form with its hidden and text fields as filled in, and `extra`, redirects not
    followed."""
    action = re.search(r'<form method="post" action="([^"]*)"', page)
    assert action, f"no form on the page:\n{page}"
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input [^>]*name="([^"]*)" type="(?:hidden|text)" value="([^"]*)"', page)
        + re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    }
    fields.update(extra)
    return browser.post(urljoin(page_url, html.unescape(action.group(1))), data=fields, allow_redirects=False)


def decide_on_the_verification_page(verification_uri_complete, decision):
    """A user at a browser: opens the link, confirms the code, signs in, grants or denies."""
    browser = requests.Session()
    page = browser.get(verification_uri_complete, allow_redirects=False)
    assert page.status_code == 200, page.status_code
    page = submit(browser, verification_uri_complete, page.text)  # confirm the code shown
    assert 'name="password"' in page.text, page.text
    page = submit(browser, verification_uri_complete, page.text, username="demo", password="demo")
    assert 'value="grant"' in page.text, page.text
    page = submit(browser, verification_uri_complete, page.text, decision=decision)
    assert page.status_code == 200 and 'id="device-done"' in page.text, page.text


issuer = sys.argv[1] if len(sys.argv) > 1 else sys.exit("usage: authlib_client.py ISSUER")
metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
token_endpoint = metadata["token_endpoint"]
device = OAuth2Session(DEVICE_CLIENT, token_endpoint_auth_method="none", scope="openid profile offline_access")
confidential = OAuth2Session(CLIENT_ID, CLIENT_SECRET, token_endpoint_auth_method="client_secret_basic")
state = {}


def start_device_authorization():
    # Authlib has no call of its own for this request; its session sends it (client_id in the body).
    answer = device.post(
        metadata["device_authorization_endpoint"],
        data={"client_id": DEVICE_CLIENT, "scope": "openid profile offline_access"},
        withhold_token=True,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers.get("cache-control") == "no-store", answer.headers
    return answer.json()


def poll(device_code):
    return device.fetch_token(token_endpoint, grant_type=DEVICE_GRANT, device_code=device_code)


@check("discovery names the device authorization and introspection endpoints")
def _():
    assert metadata["issuer"] == issuer, metadata["issuer"]
    assert DEVICE_GRANT in metadata["grant_types_supported"], metadata["grant_types_supported"]
    assert metadata["introspection_endpoint"] == f"{issuer}/introspect"
    assert metadata["device_authorization_endpoint"] == f"{issuer}/device_authorization"


@check("device authorization: a user code of the RFC 8628 alphabet and the verification URIs")
def _():
    answer = start_device_authorization()
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", answer["user_code"]), answer
    assert answer["verification_uri"] == f"{issuer}/device", answer
    assert answer["verification_uri_complete"].startswith(f"{issuer}/device?user_code="), answer
    assert answer["interval"] >= 1 and answer["expires_in"] > 0, answer
    state["device"] = answer


@check("polling before the user decides: authorization_pending")
def _():
    try:
        poll(state["device"]["device_code"])
    except OAuthError as error:
        assert error.error == "authorization_pending", error.error
        return
    raise AssertionError("a token before approval")


@check("approved on the verification page, the next poll (after the interval) gets the tokens")
def _():
    decide_on_the_verification_page(state["device"]["verification_uri_complete"], "grant")
    time.sleep(state["device"]["interval"])
    token = poll(state["device"]["device_code"])
    assert token["token_type"].lower() == "bearer", token
    assert token.get("refresh_token"), "no refresh token for offline_access"
    assert set(token["scope"].split()) == {"openid", "profile", "offline_access"}, token["scope"]
    state["token"] = token


@check("the device code is single use")
def _():
    time.sleep(state["device"]["interval"])
    try:
        poll(state["device"]["device_code"])
    except OAuthError as error:
        assert error.error == "invalid_grant", error.error
        return
    raise AssertionError("tokens twice for one device code")


@check("denied on the verification page: access_denied")
def _():
    answer = start_device_authorization()
    decide_on_the_verification_page(answer["verification_uri_complete"], "deny")
    try:
        poll(answer["device_code"])
    except OAuthError as error:
        assert error.error == "access_denied", error.error
        return
    raise AssertionError("a token after the user denied")


@check("the public device client refreshes its token")
def _():
    token = device.refresh_token(token_endpoint, refresh_token=state["token"]["refresh_token"])
    assert token["access_token"] != state["token"]["access_token"], token
    state["refreshed"] = token


@check("introspection of the device's access token: active, the user's, the device client's")
def _():
    answer = confidential.introspect_token(metadata["introspection_endpoint"], token=state["refreshed"]["access_token"])
    assert answer.status_code == 200, answer.text
    claims = answer.json()
    assert claims["active"] is True, claims
    assert claims["client_id"] == DEVICE_CLIENT and claims["username"] == "demo", claims
    assert claims["iss"] == issuer and claims["token_type"] == "Bearer", claims
    assert claims["exp"] > time.time(), claims


@check("revoked, then introspection says active: false")
def _():
    token = state["refreshed"]["access_token"]
    # RFC 7009: only the client the token was issued to revokes it; the device client is public,
    # so the confidential client's revocation leaves it active.
    confidential.revoke_token(metadata["revocation_endpoint"], token=token)
    assert confidential.introspect_token(metadata["introspection_endpoint"], token=token).json()["active"] is True
    answer = confidential.fetch_token(token_endpoint, grant_type="client_credentials")
    revoked = confidential.revoke_token(metadata["revocation_endpoint"], token=answer["access_token"])
    assert revoked.status_code == 200, revoked.text
    claims = confidential.introspect_token(metadata["introspection_endpoint"], token=answer["access_token"]).json()
    assert claims == {"active": False}, claims
    unknown = confidential.introspect_token(metadata["introspection_endpoint"], token="not-a-token").json()
    assert unknown == {"active": False}, unknown


@check("client credentials, with client_secret_basic and with client_secret_post")
def _():
    for method in ("client_secret_basic", "client_secret_post"):
        session = OAuth2Session(CLIENT_ID, CLIENT_SECRET, token_endpoint_auth_method=method)
        token = session.fetch_token(token_endpoint, grant_type="client_credentials")
        assert "refresh_token" not in token, token
        claims = session.introspect_token(metadata["introspection_endpoint"], token=token["access_token"]).json()
        assert claims["active"] is True and claims["sub"] == CLIENT_ID, claims


@check("a wrong client secret: invalid_client")
def _():
    session = OAuth2Session(CLIENT_ID, "wrong-secret", token_endpoint_auth_method="client_secret_basic")
    try:
        session.fetch_token(token_endpoint, grant_type="client_credentials")
    except OAuthError as error:
        assert error.error == "invalid_client", error.error
        return
    raise AssertionError("a token with a wrong secret")


print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
