"""The Grafana dashboard: valid dashboard JSON whose every query uses only series the daemon
exports (names taken from a real scrape of a report that fills every series).

The helpers here (a full report, a real scrape, PromQL metric names and selectors, Grafana
variable substitution) are shared with test_prometheus_rules.py and the e2e Prometheus test.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.metrics import Gauges, Metrics, PairGauges
from reconciler.server import Status, StatusServer
from tests.conftest import ROOT

DASHBOARD = ROOT / "deploy/grafana/reconciler-dashboard.json"

# docs/operations.md: the names Grafana and scripts depend on.
CONTRACT = (
    "reconciler_drift",
    "reconciler_drift_seconds",
    "reconciler_promotion_lag_seconds",
    "reconciler_desired_image_info",
    "reconciler_live_image_info",
    "reconciler_gate_passing",
    "reconciler_promotion_pending",
    "reconciler_promotions_total",
    "reconciler_reconcile_duration_seconds",
    "reconciler_reconcile_errors_total",
    "reconciler_last_reconcile_timestamp_seconds",
    "reconciler_policy_valid",
    "reconciler_forge_rate_limit_remaining",
    "reconciler_forge_requests_total",
    "reconciler_blocked",
)
DATASOURCE_UID = "${DS_PROMETHEUS}"
# Grafana's own variables a query may use, with what they become when the test runs a query.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s"}

D_OLD = "sha256:" + "1" * 64
D_NEW = "sha256:" + "2" * 64


def full_report(now: float) -> Gauges:
    """A cycle report in which every per-(app, env) and daemon-wide series has a value."""
    return Gauges(
        envs=(
            PairGauges(
                app="order-gateway",
                env="staging",
                desired_digest=D_NEW,
                live_digest=D_NEW,
                drift=False,
                drift_seconds=0.0,
                lag_seconds=0.0,
            ),
            PairGauges(
                app="order-gateway",
                env="prod",
                desired_digest=D_OLD,
                live_digest=D_NEW,
                drift=True,
                drift_seconds=120.0,
                lag_seconds=600.0,
                pending=True,
                gates=(("soak", False), ("health", True)),
                blocked=("awaiting-review",),
            ),
        ),
        policy_valid=True,
        last_success=now,
        forge_rate_limit_remaining=4321.0,
    )


def exercise(metrics: Metrics) -> None:
    """Give every counter and the cycle histogram a sample, as a few cycles would."""
    metrics.promotions.labels(env="prod", result="opened").inc()
    metrics.errors.labels(component="apply").inc()
    metrics.forge_requests.labels(method="GET", status="200").inc()
    metrics.duration.observe(0.2)


@contextmanager
def serving(metrics: Metrics) -> Iterator[StatusServer]:
    """The daemon's real /metrics endpoint on a free loopback port."""
    server = StatusServer(
        "127.0.0.1:0", metrics, lambda: Status((True, "ok"), (True, "ok"))
    ).start()
    try:
        yield server
    finally:
        server.stop()


def scrape(server: StatusServer) -> str:
    """GET /metrics, as Prometheus would."""
    with urllib.request.urlopen(f"http://{server.address}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def exposed_names(exposition: str) -> set[str]:
    """Sample names in a text exposition (``_bucket``, ``_total``, ``_created`` included)."""
    names = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def daemon_names() -> set[str]:
    """Every sample name the daemon serves, from a real scrape of a report filling them all."""
    metrics = Metrics()
    metrics.publish(full_report(time.time()))
    exercise(metrics)
    with serving(metrics) as server:
        return exposed_names(scrape(server))


# -- PromQL, just enough to find metric names and selectors ----------------------------------

_TOKEN = re.compile(
    r"""
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<braces>\{(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|[^{}"'`])*\})
    | (?P<range>\[[^\]]*\])
    | (?P<number>(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)[a-zA-Z]*)
    | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<space>\s+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_WORDS = {
    *_GROUPING,
    *("and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"),
    *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"),
    *("bottomk", "topk", "quantile"),
}


def selectors(expr: str) -> list[str]:
    """The vector selectors of a PromQL expression: ``name`` or ``name{matchers}``."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    found: list[str] = []
    skip_group = False
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if skip_group:
            skip_group = text != ")"
            continue
        if kind != "name":
            continue
        if text.lower() in _WORDS:
            if text.lower() in _GROUPING and following[1] == "(":
                skip_group = True
            continue
        if following[1] == "(":
            continue  # a function
        found.append(text + (following[1] if following[0] == "braces" else ""))
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    return {s.split("{", 1)[0] for s in selectors(expr)}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("reconciler_drift", {"reconciler_drift"}),
        ('max by (app, env) (reconciler_drift{env=~"prod|x"}) == 1', {"reconciler_drift"}),
        ("sum(rate(a_total[5m])) by (job) / on (job) group_left (env) b", {"a_total", "b"}),
        ('label_replace(x_info, "d", "$1", "digest", "(?:sha256:)?(.{1,12}).*")', {"x_info"}),
        ("histogram_quantile(0.95, sum by (le) (rate(h_bucket[$__rate_interval])))", {"h_bucket"}),
        ("time() - max(ts) > 9e2 and present_over_time(p[10m] offset 4h)", {"ts", "p"}),
        ('absent(up{job="a{b}"}) or vector(0) unless ignoring (le) c', {"up", "c"}),
        ("min by (app) (min_over_time(p[4h])) == 1 and on (app, env) q", {"p", "q"}),
    ],
)
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# -- the dashboard -----------------------------------------------------------------------------


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    """The dashboard JSON."""
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel with queries (rows excluded), collapsed rows' panels included."""
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, refId, PromQL) for every panel target."""
    return [
        (panel["title"], target["refId"], target["expr"])
        for panel in query_panels(dashboard)
        for target in panel["targets"]
    ]


def variable_selectors(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, selector, label) of every ``label_values(selector, label)`` variable."""
    out = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", text.strip())
        assert match, f"variable {variable['name']}: unexpected query {text!r}"
        out.append((variable["name"], match.group(1), match.group(2)))
    return out


def substitute(expr: str, dashboard: dict[str, Any], **builtins: str) -> str:
    """The query Grafana would send with every variable at its default (All for multi)."""
    values = {**GRAFANA_BUILTINS, **builtins}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            values[variable["name"]] = variable["allValue"]
        elif variable["type"] in ("textbox", "custom", "constant"):
            values[variable["name"]] = variable["query"]

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.isdigit():
            return match.group()  # a label_replace reference such as $1
        if name not in values:
            raise AssertionError(f"{expr!r} uses ${name}, which the dashboard does not define")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def test_dashboard_is_grafana_dashboard_json() -> None:
    dashboard = load_dashboard()
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["schemaVersion"] >= 36  # datasource refs as {type, uid}
    assert dashboard["uid"]
    assert dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("app", "env"):
        assert variables[name]["datasource"]["uid"] == DATASOURCE_UID
    ids = [p["id"] for p in dashboard["panels"]] + [
        p["id"] for row in dashboard["panels"] for p in row.get("panels", [])
    ]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    panels = query_panels(dashboard)
    assert panels
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, title
        assert panel["targets"], f"{title}: no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{title}: duplicate refId"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, title
            assert target["expr"].strip(), title
        # Table transformations name the query columns "Value #<refId>".
        named = re.findall(r"Value #(\w+)", json.dumps(panel.get("transformations", [])))
        assert set(named) <= set(refs), f"{title}: transformations name unknown queries"


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in load_dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_every_query_reads_only_series_the_daemon_exports() -> None:
    dashboard = load_dashboard()
    exported = daemon_names()
    queries = [(f"{t} [{r}]", e) for t, r, e in panel_queries(dashboard)]
    queries += [(f"variable {n}", s) for n, s, _ in variable_selectors(dashboard)]
    for where, expr in queries:
        names = metric_names(substitute(expr, dashboard))
        assert names, f"{where}: {expr!r} reads no series"
        assert names <= exported, f"{where}: {sorted(names - exported)} are not exported"


def test_the_dashboard_shows_every_contract_series() -> None:
    used = set()
    for _, _, expr in panel_queries(load_dashboard()):
        used |= metric_names(expr)
    exported = daemon_names()
    for name in CONTRACT:
        assert any(n == name or n.startswith(name + "_") for n in exported), (
            f"{name} is in the metrics contract but the daemon's scrape lacks it"
        )
        assert any(n == name or n.startswith(name + "_") for n in used), f"no panel shows {name}"


def test_every_variable_a_query_uses_is_defined() -> None:
    dashboard = load_dashboard()
    for title, ref, expr in panel_queries(dashboard):
        substituted = substitute(expr, dashboard)
        assert not re.search(r"\$[A-Za-z_]", substituted), f"{title} [{ref}]: {substituted}"
