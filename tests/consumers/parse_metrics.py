"""Outside judge for `segstream run --metrics`: parses scrapes of /metrics with the
Prometheus project's own OpenMetrics parser (prometheus_client) and prints, per scrape, the
samples as JSON: [[name, {label: value}, value], ...]. A scrape the parser rejects is an error.

usage: parse_metrics.py SCRAPE_FILE...
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def samples(text):
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append([s.name, dict(s.labels), s.value])
    return out


if __name__ == "__main__":
    print(json.dumps([samples(open(path).read()) for path in sys.argv[1:]]))
