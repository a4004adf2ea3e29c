from apiary.api import views
from core.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.include_root_view = False
router.register("apiaries", views.ApiaryViewSet, basename="apiary")
router.register("hives", views.HiveViewSet, basename="hive")
router.register("queens", views.QueenViewSet, basename="queen")
router.register("events", views.EventViewSet, basename="event")

urlpatterns = router.urls
