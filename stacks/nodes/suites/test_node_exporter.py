"""node_exporter: Debian's exporter running, serving metrics with the declared collectors."""
SCRAPE = (
    "import sys, urllib.request;"
    "sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}/metrics', timeout=10).read().decode())"
)


def _port(declared) -> int:
    return int(declared["node_exporter_listen_address"].rsplit(":", 1)[1])


def test_service_running(host):
    service = host.service("prometheus-node-exporter")
    assert service.is_running
    assert service.is_enabled


def test_listening(host, declared):
    assert host.socket(f"tcp://{_port(declared)}").is_listening


def test_metrics_with_declared_collectors(host, declared):
    metrics = host.check_output("python3 -c %s", SCRAPE.format(port=_port(declared)))
    assert "node_exporter_build_info" in metrics
    for collector in declared["node_exporter_collectors_enabled"]:
        assert f'node_scrape_collector_success{{collector="{collector}"}} 1' in metrics
    for collector in declared["node_exporter_collectors_disabled"]:
        assert f'collector="{collector}"' not in metrics
