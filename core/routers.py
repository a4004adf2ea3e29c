from rest_framework.routers import DefaultRouter


class OptionalSlashRouter(DefaultRouter):
    """The design's URLs have no trailing slash (``POST /hives``); both forms work.

    No ``.json`` format-suffix routes: the design has none, and DRF passes ``format`` to
    nested actions that do not take it (a 500). ``?format=`` still works.
    """

    include_format_suffixes = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"
