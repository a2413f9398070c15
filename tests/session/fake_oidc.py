"""A minimal Keycloak-like OIDC provider for keycloakauthenticator.KeyCloakAuthenticator.

What the authenticator (keycloakauthenticator 4.0.8 on oauthenticator 16.3.1) does, and what
this provider answers:
  * GET <issuer>/.well-known/openid-configuration (authorization, token, userinfo, jwks,
    end_session endpoints), then GET jwks_uri: keys with `use: sig` (RS256);
  * the browser goes to the authorization endpoint (response_type=code, client_id, redirect_uri,
    scope, state); it redirects straight back to redirect_uri with a code and the state for a
    user registered beforehand (chosen by `login_hint`, or the only registered user);
  * POST token endpoint: grant_type=authorization_code (client id/secret in the body or HTTP
    Basic, redirect_uri must match), refresh_token, and token-exchange (exchange_tokens);
    access tokens are RS256 JWTs with iss, aud = client id, azp, sub, exp, iat,
    preferred_username, resource_access.<client_id>.roles and the user's extra claims;
  * GET userinfo with the bearer access token: sub, preferred_username, name, email, extra claims.
Wrong client credentials, codes, redirect URIs or tokens get OAuth error responses (400/401).
Every request is recorded in `requests` and logged to a file.
"""
from __future__ import annotations

import base64
import datetime
import json
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harness_tls import TestCA, TLSServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass
class OIDCUser:
    username: str
    roles: list[str] = field(default_factory=list)
    claims: dict = field(default_factory=dict)   # e.g. {"cern_uid": 12345, "email": ...}
    sub: str = field(default_factory=lambda: str(uuid.uuid4()))


class FakeOIDC:
    def __init__(self, issuer: str, client_id: str, client_secret: str, ca: TestCA, workdir: Path,
                 access_token_lifetime: int = 300):
        split = urlsplit(issuer)
        if split.scheme != "https" or not split.hostname:
            raise ValueError(f"issuer must be an https URL, got {issuer!r}")
        self.issuer = issuer.rstrip("/")
        self.host = split.hostname
        self.port = split.port or 443
        self.base_path = split.path.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime = access_token_lifetime
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "oidc.log"
        self._log = open(self.log_path, "a", buffering=1)
        self.users: dict[str, OIDCUser] = {}
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, str] = {}   # token -> username
        self.refresh_tokens: dict[str, str] = {}
        self.requests: list[dict] = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        cert = ca.issue([self.host], ["127.0.0.1"])  # 127.0.0.1: the test side reaches it on the host
        self.ssl_context = cert.server_context(self.workdir, "oidc")
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- users

    def register_user(self, username: str, roles: list[str] = (), **claims) -> OIDCUser:
        user = OIDCUser(username, list(roles), dict(claims))
        self.users[username] = user
        return user

    # -- endpoints

    def url(self, suffix: str) -> str:
        return f"{self.issuer}{suffix}"

    def configuration(self) -> dict:
        oc = "/protocol/openid-connect"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url(f"{oc}/auth"),
            "token_endpoint": self.url(f"{oc}/token"),
            "userinfo_endpoint": self.url(f"{oc}/userinfo"),
            "end_session_endpoint": self.url(f"{oc}/logout"),
            "jwks_uri": self.url(f"{oc}/certs"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token",
                                      "urn:ietf:params:oauth:grant-type:token-exchange"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
        }

    def jwks(self) -> dict:
        pub = self.key.public_key().public_numbers()
        return {"keys": [{"kid": self.kid, "kty": "RSA", "alg": "RS256", "use": "sig",
                          "n": _int_b64(pub.n), "e": _int_b64(pub.e)}]}

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def _tokens_for(self, user: OIDCUser, audience: str | None = None, scope: str = "openid profile email") -> dict:
        now = int(time.time())
        base = {"iss": self.issuer, "sub": user.sub, "iat": now, "auth_time": now, "jti": str(uuid.uuid4()),
                "azp": self.client_id, "preferred_username": user.username, "scope": scope, "typ": "Bearer"}
        access = {**base, **user.claims, "exp": now + self.lifetime, "aud": audience or self.client_id,
                  "resource_access": {self.client_id: {"roles": list(user.roles)}}}
        id_token = {**base, **user.claims, "exp": now + self.lifetime, "aud": self.client_id, "typ": "ID"}
        refresh = {"iss": self.issuer, "sub": user.sub, "iat": now, "exp": now + 3600, "aud": self.issuer,
                   "azp": self.client_id, "typ": "Refresh", "jti": str(uuid.uuid4())}
        at, rt = self.sign(access), self.sign(refresh)
        with self._lock:
            self.access_tokens[at] = user.username
            self.refresh_tokens[rt] = user.username
        return {"access_token": at, "expires_in": self.lifetime, "refresh_expires_in": 3600,
                "refresh_token": rt, "token_type": "Bearer", "id_token": self.sign(id_token),
                "not-before-policy": 0, "session_state": str(uuid.uuid4()), "scope": scope}

    def handle(self, method: str, path: str, query: dict, form: dict, headers) -> tuple[int, dict, dict | None]:
        """Returns (status, headers, json body or None)."""
        if not path.startswith(self.base_path + "/"):
            return 404, {}, {"error": "not_found"}
        rel = path[len(self.base_path):]
        oc = "/protocol/openid-connect"
        if method == "GET" and rel == "/.well-known/openid-configuration":
            return 200, {}, self.configuration()
        if method == "GET" and rel == f"{oc}/certs":
            return 200, {}, self.jwks()
        if method == "GET" and rel == f"{oc}/auth":
            return self._authorize(query)
        if method == "POST" and rel == f"{oc}/token":
            return self._token(form, headers)
        if method in ("GET", "POST") and rel == f"{oc}/userinfo":
            return self._userinfo(headers)
        if method == "GET" and rel == f"{oc}/logout":
            target = query.get("post_logout_redirect_uri")
            return (302, {"Location": target}, None) if target else (200, {}, {"logged_out": True})
        return 404, {}, {"error": "not_found"}

    def _authorize(self, q: dict):
        if q.get("client_id") != self.client_id:
            return 400, {}, {"error": "invalid_client", "error_description": f"unknown client {q.get('client_id')!r}"}
        if q.get("response_type") != "code":
            return 400, {}, {"error": "unsupported_response_type"}
        redirect = q.get("redirect_uri")
        if not redirect:
            return 400, {}, {"error": "invalid_request", "error_description": "redirect_uri is required"}
        hint = q.get("login_hint")
        if hint:
            user = self.users.get(hint)
        else:
            user = next(iter(self.users.values())) if len(self.users) == 1 else None
        if user is None:
            return 400, {}, {"error": "login_required",
                             "error_description": f"no registered user {hint!r} (registered: {sorted(self.users)})"}
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {"user": user.username, "redirect_uri": redirect, "scope": q.get("scope", ""),
                                "expires": time.time() + 60}
        params = {"code": code, "session_state": str(uuid.uuid4())}
        if "state" in q:
            params["state"] = q["state"]
        sep = "&" if "?" in redirect else "?"
        return 302, {"Location": f"{redirect}{sep}{urlencode(params)}"}, None

    def _client_ok(self, form: dict, headers) -> bool:
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id"), form.get("client_secret")
        return cid == self.client_id and secret == self.client_secret

    def _token(self, form: dict, headers):
        if not self._client_ok(form, headers):
            return 401, {}, {"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self._lock:
                entry = self.codes.pop(form.get("code", ""), None)
            if entry is None or entry["expires"] < time.time():
                return 400, {}, {"error": "invalid_grant", "error_description": "Code not valid"}
            if form.get("redirect_uri") != entry["redirect_uri"]:
                return 400, {}, {"error": "invalid_grant", "error_description": "Incorrect redirect_uri"}
            return 200, {}, self._tokens_for(self.users[entry["user"]], scope=entry["scope"] or "openid")
        if grant == "refresh_token":
            username = self.refresh_tokens.get(form.get("refresh_token", ""))
            if username is None:
                return 400, {}, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
            return 200, {}, self._tokens_for(self.users[username])
        if grant == "urn:ietf:params:oauth:grant-type:token-exchange":
            username = self.access_tokens.get(form.get("subject_token", ""))
            if username is None:
                return 400, {}, {"error": "invalid_token", "error_description": "Invalid subject token"}
            tokens = self._tokens_for(self.users[username], audience=form.get("audience"))
            return 200, {}, {"access_token": tokens["access_token"], "expires_in": self.lifetime,
                             "token_type": "Bearer", "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}
        return 400, {}, {"error": "unsupported_grant_type"}

    def _userinfo(self, headers):
        auth = headers.get("Authorization", "")
        username = self.access_tokens.get(auth[7:]) if auth.lower().startswith("bearer ") else None
        if username is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {"error": "invalid_token"}
        user = self.users[username]
        info = {"sub": user.sub, "preferred_username": user.username, "name": user.username,
                "email": f"{user.username}@example.org", "email_verified": True}
        info.update(user.claims)
        return 200, {}, info

    # -- serving

    def listen(self, sock: socket.socket | None = None) -> tuple[str, int]:
        """Serve on `sock` (e.g. 127.0.0.1:443 in the pod network) or on 127.0.0.1:<random>."""
        if sock is None:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
        server = _Server(self, sock)
        self._servers.append(server)
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="fake-oidc")
        t.start()
        self._threads.append(t)
        return sock.getsockname()[:2]

    def close(self) -> None:
        for s in self._servers:
            s.shutdown()
            s.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._log.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, fmt, *args):
        pass

    def _handle(self) -> None:
        oidc = self.server.oidc
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form = {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace"), keep_blank_values=True).items()}
        try:
            code, headers, body = oidc.handle(self.command, split.path, query, form, self.headers)
        except Exception as e:  # noqa: BLE001 - a bug in the fake shows as a 500
            code, headers, body = 500, {}, {"error": "server_error", "error_description": f"{type(e).__name__}: {e}"}
        oidc.requests.append({"time": time.time(), "method": self.command, "path": split.path, "query": query,
                              "form": {k: ("***" if k in ("client_secret",) else v) for k, v in form.items()},
                              "status": code})
        if not oidc._log.closed:
            oidc._log.write(f"{datetime.datetime.now().isoformat(timespec='milliseconds')} {self.command} "
                            f"{split.path} -> {code}\n")
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")  # no idle keep-alive threads left at close()
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    do_GET = do_POST = _handle


class _Server(TLSServer):
    read_timeout = 30

    def __init__(self, oidc: FakeOIDC, sock: socket.socket):
        super().__init__(sock, _Handler, oidc.ssl_context)
        self.oidc = oidc

