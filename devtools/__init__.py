"""Development plumbing, in one place and out of the production package.

What `make run`, `make test`, `make manage`, the tests and the benchmarks use to start
servers: project-local PostgreSQL and Redis (localpg, devstack), daphne in a subprocess
(devserver), and the benchmark wrappers. Nothing in beeapi/, accounts/, apiary/ or
telemetry/ imports it at run time (the benchmark management commands do when they run).
Run the entry points as modules from the repository root: ``python -m devtools.devstack``.
"""
