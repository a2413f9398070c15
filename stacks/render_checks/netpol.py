"""A NetworkPolicy evaluator (networking.k8s.io/v1 semantics) and the flows SWAN depends on.

NetworkPolicies from several owners (the JupyterHub chart's own, the platform's deny-all for
user sessions) combine in ways nobody reads off the YAML: a connection needs the egress side of
its source AND the ingress side of its destination, each allowed by at least one policy that
selects that pod (or by no policy selecting it at all). This module answers "would this
connection work?" from the rendered policies, so the flows that must work and must not work
are tested offline.

Simplifications, as in practice: ipBlock peers match only addresses (never pods, whose IPs are
not known); an address is outside the cluster, so it has no ingress side.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple, Sequence, Union

from stacks.render_checks.labels import selector_matches
from stacks.render_checks.objects import RenderObject, pod_template

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server


@dataclass(frozen=True)
class Pod:
    """A pod as policies see it: namespace, labels and named container ports
    (name -> (port, protocol)), which named ports in policies resolve against."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    name: str = ""

    def __str__(self) -> str:
        return self.name or f"pod {dict(self.labels)} in {self.namespace}"


@dataclass(frozen=True)
class Address:
    """An IP address outside the pod network (API server, cloud metadata, the internet)."""

    ip: str
    name: str = ""

    def __str__(self) -> str:
        return self.name or self.ip


Endpoint = Union[Pod, Address]


class _Policy(NamedTuple):
    id: str          # namespace/name, for messages
    namespace: str
    spec: dict

    @property
    def types(self) -> list[str]:
        """policyTypes, defaulted as the API server does: Ingress always, Egress if it has egress rules."""
        return self.spec.get("policyTypes") or ["Ingress"] + (["Egress"] if self.spec.get("egress") else [])


def _policies(policies: Iterable[RenderObject | dict]) -> list[_Policy]:
    """The NetworkPolicies among render objects or plain manifests (other kinds are ignored)."""
    found = []
    for p in policies:
        obj = p.obj if isinstance(p, RenderObject) else p
        if obj.get("kind") == "NetworkPolicy":
            meta = obj.get("metadata") or {}
            namespace = meta.get("namespace") or "default"
            found.append(_Policy(f"{namespace}/{meta.get('name')}", namespace, obj.get("spec") or {}))
    return found


def _peer_matches(peer: dict, policy_namespace: str, other: Endpoint, namespace_labels: Mapping[str, dict]) -> bool:
    """One `to`/`from` entry: an ipBlock (addresses only), or pods chosen by podSelector (in the
    policy's namespace), namespaceSelector (any pod there), or both (those pods there)."""
    if "ipBlock" in peer:
        if not isinstance(other, Address):
            return False
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return (ip in ipaddress.ip_network(block["cidr"], strict=False)
                and not any(ip in ipaddress.ip_network(e, strict=False) for e in block.get("except") or []))
    if not isinstance(other, Pod):
        return False
    namespaces, pods = peer.get("namespaceSelector"), peer.get("podSelector")
    if namespaces is None and pods is None:
        return False
    if namespaces is None:
        in_namespace = other.namespace == policy_namespace
    else:
        labels = {**namespace_labels.get(other.namespace, {}), NAMESPACE_NAME_LABEL: other.namespace}
        in_namespace = selector_matches(namespaces, labels)
    return in_namespace and (pods is None or selector_matches(pods, other.labels))


def _port_matches(entry: dict, port: int, protocol: str, dst: Endpoint) -> bool:
    """One `ports` entry: protocol (default TCP), no port (all), a number (to endPort), or a name
    resolved against the destination pod's container ports."""
    if (entry.get("protocol") or "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return isinstance(dst, Pod) and tuple(dst.ports.get(wanted, ())) == (port, protocol)
    return wanted <= port <= (entry.get("endPort") or wanted)


class Side(NamedTuple):
    allowed: bool
    reason: str


def _side(direction: str, policies: list[_Policy], pod: Pod, other: Endpoint, dst: Endpoint,
          port: int, protocol: str, namespace_labels: Mapping[str, dict]) -> Side:
    """One side of a connection: the egress of `pod` towards `other`, or the ingress of `pod` from
    `other` (`dst` is where named ports resolve). Allowed when no policy of that type selects the
    pod, or when a rule of one of those policies allows the peer and the port."""
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    selecting = [p for p in policies if p.namespace == pod.namespace and direction in p.types
                 and selector_matches(p.spec.get("podSelector"), pod.labels)]
    if not selecting:
        return Side(True, f"no {direction} policy selects {pod}")
    for policy in selecting:
        for rule in policy.spec.get(rules_key) or []:
            peers, ports = rule.get(peers_key), rule.get("ports")
            if ((not peers or any(_peer_matches(peer, policy.namespace, other, namespace_labels) for peer in peers))
                    and (not ports or any(_port_matches(entry, port, protocol, dst) for entry in ports))):
                return Side(True, f"{direction} of {pod} allowed by {policy.id}")
    return Side(False, f"{direction} of {pod} blocked: no rule of {', '.join(p.id for p in selecting)} allows it")


class Verdict(NamedTuple):
    egress: Side   # may the source send?
    ingress: Side  # may the destination receive?

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed


def explain(policies: Iterable[RenderObject | dict], namespace_labels: Mapping[str, dict], src: Endpoint,
            dst: Endpoint, port: int, protocol: str = "TCP") -> Verdict:
    """Whether src may open a connection to dst:port/protocol, and why, side by side."""
    found = _policies(policies)
    egress = (_side("Egress", found, src, dst, dst, port, protocol, namespace_labels) if isinstance(src, Pod)
              else Side(True, f"{src} is outside the cluster (no egress policy)"))
    ingress = (_side("Ingress", found, dst, src, dst, port, protocol, namespace_labels) if isinstance(dst, Pod)
               else Side(True, f"{dst} is outside the cluster (no ingress policy)"))
    return Verdict(egress, ingress)


def allowed(policies: Iterable[RenderObject | dict], namespace_labels: Mapping[str, dict], src: Endpoint,
            dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """Whether the policies let src open a connection to dst:port/protocol. `namespace_labels`
    holds each namespace's labels (kubernetes.io/metadata.name is added automatically)."""
    return explain(policies, namespace_labels, src, dst, port, protocol).allowed


@dataclass(frozen=True)
class Flow:
    """A connection that must work (expected=True) or must not (expected=False)."""

    description: str
    src: Endpoint
    dst: Endpoint
    port: int
    protocol: str = "TCP"
    expected: bool = True


def flow_problems(policies: Iterable[RenderObject | dict], namespace_labels: Mapping[str, dict],
                  flows: Iterable[Flow]) -> list[str]:
    """Every flow whose outcome differs from what is expected, saying which side blocked it or
    which policy allowed it."""
    policies = list(policies)
    problems = []
    for f in flows:
        verdict = explain(policies, namespace_labels, f.src, f.dst, f.port, f.protocol)
        if verdict.allowed == f.expected:
            continue
        what = f"{f.description}: {f.src} -> {f.dst}:{f.port}/{f.protocol}"
        if f.expected:
            why = "; ".join(side.reason for side in verdict if not side.allowed)
            problems.append(f"{what} is blocked but must work: {why}")
        else:
            problems.append(f"{what} is allowed but must not be: {verdict.egress.reason}; {verdict.ingress.reason}")
    return problems


def pod_from_workload(objects: Iterable[RenderObject], kind: str, namespace: str, name: str) -> Pod:
    """The pod a rendered workload runs (its template's labels and named container ports), so that
    flows use the chart's real labels and port names."""
    for o in objects:
        if o.kind == kind and o.namespace == namespace and o.name == name and (pod := pod_template(o)):
            ports = {p["name"]: (p["containerPort"], p.get("protocol") or "TCP")
                     for c in pod.spec.get("containers") or [] for p in c.get("ports") or [] if p.get("name")}
            return Pod(namespace, pod.metadata.get("labels") or {}, ports, name=f"{kind} {namespace}/{name}")
    raise LookupError(f"no {kind} {namespace}/{name} in the render")


DNS_POD = Pod("kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")}, name="kube-dns")
METADATA_ADDRESS = Address("169.254.169.254", "cloud metadata")


def swan_flows(*, hub: Pod, proxy: Pod, session: Pod, other_session: Pod, api_server_cidrs: Sequence[str],
               dns: Pod = DNS_POD, metadata: Address = METADATA_ADDRESS,
               spark_driver_labels: Mapping[str, str] | None = None, spark_executor: Pod | None = None,
               prometheus: Pod | None = None, hub_api_port: int = 8081, hub_metrics_port: int = 8081,
               notebook_port: int = 8888, proxy_api_port: int = 8001, spark_port: int = 7078) -> list[Flow]:
    """The connections a SWAN deployment must allow and must block. Sessions live in their own
    namespace (`session.namespace`); Spark is on when `spark_driver_labels` (the extra labels of a
    driver session) is given. Add a flow by appending one more `Flow` line below."""
    api_servers = [Address(str(ipaddress.ip_network(c, strict=False).network_address), f"API server {c}")
                   for c in api_server_cidrs]
    api_ports = (443, 6443)
    flows = [
        Flow("a session calls the hub API", session, hub, hub_api_port),
        Flow("the proxy forwards to a session", proxy, session, notebook_port),
        Flow("the hub checks a session", hub, session, notebook_port),
        *[Flow("the hub spawns pods through the API server", hub, a, p) for a in api_servers for p in api_ports],
        *[Flow(f"{who.name or who} resolves names", who, dns, 53, proto)
          for who in (hub, session) for proto in ("UDP", "TCP")],
        Flow("a session reads cloud metadata", session, metadata, 80, expected=False),
        *[Flow("a session calls the API server", session, a, p, expected=False)
          for a in api_servers for p in api_ports],
        Flow("a session opens another user's session", session, other_session, notebook_port, expected=False),
        Flow("a session calls the proxy API", session, proxy, proxy_api_port, expected=False),
        Flow("a session calls the hub on another port than its API", session, hub, 8000, expected=False),
    ]
    if prometheus is not None:
        flows.append(Flow("Prometheus scrapes the hub", prometheus, hub, hub_metrics_port))
    if spark_driver_labels is not None:
        driver = Pod(session.namespace, {**session.labels, **spark_driver_labels}, session.ports,
                     "Spark driver session")
        flows += [Flow("a Spark driver creates executors through the API server", driver, a, p)
                  for a in api_servers for p in api_ports]
        if spark_executor is not None:
            flows += [
                Flow("a Spark driver reaches its executors", driver, spark_executor, spark_port),
                Flow("Spark executors reach their driver", spark_executor, driver, spark_port),
                Flow("Spark executors resolve names", spark_executor, dns, 53, "UDP"),
                Flow("Spark executors read cloud metadata", spark_executor, metadata, 80, expected=False),
                *[Flow("Spark executors call the API server", spark_executor, a, p, expected=False)
                  for a in api_servers for p in api_ports],
            ]
    return flows
