from django.urls import path

from alerts.api import views
from core.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.include_root_view = False
router.register("alert-rules", views.AlertRuleViewSet, basename="alert-rule")
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("webhooks", views.WebhookViewSet, basename="webhook")

urlpatterns = [
    *router.urls,
    path("alert-settings", views.AlertSettingsView.as_view(), name="alert-settings"),
    path("alert-settings/", views.AlertSettingsView.as_view()),
    path(
        "hives/<int:pk>/inspection/start",
        views.InspectionStartView.as_view(),
        name="hive-inspection-start",
    ),
    path("hives/<int:pk>/inspection/start/", views.InspectionStartView.as_view()),
    path(
        "hives/<int:pk>/inspection/stop",
        views.InspectionStopView.as_view(),
        name="hive-inspection-stop",
    ),
    path("hives/<int:pk>/inspection/stop/", views.InspectionStopView.as_view()),
]
