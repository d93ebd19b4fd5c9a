"""The on-call load report in Beacon's API: `GET /api/oncall/load?month=2026-03`, the figures of
/oncall/load/ (incidents/oncall/load.py) as JSON, read only.

The API area may not import oncall, so this module does not mount itself: `oncall.ready()`
registers `build` with the core (incidents/panels.py register_api_routes), and the API calls it
with its kit (incidents/api/common.py KIT: token auth, JSON errors) when it builds /api/.
"""

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from incidents import roles
from incidents.oncall import load
from incidents.oncall.forms import LoadMonthForm


class PersonLoadOut(Schema):
    username: str
    name: str
    active: bool = Field(description="false: the account is deactivated (its month still counts).")
    time_zone: str = Field(description="The person's time zone, in which their nights are counted.")
    pages: int = Field(description="Pages and escalation pages Beacon sent them in the month.")
    night_pages: int = Field(description="Of those, the ones at night in their own time zone.")
    hours_on_call: float = Field(description="Hours on call in the month, from the rotations (this month: so far).")
    incidents_led: int = Field(description="Incidents of which they were made lead during the month.")


class LoadOut(Schema):
    month: str = Field(description="The month, as YYYY-MM.")
    start: str = Field(description="When the month starts (local midnight in the token owner's time zone), ISO 8601.")
    end: str = Field(description="When it ends (exclusive), ISO 8601.")
    night: str = Field(description="The local hours that count as night, e.g. 22:00–06:59.")
    people: list[PersonLoadOut]


def build(kit) -> Router:
    """The on-call load router, made with the API's kit (see the module's docstring)."""
    router = Router(tags=["on call"])

    class LoadFilters(kit.Input):
        month: kit.Text | None = Field(None, description="YYYY-MM, from 2000-01 to this month; empty: this month.")

    @router.get(
        "/oncall/load",
        # A person's token: the counts follow what its owner may see (need-to-know).
        auth=kit.TokenAuth(roles.RESPOND_INCIDENT, integrations=False),
        response={200: LoadOut, **kit.ERRORS},
        url_name="oncall_load",
    )
    def oncall_load(request: HttpRequest, filters: Query[LoadFilters]):
        """Per person, the month's pages, pages at night, hours on call and incidents led, as on
        /oncall/load/. Months are calendar months in the token owner's time zone."""
        kit.unknown_parameters(request, LoadFilters.model_fields)
        user = request.auth.user
        zone = load.zone_of(user)
        form = LoadMonthForm({"month": filters.month or ""}, today=timezone.localdate(timezone.now(), zone))
        if not form.is_valid():
            raise kit.form_errors(form)
        month = load.Month(form.cleaned_data["month"], zone)
        rows = load.month_load(user, month)
        return {
            "month": month.key,
            "start": month.start.astimezone(zone).isoformat(),
            "end": month.end.astimezone(zone).isoformat(),
            "night": load.night_label(),
            "people": [
                {
                    "username": row.user.get_username(),
                    "name": row.name,
                    "active": row.user.is_active,
                    "time_zone": str(row.zone),
                    "pages": row.pages,
                    "night_pages": row.night_pages,
                    "hours_on_call": round(row.hours, 2),
                    "incidents_led": row.led,
                }
                for row in rows
            ],
        }

    return router
