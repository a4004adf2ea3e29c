"""The beekeeper's console, one module per job:

- scoping: what a beekeeper sees and may change (VisibleAdminMixin, apiary_role_allows)
- forms: the queen's and the event's forms, and the read-only inlines of a hive's page
- apiaries: ApiaryAdmin, with replacing every device key of an apiary
- hives: HiveAdmin and HiveInline, with replacing device keys
- records: QueenBeeAdmin and EventAdmin

Writes go through apiary.services, so the API's rules hold here too: every admin here is
service-backed (core.admin): forms dry-run the service call their save makes, a refusal
at save time rolls the save back with the reason as a message, and deletes call the
delete services object by object.

Django's admin autodiscovery imports this package; importing the modules registers their
admins. HiveAdmin and apiary_role_allows stay importable from here, as they were before
the split.
"""

from apiary.admin import apiaries, forms, hives, records, scoping
from apiary.admin.hives import HiveAdmin
from apiary.admin.scoping import apiary_role_allows

__all__ = ["HiveAdmin", "apiaries", "apiary_role_allows", "forms", "hives", "records", "scoping"]
