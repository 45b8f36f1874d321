"""The admin API under /admin/api/, behind `admin.key`: keys, usage, providers, the running
config and reload. `api` holds the routes, `openapi` their description, `redact` what keeps secrets out."""
