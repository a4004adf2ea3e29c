from django.urls import re_path

from apiary.api import season, views
from core.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.include_root_view = False
router.register("apiaries", views.ApiaryViewSet, basename="apiary")
router.register("hives", views.HiveViewSet, basename="hive")
router.register("queens", views.QueenViewSet, basename="queen")
router.register("events", views.EventViewSet, basename="event")

urlpatterns = [
    re_path(
        r"^apiaries/(?P<pk>[0-9]+)/season/?$",
        season.ApiarySeasonView.as_view(),
        name="apiary-season",
    ),
    re_path(
        r"^hives/(?P<pk>[0-9]+)/season/?$", season.HiveSeasonView.as_view(), name="hive-season"
    ),
    *router.urls,
]
