#!/bin/sh
# Entrypoint of the optional read replica (docker-compose --profile replica).
#
# First start (empty data volume): clone the primary with pg_basebackup. --write-recovery-conf
# (-R) adds standby.signal and primary_conninfo to the copy, so the server starts as a hot
# standby that streams changes from the primary and answers read-only queries. The
# replicator login and its pg_hba.conf line come from postgres/init.sh on the primary.
# Every later start finds the data directory and just runs postgres.
#
# To re-clone (say, after the replica was down so long that the primary no longer has the
# WAL it needs: its log then says "requested WAL segment ... has already been removed"):
#   docker-compose --profile replica rm -sf postgres-replica
#   docker volume rm <project>_postgres-replica-data
#   docker-compose --profile replica up -d postgres-replica
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    # The replicator's password comes from the Docker secret; -R copies it into
    # primary_conninfo. pg_basebackup empties the directory again when it fails.
    PGPASSWORD="$(cat "$REPLICATION_PASSWORD_FILE")"
    export PGPASSWORD
    until gosu postgres pg_basebackup \
        --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream --checkpoint=fast \
        --host="$PRIMARY_HOST" --port="${PRIMARY_PORT:-5432}" \
        --username="$REPLICATION_USER" --no-password; do
        echo "replica: cannot clone $PRIMARY_HOST yet, retrying in 5 s" >&2
        sleep 5
    done
    unset PGPASSWORD
    echo "replica: cloned $PRIMARY_HOST; starting as a streaming standby" >&2
fi

# The image's own entrypoint: finds the data directory initialised, drops to the postgres
# user and runs the server.
exec docker-entrypoint.sh postgres
