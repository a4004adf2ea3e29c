"""The shared layer: plumbing every app may use and that knows no app.

API helpers (strict input, view helpers, routers, pagination, parsers, renderers, error
shapes), the service-backed admin base, the entities cache, the ASGI request cycle's
hand-over, validators, and the names of the database aliases. Nothing here imports an app
of the project.
"""
