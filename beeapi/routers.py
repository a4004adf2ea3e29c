from rest_framework.routers import DefaultRouter


class OptionalSlashRouter(DefaultRouter):
    """The design's URLs have no trailing slash (``POST /hives``); both forms work."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"
