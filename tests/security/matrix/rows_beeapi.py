"""The permission matrix's rows for what beeapi (the composition root) serves itself: the
home page, the favicon, /health, and the API's schema and documentation pages."""

from __future__ import annotations

from tests.security.matrix.table import OK, R, Row, contains

ROWS: list[Row] = [
    # ---- Public: everyone may call them -------------------------------------------------
    # method    path                          alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/",                          OK,       OK,       OK,       OK,           OK,          OK, check=contains("/admin/")),
    R("GET",    "/favicon.ico",               OK,       OK,       OK,       OK,           OK,          OK),
    R("GET",    "/health",                    OK,       OK,       OK,       OK,           OK,          OK, check=contains('"default"')),
    R("GET",    "/schema",                    OK,       OK,       OK,       OK,           OK,          OK, check=contains("openapi")),
    R("GET",    "/docs",                      OK,       OK,       OK,       OK,           OK,          OK, check=contains("swagger")),
    R("GET",    "/redoc",                     OK,       OK,       OK,       OK,           OK,          OK, check=contains("redoc")),
]  # fmt: skip
