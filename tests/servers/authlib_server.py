#!/usr/bin/env python3
"""A real OAuth 2.0 authorization server built with Authlib + Flask, for tests.

Wired the way Authlib's "Flask OAuth 2.0 Server" documentation shows:
``authlib.integrations.flask_oauth2.AuthorizationServer`` with the RFC 6749
grants (authorization_code + RFC 7636 PKCE, password, client_credentials,
refresh_token), the RFC 7009 revocation endpoint, an RFC 6750
``ResourceProtector`` with a ``BearerTokenValidator`` and RFC 8414 metadata.

The docs keep clients/codes/tokens in SQLAlchemy models built on
``authlib.integrations.sqla_oauth2`` mixins; this server keeps the same
objects in memory (plain classes implementing the same Authlib mixin
methods, with the same logic as the sqla mixins), so it needs no database.

Usage:
    python3 tests/servers/authlib_server.py --port PORT \
        --redirect-uri URI [--redirect-uri URI ...] [--rotate-refresh-tokens] \
        [--metadata rfc8414|openid|both|both-disagree|root] [--issuer-path /PATH] \
        [--no-password-client] [--verbose]

``--port 0`` binds a free port; the actual one is in the READY line, which
always carries the ORIGIN only (the issuer is that URL + --issuer-path):
    READY http://127.0.0.1:PORT
Exits 0 on SIGTERM / SIGINT.

Metadata (``--metadata``, default ``rfc8414``), built as Authlib documents it
(``authlib.oauth2.rfc8414.AuthorizationServerMetadata(data)`` + ``.validate()``,
served at ``authlib.oauth2.rfc8414.get_well_known_url(issuer)``, i.e. the
RFC 8414 section 3.1 path-inserted URL):
  rfc8414        RFC 8414 document only (RFC 8414 fields only, no userinfo_endpoint);
                 /.well-known/openid-configuration -> 404
  openid         OpenID Connect Discovery document only (userinfo_endpoint, no
                 revocation_endpoint), at issuer + /.well-known/openid-configuration;
                 the RFC 8414 URL -> 404
  both           both documents, same issuer and endpoints
  both-disagree  both, but the OpenID document's token_endpoint is
                 issuer/oauth/token2 (an alias of issuer/oauth/token)
  root           RFC 8414 document mounted at the ORIGIN ROOT
                 /.well-known/oauth-authorization-server although the issuer
                 has a path (--issuer-path, default /tenant); the section 3.1
                 URL /.well-known/oauth-authorization-server/tenant -> 404
See tests/servers/README.md.
"""

import os
import sys

# Re-exec inside tests/servers/.venv when it exists and we are not in it, so
# `python3 tests/servers/authlib_server.py` works whatever python3 is.
_HERE = os.path.dirname(os.path.abspath(__file__))
_VENV_PY = os.path.join(_HERE, ".venv", "bin", "python")
if (
    os.path.exists(_VENV_PY)
    and os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(_HERE, ".venv"))
    and not os.environ.get("AUTHLIB_SERVER_NO_REEXEC")
):
    os.execv(_VENV_PY, [_VENV_PY, os.path.abspath(__file__), *sys.argv[1:]])

import argparse  # noqa: E402
import html  # noqa: E402
import logging  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

from flask import Flask, jsonify, redirect, request, session  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from authlib.integrations.flask_oauth2 import (  # noqa: E402
    AuthorizationServer,
    ResourceProtector,
    current_token,
)
from authlib.oauth2 import OAuth2Error  # noqa: E402
from authlib.oauth2.rfc6749 import (  # noqa: E402
    AuthorizationCodeMixin,
    ClientMixin,
    TokenMixin,
    grants,
    list_to_scope,
    scope_to_list,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator  # noqa: E402
from authlib.oauth2.rfc7009 import RevocationEndpoint  # noqa: E402
from authlib.oauth2.rfc7636 import CodeChallenge  # noqa: E402
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url  # noqa: E402
from authlib.oidc.discovery import OpenIDProviderMetadata  # noqa: E402
from authlib.oidc.discovery import get_well_known_url as get_openid_well_known_url  # noqa: E402

SCOPES = ["profile", "email"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
GRANT_TYPES = ["authorization_code", "password", "client_credentials", "refresh_token"]
METADATA_SHAPES = ["rfc8414", "openid", "both", "both-disagree", "root"]
# A client_secret full of characters that RFC 6749 section 2.3.1 makes the
# client form-urlencode before base64 in HTTP Basic (+ % / : and a space).
ODD_CLIENT_SECRET = "s3cr+t%2F:/ x"
ACCESS_TOKEN_LIFETIME = 3600
REFRESH_TOKEN_LIFETIME = 14 * 24 * 3600
CODE_LIFETIME = 300


# --------------------------------------------------------------------------
# In-memory "models" (same behaviour as authlib.integrations.sqla_oauth2)
# --------------------------------------------------------------------------
class User:
    def __init__(self, id, username, password, name, email):
        self.id = id
        self.username = username
        self.password = password
        self.name = name
        self.email = email

    def get_user_id(self):
        return self.id

    def check_password(self, password):
        return secrets.compare_digest(self.password, password)


class Client(ClientMixin):
    def __init__(self, client_id, client_secret, metadata):
        self.client_id = client_id
        self.client_secret = client_secret
        self.client_metadata = metadata

    @property
    def redirect_uris(self):
        return self.client_metadata.get("redirect_uris", [])

    @property
    def token_endpoint_auth_method(self):
        return self.client_metadata.get("token_endpoint_auth_method", "client_secret_basic")

    @property
    def grant_types(self):
        return self.client_metadata.get("grant_types", [])

    @property
    def response_types(self):
        return self.client_metadata.get("response_types", [])

    @property
    def client_name(self):
        return self.client_metadata.get("client_name")

    @property
    def scope(self):
        return self.client_metadata.get("scope", "")

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        if self.redirect_uris:
            return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        # Same as OAuth2ClientMixin: no scope requested -> "" (empty scope);
        # requested scopes the client may not have are silently dropped.
        if not scope:
            return ""
        allowed = set(self.scope.split())
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint == "token":
            return self.token_endpoint_auth_method == method
        return True

    def check_response_type(self, response_type):
        return response_type in self.response_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


class AuthorizationCode(AuthorizationCodeMixin):
    def __init__(self, **kw):
        self.nonce = None
        self.acr = None
        self.amr = None
        self.__dict__.update(kw)
        self.auth_time = int(time.time())

    def is_expired(self):
        return self.auth_time + CODE_LIFETIME < time.time()

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_auth_time(self):
        return self.auth_time

    def get_nonce(self):
        return self.nonce


class Token(TokenMixin):
    def __init__(self, client_id, user_id, **token):
        self.client_id = client_id
        self.user_id = user_id
        self.token_type = token.get("token_type")
        self.access_token = token.get("access_token")
        self.refresh_token = token.get("refresh_token")
        self.scope = token.get("scope", "")
        self.expires_in = token.get("expires_in", 0)
        self.issued_at = int(time.time())
        self.access_token_revoked_at = 0
        self.refresh_token_revoked_at = 0

    def check_client(self, client):
        return self.client_id == client.get_client_id()

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_revoked(self):
        # Used by BearerTokenValidator for the *access* token.
        return bool(self.access_token_revoked_at)

    def is_expired(self):
        if not self.expires_in:
            return False
        return self.issued_at + self.expires_in < time.time()

    def is_refresh_token_active(self):
        if not self.refresh_token or self.refresh_token_revoked_at:
            return False
        return self.issued_at + REFRESH_TOKEN_LIFETIME >= time.time()


USERS = {
    "alice": User(1, "alice", "wonderland", "Alice Liddell", "alice@example.com"),
}
USERS_BY_ID = {u.id: u for u in USERS.values()}
CLIENTS = {}
CODES = {}
TOKENS = []


def query_client(client_id):
    return CLIENTS.get(client_id)


def save_token(token, request):
    user_id = request.user.get_user_id() if request.user else None
    TOKENS.append(Token(request.client.client_id, user_id, **token))


# --------------------------------------------------------------------------
# Grants (as in the docs, in-memory)
# --------------------------------------------------------------------------
class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, request):
        item = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user_id=request.user.get_user_id(),
            code_challenge=request.payload.data.get("code_challenge"),
            code_challenge_method=request.payload.data.get("code_challenge_method"),
        )
        CODES[code] = item
        return item

    def query_authorization_code(self, code, client):
        item = CODES.get(code)
        if item and item.client_id == client.client_id and not item.is_expired():
            return item

    def delete_authorization_code(self, authorization_code):
        CODES.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return USERS_BY_ID.get(authorization_code.user_id)


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def authenticate_user(self, username, password):
        user = USERS.get(username)
        if user and user.check_password(password):
            return user


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    # INCLUDE_NEW_REFRESH_TOKEN stays at Authlib's default (False) unless
    # --rotate-refresh-tokens is given (see main()).

    def authenticate_refresh_token(self, refresh_token):
        for tok in TOKENS:
            if tok.refresh_token == refresh_token and tok.is_refresh_token_active():
                return tok

    def authenticate_user(self, credential):
        return USERS_BY_ID.get(credential.user_id)

    def revoke_old_credential(self, credential):
        now = int(time.time())
        # The old access token always dies. The old refresh token dies only
        # when a new one was issued (rotation); otherwise the client keeps
        # using the one it has, as RFC 6749 section 6 allows.
        credential.access_token_revoked_at = now
        if self.INCLUDE_NEW_REFRESH_TOKEN:
            credential.refresh_token_revoked_at = now


class MyCodeChallenge(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]


class MyRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        # Same lookup order as authlib.integrations.sqla_oauth2.create_query_token_func
        if token_type_hint == "access_token":
            return next((t for t in TOKENS if t.access_token == token_string), None)
        if token_type_hint == "refresh_token":
            return next((t for t in TOKENS if t.refresh_token == token_string), None)
        for t in TOKENS:
            if t.access_token == token_string:
                return t
        return next((t for t in TOKENS if t.refresh_token == token_string), None)

    def revoke_token(self, token, request):
        # Same as authlib.integrations.sqla_oauth2.create_revocation_endpoint:
        # the whole token record dies unless the hint says "access_token".
        now = int(time.time())
        hint = request.form.get("token_type_hint")
        token.access_token_revoked_at = now
        if hint != "access_token":
            token.refresh_token_revoked_at = now


class MyBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        for t in TOKENS:
            if t.access_token == token_string:
                return t


# --------------------------------------------------------------------------
# Flask app
# --------------------------------------------------------------------------
PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""


def page(title, body, status=200):
    return PAGE.format(title=html.escape(title), body=body), status, {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
    }


def current_user():
    uid = session.get("user_id")
    return USERS_BY_ID.get(uid) if uid else None


def build_metadata(issuer, shape):
    """Return {url_path: document} for the chosen --metadata shape.

    RFC 8414 document: only RFC 8414 section 2 fields (the keys of Authlib's
    ``AuthorizationServerMetadata.REGISTRY_KEYS``), validated with
    ``.validate()`` as Authlib's API reference shows. No userinfo_endpoint:
    RFC 8414 does not define it.

    OpenID document: only OpenID Connect Discovery 1.0 section 3 fields, built
    with Authlib's ``OpenIDProviderMetadata`` (whose registry leaves out
    revocation_* and code_challenge_methods_supported as "not defined by
    OpenID"). This server has no signing keys and issues no ID tokens, so
    jwks_uri (REQUIRED by OIDC Discovery) is omitted and every field but
    jwks_uri is validated.
    """
    rfc8414 = AuthorizationServerMetadata(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/oauth/authorize",
            "token_endpoint": issuer + "/oauth/token",
            "revocation_endpoint": issuer + "/oauth/revoke",
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "code_challenge_methods_supported": ["S256"],
        }
    )
    rfc8414.validate()

    token2 = shape == "both-disagree"
    openid = OpenIDProviderMetadata(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/oauth/authorize",
            "token_endpoint": issuer + ("/oauth/token2" if token2 else "/oauth/token"),
            "userinfo_endpoint": issuer + "/api/me",
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
        }
    )
    for key in OpenIDProviderMetadata.REGISTRY_KEYS:
        if key != "jwks_uri":
            object.__getattribute__(openid, f"validate_{key}")()

    docs = {}
    if shape in ("rfc8414", "both", "both-disagree"):
        # RFC 8414 section 3.1: /.well-known/oauth-authorization-server + issuer path
        docs[get_well_known_url(issuer)] = rfc8414
    if shape in ("openid", "both", "both-disagree"):
        # OIDC Discovery section 4.1: issuer + /.well-known/openid-configuration
        docs[get_openid_well_known_url(issuer)] = openid
    if shape == "root":
        # Mounted at the origin root whatever the issuer's path (not section 3.1).
        docs["/.well-known/oauth-authorization-server"] = rfc8414
    return docs


def create_app(issuer, redirect_uris, rotate, metadata_shape="rfc8414", issuer_path="",
               nopassword_client=False):
    # issuer = origin + issuer_path; every route lives under issuer_path.
    P = issuer_path
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_NAME="authlib_session",
        OAUTH2_REFRESH_TOKEN_GENERATOR=True,
        OAUTH2_TOKEN_EXPIRES_IN={g: ACCESS_TOKEN_LIFETIME for g in GRANT_TYPES},
        OAUTH2_SCOPES_SUPPORTED=SCOPES,
    )

    registrations = [
        ("authlib-client", "authlib-secret", "client_secret_basic", GRANT_TYPES),
        ("authlib-post-client", "authlib-post-secret", "client_secret_post", GRANT_TYPES),
        ("authlib-odd-client", ODD_CLIENT_SECRET, "client_secret_basic", GRANT_TYPES),
    ]
    if nopassword_client:
        registrations.append(
            ("authlib-nopassword-client", "authlib-nopassword-secret", "client_secret_basic",
             ["authorization_code", "client_credentials", "refresh_token"])
        )
    CLIENTS.clear()
    for cid, secret, method, grant_types in registrations:
        CLIENTS[cid] = Client(
            cid,
            secret,
            {
                "client_name": f"Test client {cid}",
                "redirect_uris": list(redirect_uris),
                "grant_types": list(grant_types),
                "response_types": ["code"],
                "scope": " ".join(SCOPES),
                "token_endpoint_auth_method": method,
            },
        )

    RefreshTokenGrant.INCLUDE_NEW_REFRESH_TOKEN = bool(rotate)

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(AuthorizationCodeGrant, [MyCodeChallenge(required=False)])
    server.register_grant(PasswordGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(MyRevocationEndpoint)

    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(MyBearerTokenValidator())

    for i, (path, doc) in enumerate(build_metadata(issuer, metadata_shape).items()):
        app.add_url_rule(path, f"metadata_{i}", lambda doc=doc: jsonify(dict(doc)), methods=["GET"])

    @app.route(P + "/oauth/authorize", methods=["GET", "POST"])
    def authorize():
        user = current_user()
        # Validate the request first (client_id, redirect_uri, response_type,
        # scope, PKCE params) so errors come back before any login page.
        try:
            grant = server.get_consent_grant(end_user=user)
        except OAuth2Error as error:
            return server.handle_error_response(request, error)

        if user is None:
            next_url = request.full_path if request.query_string else request.path
            body = (
                f'<form method="post" action="{html.escape(P)}/login">'
                f'<input type="hidden" name="next" value="{html.escape(next_url)}">'
                '<label>Username <input name="username" autocomplete="username"></label><br>'
                '<label>Password <input name="password" type="password"></label><br>'
                '<button type="submit">Sign in</button></form>'
            )
            return page("Sign in", body)

        if request.method == "GET":
            client = grant.client
            scopes = scope_to_list(grant.request.scope) or []
            items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes) or "<li>(no scope)</li>"
            action = P + "/oauth/authorize?" + request.query_string.decode("latin-1")
            body = (
                f"<p>Signed in as {html.escape(user.username)}.</p>"
                f"<p>The application <strong>{html.escape(client.client_name or client.client_id)}</strong>"
                f" (<code>{html.escape(client.client_id)}</code>) asks for:</p><ul>{items}</ul>"
                f'<form method="post" action="{html.escape(action)}">'
                '<button type="submit" name="confirm" value="grant">Grant</button> '
                '<button type="submit" name="confirm" value="deny">Deny</button></form>'
            )
            return page("Authorize application", body)

        grant_user = user if request.form.get("confirm") == "grant" else None
        return server.create_authorization_response(grant_user=grant_user, grant=grant)

    @app.post(P + "/login")
    def login():
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        next_url = request.form.get("next", "")
        if not next_url.startswith(P + "/oauth/authorize"):
            next_url = P + "/"
        user = USERS.get(username)
        if not user or not user.check_password(password):
            body = (
                '<p class="error">Invalid username or password.</p>'
                f'<form method="post" action="{html.escape(P)}/login">'
                f'<input type="hidden" name="next" value="{html.escape(next_url)}">'
                f'<label>Username <input name="username" value="{html.escape(username)}"></label><br>'
                '<label>Password <input name="password" type="password"></label><br>'
                '<button type="submit">Sign in</button></form>'
            )
            return page("Sign in", body, 401)
        session.clear()
        session["user_id"] = user.id
        return redirect(next_url, code=302)

    @app.route(P + "/logout", methods=["GET", "POST"])
    def logout():
        session.clear()
        return page("Signed out", "<p>Signed out.</p>")

    @app.get(P + "/")
    def home():
        user = current_user()
        who = html.escape(user.username) if user else "nobody"
        return page("Authlib test server", f"<p>Signed in: {who}</p>")

    @app.post(P + "/oauth/token")
    def issue_token():
        return server.create_token_response()

    if metadata_shape == "both-disagree":
        # The OpenID document names this URL; same handler as /oauth/token.
        app.add_url_rule(P + "/oauth/token2", "issue_token2", issue_token, methods=["POST"])

    @app.post(P + "/oauth/revoke")
    def revoke_token():
        return server.create_endpoint_response(MyRevocationEndpoint.ENDPOINT_NAME)

    @app.get(P + "/api/me")
    @require_oauth("profile")
    def api_me():
        user = USERS_BY_ID.get(current_token.user_id)
        if user is None:
            # A client_credentials token that does carry "profile" has no user.
            return jsonify({"client_id": current_token.client_id, "sub": None}), 200
        data = {"sub": str(user.id), "username": user.username, "name": user.name}
        if "email" in scope_to_list(current_token.scope or ""):
            data["email"] = user.email
        return jsonify(data)

    return app


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris")
    ap.add_argument("--rotate-refresh-tokens", action="store_true",
                    help="set RefreshTokenGrant.INCLUDE_NEW_REFRESH_TOKEN = True (Authlib default: False)")
    ap.add_argument("--metadata", choices=METADATA_SHAPES, default="rfc8414",
                    help="which discovery document(s) to publish and where (default: rfc8414)")
    ap.add_argument("--issuer-path", default=None, metavar="/PATH",
                    help="issuer = READY url + this path; every endpoint moves under it "
                         "(default: none; /tenant for --metadata root)")
    ap.add_argument("--no-password-client", action="store_true",
                    help="also register authlib-nopassword-client / authlib-nopassword-secret "
                         "(client_secret_basic; authorization_code, client_credentials, refresh_token)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    issuer_path = args.issuer_path
    if issuer_path is None:
        issuer_path = "/tenant" if args.metadata == "root" else ""
    issuer_path = issuer_path.rstrip("/")
    if issuer_path and (not issuer_path.startswith("/") or "?" in issuer_path or "#" in issuer_path):
        ap.error("--issuer-path must start with / and have no query or fragment")
    if args.metadata == "root" and not issuer_path:
        ap.error("--metadata root needs a non-empty --issuer-path")

    if args.verbose:
        logging.basicConfig(level=logging.DEBUG)
    else:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    # Bind first (port 0 resolves here), then build the app with the real issuer.
    from flask import Flask as _F

    placeholder = _F("placeholder")
    srv = make_server("127.0.0.1", args.port, placeholder, threaded=True)
    origin = f"http://127.0.0.1:{srv.port}"
    srv.app = create_app(origin + issuer_path, args.redirect_uris, args.rotate_refresh_tokens,
                         args.metadata, issuer_path, args.no_password_client)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print(f"READY {origin}", flush=True)
    try:
        srv.serve_forever()
    except SystemExit:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
