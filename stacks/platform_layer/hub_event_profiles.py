"""Hub-side code (shipped verbatim as a `hub.extraConfig` entry): course-event GPU profiles.

Event stacks cannot edit the environment's Helm release, so each one publishes its session
profile as a ConfigMap labelled `swan.cern.ch/event-profile=true` in the user namespace. This
snippet makes KubeSpawner's profile list dynamic: a user sees an event's profile only if they
are in the event's group and the event's window is open. Self-contained on purpose: it runs
inside the hub image, where the swan-iac package is not installed.
"""
import datetime
import json

EVENT_PROFILE_LABEL = "swan.cern.ch/event-profile"


def visible_event_profiles(configmaps, user_groups, now):
    """Profiles of the events whose group the user is in and whose window contains `now`."""
    visible = []
    for data in configmaps:
        event = json.loads(data["profile.json"])
        opens = datetime.datetime.fromisoformat(event["opens"])
        closes = datetime.datetime.fromisoformat(event["closes"])
        if event["group"] in user_groups and opens <= now < closes:
            visible.append(event["profile"])
    return sorted(visible, key=lambda p: p["slug"])


if "c" in globals():  # executed by JupyterHub's config loader
    _static_profiles = list(c.KubeSpawner.profile_list or [])  # noqa: F821

    async def _profiles_with_events(spawner):
        listing = await spawner.api.list_namespaced_config_map(
            spawner.namespace, label_selector=f"{EVENT_PROFILE_LABEL}=true")
        groups = {g.name for g in spawner.user.groups}
        now = datetime.datetime.now(datetime.timezone.utc)
        return _static_profiles + visible_event_profiles([cm.data for cm in listing.items], groups, now)

    c.KubeSpawner.profile_list = _profiles_with_events  # noqa: F821
