from django.urls import re_path

from console.live_views import hive_live

urlpatterns = [
    re_path(r"^hives/(?P<hive_id>[0-9]+)/live/?$", hive_live, name="hive-live"),
]
