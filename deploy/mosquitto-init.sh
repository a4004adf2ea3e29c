#!/bin/sh
# The mqtt service's start (docker-compose.yml): on first start, create the
# dynamic-security file with BeeAPI's admin login (its password from the Docker secret
# mqtt_admin_password), then run Mosquitto. The roles and clients BeeAPI needs are made by
# `manage.py mqtt_setup` (the migrate service runs it).
set -eu
DYNSEC=/mosquitto/data/dynamic-security.json
if [ ! -s "$DYNSEC" ]; then
    mosquitto_ctrl dynsec init "$DYNSEC" "${MQTT_ADMIN_USERNAME:-beeapi-admin}" \
        "$(cat /run/secrets/mqtt_admin_password)" > /dev/null
    echo "mosquitto-init: created $DYNSEC with the admin login ${MQTT_ADMIN_USERNAME:-beeapi-admin}"
fi
# Mosquitto drops to the mosquitto user: it must be able to write its files.
chown -R mosquitto:mosquitto /mosquitto/data
exec mosquitto -c /mosquitto/config/mosquitto.conf
