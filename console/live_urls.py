from django.urls import re_path

from console.live_views import hive_live, hive_live_alert_acknowledge

urlpatterns = [
    re_path(r"^hives/(?P<hive_id>[0-9]+)/live/?$", hive_live, name="hive-live"),
    re_path(
        r"^hives/(?P<hive_id>[0-9]+)/live/alerts/(?P<alert_id>[0-9]+)/acknowledge$",
        hive_live_alert_acknowledge,
        name="hive-live-alert-acknowledge",
    ),
]
