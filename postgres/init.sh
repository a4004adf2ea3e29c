#!/bin/sh
# Entity database (beeapi), run once by the postgres image when its data volume is first
# initialised. The schema is created by Django migrations (the compose stack's `migrate`
# service); this only prepares the optional streaming read replica
# (`docker-compose --profile replica`, README "Read replicas").
set -eu

# A login that may replicate and do nothing else, its password from the Docker secret.
# psql's :'var' quotes the value as an SQL literal.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$(cat "$REPLICATION_PASSWORD_FILE")" <<'SQL'
CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD :'password';
SQL

# ...and a pg_hba.conf line admitting it for replication from the other containers (the
# image's "host all all all" line does not cover replication connections). The server
# restarts right after this script and reads the file. For a volume initialised before,
# run the CREATE ROLE once as beeapi, add the line, then SELECT pg_reload_conf().
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
