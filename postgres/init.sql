-- Entity database (beeapi). The schema is created by Django migrations
-- (`python manage.py migrate --database default`); nothing else is needed here, but for
-- the optional read replica below.
SELECT 1;

-- Streaming read replicas (`docker-compose --profile replica`, README "Read replicas"):
-- a login that may replicate and do nothing else...
CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD 'replicator123';
-- ...and a pg_hba.conf line admitting it for replication from the other containers (the
-- image's "host all all all" line does not cover replication connections). Like this whole
-- file, it runs once, when the data volume is first initialised; the server restarts right
-- after and reads the file. For a volume initialised before, run these two statements once
-- as beeapi, then SELECT pg_reload_conf().
COPY (SELECT 'host replication replicator all scram-sha-256')
    TO PROGRAM 'cat >> "$PGDATA/pg_hba.conf"';
