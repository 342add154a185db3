"""The parts both dashboards are built from, with grafana-foundation-sdk's builders.

Every panel, query and query variable reads the `${datasource}` variable (any Prometheus a Grafana has, picked on
the dashboard), never a fixed datasource uid, so the JSON imports into any Grafana. Links to Prometheus and
Alertmanager go through two constants whose defaults are the local stack's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import (
    AnnotationQuery,
    ConstantVariable,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
PROMETHEUS_URL = "http://127.0.0.1:9090"
ALERTMANAGER_URL = "http://127.0.0.1:9093"
TAG = "driftline"
Panel = timeseries.Panel | stat.Panel | table.Panel


# ---------------------------------------------------------------------------------------------------------- variables


def datasource_variable() -> DatasourceVariable:
    return (DatasourceVariable("datasource").label("Data source").type("prometheus")
            .description("The Prometheus that scrapes Driftline's workers and trainer"))  # fmt: skip


def query_variable(name: str, label: str, query: str, description: str) -> QueryVariable:
    """A multi-value variable over a label's values, all selected by default (`.*`, for `=~` matchers)."""
    return (
        QueryVariable(name).label(label).description(description).datasource(DATASOURCE).query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(model.VariableSort.NATURAL_ASC)
        .multi(True).include_all(True).all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )  # fmt: skip


def url_constants() -> list[ConstantVariable]:
    """Where the links go: the local stack's Prometheus and Alertmanager (edit in Settings → Variables)."""
    return [
        ConstantVariable("prometheus_url").label("Prometheus URL").value(PROMETHEUS_URL),
        ConstantVariable("alertmanager_url").label("Alertmanager URL").value(ALERTMANAGER_URL),
    ]


# -------------------------------------------------------------------------------------------------------------- links


def _link(title: str, url: str, tooltip: str) -> DashboardLink:
    return (DashboardLink(title).type(model.DashboardLinkType.LINK).url(url).tooltip(tooltip)
            .target_blank(True).icon("external link"))  # fmt: skip


def alert_links() -> list[Builder[model.DashboardLink]]:
    """The dashboard's links: the alert rules and their state in Prometheus, Alertmanager, the other dashboards."""
    return [
        _link("Alerts (Prometheus)", "${prometheus_url}/alerts", "Every Driftline alert rule and whether it fires"),
        _link("Alert rules", "${prometheus_url}/rules", "The rules' expressions as Prometheus loaded them"),
        _link("Alertmanager", "${alertmanager_url}/#/alerts", "Alerts as routed: to the trainer's webhook or people"),
        DashboardLink("Driftline dashboards").type(model.DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True)
        .include_vars(True).keep_time(True),
    ]  # fmt: skip


def rule_link(alert: str) -> DashboardLink:
    """A panel's link to the alert rule it mirrors (Prometheus's alerts page, filtered to that rule)."""
    return _link(f"Alert rule {alert}", f"${{prometheus_url}}/alerts?search={alert}", f"{alert} in Prometheus")


# ------------------------------------------------------------------------------------------------------------ queries


def query(expr: str, legend: str = "", *, instant: bool = False) -> Dataquery:
    q = Dataquery().expr(expr).datasource(DATASOURCE).legend_format(legend or "__auto")
    if instant:
        q = q.instant().format(PromQueryFormat.TABLE)
    return q


def annotation(name: str, expr: str, color: str) -> AnnotationQuery:
    return AnnotationQuery().name(name).datasource(DATASOURCE).enable(True).icon_color(color).expr(expr)


# ------------------------------------------------------------------------------------------------------------- panels


@dataclass(frozen=True)
class Step:
    """A threshold step: from `value` up, the panel shows `color` (`value` None: the base colour)."""

    value: float | None
    color: str


def steps(*found: Step) -> ThresholdsConfig:
    return ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(
        [model.Threshold(value=s.value, color=s.color) for s in found]
    )


def above(value: float, color: str = "red") -> ThresholdsConfig:
    """Green, then `color` from `value` up (an alert that fires above a threshold)."""
    return steps(Step(None, "green"), Step(value, color))


def below(value: float) -> ThresholdsConfig:
    """Red, then green from `value` up (an alert that fires below a threshold)."""
    return steps(Step(None, "red"), Step(value, "green"))


def _common(panel: Panel, title: str, description: str, unit: str, width: int, height: int,
            thresholds: ThresholdsConfig | None, alerts: Sequence[str], queries: Sequence[Dataquery]) -> None:
    panel.title(title).description(description).datasource(DATASOURCE).unit(unit).span(width).height(height)
    panel.thresholds(thresholds or steps(Step(None, "green")))
    if alerts:
        panel.links([rule_link(a) for a in alerts])
    for ref, q in zip("ABCDEFGH", queries, strict=False):
        panel.with_target(q.ref_id(ref))


def graph(title: str, description: str, unit: str, *queries: Dataquery, width: int = 12, height: int = 8,
          thresholds: ThresholdsConfig | None = None, alerts: Sequence[str] = (), min_zero: bool = True,
          ) -> timeseries.Panel:  # fmt: skip
    """A time series; thresholds, when given, are drawn as dashed lines and areas."""
    panel = timeseries.Panel().legend(VizLegendOptions().display_mode(LegendDisplayMode.LIST)
                                      .placement(LegendPlacement.BOTTOM).show_legend(True))  # fmt: skip
    _common(panel, title, description, unit, width, height, thresholds, alerts, queries)
    if min_zero:
        panel.min(0)
    if thresholds is not None:
        panel.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED_AND_AREA))
    return panel


def single(title: str, description: str, unit: str, *queries: Dataquery, width: int = 6, height: int = 5,
           thresholds: ThresholdsConfig | None = None, alerts: Sequence[str] = ()) -> stat.Panel:  # fmt: skip
    panel = stat.Panel()
    _common(panel, title, description, unit, width, height, thresholds, alerts, queries)
    return panel


def grid(title: str, description: str, unit: str, *queries: Dataquery, width: int = 12, height: int = 8,
         alerts: Sequence[str] = (), hide: Sequence[str] = ("Time",)) -> table.Panel:  # fmt: skip
    """A table of instant queries' series, one row per series (its labels as columns)."""
    panel = table.Panel()
    _common(panel, title, description, unit, width, height, None, alerts, queries)
    panel.with_transformation(model.DataTransformerConfig(
        id_val="organize", options={"excludeByName": dict.fromkeys(hide, True)}))  # fmt: skip
    return panel


def number_panels(built: model.Dashboard) -> model.Dashboard:
    """Give every panel (rows and their panels too) a distinct id, in layout order."""
    ids = iter(range(1, 10_000))
    for panel in built.panels or []:
        panel.id_val = next(ids)
        for inner in getattr(panel, "panels", None) or []:
            inner.id_val = next(ids)
    return built
