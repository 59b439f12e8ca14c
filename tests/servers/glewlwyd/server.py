#!/usr/bin/env python3
"""Glewlwyd (Debian package `glewlwyd`, C) as a test authorization server.

Glewlwyd is a plain C program (/usr/bin/glewlwyd, libulfius/libmicrohttpd);
this launcher only writes its config, initialises its SQLite database,
starts it, and then configures it through its documented admin REST API
(API.md), exactly what an administrator does in its admin web app
(GETTING_STARTED.md: add an OpenID Connect plugin instance, scopes, a user,
a client). Python stdlib only.

Usage:
    python3 tests/servers/glewlwyd/server.py --port PORT \
        --redirect-uri URI [--redirect-uri URI ...] [--pkce-required] [--verbose]

``--port 0`` picks a free port (bind to port 0, close, hand the number to
glewlwyd; retried if glewlwyd then fails to bind). Prints exactly one line
on stdout once everything is configured and the server accepts connections:
    READY http://127.0.0.1:PORT
Exits 0 on SIGTERM / SIGINT (glewlwyd is stopped and the temp dir removed).
Everything (config, SQLite db, signing key, log) lives in a fresh temp dir.

What gets configured (see tests/servers/README.md for the observed behaviour):
  plugin   `oidc` (module "oidc", "Glewlwyd OpenID Connect plugin"), endpoints
           under /api/oidc/, discovery at /api/oidc/.well-known/openid-configuration,
           issuer http://127.0.0.1:PORT
  scopes   openid (pre-installed by the package's SQL), profile, email
  user     alice / wonderland (scopes openid profile email)
  clients  glewlwyd-client / glewlwyd-secret: confidential, client_secret_basic,
           code password client_credentials refresh_token
           glewlwyd-odd-client / `s3cr+t%2F:/ x`: code refresh_token client_credentials
           (no password grant), client_credentials scope profile; a secret that
           RFC 6749 §2.3.1 form-encoding changes
           glewlwyd-nopassword-client / glewlwyd-nopassword-secret: the same grants,
           with a plain secret
  admin    admin / password (installed by the package's SQL; kept)
"""

import argparse
import gzip
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
GLEWLWYD = shutil.which("glewlwyd") or "/usr/bin/glewlwyd"

# Files shipped by the Debian package (not under /usr/share/doc, so they are
# present even in images that exclude docs):
#   - the config template the package's postinst installs as
#     /etc/glewlwyd/glewlwyd.conf (debconf "Personalized", the default answer)
CONF_TEMPLATE = "/usr/share/glewlwyd/templates/glewlwyd-debian.conf.properties"
#   - the database connection template it includes (/etc/glewlwyd/glewlwyd-db.conf)
DB_CONF_TEMPLATE = "/usr/share/glewlwyd/templates/glewlwyd-db.conf.properties"
#   - the SQLite init script dbconfig-common runs (= docs/database/init.sqlite3.sql
#     without its leading DROP TABLE lines): tables + admin/password + scopes
#     g_admin, g_profile, openid + user & client database backends
SQL_INIT = "/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3"
SQL_INIT_DOC = "/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz"
# Defaults the admin web app puts in a new "OpenID Connect" plugin instance
# (copied verbatim from /usr/share/glewlwyd/webapp/admin.js, glewlwyd 2.7.5).
OIDC_DEFAULTS = os.path.join(HERE, "oidc-plugin-defaults.json")
WEBAPP = "/usr/share/glewlwyd/webapp"          # package glewlwyd-common
WEBAPP_CONFIG = "/etc/glewlwyd/config-2.7.json"  # its config.json (see copy_webapp)

ADMIN = ("admin", "password")  # from the package's SQL init script
USER = {"username": "alice", "password": "wonderland", "name": "Alice Liddell",
        "email": "alice@example.com"}
CLIENT_ID, CLIENT_SECRET = "glewlwyd-client", "glewlwyd-secret"
# same odd secret as authlib-odd-client / oidc-odd-client in the other servers
ODD_CLIENT_ID, ODD_CLIENT_SECRET = "glewlwyd-odd-client", "s3cr+t%2F:/ x"


def log(verbose, *a):
    if verbose:
        print("[glewlwyd-launcher]", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def subst(text, pattern, replacement, why):
    """Replace the single line matching `pattern` (regex, whole line) and put a
    comment saying why right above it. Fails if the template changed."""
    rx = re.compile(r"^" + pattern + r"$", re.M)
    if len(rx.findall(text)) != 1:
        raise SystemExit(f"glewlwyd launcher: template line /{pattern}/ not found exactly once")
    return rx.sub(lambda m: f"# [tests/servers/glewlwyd] changed: {why}\n{replacement}", text)


def write_config(tmp, port):
    origin = f"http://127.0.0.1:{port}"
    conf = open(CONF_TEMPLATE).read()
    conf = subst(conf, r"port=4593", f"port={port}",
                 "our port (template default 4593)")
    conf = subst(conf, r'#bind_address="127\.0\.0\.1"', 'bind_address="127.0.0.1"',
                 "listen on 127.0.0.1 only (template leaves it commented = all interfaces)")
    # The postinst replaces _G_EXTRNAL_URL_ with the debconf answer (default
    # "http://localhost:4593/"). We give the upstream sample's form, without a
    # trailing slash: with one, every endpoint URL in the discovery document
    # comes out as http://host:port//api/oidc/... (double slash).
    conf = subst(conf, r'external_url="_G_EXTRNAL_URL_"', f'external_url="{origin}"',
                 "postinst puts the debconf answer here; ours is this server's origin")
    conf = subst(conf, r'# static_files_path="/usr/share/glewlwyd/webapp/"',
                 f'static_files_path="{tmp}/webapp/"',
                 "serve the login/consent web app (login.html) itself, as the upstream "
                 "sample config does, so a browser can complete the code flow without Apache; "
                 "from a dereferenced copy of /usr/share/glewlwyd/webapp (see copy_webapp)")
    conf = subst(conf, r'log_mode="file"', 'log_mode="console"',
                 "log to stderr (the launcher sends it to the temp dir, or to our stderr with --verbose)")
    conf = subst(conf, r'log_file="/var/log/glewlwyd\.log"', f'log_file="{tmp}/glewlwyd.log"',
                 "unused with console logging; kept inside the temp dir")
    conf = subst(conf, r'@include "/etc/glewlwyd/glewlwyd-db\.conf"', f'@include "{tmp}/glewlwyd-db.conf"',
                 "database connection file generated in the temp dir")
    conf = ("# Generated by tests/servers/glewlwyd/server.py from\n# " + CONF_TEMPLATE +
            "\n# (the file Debian's postinst installs as /etc/glewlwyd/glewlwyd.conf).\n" + conf)
    open(os.path.join(tmp, "glewlwyd.conf"), "w").write(conf)

    # Same substitutions as the postinst (+ dbconfig-common) for dbtype sqlite3.
    db = open(DB_CONF_TEMPLATE).read()
    db = db.replace("_G_DB_TYPE_", "sqlite3")
    db = db.replace("_DBC_BASEPATH_/_DBC_DBNAME_", f"{tmp}/glewlwyd.db")
    for k in ("_DBC_DBSERVER_", "_DBC_DBUSER_", "_DBC_DBPASS_", "_DBC_DBNAME_", "_DBC_DBPORT_"):
        db = db.replace(k, "")
    open(os.path.join(tmp, "glewlwyd-db.conf"), "w").write(
        "# Generated by tests/servers/glewlwyd/server.py from " + DB_CONF_TEMPLATE +
        "\n# (postinst/dbconfig-common substitutions for dbtype sqlite3, path in the temp dir)\n" + db)
    return origin


def copy_webapp(tmp):
    """The Debian webapp dir is made of symlinks (js/css/fonts -> libjs-* packages,
    config.json -> /etc/glewlwyd/config-2.7.json, which the package ships as a
    *directory* holding config.json). Glewlwyd's static file server answers 404
    for symlinked files (README.Debian recommends Apache instead), so give it a
    dereferenced copy (~4.5 MB) with config.json pointing at the real file.
    Only a real browser needs this; the API endpoints do not."""
    dst = os.path.join(tmp, "webapp")
    for root, dirs, files in os.walk(WEBAPP, followlinks=True):
        out = os.path.join(dst, os.path.relpath(root, WEBAPP))
        os.makedirs(out, exist_ok=True)
        for f in files:
            src = os.path.join(root, f)
            if os.path.isfile(src):  # skips dangling links
                shutil.copyfile(src, os.path.join(out, f))
    shutil.rmtree(os.path.join(dst, "config.json"), ignore_errors=True)
    cfg = WEBAPP_CONFIG if os.path.isfile(WEBAPP_CONFIG) else os.path.join(WEBAPP_CONFIG, "config.json")
    shutil.copyfile(cfg, os.path.join(dst, "config.json"))


def init_db(tmp):
    if os.path.exists(SQL_INIT):
        sql = open(SQL_INIT).read()
    else:
        sql = gzip.open(SQL_INIT_DOC, "rt").read()
    con = sqlite3.connect(os.path.join(tmp, "glewlwyd.db"))
    # Only to make the ~700 statements fast (no fsync per statement); the
    # server opens the file with its own defaults afterwards.
    con.execute("PRAGMA journal_mode=MEMORY")
    con.execute("PRAGMA synchronous=OFF")
    con.executescript(sql)
    con.commit()
    con.close()


def gen_keys(tmp):
    # OIDC.md "Single key pair in PEM format": openssl genrsa + openssl rsa -pubout
    # (the doc uses 4096 bits; 2048 keeps start-up fast, RS256 either way).
    key, pub = os.path.join(tmp, "private-rsa.key"), os.path.join(tmp, "public-rsa.pem")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "rsa", "-in", key, "-outform", "PEM", "-pubout", "-out", pub],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return open(key).read(), open(pub).read()


class Admin:
    """The admin web app's calls, made with a cookie jar (API.md)."""

    def __init__(self, origin):
        self.origin = origin
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.origin + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with self.opener.open(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            raise SystemExit(f"glewlwyd launcher: {method} {path} -> {e.code} {e.read()[:500]!r}")


def configure(origin, redirect_uris, pkce_required, key_pem, pub_pem):
    a = Admin(origin)
    # "First connection to the administration page": admin / password
    a.call("POST", "/api/auth/", {"username": ADMIN[0], "password": ADMIN[1]})

    # OIDC.md "Installation": Parameters/Plugins, +, type "Glewlwyd OpenID Connect plugin".
    params = json.load(open(OIDC_DEFAULTS))
    params.update({
        # "Issuer ... must correspond to your Glewlwyd instance URL" (UI placeholder
        # "e.g. https://glewlwyd.tld"); the admin UI refuses an empty one.
        "iss": origin,
        # "Secret key"/"Public key" for JWT type RSA (default), key size 256 (default)
        # -> RS256; the UI refuses a plugin without keys.
        "key": key_pem,
        "cert": pub_pem,
        # "Allow non OIDC but valid OAuth2 requests" + "Authentication type password
        # enabled": needed for the password grant (off by default in the UI).
        "allow-non-oidc": True,
        "auth-type-password-enabled": True,
        # "PKCE allowed" (off by default); "PKCE required" only with --pkce-required.
        "pkce-allowed": True,
        "pkce-required": bool(pkce_required),
        # "Allow tokens introspection and invocation" (off by default): enables
        # /introspect and /revoke; "Allow for the token client" is on by default.
        "introspection-revocation-allowed": True,
        # "Supported scopes" (discovery only, default ["openid"])
        "allowed-scope": ["openid", "profile", "email"],
        # "Additional claims": name claim (on demand, default) also given for
        # scope profile; e-mail claim on demand (default "no") and for scope email.
        "name-claim-scope": ["profile"],
        "email-claim": "on-demand",
        "email-claim-scope": ["email"],
    })
    a.call("POST", "/api/mod/plugin/", {"module": "oidc", "name": "oidc",
                                        "display_name": "OpenID Connect",
                                        "order_rank": 0, "parameters": params})

    # SCOPE.md / admin UI "add scope" defaults: password required, max age 0.
    for name, desc in (("profile", "Name of the user"), ("email", "E-mail address of the user")):
        a.call("POST", "/api/scope/", {"name": name, "display_name": name, "description": desc,
                                      "password_required": True, "password_max_age": 0,
                                      "scheme": {}})

    # API.md "Add a new user" (admin UI defaults: enabled, scope list).
    a.call("POST", "/api/user/", {"username": USER["username"], "password": USER["password"],
                                  "name": USER["name"], "email": USER["email"], "enabled": True,
                                  "scope": ["openid", "profile", "email"]})

    # API.md "Add a new client"; admin UI defaults: token_endpoint_auth_method
    # ["client_secret_basic"], authorization_type ["code","refresh_token"].
    # "client secret" (stored as is) rather than "password" (hashed): OIDC.md
    # "Client secret vs password". `scope` = scopes for client_credentials.
    a.call("POST", "/api/client/", {
        "client_id": CLIENT_ID, "name": "Glewlwyd test client", "description": "",
        "confidential": True, "client_secret": CLIENT_SECRET, "password": "", "enabled": True,
        "redirect_uri": list(redirect_uris), "scope": ["profile", "email"],
        "token_endpoint_auth_method": ["client_secret_basic"],
        "authorization_type": ["code", "password", "client_credentials", "refresh_token"]})
    a.call("POST", "/api/client/", {
        "client_id": ODD_CLIENT_ID, "name": "Client with an odd secret", "description": "",
        "confidential": True, "client_secret": ODD_CLIENT_SECRET, "password": "", "enabled": True,
        "redirect_uri": list(redirect_uris), "scope": ["profile"],
        "token_endpoint_auth_method": ["client_secret_basic"],
        "authorization_type": ["code", "refresh_token", "client_credentials"]})
    # A client that may not use the password grant, with a plain secret (Glewlwyd does not
    # form-decode Basic credentials, so the odd client cannot authenticate by Basic at all).
    a.call("POST", "/api/client/", {
        "client_id": "glewlwyd-nopassword-client", "name": "Client without the password grant",
        "description": "", "confidential": True, "client_secret": "glewlwyd-nopassword-secret",
        "password": "", "enabled": True, "redirect_uri": list(redirect_uris), "scope": ["profile"],
        "token_endpoint_auth_method": ["client_secret_basic"],
        "authorization_type": ["code", "refresh_token", "client_credentials"]})

    # Sanity: the discovery document is served.
    st, _ = a.call("GET", "/api/oidc/.well-known/openid-configuration")
    if st != 200:
        raise SystemExit(f"glewlwyd launcher: discovery -> {st}")
    # Leave the admin session (DELETE /api/auth/ = log out, as the web app does).
    try:
        a.call("DELETE", "/api/auth/")
    except SystemExit:
        pass


def wait_listening(proc, origin, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(origin + "/config", timeout=1) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris")
    ap.add_argument("--pkce-required", action="store_true",
                    help='plugin option "PKCE required" (all clients, /auth and /par)')
    ap.add_argument("--verbose", action="store_true", help="glewlwyd's log on stderr")
    args = ap.parse_args(argv)

    if not os.access(GLEWLWYD, os.X_OK):
        raise SystemExit("glewlwyd launcher: /usr/bin/glewlwyd missing; run tests/servers/install.sh")

    tmp = tempfile.mkdtemp(prefix="glewlwyd-")
    proc = None
    logf = None

    def cleanup():
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if logf is not None:
            logf.close()
        shutil.rmtree(tmp, ignore_errors=True)

    def stop(signum, frame):
        cleanup()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    try:
        key_pem, pub_pem = gen_keys(tmp)
        copy_webapp(tmp)
        attempts = 5 if args.port == 0 else 1
        for attempt in range(attempts):
            port = free_port() if args.port == 0 else args.port
            origin = write_config(tmp, port)
            if os.path.exists(os.path.join(tmp, "glewlwyd.db")):
                os.unlink(os.path.join(tmp, "glewlwyd.db"))
            init_db(tmp)
            if logf is not None:
                logf.close()
            logf = None if args.verbose else open(os.path.join(tmp, "glewlwyd.log"), "ab")
            proc = subprocess.Popen(
                [GLEWLWYD, "--config-file=" + os.path.join(tmp, "glewlwyd.conf")],
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr if args.verbose else logf,  # never our stdout
                stderr=sys.stderr if args.verbose else logf,
                start_new_session=True)
            if wait_listening(proc, origin):
                break
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            log(args.verbose, f"glewlwyd did not come up on port {port} (attempt {attempt + 1})")
        else:
            if logf is not None:
                logf.flush()
                sys.stderr.write(open(os.path.join(tmp, "glewlwyd.log")).read()[-3000:])
            raise SystemExit("glewlwyd launcher: glewlwyd did not start")
        configure(origin, args.redirect_uris, args.pkce_required, key_pem, pub_pem)
    except BaseException:
        cleanup()
        raise

    print(f"READY {origin}", flush=True)
    while True:
        if proc.poll() is not None:
            cleanup()
            raise SystemExit(f"glewlwyd launcher: glewlwyd exited with {proc.returncode}")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
