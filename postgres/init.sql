-- Entity database (beeapi). The schema is created by Django migrations
-- (`python manage.py migrate --database default`); nothing else is needed here.
SELECT 1;
