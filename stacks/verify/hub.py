"""Hub checks: a dedicated test user logs in (through the admin API), gets a session for each
configured session option, runs code in a kernel over the Jupyter websocket, finds the
promised software, storage and GPU, and is removed again. For each course event open now, a
test user joins the event's group and gets the event's GPU flavour (stacks/verify/events.py).

Everything goes through the public hub URL, as a user's browser would: the hub REST API at
`/hub/api`, the user's Jupyter server at `/user/<name>/`. The API token belongs to a hub
service that needs the scopes in `NEEDED_SCOPES`.
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Callable, Optional

import requests

from stacks.verify.model import Check, CheckFailed, CheckSkipped, Deadline, Flaky

# admin:users creates and deletes the test user, admin:servers starts and stops its sessions,
# access:servers reaches its Jupyter server through the proxy.
# The checks this group runs (each session adds its own `hub.spawn[<option>]`, ... rows).
CHECK_NAMES = ("hub.health", "hub.events", "hub.spawn", "hub.execute", "hub.software", "hub.storage", "hub.gpu",
               "hub.cleanup")
NEEDED_SCOPES = ("admin:users", "admin:servers", "access:servers")
# With course events: create the event's group when it does not exist yet, add the test user.
EVENT_SCOPES = ("admin:groups",)

# Messages the hub or its spawner give when a session did not come up in time, which is what
# a cluster autoscaler adding a node looks like: worth another attempt.
_TIMEOUT_PATTERN = re.compile(r"time(d)?[ -]?out|did not start in|didn't (respond|finish)", re.I)

DEFAULT_CODE = "print(6 * 7)"
DEFAULT_EXPECT = "42"


@dataclass
class HubOptions:
    """What to verify on a hub; filled from the CLI options or the stack outputs."""

    url: str
    token: str
    user_prefix: str = "swan-verify"
    profiles: list[str] = field(default_factory=list)  # explicit session options; empty: ask the hub
    gpu_profiles: list[str] = field(default_factory=list)  # options that promise a GPU
    # user options the hub API spawns a named option with (SWAN's spawner reads its form's fields);
    # an option not listed here is sent as a KubeSpawner profile
    session_options: dict[str, dict] = field(default_factory=dict)
    max_sessions: int = 3
    software_paths: list[str] = field(default_factory=list)
    software_imports: list[str] = field(default_factory=list)
    code: str = DEFAULT_CODE
    expect_output: Optional[str] = DEFAULT_EXPECT
    spawn_timeout: float = 300.0
    spawn_retries: int = 2
    check_timeout: float = 60.0
    # course events: a reader of the events open now (stacks.verify.events.read_open_events), and
    # the user options an event session is spawned with (its `gpu` becomes the event's flavour)
    events: Optional[Callable[[], list]] = None
    event_options: dict = field(default_factory=dict)


@dataclass
class Session:
    """One session to open: an option of the hub (None = the hub's default) and its test user."""

    profile: Optional[str]
    user: str
    gpu: bool
    options: Optional[dict] = None  # the spawn request's body (None: the hub's default session)
    group: Optional[str] = None  # a course event's group the user joins before spawning
    kernel_id: Optional[str] = None
    promise: Optional["GpuPromise"] = None  # which GPU the flavour promises (None: any GPU)

    @property
    def label(self) -> str:
        return self.profile or "default"


class HubClient:
    """The hub REST API and the users' Jupyter servers, authenticated with one API token."""

    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"
        self.token = token

    def api(self, method: str, path: str, timeout: float = 10.0, **kwargs) -> requests.Response:
        return self.http.request(method, f"{self.url}/hub/api{path}", timeout=timeout, **kwargs)

    def server(self, user: str, method: str, path: str, timeout: float = 10.0, **kwargs) -> requests.Response:
        return self.http.request(method, f"{self.url}/user/{user}{path}", timeout=timeout, **kwargs)

    def kernel_ws_url(self, user: str, kernel_id: str) -> str:
        base = re.sub(r"^http", "ws", self.url)
        return f"{base}/user/{user}/api/kernels/{kernel_id}/channels"


def _message(resp: requests.Response) -> str:
    """The hub's own words for an error response (its JSON `message`), else the start of the body."""
    try:
        body = resp.json()
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return resp.text.strip()[:200] or resp.reason


class _ProfileForm(HTMLParser):
    """Collects the session options of a hub options form: inputs or selects named `profile`."""

    def __init__(self) -> None:
        super().__init__()
        self.slugs: list[str] = []
        self._in_profile_select = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") == "profile" and a.get("value"):
            self.slugs.append(a["value"])
        elif tag == "select":
            self._in_profile_select = a.get("name") == "profile"
        elif tag == "option" and self._in_profile_select and a.get("value"):
            self.slugs.append(a["value"])

    def handle_endtag(self, tag):
        if tag == "select":
            self._in_profile_select = False


def profiles_in_form(html: str) -> list[str]:
    """Session option slugs offered by a hub's spawn form, in order, without duplicates."""
    parser = _ProfileForm()
    parser.feed(html)
    return list(dict.fromkeys(parser.slugs))


@dataclass(frozen=True)
class GpuPromise:
    """What a GPU flavour promises the session sees: a MIG device (of `profile`, e.g. `1g.5gb`, or of
    `memory_gb`), an MPS client's share of a GPU, or a GPU (whole or time-sliced)."""

    mode: str  # mig, mps or gpu
    profile: Optional[str] = None
    memory_gb: Optional[str] = None

    @classmethod
    def of_flavour(cls, flavour: Optional[str]) -> Optional["GpuPromise"]:
        """From the names SWAN's spawner and swan-iac's hub code give flavours (stacks/platform_layer/
        gpu_flavours.py): `<model> partition (5 GB)`, `<model> shared by 4, MPS (3.8 GB)`, `<model> (15 GB)`."""
        if not flavour:
            return None
        if ", MPS (" in flavour:
            return cls("mps")
        found = re.search(r" partition \((\d+) GB\)$", flavour)
        return cls("mig", memory_gb=found.group(1)) if found else cls("gpu")

    @classmethod
    def of_event(cls, resource: str, sharing: str) -> "GpuPromise":
        if resource.startswith("nvidia.com/mig-"):
            return cls("mig", profile=resource.removeprefix("nvidia.com/mig-"))
        return cls("mps") if sharing == "mps" else cls("gpu")

    def problem(self, found: dict) -> Optional[str]:
        """Why what the session sees (`gpu_probe` output) is not what was promised, or None."""
        mig = [g for g in found["gpus"] if g.strip().startswith("MIG ")]
        if self.mode == "mig":
            want = self.profile or f".{self.memory_gb}gb"
            if not any(want in g.split("Device")[0] for g in mig):
                return f"no MIG {self.profile or f'device of {self.memory_gb} GB'} among the devices it sees"
        elif mig:
            return f"a MIG device where a {'shared' if self.mode == 'mps' else 'whole'} GPU was promised"
        if self.mode == "mps" and not found.get("mps_pipe"):
            return ("not an MPS client: CUDA_MPS_PIPE_DIRECTORY is unset or missing, so the MPS daemon's "
                    "memory and compute limits do not apply")
        return None


def is_gpu_profile(slug: Optional[str], gpu_profiles: list[str]) -> bool:
    """A session option promises a GPU when declared so, or when its name says `gpu`."""
    return slug is not None and (slug in gpu_profiles or "gpu" in slug.lower())


@dataclass
class ExecResult:
    stdout: str
    error: Optional[str]  # "Name: value" of a raised exception


def execute(client: HubClient, user: str, kernel_id: str, code: str, timeout: float) -> ExecResult:
    """Run `code` in a kernel over the Jupyter websocket and read back what it printed."""
    import websocket  # websocket-client, imported here to keep the CLI fast to start

    session_id = uuid.uuid4().hex
    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "username": user, "session": session_id,
                   "msg_type": "execute_request", "version": "5.3",
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }
    end = time.monotonic() + timeout
    ws = websocket.create_connection(
        client.kernel_ws_url(user, kernel_id) + f"?session_id={session_id}",
        header=[f"Authorization: token {client.token}"],
        timeout=max(1.0, timeout),
    )
    try:
        ws.send(json.dumps(request))
        out: list[str] = []
        error = None
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise CheckFailed(f"kernel did not finish running the code within {timeout:g}s")
            ws.settimeout(left)
            raw = ws.recv()
            if not isinstance(raw, str):
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if kind == "stream":
                out.append(content.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                out.append(content.get("data", {}).get("text/plain", "") + "\n")
            elif kind == "error":
                error = f"{content.get('ename')}: {content.get('evalue')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                return ExecResult("".join(out), error)
    finally:
        ws.close()


class HubVerification:
    """The hub checks for one run, and the cleanup that removes every test user it created."""

    def __init__(self, opts: HubOptions, group: str = "hub"):
        self.opts = opts
        self.group = group
        self.client = HubClient(opts.url, opts.token)
        self.run_id = secrets.token_hex(3)
        self.created: set[str] = set()
        self.created_groups: set[str] = set()  # event groups that did not exist before this run
        self._lock = threading.Lock()
        self.sessions: list[Session] = []
        self.cleaned = False

    # -- planning ---------------------------------------------------------------------------
    def _user(self, index: int) -> str:
        return f"{self.opts.user_prefix}-{self.run_id}-{index}"

    def _create_user(self, name: str) -> None:
        resp = self.client.api("POST", f"/users/{name}")
        if resp.status_code == 409:  # already there: ours from discovery
            with self._lock:
                self.created.add(name)
            return
        if resp.status_code >= 400:
            raise CheckFailed(f"could not create test user {name}: {resp.status_code} {_message(resp)}")
        with self._lock:
            self.created.add(name)

    def discover_profiles(self) -> list[str]:
        """Session options from the hub's spawn form for a fresh test user ([] if none offered).

        Only hubs that serve HTML pages to API tokens answer this (JupyterHub >= 4.1 sends a
        token to the login page instead, so there the options come from --profile or the
        stack's `verify.profiles`). On an old hub without a form the request starts the
        default session; hub.spawn then just waits for it. Any error leaves the default session.
        """
        try:
            self._create_user(self._user(0))
            resp = self.client.http.get(f"{self.client.url}/hub/spawn/{self._user(0)}",
                                        allow_redirects=False, timeout=10)
        except (requests.RequestException, CheckFailed):
            return []
        if resp.status_code != 200:
            return []
        return profiles_in_form(resp.text)

    def plan(self) -> list[Check]:
        """The hub checks, one set per session option up to `max_sessions`."""
        slugs = list(self.opts.profiles) or self.discover_profiles()
        chosen: list[Optional[str]] = list(slugs[: self.opts.max_sessions]) or [None]
        self.sessions = [Session(p, self._user(i), is_gpu_profile(p, self.opts.gpu_profiles) or (
            (self.opts.session_options.get(p) or {}).get("gpu", "none") not in ("none", "")),
            options=self.opts.session_options.get(p) or ({"profile": p} if p else None),
            promise=GpuPromise.of_flavour((self.opts.session_options.get(p) or {}).get("gpu")))
                         for i, p in enumerate(chosen)]
        checks = [Check("hub.health", self.group, self.check_health, timeout=self.opts.check_timeout)]
        if self.opts.events is not None:
            checks.append(self._plan_events())
        for s in self.sessions:
            name = (lambda what: f"hub.{what}") if s.profile is None else (lambda what, s=s: f"hub.{what}[{s.profile}]")
            checks += [
                Check(name("spawn"), self.group, lambda d, s=s: self.check_spawn(s, d),
                      timeout=self.opts.spawn_timeout, retries=self.opts.spawn_retries, backoff=5.0,
                      needs=("hub.health",)),
                Check(name("execute"), self.group, lambda d, s=s: self.check_execute(s, d),
                      timeout=self.opts.check_timeout, needs=(name("spawn"),)),
                Check(name("software"), self.group, lambda d, s=s: self.check_software(s, d),
                      timeout=self.opts.check_timeout, needs=(name("execute"),)),
                Check(name("storage"), self.group, lambda d, s=s: self.check_storage(s, d),
                      timeout=self.opts.check_timeout, needs=(name("execute"),)),
                Check(name("gpu"), self.group, lambda d, s=s: self.check_gpu(s, d),
                      timeout=self.opts.check_timeout, needs=(name("execute"),)),
            ]
        checks.append(Check("hub.cleanup", self.group, self.check_cleanup, timeout=max(120.0, self.opts.check_timeout),
                            always=True, after=tuple(c.name for c in checks)))
        return checks

    def _plan_events(self) -> Check:
        """A session per course event open now; `hub.events` reports what was found."""
        try:
            events = self.opts.events()
        except (CheckFailed, LookupError, OSError, requests.RequestException) as exc:
            problem = f"could not read the course events: {exc}"

            def failed(_deadline):
                raise CheckFailed(problem)
            return Check("hub.events", self.group, failed)
        first = len(self.sessions)
        self.sessions += [Session(f"event:{e.name}", self._user(first + i), gpu=True, group=e.role,
                                  options={**self.opts.event_options, "gpu": e.flavour},
                                  promise=GpuPromise.of_event(e.resource, e.sharing))
                          for i, e in enumerate(events)]

        def found(_deadline):
            if not events:
                raise CheckSkipped("no course event is open now")
            return "open now: " + ", ".join(f"{e.name} (group {e.role}, until {e.closes:%Y-%m-%d %H:%M %Z})"
                                            for e in events)
        return Check("hub.events", self.group, found)

    # -- checks -----------------------------------------------------------------------------
    def check_health(self, deadline: Deadline) -> str:
        try:
            info = self.client.api("GET", "/", timeout=min(10.0, deadline.remaining()))
        except requests.RequestException as exc:
            raise CheckFailed(f"hub API at {self.client.url}/hub/api does not answer: {exc}") from None
        if info.status_code != 200:
            raise CheckFailed(f"hub API answered {info.status_code}: {_message(info)}")
        version = info.json().get("version", "?")
        me = self.client.api("GET", "/user", timeout=min(10.0, deadline.remaining()))
        if me.status_code in (401, 403):
            raise CheckFailed(f"the hub rejected the API token ({me.status_code}: {_message(me)})")
        needed = NEEDED_SCOPES + (EVENT_SCOPES if self.opts.events is not None else ())
        if me.status_code >= 500:
            # SWAN's hub (swanhub) replaces /hub/api/user with a handler that fails for service
            # tokens (it asks a Service for its auth state), so the token's rights are probed.
            return f"JupyterHub {version}, " + self._probe_rights(needed, deadline)
        if me.status_code != 200:
            raise CheckFailed(f"token identity request answered {me.status_code}: {_message(me)}")
        ident = me.json()
        scopes = set(ident.get("scopes", []))
        missing = [s for s in needed if s not in scopes]
        who = f"{ident.get('kind', 'user')} {ident.get('name')}"
        if missing:
            raise CheckFailed(f"token of {who} lacks scopes {', '.join(missing)}")
        return f"JupyterHub {version}, token of {who}"

    def _probe_rights(self, needed: tuple[str, ...], deadline: Deadline) -> str:
        """Whether the token may list users (and groups, for events), where the hub cannot say
        which scopes it has: the listing needs a part of admin:users (admin:groups)."""
        probes = {"admin:users": "/users?limit=1", "admin:groups": "/groups?limit=1"}
        for scope in (s for s in needed if s in probes):
            r = self.client.api("GET", probes[scope], timeout=min(10.0, deadline.remaining()))
            if r.status_code in (401, 403, 404):
                raise CheckFailed(f"the API token may not GET /hub/api{probes[scope]} ({r.status_code}): "
                                  f"it lacks {scope}")
            if r.status_code != 200:
                raise CheckFailed(f"GET /hub/api{probes[scope]} answered {r.status_code}: {_message(r)}")
        return "token accepted (the hub's /hub/api/user failed, so its rights were probed)"

    def check_spawn(self, s: Session, deadline: Deadline) -> str:
        started = time.monotonic()
        self.request_session(s, deadline)
        self._wait_ready(s, deadline)
        return f"session '{s.label}' for {s.user} ready in {time.monotonic() - started:.1f}s"

    def request_session(self, s: Session, deadline: Deadline) -> None:
        """Ask the hub for the session, as its test user (a member of the event's group, if any)."""
        self._create_user(s.user)
        if s.group:
            self._join_group(s)
        resp = self.client.api("POST", f"/users/{s.user}/server", json=s.options or {},
                               timeout=min(60.0, max(1.0, deadline.remaining())))
        if resp.status_code >= 400 and "already running" not in _message(resp):
            self._raise_spawn_failure(s, self._failure_reason(s) or f"{resp.status_code} {_message(resp)}")

    def _join_group(self, s: Session) -> None:
        """Make the test user a member of a course event's group (created if missing, and then
        removed again by the cleanup)."""
        resp = self.client.api("POST", f"/groups/{s.group}")
        if resp.status_code == 201:
            with self._lock:
                self.created_groups.add(s.group)
        elif resp.status_code != 409:  # 409: the group exists (members from the dummy login)
            raise CheckFailed(f"could not create the event's group {s.group}: {resp.status_code} {_message(resp)}")
        resp = self.client.api("POST", f"/groups/{s.group}/users", json={"users": [s.user]})
        if resp.status_code >= 400:
            raise CheckFailed(f"could not add {s.user} to the event's group {s.group}: "
                              f"{resp.status_code} {_message(resp)}")

    def _raise_spawn_failure(self, s: Session, why: str) -> None:
        detail = f"session '{s.label}' did not start: {why}"
        if _TIMEOUT_PATTERN.search(why):
            raise Flaky(detail)
        raise CheckFailed(detail)

    def _failure_reason(self, s: Session) -> Optional[str]:
        """The hub keeps the last spawn failure in the progress stream; its API error says only 'error'."""
        try:
            with self.client.api("GET", f"/users/{s.user}/server/progress", stream=True, timeout=(5.0, 5.0)) as resp:
                for line in resp.iter_lines(decode_unicode=True):
                    if line and line.startswith("data:"):
                        event = json.loads(line[5:])
                        if event.get("failed"):
                            return event.get("message")
                        return None
        except (requests.RequestException, ValueError):
            return None
        return None

    def _wait_ready(self, s: Session, deadline: Deadline) -> None:
        """Follow the hub's spawn progress events until the server is ready or has failed."""
        last = "no progress reported"
        while not deadline.expired():
            try:
                with self.client.api("GET", f"/users/{s.user}/server/progress", stream=True,
                                     timeout=(10.0, max(1.0, deadline.remaining()))) as resp:
                    if resp.status_code >= 400:
                        self._raise_spawn_failure(s, f"progress: {resp.status_code} {_message(resp)}")
                    for line in resp.iter_lines(decode_unicode=True):
                        if not line or not line.startswith("data:"):
                            continue
                        event = json.loads(line[5:])
                        last = event.get("message") or last
                        if event.get("ready"):
                            return
                        if event.get("failed"):
                            self._raise_spawn_failure(s, last)
                        if deadline.expired():
                            break
            except requests.RequestException as exc:
                last = f"progress stream: {exc}"
            # the stream ended without a verdict: ask the hub directly
            model = self.client.api("GET", f"/users/{s.user}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            if not server:
                self._raise_spawn_failure(s, last)
            time.sleep(min(1.0, deadline.remaining()))
        raise CheckFailed(f"session '{s.label}' still not ready when the check timed out; last: {last}")

    def _kernel(self, s: Session, deadline: Deadline) -> str:
        if s.kernel_id is None:
            resp = self.client.server(s.user, "POST", "/api/kernels", json={},
                                      timeout=min(30.0, max(1.0, deadline.remaining())))
            if resp.status_code >= 400:
                raise CheckFailed(f"could not start a kernel: {resp.status_code} {_message(resp)}")
            s.kernel_id = resp.json()["id"]
        return s.kernel_id

    def _run(self, s: Session, code: str, deadline: Deadline) -> ExecResult:
        return execute(self.client, s.user, self._kernel(s, deadline), code, max(1.0, deadline.remaining()))

    def check_execute(self, s: Session, deadline: Deadline) -> str:
        result = self._run(s, self.opts.code, deadline)
        if result.error:
            raise CheckFailed(f"code raised {result.error}")
        if self.opts.expect_output is not None and self.opts.expect_output not in result.stdout:
            raise CheckFailed(f"expected output {self.opts.expect_output!r}, got {result.stdout.strip()[:200]!r}")
        first = result.stdout.strip().splitlines()[:1]
        return f"kernel ran the code, output {first[0][:80]!r}" if first else "kernel ran the code"

    def _run_json(self, s: Session, code: str, deadline: Deadline) -> dict:
        result = self._run(s, code, deadline)
        if result.error:
            raise CheckFailed(f"probe code raised {result.error}")
        lines = result.stdout.strip().splitlines()
        if not lines:
            raise CheckFailed("probe code printed nothing")
        return json.loads(lines[-1])

    def check_software(self, s: Session, deadline: Deadline) -> str:
        paths, mods = self.opts.software_paths, self.opts.software_imports
        if not paths and not mods:
            raise CheckSkipped("no software to look for (give --software-path or --software-import)")
        code = (
            "import os, importlib, json\n"
            f"paths, mods = {paths!r}, {mods!r}\n"
            "bad = {}\n"
            "for m in mods:\n"
            "    try:\n"
            "        importlib.import_module(m)\n"
            "    except Exception as e:\n"
            "        bad[m] = f'{type(e).__name__}: {e}'\n"
            "print(json.dumps({'missing': [p for p in paths if not os.path.exists(p)], 'bad': bad}))\n"
        )
        found = self._run_json(s, code, deadline)
        problems = [f"{p} missing" for p in found["missing"]] + [f"import {m}: {e}" for m, e in found["bad"].items()]
        if problems:
            raise CheckFailed("; ".join(problems))
        return f"found {', '.join([*paths, *mods])}"

    def check_storage(self, s: Session, deadline: Deadline) -> str:
        content = secrets.token_hex(16)
        code = (
            "import os, json\n"
            f"p = os.path.join(os.path.expanduser('~'), '.swan-verify-{content[:8]}')\n"
            f"open(p, 'w').write({content!r})\n"
            "back = open(p).read()\n"
            "os.remove(p)\n"
            "print(json.dumps({'path': p, 'back': back}))\n"
        )
        found = self._run_json(s, code, deadline)
        if found["back"] != content:
            raise CheckFailed(f"read back {found['back']!r} from {found['path']}, wrote {content!r}")
        return f"wrote and read back {found['path']}"

    def check_gpu(self, s: Session, deadline: Deadline) -> str:
        if not s.gpu:
            raise CheckSkipped(f"session option '{s.label}' promises no GPU")
        code = (
            "import glob, json, os, shutil, subprocess\n"
            "smi = shutil.which('nvidia-smi')\n"
            "gpus = []\n"
            "if smi:\n"
            "    r = subprocess.run([smi, '-L'], capture_output=True, text=True, timeout=20)\n"
            "    gpus = [l for l in r.stdout.splitlines() if l.startswith(('GPU', '  MIG'))]\n"
            "pipe = os.environ.get('CUDA_MPS_PIPE_DIRECTORY')\n"
            "print(json.dumps({'smi': smi, 'gpus': gpus, 'devs': sorted(glob.glob('/dev/nvidia[0-9]*')),\n"
            "                  'visible': os.environ.get('NVIDIA_VISIBLE_DEVICES'),\n"
            "                  'mps_pipe': pipe if pipe and os.path.isdir(pipe) else None}))\n"
        )
        found = self._run_json(s, code, deadline)
        if found["gpus"]:
            if s.promise and (why := s.promise.problem(found)):
                raise CheckFailed(f"session '{s.label}': {why} ({'; '.join(g.strip() for g in found['gpus'])[:200]})")
            seen = "; ".join(g.strip() for g in found["gpus"])[:300]
            return f"{seen}; MPS client ({found['mps_pipe']})" if found.get("mps_pipe") else seen
        raise CheckFailed(
            f"no GPU visible in session '{s.label}': nvidia-smi {'lists none' if found['smi'] else 'not found'}, "
            f"devices {found['devs'] or 'none'}, NVIDIA_VISIBLE_DEVICES={found['visible']}")

    def check_cleanup(self, deadline: Deadline) -> str:
        with self._lock:
            users = sorted(self.created)
            groups = sorted(self.created_groups)
        if not users and not groups:
            self.cleaned = True
            raise CheckSkipped("no test user was created")
        left = self.cleanup(deadline)
        if left:
            raise CheckFailed(f"could not remove {', '.join(left)}")
        return f"stopped sessions and removed {', '.join(users + [f'group {g}' for g in groups])}"

    # -- cleanup ----------------------------------------------------------------------------
    def cleanup(self, deadline: Optional[Deadline] = None) -> list[str]:
        """Stop the test users' servers and delete the users; returns the users still there.

        Idempotent; the CLI calls it again in a `finally` so Ctrl-C cannot leave users behind.
        """
        deadline = deadline or Deadline(120.0)
        with self._lock:
            users = sorted(self.created)
        left = []
        for user in users:
            while True:
                try:
                    resp = self.client.api("DELETE", f"/users/{user}",
                                           timeout=min(30.0, max(1.0, deadline.remaining())))
                    if resp.status_code in (204, 404):
                        gone = self.client.api("GET", f"/users/{user}").status_code == 404
                        if gone:
                            with self._lock:
                                self.created.discard(user)
                            break
                except requests.RequestException:
                    pass
                if deadline.expired():
                    left.append(user)
                    break
                # a server still stopping or spawning: ask it to stop, then try again
                try:
                    self.client.api("DELETE", f"/users/{user}/server", timeout=10)
                except requests.RequestException:
                    pass
                time.sleep(min(1.0, deadline.remaining()))
        with self._lock:
            groups = sorted(self.created_groups)
        for group in groups:  # only groups this run created; their only members were test users
            try:
                resp = self.client.api("DELETE", f"/groups/{group}", timeout=10)
                if resp.status_code in (204, 404):
                    with self._lock:
                        self.created_groups.discard(group)
                    continue
            except requests.RequestException:
                pass
            left.append(f"group {group}")
        self.cleaned = not left
        return left
