"""The permission matrix's rows for alerts: rules, alerts, webhooks, alert settings and
inspection windows, through the API, the admin's model pages and /ws/alerts."""

from __future__ import annotations

from alerts.models import Alert, AlertRule, AlertSettings, Webhook
from tests.security.matrix.table import (
    DENIED,
    EMPTY,
    FORBIDDEN,
    FORM_ERROR,
    GONE,
    HIDDEN,
    LIST,
    LOGIN,
    NEEDS_EDITOR,
    OK,
    REDIRECT,
    REFUSED,
    UNAUTH,
    WS_4401,
    WS_OPEN,
    Call,
    R,
    Row,
    admin_form,
    both,
    changed,
    created_for_requester,
    gone,
    inspection_closed,
    inspection_open_for,
    mentions,
    save_button_for,
    shows,
)


def own_rules_only(c: Call) -> None:
    ids = {rule["id"] for rule in c.json()["results"]}
    assert ids == set(AlertRule.objects.filter(user=c.user).values_list("pk", flat=True))


def rule_created_for_requester(c: Call) -> None:
    assert AlertRule.objects.filter(
        user=c.user, kind="brood_temperature", hive=c.ctx["hive"]
    ).exists()


def email_off_for_requester_only(c: Call) -> None:
    assert list(AlertSettings.objects.filter(email=False).values_list("user", flat=True)) == [
        c.user.pk
    ]


ROWS: list[Row] = [
    # ---- Alerts: rules, alerts, webhooks and settings are each user's own ----------------
    # Rules may name any hive the user has a role in (dave and erin: alice's); alerts and
    # webhooks are the rule's user's alone, whoever else shares the hive.
    # method    path                                   alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/alert-rules",                        OK,       OK,       OK,       OK,           OK,          UNAUTH, check=own_rules_only),
    R("POST",   "/alert-rules",                        OK,       REFUSED,  REFUSED,  OK,           OK,          UNAUTH,
      body={"kind": "brood_temperature", "hive": "{hive}"},
      check=rule_created_for_requester, note="on alice's hive"),
    R("GET",    "/alert-rules/{rule}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=shows("rule")),
    R("PATCH",  "/alert-rules/{rule}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={"enabled": False}, check=changed(AlertRule, "rule", enabled=False)),
    R("DELETE", "/alert-rules/{rule}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=gone(AlertRule, "rule")),
    R("GET",    "/alerts",                             LIST,     LIST,     EMPTY,    EMPTY,        EMPTY,       UNAUTH),
    R("GET",    "/alerts?hive={hive}",                 LIST,     EMPTY,    EMPTY,    EMPTY,        EMPTY,       UNAUTH),
    R("GET",    "/alerts/{alert}",                     OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=shows("alert")),
    R("POST",   "/alerts/{alert}/acknowledge",         OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, ok=200, body={},
      check=changed(Alert, "alert", status="acknowledged")),
    R("GET",    "/webhooks",                           LIST,     LIST,     EMPTY,    EMPTY,        EMPTY,       UNAUTH),
    R("POST",   "/webhooks",                           OK,       OK,       OK,       OK,           OK,          UNAUTH,
      body={"url": "https://93.184.215.14/new-hook"},
      check=created_for_requester(Webhook, url="https://93.184.215.14/new-hook")),
    R("POST",   "/webhooks",                           REFUSED,  REFUSED,  REFUSED,  REFUSED,      REFUSED,     UNAUTH,
      body={"url": "http://127.0.0.1:8000/admin/"}, note="an internal address"),
    R("GET",    "/webhooks/{webhook}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=shows("webhook")),
    R("DELETE", "/webhooks/{webhook}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=gone(Webhook, "webhook")),
    R("GET",    "/webhooks/{webhook}/deliveries",      OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH),
    R("GET",    "/alert-settings",                     OK,       OK,       OK,       OK,           OK,          UNAUTH),
    R("PATCH",  "/alert-settings",                     OK,       OK,       OK,       OK,           OK,          UNAUTH,
      body={"email": False}, check=email_off_for_requester_only),
    R("POST",   "/hives/{hive}/inspection/start",      OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"minutes": 90}, check=inspection_open_for(minutes=80)),
    R("POST",   "/hives/{hive}/inspection/stop",       OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, ok=200, body={},
      check=inspection_closed),
    R("WS",     "/ws/alerts",
      WS_OPEN,  WS_OPEN,  WS_OPEN,  WS_OPEN,  WS_OPEN,  WS_4401),

    # ---- The admin: alerts, rules and webhooks are each user's own ------------------------
    # method    path                                         alice     bob        charlie    dave       erin       anonymous
    R("GET",    "/admin/alerts/alert/",                      LIST,     LIST,      EMPTY,     EMPTY,     EMPTY,     LOGIN),
    R("POST",   "/admin/alerts/alert/",                      OK,       REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN, ok=302,
      body={"action": "acknowledge", "_selected_action": "{alert}", "index": "0"},
      check=changed(Alert, "alert", status="acknowledged"), location="/admin/alerts/alert/",
      note="acknowledge"),
    # The alert page's and the overview's "Acknowledge" button: the requester's own alert only.
    R("POST",   "/admin/alerts/alert/{alert}/acknowledge/",  OK,       HIDDEN,    HIDDEN,    HIDDEN,    HIDDEN,    LOGIN, ok=302,
      body={"next": "/admin/"}, check=changed(Alert, "alert", status="acknowledged")),
    # Alerts are read-only: raised and resolved by the evaluation, acknowledged by the action.
    R("GET",    "/admin/alerts/alert/add/",                  DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("POST",   "/admin/alerts/alert/add/",                  DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN, body={}),
    R("GET",    "/admin/alerts/alert/{alert}/change/",       OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=both(mentions(Alert, "alert"), save_button_for())),
    R("POST",   "/admin/alerts/alert/{alert}/change/",       DENIED,   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
      body={"message": "changed in admin"}),
    R("GET",    "/admin/alerts/alert/{alert}/delete/",       DENIED,   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
    R("POST",   "/admin/alerts/alert/{alert}/delete/",       DENIED,   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
      body={"post": "yes"}),
    R("GET",    "/admin/alerts/alert/{alert}/history/",      OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(Alert, "alert")),
    R("GET",    "/admin/alerts/alert/{alert}/",              REDIRECT, REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
      location="/admin/alerts/alert/{alert}/change/"),
    # Rules: any hive the user has a role in (dave and erin: alice's); kind and scope fixed.
    R("GET",    "/admin/alerts/alertrule/",                  LIST,     LIST,      EMPTY,     EMPTY,     EMPTY,     LOGIN),
    R("POST",   "/admin/alerts/alertrule/",                  OK,       REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN, ok=302,
      body={"action": "delete_selected", "_selected_action": "{rule}", "post": "yes"},
      check=gone(AlertRule, "rule"), location="/admin/alerts/alertrule/", note="delete_selected"),
    R("GET",    "/admin/alerts/alertrule/add/",              OK,       OK,        OK,        OK,        OK,        LOGIN),
    R("POST",   "/admin/alerts/alertrule/add/",              OK,       FORM_ERROR, FORM_ERROR, OK,      OK,        LOGIN, ok=302,
      body=admin_form("/admin/alerts/alertrule/add/", kind="brood_temperature", hive="{hive}"),
      check=created_for_requester(AlertRule, kind="brood_temperature", hive="{hive}"),
      note="on alice's hive"),
    R("GET",    "/admin/alerts/alertrule/{rule}/change/",    OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=both(mentions(AlertRule, "rule"), save_button_for("alice"))),
    R("POST",   "/admin/alerts/alertrule/{rule}/change/",    OK,       GONE,      GONE,      GONE,      GONE,      LOGIN, ok=302,
      body=admin_form("/admin/alerts/alertrule/{rule}/change/", as_role="alice", enabled=""),
      check=changed(AlertRule, "rule", enabled=False)),
    R("GET",    "/admin/alerts/alertrule/{rule}/delete/",    OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(AlertRule, "rule")),
    R("POST",   "/admin/alerts/alertrule/{rule}/delete/",    OK,       GONE,      GONE,      GONE,      GONE,      LOGIN, ok=302,
      body={"post": "yes"}, check=gone(AlertRule, "rule")),
    R("GET",    "/admin/alerts/alertrule/{rule}/history/",   OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(AlertRule, "rule")),
    R("GET",    "/admin/alerts/alertrule/{rule}/",           REDIRECT, REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
      location="/admin/alerts/alertrule/{rule}/change/"),
    # Webhooks: added (public addresses only) and deleted; never changed.
    R("GET",    "/admin/alerts/webhook/",                    LIST,     LIST,      EMPTY,     EMPTY,     EMPTY,     LOGIN),
    R("POST",   "/admin/alerts/webhook/",                    OK,       REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN, ok=302,
      body={"action": "delete_selected", "_selected_action": "{webhook}", "post": "yes"},
      check=gone(Webhook, "webhook"), location="/admin/alerts/webhook/", note="delete_selected"),
    R("GET",    "/admin/alerts/webhook/add/",                OK,       OK,        OK,        OK,        OK,        LOGIN),
    R("POST",   "/admin/alerts/webhook/add/",                OK,       OK,        OK,        OK,        OK,        LOGIN, ok=302,
      body={"url": "https://93.184.215.14/new-hook", "description": ""},
      check=created_for_requester(Webhook, url="https://93.184.215.14/new-hook")),
    R("POST",   "/admin/alerts/webhook/add/",                FORM_ERROR, FORM_ERROR, FORM_ERROR, FORM_ERROR, FORM_ERROR, LOGIN,
      body={"url": "http://127.0.0.1:8000/admin/", "description": ""}, note="an internal address"),
    R("GET",    "/admin/alerts/webhook/{webhook}/change/",   OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=both(mentions(Webhook, "webhook"), save_button_for())),
    R("POST",   "/admin/alerts/webhook/{webhook}/change/",   DENIED,   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
      body={"url": "https://93.184.215.14/changed", "description": ""}),
    R("GET",    "/admin/alerts/webhook/{webhook}/delete/",   OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(Webhook, "webhook")),
    R("POST",   "/admin/alerts/webhook/{webhook}/delete/",   OK,       GONE,      GONE,      GONE,      GONE,      LOGIN, ok=302,
      body={"post": "yes"}, check=gone(Webhook, "webhook")),
    R("GET",    "/admin/alerts/webhook/{webhook}/history/",  OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(Webhook, "webhook")),
    R("GET",    "/admin/alerts/webhook/{webhook}/",          REDIRECT, REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
      location="/admin/alerts/webhook/{webhook}/change/"),
]  # fmt: skip
