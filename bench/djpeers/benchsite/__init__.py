"""Settings of the side-by-side Django project: one module per Django Tasks backend."""
