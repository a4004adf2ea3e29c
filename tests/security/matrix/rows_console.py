"""The permission matrix's rows for console: the admin site's own pages (start page,
sign-in and out, password change, app indexes, autocomplete), the hive page's inspection
buttons, the live page and its script."""

from __future__ import annotations

from alerts.models import Alert
from sensors.models import SensorLink
from telemetry.models import Calibration
from tests.security.matrix.table import (
    DENIED,
    EMPTY,
    FORBIDDEN,
    FORM_ERROR,
    HIDDEN,
    LIST,
    LOGIN,
    OK,
    REDIRECT,
    SHARED,
    Call,
    Check,
    R,
    Row,
    changed,
    contains,
    created,
    inspection_closed,
    inspection_open_for,
    password_changed_to,
    redirects_to,
)


def logged_out(c: Call) -> None:
    assert c.client.get("/admin/").status_code == 302


def sensor_field_map_set(c: Call) -> None:
    link = SensorLink.objects.get(hive_id=c.ctx["hive"])
    assert link.field_map == {"w": {"metric": "weight", "unit": "kg"}}


def time_zone_is(zone: str) -> Check:
    """The requester's own time zone changed, nobody else's."""

    def check(c: Call) -> None:
        c.user.refresh_from_db()
        assert c.user.time_zone == zone
        others = [u for role, u in c.world.users.items() if u is not None and role != c.role]
        for other in others:
            other.refresh_from_db()
            assert other.time_zone != zone, other

    return check


ROWS: list[Row] = [
    # ---- The live page (HTML, session) and its script -------------------------------------
    # method    path                          alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/static/telemetry/live.js",  OK,       OK,       OK,       OK,           OK,          OK),
    R("GET",    "/hives/{hive}/live",  OK,       HIDDEN,   HIDDEN,   OK,           OK,          LOGIN,
      check=contains("alice-secret hive")),
    # Its "Acknowledge" button: one's own alerts only (members: 403, as for a missing id).
    R("POST",   "/hives/{hive}/live/alerts/{alert}/acknowledge", OK, HIDDEN, HIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
      ok=303, body={}, auth="session", missing=("alert",),
      check=changed(Alert, "alert", status="acknowledged")),

    # ---- The admin: the beekeeper's console ----------------------------------------------
    # method    path                                      alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/admin/",                                OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/login/",                          REDIRECT, REDIRECT, REDIRECT, REDIRECT,     REDIRECT,    OK, location="/admin/"),
    R("POST",   "/admin/login/",                          OK,       OK,       OK,       OK,           OK,          FORM_ERROR, ok=302,
      body={"username": "{email}", "password": "{password}", "next": "/admin/"},
      check=redirects_to("/admin/"),
      note="own credentials; anonymous: alice's email, wrong password"),
    R("POST",   "/admin/logout/",                         OK,       OK,       OK,       OK,           OK,          REDIRECT, ok=200,
      body={}, check=logged_out, location="/admin/"),
    R("GET",    "/admin/password_change/",                OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("POST",   "/admin/password_change/",                OK,       OK,       OK,       OK,           OK,          LOGIN, ok=302,
      body={"old_password": "{password_ok}", "new_password1": "a-new-hive-frame-77",
            "new_password2": "a-new-hive-frame-77"},
      check=password_changed_to("a-new-hive-frame-77")),
    R("GET",    "/admin/time-zone/",                      OK,       OK,       OK,       OK,           OK,          LOGIN,
      check=contains("Your time zone")),
    R("POST",   "/admin/time-zone/",                      OK,       OK,       OK,       OK,           OK,          LOGIN, ok=302,
      body={"time_zone": "Asia/Tokyo"}, check=time_zone_is("Asia/Tokyo")),
    R("GET",    "/admin/password_change/done/",           OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/jsi18n/",                         OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/apiary/",                         OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/alerts/",                         OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/auth/",                           HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/accounts/",                       HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/token_blacklist/",                HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/axes/",                           HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/no-such-page/",                   HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/r/{ct_hive}/{hive}/",             HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    # Autocomplete searches the admin's (scoped) queryset of the related model.
    R("GET",    "/admin/autocomplete/?app_label=apiary&model_name=hive&field_name=apiary",
      LIST, LIST, EMPTY, SHARED, SHARED, LOGIN),
    R("GET",    "/admin/autocomplete/?app_label=apiary&model_name=event&field_name=hive",
      LIST, LIST, EMPTY, SHARED, SHARED, LOGIN),
    R("GET",    "/admin/autocomplete/?app_label=apiary&model_name=queenbee&field_name=mother",
      LIST, LIST, EMPTY, SHARED, SHARED, LOGIN),
    R("GET",    "/admin/autocomplete/?app_label=apiary&model_name=apiary&field_name=owner",
      FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
    # The hive page's inspection buttons: editors and owners (as the API's).
    R("POST",   "/admin/apiary/hive/{hive}/inspection/start/", OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN, ok=302,
      body={}, check=inspection_open_for(minutes=50)),
    R("POST",   "/admin/apiary/hive/{hive}/inspection/stop/",  OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN, ok=302,
      body={}, check=inspection_closed),
    # The hive's sensor settings (linked from "Connect a sensor"): editors and owners, as
    # PATCH /hives/{id}/device.
    R("GET",    "/admin/apiary/apiary/{apiary}/season/",       OK,     HIDDEN,    HIDDEN,    OK,        OK,        LOGIN,
      check=contains("Net weight gain")),
    R("GET",    "/admin/apiary/hive/{hive}/scale/",            OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN,
      check=contains("Tare now")),
    R("POST",   "/admin/apiary/hive/{hive}/scale/tare/",       OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN, ok=302,
      check=created(Calibration, kind="tare")),
    R("POST",   "/admin/apiary/hive/{hive}/scale/calibrate/",  OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN, ok=302,
      body={"known": "20"}, check=created(Calibration, kind="calibrate", multiplier=0.5)),
    R("GET",    "/admin/apiary/hive/{hive}/sensor/",           OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN,
      check=contains("Sensor settings")),
    R("POST",   "/admin/apiary/hive/{hive}/sensor/",           OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN, ok=302,
      body={"field_map": '{"w": "weight"}', "dev_eui": ""}, check=sensor_field_map_set),
]  # fmt: skip
