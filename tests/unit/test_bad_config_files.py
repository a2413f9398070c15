"""Bad stack config files, as data: `swan check` (and `swan render`) refuse each one with exit 2,
the file and key (or line) named, no traceback, and nothing on disk changed.

Each case edits a fixture stack file (tests/fixtures/config) (plain text replacement, so YAML's own reading of the
edit is what is tested) and names the line stderr must hold. Adding a case is one line.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bad_input import Case, assert_refused

CONFIG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "config"
KIND = (CONFIG / "Pulumi.kind.yaml").read_text()
OPENSTACK = (CONFIG / "Pulumi.openstack-prod.yaml").read_text()
T4_SHARED = (CONFIG / "Pulumi.t4-shared.yaml").read_text()
EVENT = (CONFIG / "Pulumi.event-ml-workshop.yaml").read_text()
BAD = "config/Pulumi.bad.yaml"


def edited(text: str, old: str, new: str) -> str:
    assert old in text, f"the fixture stack no longer holds {old!r}: update the case"
    return text.replace(old, new, 1)


def kind(old: str, new: str) -> dict:
    return {BAD: edited(KIND, old, new)}


def after_cloud(extra: str) -> dict:
    """Lines added right after `swan:cloud: kind` (other namespaces may hold anything)."""
    return kind("  swan:cloud: kind\n", "  swan:cloud: kind\n" + extra)


def oidc_secret(secret: str) -> dict:
    return kind("      type: dummy\n", "      type: oidc\n      issuer: https://auth.example.org/realms/x\n"
                "      clientId: swan\n      clientSecret:\n        secure: " + secret + "\n"
                "      callbackUrl: https://swan.example.org/hub/oauth_callback\n")


def check(id: str, files: dict, expect: str) -> Case:
    return Case(id, ["check", "bad"], f"{BAD}: {expect}", files)


CASES = [
    # -- the file itself: encoding, size, YAML structure ------------------------------------------
    check("not UTF-8", {BAD: KIND.encode() + b"# caf\xe9\n"}, "line 68 column 6: not UTF-8 text (byte 0xe9)"),
    check("larger than 1 MiB", {BAD: KIND + "#" * (1 << 20) + "\n"}, "larger than 1024 KiB"),
    check("empty file", {BAD: ""}, "the file is empty"),
    check("YAML syntax error", {BAD: "config:\n  swan:cloud: [kind\n"}, "line 3 column 1: YAML syntax error"),
    check("tab indentation", {BAD: "config:\n\tswan:cloud: kind\n"}, "line 2 column 1: YAML syntax error: found character"),
    check("config is a list", {BAD: "config:\n  - swan:cloud\n"}, "config: missing or not a mapping"),
    check("no config section", {BAD: "swan:cloud: kind\n"}, "config: missing or not a mapping"),
    check("key without namespace", {BAD: "config:\n  cloud: kind\n"}, "cloud: config keys need a namespace"),
    check("namespace typo", kind("  swan:spark:", "  swna:spark:"), "swna:spark: unknown namespace 'swna'; did you mean swan:spark?"),
    check("namespace in capitals", kind("  swan:spark:", "  Swan:spark:"), "Swan:spark: unknown namespace 'Swan'"),
    check("tier not one of the three", after_cloud("  swan:tier: prod\n"),
          "swan:tier: Input should be 'development', 'staging' or 'production'"),
    check("duplicate nested key", kind("    name: swan\n", "    name: swan\n    name: other\n"),
          "swan:kindCluster.name: duplicate key (lines 9 and 10)"),
    check("duplicate top-level key", kind("  swan:monitoring:\n    enabled: false\n",
                                          "  swan:monitoring:\n    enabled: false\n  swan:monitoring:\n    enabled: true\n"),
          "swan:monitoring: duplicate key"),
    check("duplicate key in a list item", kind("        cores: 1\n", "        cores: 1\n        cores: 4\n"),
          "swan:hub.sessions[0].cores: duplicate key"),
    check("alias expansion bomb", after_cloud("  x:a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n  x:b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                              "  x:c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"),
          "line 8 column 12: aliases (*a) are not allowed in this file"),
    check("self-referencing anchor", after_cloud("  x:a: &a [*a]\n"), "line 7 column 12: aliases (*a) are not allowed"),
    check("merge key alias", kind("    cvmfs:\n", "    cvmfs: &c\n      enabled: true\n    cvmfsCopy:\n      <<: *c\n    cvmfs2:\n"),
          "line 50 column 11: aliases (*c) are not allowed"),
    check("nesting bomb", after_cloud("  x:deep: " + "[" * 500 + "]" * 500 + "\n"), "line 7 column 73: nested more than 64 levels deep"),
    # -- values YAML turns into other types ------------------------------------------------------
    check("version 1.30 read as 1.3", kind('"1.31"', "1.30"),
          'swan:kubernetesVersion: YAML reads 1.30 as the number 1.3 (and so does Pulumi); quote it'),
    check("octal tag read as 8", kind("    name: swan\n", "    name: 010\n"), "swan:kindCluster.name: YAML reads 010 as the number 8"),
    check("true as a count", kind("      count: 2\n", "      count: true\n"),
          "swan:nodePools[0].count: YAML reads the unquoted word as the yes/no value true, not a number"),
    check("yes as cores", kind("        cores: 1\n", "        cores: yes\n"), "swan:hub.sessions[0].cores: YAML reads"),
    check("yes as a proxy", kind("httpProxy: DIRECT", "httpProxy: yes"),
          "swan:storage.cvmfs.httpProxy: YAML reads the unquoted word as the yes/no value true, not text"),
    check("bare number as home size", kind("size: 5Gi", "size: 5"), "swan:storage.home.size: '5' has no unit"),
    check("bare number as quota memory", kind("memory: 24Gi", "memory: 24"), "swan:security.quota.memory: '24' has no unit"),
    check("bare number as session memory", kind("memory: 2Gi", "memory: 2"), "swan:hub.sessions[0].memory: '2' is not a whole number of GiB"),
    check("float as pods", kind("pods: 20", "pods: 1e3"), "swan:security.quota.pods: Input should be a valid integer"),
    # -- addresses, ports, durations, schedules ---------------------------------------------------
    check("whole internet by halves", kind("apiServerCidrs: [10.96.0.1/32, 172.16.0.0/12]", "apiServerCidrs: [0.0.0.0/1, 128.0.0.0/1]"),
          "swan:security.apiServerCidrs: 0.0.0.0/1, 128.0.0.0/1 together cover the whole IPv4 internet"),
    check("whole internet at once", kind("apiServerCidrs: [10.96.0.1/32, 172.16.0.0/12]", "apiServerCidrs: [0.0.0.0/0]"),
          "swan:security.apiServerCidrs[0]: '0.0.0.0/0' opens the port to the whole internet"),
    check("IPv6 whole internet by halves", kind("apiServerCidrs: [10.96.0.1/32, 172.16.0.0/12]", "apiServerCidrs: ['::/1', '8000::/1']"),
          "swan:security.apiServerCidrs: ::/1, 8000::/1 together cover the whole IPv6 internet"),
    check("prefix /33", kind("10.96.0.1/32,", "10.96.0.1/33,"), "swan:security.apiServerCidrs[0]: '10.96.0.1/33' is not a CIDR block"),
    check("host bits in a CIDR", kind("172.16.0.0/12", "172.16.0.1/12"), "swan:security.apiServerCidrs[1]: '172.16.0.1/12' is not a CIDR block"),
    check("no API server CIDR", kind("apiServerCidrs: [10.96.0.1/32, 172.16.0.0/12]", "apiServerCidrs: []"),
          "swan:security.apiServerCidrs: List should have at least 1 item"),
    check("metadata address not an IP", kind("    apiServerCidrs:", "    metadataAddress: 169.254.169\n    apiServerCidrs:"),
          "swan:security.metadataAddress: '169.254.169' is not an IP address"),
    check("port clash", kind("httpsPort: 443", "httpsPort: 80"), "swan:kindCluster: httpPort and httpsPort are both 80"),
    check("port zero", kind("httpPort: 80", "httpPort: 0"), "swan:kindCluster.httpPort: Input should be greater than or equal to 1"),
    check("port above 65535", kind("httpPort: 80", "httpPort: 70000"), "swan:kindCluster.httpPort: Input should be less than or equal to 65535"),
    check("duration overflow", kind("timeout: 4h", "timeout: 99999999999999999999h"), "swan:hub.culling.timeout: '99999999999999999999h' is longer than 365 days"),
    check("zero duration", kind("timeout: 4h", "timeout: 0m"), "swan:hub.culling.timeout: '0m' is zero; this duration must be positive"),
    check("duration without unit", kind("timeout: 4h", "timeout: 240"), "swan:hub.culling.timeout: '240' is not a duration"),
    check("culling checks less often than it culls", kind("timeout: 4h", "timeout: 4h\n      every: 5h"),
          "swan:hub.culling: every 5h is longer than the shortest idle timeout (1h)"),
    check("cron minute 61", kind('"30 3 * * *"', '"61 3 * * *"'), "swan:verification.schedule: '61 3 * * *': minute '61' is outside 0-59"),
    check("cron with four fields", kind('"30 3 * * *"', '"30 3 * *"'), "swan:verification.schedule: '30 3 * *' is not a cron schedule"),
    check("cron step zero", kind('"30 3 * * *"', '"*/0 3 * * *"'), "swan:verification.schedule: '*/0 3 * * *': minute '*/0' is not a cron field"),
    check("cron weekday name typo", kind('"30 3 * * *"', '"30 3 * * mon-fry"'), "swan:verification.schedule: '30 3 * * mon-fry': day of week 'mon-fry' is not a cron field"),
    check("spawn timeout longer than the job", kind('schedule: "30 3 * * *"', 'schedule: "30 3 * * *"\n    spawnTimeout: 2h'),
          "swan:verification: spawnTimeout 2h is not shorter than jobDeadline 1h"),
    check("pushgateway not a URL", kind('schedule: "30 3 * * *"', 'schedule: "30 3 * * *"\n    pushgatewayUrl: pushgateway:9091'),
          "swan:verification.pushgatewayUrl: String should match pattern"),
    check("monitoring staleAfter zero", kind("  swan:monitoring:\n    enabled: false\n",
                                             "  swan:monitoring:\n    enabled: false\n    staleAfter: 0m\n"),
          "swan:monitoring.staleAfter: '0m' is zero; this duration must be positive"),
    check("dashboard without labels", kind("  swan:monitoring:\n    enabled: false\n",
                                           "  swan:monitoring:\n    enabled: false\n    dashboardLabels: {}\n"),
          "swan:monitoring.dashboardLabels: Dictionary should have at least 1 item"),
    # -- secrets -----------------------------------------------------------------------------------
    check("secure value not a ciphertext", oidc_secret("hunter2"), "swan:hub.auth.clientSecret: `secure:` holds no Pulumi ciphertext"),
    check("secure value empty", oidc_secret('""'), "swan:hub.auth.clientSecret: `secure:` holds no Pulumi ciphertext"),
    check("secure value a number", oidc_secret("12345678901234567890"), "swan:hub.auth.clientSecret: `secure:` holds no Pulumi ciphertext"),
    check("plain-text secret", kind("      type: dummy\n", "      type: dummy\n      password: hunter2\n"),
          "swan:hub.auth.password: must be a Pulumi secret"),
    # -- values the model takes but the stack cannot deploy ------------------------------------------
    check("count below minCount", kind("      count: 2\n", "      count: 1\n      minCount: 2\n      maxCount: 3\n"),
          "swan:nodePools[0]: count 1 is smaller than minCount 2"),
    check("unknown key", kind("  swan:spark:\n    enabled: true", "  swan:spark:\n    enabeld: true"), "swan:spark.enabeld: unknown key"),
    check("kind section on OpenStack", {BAD: edited(OPENSTACK, "swan:cloud: openstack", "swan:cloud: openstack\n  swan:kindCluster: {}")},
          "swan:kindCluster: only valid with cloud: kind (this stack has cloud: openstack)"),
    check("OpenStack API open by halves", {BAD: edited(OPENSTACK, "apiCidrs: [137.138.0.0/16, 188.184.0.0/15]",
                                                       "apiCidrs: [0.0.0.0/1, 128.0.0.0/1]")},
          "swan:openstack.apiCidrs: 0.0.0.0/1, 128.0.0.0/1 together cover the whole IPv4 internet"),
    check("Magnum pod range over the subnet", {BAD: edited(OPENSTACK, "networkCidr: 10.100.0.0/22",
                                                          "networkCidr: 10.100.0.0/22\n    podCidr: 10.100.0.0/16")},
          "swan:openstack.podCidr: 10.100.0.0/16 overlaps networkCidr 10.100.0.0/22"),
    check("Magnum service range over the pods", {BAD: edited(OPENSTACK, "networkCidr: 10.100.0.0/22",
                                                             "networkCidr: 10.100.0.0/22\n    podCidr: 10.254.0.0/16")},
          "swan:openstack.serviceCidr: 10.254.0.0/16 overlaps podCidr 10.254.0.0/16"),
    check("Magnum service range without its DNS address", {BAD: edited(
        OPENSTACK, "networkCidr: 10.100.0.0/22", "networkCidr: 10.100.0.0/22\n    serviceCidr: 10.96.0.0/16")},
          "swan:openstack.serviceCidr: must contain 10.254.0.10, the cluster DNS address Magnum's heat driver fixes"),
    check("static host inside the Magnum pod range", {BAD: edited(
        edited(OPENSTACK, "networkCidr: 10.100.0.0/22", "networkCidr: 10.100.0.0/22\n    podCidr: 10.200.0.0/16"),
        "address: 10.100.3.21", "address: 10.200.3.21")},
          "swan:nodes.static[0].address: 10.200.3.21 is inside openstack.podCidr 10.200.0.0/16"),
    check("DNS server inside the Magnum service range", {BAD: edited(
        OPENSTACK, "dnsNameservers: [137.138.16.5, 137.138.17.5]", "dnsNameservers: [137.138.16.5, 10.254.0.10]")},
          "swan:openstack.dnsNameservers[1]: 10.254.0.10 is inside openstack.serviceCidr 10.254.0.0/16"),
    check("Magnum pod range as a label", {BAD: edited(OPENSTACK, "      kube_tag: v1.31.2",
                                                      "      kube_tag: v1.31.2\n      calico_ipv4pool: 10.100.0.0/16")},
          "swan:openstack.magnumLabels: label 'calico_ipv4pool' is set by SWAN from podCidr"),
    check("DNS server not an IP", {BAD: edited(OPENSTACK, "dnsNameservers: [137.138.16.5, 137.138.17.5]",
                                               "dnsNameservers: [137.138.16.5, dns.cern.ch]")},
          "swan:openstack.dnsNameservers[1]: 'dns.cern.ch' is not an IP address"),
    check("host address neither IP nor name", {BAD: edited(OPENSTACK, "address: 10.100.3.21", "address: 10.100.3.321")},
          "swan:nodes.static[0].address: '10.100.3.321' is neither an IP address nor a DNS host name"),
    check("host port out of range", {BAD: edited(OPENSTACK, "address: 10.100.3.21", "address: 10.100.3.21\n        port: 0")},
          "swan:nodes.static[0].port: Input should be greater than or equal to 1"),
    # -- GPU sharing: what NVIDIA's device plugin would refuse on the nodes ---------------------------
    check("MPS with the mixed MIG strategy", {BAD: edited(T4_SHARED, "    migStrategy: none", "    migStrategy: mixed")},
          "swan:nodePools[2].gpu.sharing.mode: NVIDIA's device plugin refuses MPS with gpu.migStrategy mixed"),
    check("sharing a MIG layout", {BAD: edited(OPENSTACK, "        migConfig: a100-40gb-7x1g.5gb\n      labels:",
                                               "        migConfig: a100-40gb-7x1g.5gb\n        sharing: {mode: time-slicing, "
                                               "replicas: 2}\n      labels:")},
          "swan:nodePools[2].gpu: sharing needs whole GPUs (migConfig all-disabled)"),
    check("more MPS clients than the plugin allows", {BAD: edited(T4_SHARED, "replicas: 4", "replicas: 49")},
          "swan:nodePools[2].gpu.sharing.replicas: Input should be less than or equal to 48"),
    check("one replica", {BAD: edited(T4_SHARED, "replicas: 4", "replicas: 1")},
          "swan:nodePools[2].gpu.sharing.replicas: Input should be greater than or equal to 2"),
    check("unknown sharing mode", {BAD: edited(T4_SHARED, "mode: mps", "mode: vgpu")},
          "swan:nodePools[2].gpu.sharing.mode: Input should be 'mps' or 'time-slicing'"),
    check("sharing a static host's GPUs", {BAD: edited(OPENSTACK, "          migConfig: a100-40gb-7x1g.5gb\n    vmGroups:",
                                                       "          migConfig: all-disabled\n          sharing: {mode: "
                                                       "time-slicing, replicas: 2}\n    vmGroups:")},
          "swan:nodes.static[0].gpu: sharing is for node pools"),
    # -- swan:replace (resources a change may replace) ----------------------------------------------
    check("replace: unknown part", after_cloud("  swan:replace: [cluster, vcn]\n"),
          "swan:replace[1]: String should match pattern"),
    check("replace: a pool that does not exist", {BAD: edited(OPENSTACK, "  swan:nodePools:",
                                                              "  swan:replace: [nodePool:gpu-v100]\n  swan:nodePools:")},
          "swan:replace[0]: no node pool named 'gpu-v100' (pools: cpu, gpu-a100, gpu-t4)"),
    check("replace: listed twice", after_cloud("  swan:replace: [cluster, cluster]\n"), "swan:replace: lists a resource twice"),
    check("replace: true instead of a list", after_cloud("  swan:replace: true\n"), "swan:replace: "),
    # -- the hub database ---------------------------------------------------------------------------
    check("postgresql without host", kind("      backup:\n        keep: 3\n", "      type: postgresql\n      backup:\n"
                                          "        keep: 3\n"), "swan:hub.database: type postgresql needs host"),
    check("plain-text database password", kind("      backup:\n        keep: 3\n",
                                               "      type: postgresql\n      host: 10.0.0.5\n      password: hunter2\n"
                                               "      backup:\n        keep: 3\n"),
          "swan:hub.database.password: must be a Pulumi secret"),
    check("database host by name without cidrs", kind("      backup:\n        keep: 3\n",
                                                      "      type: postgresql\n      host: db.example.org\n"
                                                      "      passwordSecret: {name: db}\n      backup:\n        keep: 3\n"),
          "swan:hub.database: host db.example.org is a DNS name: list its addresses in cidrs"),
    check("sqlite with a password", kind("      backup:\n        keep: 3\n", "      passwordSecret: {name: db}\n"
                                         "      backup:\n        keep: 3\n"),
          "swan:hub.database: password_secret: only for type postgresql"),
    check("keep no backup", kind("        keep: 3\n", "        keep: 0\n"),
          "swan:hub.database.backup.keep: Input should be greater than or equal to 1"),
    check("s3 backup without credentials", kind("        keep: 3\n", "        keep: 3\n        target:\n          type: s3\n"
                                                "          endpoint: https://s3.example.org\n          bucket: swan-backups\n"),
          "swan:hub.database.backup.target.s3.credentialsSecret: required key is missing"),
    # -- event stacks -------------------------------------------------------------------------------
    check("event: duplicate key", {BAD: edited(EVENT, "    participants:", "    participants: 10\n    participants:")},
          "swan:event.participants: duplicate key"),
    check("event: participants true", {BAD: edited(EVENT, "participants: 60", "participants: true")},
          "swan:event.participants: YAML reads the unquoted word as the yes/no value true, not a number"),
    check("event: end before start", {BAD: edited(EVENT, '"2026-12-03T18:00:00+01:00"', '"2026-11-30T18:00:00+01:00"')},
          "swan:event.end:"),
    check("event: unquoted date", {BAD: edited(EVENT, '"2026-12-01T09:00:00+01:00"', "2026-12-01")}, "swan:event.start:"),
    check("event: no environment", {BAD: edited(EVENT, "environments: [openstack-prod]", "environments: []")},
          "swan:event.environments: List should have at least 1 item"),
    check("event: zero participants", {BAD: edited(EVENT, "participants: 60", "participants: 0")},
          "swan:event.participants: Input should be greater than or equal to 1"),
    check("event: duration typo", {BAD: edited(EVENT, "prewarm: 3h ", "prewarm: 3 h")}, "swan:event.prewarm: '3 h' is not a duration"),
    check("event: grace not a duration", {BAD: edited(EVENT, "prewarm: 3h ", "grace: soon\n    prewarm: 3h ")},
          "swan:event.grace: 'soon' is not a duration"),
    check("eventGpus leadTime zero", {BAD: edited(OPENSTACK, "      gpusPerNode: 4\n      maxGpus: 16",
                                                   "      gpusPerNode: 4\n      maxGpus: 16\n      leadTime: 0s")},
          "swan:eventGpus[0].leadTime:"),
    check("event price without currency", {BAD: edited(OPENSTACK, "      maxGpus: 16\n", "      maxGpus: 16\n      pricePerGpuHour: 2.5\n")},
          "swan:eventGpus[0]: pricePerGpuHour needs currency (e.g. CHF or EUR)"),
    check("event price currency not ISO", {BAD: edited(OPENSTACK, "      maxGpus: 16\n", "      maxGpus: 16\n      pricePerGpuHour: 2.5\n      currency: chf\n")},
          "swan:eventGpus[0].currency:"),
    check("event price negative", {BAD: edited(OPENSTACK, "      maxGpus: 16\n", "      maxGpus: 16\n      pricePerGpuHour: -1\n      currency: CHF\n")},
          "swan:eventGpus[0].pricePerGpuHour: Input should be greater than or equal to 0"),
    check("event: placeholders yes", {BAD: edited(EVENT, "placeholders: 0.5", "placeholders: yes")},
          "swan:event.placeholders: YAML reads the unquoted word as the yes/no value true, not a number"),
    check("event: placeholder share 50", {BAD: edited(EVENT, "placeholders: 0.5", "placeholders: 50.0")},
          "swan:event.placeholders: 50.0 is not a share of the seats"),
]
assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_swan_check_refuses_bad_config(project, case):
    assert_refused(project.root, case)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in (
    "not UTF-8", "duplicate top-level key", "alias expansion bomb", "version 1.30 read as 1.3",
    "whole internet by halves", "secure value not a ciphertext", "namespace typo")], ids=lambda c: c.id)
def test_swan_render_refuses_the_same_files_before_any_work(project, case):
    """`swan render` reads a stack file as `swan check` does: same refusal, and no render folder."""
    stderr = assert_refused(project.root, Case(case.id, ["render", "bad"], case.expect, case.files))
    assert not (project.root / "build").exists(), stderr


def test_every_problem_of_the_file_is_listed_in_one_pass(project):
    """File-level problems (a typo'd namespace, a hand-written secret) come with the model's."""
    text = edited(oidc_secret("hunter2")[BAD], "  swan:spark:", "  swna:spark:")
    text = edited(text, "size: 5Gi", "size: 5")
    (project.root / BAD).write_text(text)
    stderr = assert_refused(project.root, check("three problems", {}, "swna:spark"))
    keys = [line.split(": ")[1] for line in stderr.strip().splitlines()]
    assert keys == ["swan:hub.auth.clientSecret", "swna:spark", "swan:storage.home.size"]  # file order, then the model


def test_numbers_that_read_back_as_written_are_accepted(project):
    """`kubernetesVersion: 1.31` reads as 1.31, so it passes as the text "1.31"."""
    (project.root / BAD).write_text(edited(KIND, '"1.31"', "1.31"))
    from stacks.config.loader import load_stack

    assert load_stack("bad").kubernetes_version == "1.31"
