"""Pre-warm on an event's nodes, as plain manifests (pure, no Pulumi).

Sixty participants clicking start together on fresh event nodes would each wait for the
multi-GB user image. So every event node pulls it before anyone asks, and the event may ask for
placeholder pods that hold a share of its seats until sessions take them.

- **Which image**: the one SWAN's spawner starts for an event session. `SwanKubeSpawner.start`
  (swanspawner 1.2.48) keeps the image Zero-to-JupyterHub configures from `singleuser.image`
  (`hub.userImage`) and swaps it only for a CentOS 7 platform (`centos7_image`) or an Acc-Py custom
  environment (`accpy`); the stack configures neither and its form offers no custom environments.
  A GPU session needs a CUDA release, but CUDA comes from CVMFS (the LCG view), not from another
  image. So an event session runs `hub.userImage`, whatever release or platform is picked.
- **Where**: a namespace of the event's own (`swan-event-<name>`, Pod Security `restricted`), not the
  user namespace. There, the environment's quota counts every pod without a PriorityClass (a puller
  pod per node would take session pods), its LimitRange would give every container of the puller a
  default request, and SWAN's free-GPU count reads pods labelled `gpu` in its namespace and expects a
  `notebook` container. Nothing of that applies here, and `pulumi destroy` removes it all with the
  namespace. Neither kind of pod needs the network (the kubelet pulls), so no NetworkPolicy opens any.
- **Puller**: a DaemonSet selecting the event's nodes exactly as its sessions do (the event label)
  and tolerating their taints; an init container per image exits at once (the pull is the point),
  a pause container keeps the pod so that a node added or replaced later pulls too (the pattern of
  Zero-to-JupyterHub's image puller). Its pods request nothing and have the default priority (0),
  which event sessions (0) cannot preempt.
- **Placeholders**: a Deployment of pause pods requesting what a session requests (its GPU resource,
  cores and memory as the hub sets them from the event's ConfigMap), on the event's nodes, with a
  PriorityClass below the sessions' (`swan-event-<name>-placeholder`, -10 as Zero-to-JupyterHub's
  user placeholders). The sessions' PriorityClass may preempt lower priorities (objects.priority_class),
  so a session that finds no free seat evicts a placeholder and takes its seat. The event's quota
  is scoped to the sessions' PriorityClass in the user namespace: placeholders are in neither. They
  exist for the event stack's life (from `pulumi up` before `ready_by` to `pulumi destroy` after the end):
  an evicted placeholder is recreated and waits, Pending, until a session ends and frees a seat,
  which it then holds for the next participant.
- `pulumi up` does not wait for either (`pulumi.com/skipAwait`): pulls on nodes still joining outlast
  the provider's await, and evicted placeholders stay Pending by design. That the image is on the
  nodes shows in the puller's ready pods (`kubectl -n swan-event-<name> get daemonset`).
"""
from __future__ import annotations

from stacks.config.event_model import Event
from stacks.config.model import EnvironmentConfig
from stacks.events.objects import EVENT_LABEL, event_document, object_name
from stacks.events.plan import SessionGpus
from stacks.infra.pools import PAUSE_IMAGE
from stacks.platform_layer.k8s import meta
from stacks.platform_layer.namespaces import psa_labels

COMPONENT = "app.kubernetes.io/component"
# `pulumi up` must not wait for these: pulls of a multi-GB image on nodes still joining outlast the provider's
# await (10 minutes for a Deployment), and placeholders whose seats sessions took stay Pending by design
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
NOBODY = 65534  # nobody: neither container needs a user of the image
PLACEHOLDER_PRIORITY = -10  # below the sessions' 0: what Zero-to-JupyterHub gives its user placeholders
POD_SECURITY = "restricted"  # the puller and the placeholders meet it; so the namespace enforces it
# Pod and container settings the `restricted` Pod Security level asks for.
POD_SECURITY_CONTEXT = {"runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY,
                        "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY_CONTEXT = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                              "capabilities": {"drop": ["ALL"]}}


def namespace_name(event: Event) -> str:
    return object_name(event)


def puller_name(event: Event) -> str:
    return f"{object_name(event)}-image-puller"


def placeholders_name(event: Event) -> str:
    return f"{object_name(event)}-placeholders"


def placeholder_priority_name(event: Event) -> str:
    return f"{object_name(event)}-placeholder"


def session_images(environment: EnvironmentConfig) -> list[str]:
    """The image(s) the environment's hub starts for an event session (see the module's docstring)."""
    image = environment.hub.user_image
    return [f"{image.name}:{image.tag}"]


def namespace(event: Event) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": meta(namespace_name(event), labels={**psa_labels(POD_SECURITY), EVENT_LABEL: event.name})}


def _on_event_nodes(event: Event, gpus: SessionGpus) -> dict:
    """The node selector and tolerations the hub gives the event's sessions: the same nodes."""
    document = event_document(event, gpus)
    return {"nodeSelector": document["nodeSelector"], "tolerations": document["tolerations"]}


def _pod_basics() -> dict:
    return {"terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False, "enableServiceLinks": False,
            "securityContext": POD_SECURITY_CONTEXT}


def _pause(resources: dict | None = None) -> dict:
    return {"name": "pause", "image": PAUSE_IMAGE, "securityContext": CONTAINER_SECURITY_CONTEXT,
            **({"resources": resources} if resources else {})}


def image_puller(event: Event, gpus: SessionGpus, images: list[str]) -> dict:
    """The DaemonSet that pulls `images` on every node of the event (in one environment's cluster)."""
    selector = {EVENT_LABEL: event.name, COMPONENT: "image-puller"}
    pulls = [{"name": f"pull-{i}", "image": image, "imagePullPolicy": "IfNotPresent",
              # the image's own shell, as Zero-to-JupyterHub's puller does: exits at once, the image now on the node
              "command": ["/bin/sh", "-c", "echo pulled"], "securityContext": CONTAINER_SECURITY_CONTEXT}
             for i, image in enumerate(images)]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(puller_name(event), namespace_name(event), labels=selector, annotations=SKIP_AWAIT),
        "spec": {
            "selector": {"matchLabels": selector},
            # a new image is pulled on every node at once: the pods only pull
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
            "template": {
                "metadata": {"labels": selector},
                "spec": {**_pod_basics(), **_on_event_nodes(event, gpus), "initContainers": pulls,
                         "containers": [_pause()]},
            },
        },
    }


def placeholder_priority_class(event: Event) -> dict:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": meta(placeholder_priority_name(event), labels={EVENT_LABEL: event.name}),
        "value": PLACEHOLDER_PRIORITY,
        "globalDefault": False,
        "preemptionPolicy": "Never",
        "description": f"Placeholders of the course event '{event.title}': sessions take their seats.",
    }


def session_resources(event: Event, gpus: SessionGpus) -> dict:
    """What the hub sets on an event session's container (hub_side/swan_iac_hub.py `_gpu`): one of the
    event's GPU resource as request and limit, cores and memory from the event's ConfigMap."""
    document = event_document(event, gpus)
    gpu = {document["resource"]: "1"}
    return {"requests": {**document["requests"], **gpu}, "limits": {**document["limits"], **gpu}}


def placeholders(event: Event, gpus: SessionGpus, replicas: int) -> dict:
    """`replicas` pause pods, each holding one seat of the event (in one environment's cluster)."""
    selector = {EVENT_LABEL: event.name, COMPONENT: "placeholder"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(placeholders_name(event), namespace_name(event), labels=selector, annotations=SKIP_AWAIT),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {**_pod_basics(), **_on_event_nodes(event, gpus),
                         "priorityClassName": placeholder_priority_name(event),
                         "containers": [_pause(session_resources(event, gpus))]},
            },
        },
    }
