"""How the console and emails write dates and times (English, the only language).

Django's own English formats ("Dec. 7, 2026, 1:35 p.m.") win over the settings'
DATETIME_FORMAT & co. whenever localisation is on (always, since Django 5), so
FORMAT_MODULE_PATH puts these first. One form everywhere: ``2026-12-07 13:35``, 24 h,
in the reader's time zone (accounts.middleware). Input formats stay Django's.
"""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
