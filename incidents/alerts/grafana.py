"""Grafana Alerting's webhook contact point, read into the Alertmanager intake's own objects.

Grafana's notifier is an embedded Alertmanager: its payload is Alertmanager's (groupKey,
alerts with fingerprint and startsAt, status firing/resolved) with `version` "1" and a few
fields of its own. So a Grafana delivery is validated here and applied by `intake.receive`
like any other: the same grouping, idempotency, re-open window and mitigation.

What Grafana's own fields do (docs/grafana.md says the same for operators):
- per-alert `status` decides, as with Alertmanager: "firing" opens or joins the group's
  incident, "resolved" resolves that alert, and when every alert of the group is resolved the
  incident is mitigated (a person still resolves it).
- top-level `state` is Grafana's summary of those statuses ("alerting" when any alert fires,
  else "ok"); it decides nothing and is kept with the payload. "No data" and "Error" reach
  Beacon as firing alerts named DatasourceNoData / DatasourceError, and open incidents like
  any other; Grafana never sends pending alerts.
- `orgId` makes the group key Grafana's organisation's own: two organisations sending the same
  policy's groups through one integration never share an incident.
- `title`, `message`, `values`, `valueString`, `silenceURL`, `dashboardURL`, `panelURL` are
  checked for type and kept in the stored payload; the incident's text comes from the labels
  and annotations, as for Alertmanager.
"""

import json
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from incidents.alerts.intake import AlertIn, Payload, PayloadError, parse

# Fields that only Grafana's legacy (pre-9) alerting sent; its payload has no alerts to store.
_LEGACY_FIELDS = ("ruleId", "ruleName", "evalMatches")


class GrafanaAlertIn(AlertIn):
    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""
    # The rule's query and expression results by reference id; null when the rule has none.
    values: dict[str, float | None] | None = None
    valueString: str = ""
    imageURL: str = ""
    orgId: int | None = None


class GrafanaPayload(Payload):
    sender: ClassVar[str] = "Grafana"
    alert_kind: ClassVar[str] = "a Grafana alert"
    shape: ClassVar[str] = "Grafana Alerting webhook, version 1"

    version: Literal["1"]  # type: ignore[assignment]
    orgId: int = Field(ge=0)
    state: str = Field(default="", max_length=100)
    title: str = ""
    message: str = ""
    alerts: list[GrafanaAlertIn] = Field(min_length=1, max_length=10000)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _key_within_the_organisation(self) -> "GrafanaPayload":
        self.groupKey = f"org {self.orgId}/{self.groupKey}"
        return self


def parse_grafana(body: bytes) -> tuple[Payload, dict]:
    """The validated Grafana payload and the cleaned JSON; PayloadError (400/422) otherwise."""
    try:
        return parse(body, GrafanaPayload)
    except PayloadError as error:
        legacy = error.status == 422 and _looks_legacy(body)
        if legacy:
            raise PayloadError(
                "alerts: this is a legacy Grafana alerting notification (ruleId, evalMatches), which "
                "carries no alerts to store; use a Grafana Alerting (version 9 or later) webhook contact point.",
                status=422,
                errors=error.errors,
            ) from None
        raise


def _looks_legacy(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "alerts" not in data and any(name in data for name in _LEGACY_FIELDS)
