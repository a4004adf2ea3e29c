-- Telemetry database (beeapi_telemetry) on the timescale/timescaledb image of docker-compose.yml.
-- The migrations also create the extension when the server has it; doing it here makes
-- the extension owned by the database owner from the first start.
CREATE EXTENSION IF NOT EXISTS timescaledb;
