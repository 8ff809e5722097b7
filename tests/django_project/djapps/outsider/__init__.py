"""Not in INSTALLED_APPS: its tasks module must never be imported by autodiscovery."""
