"""gamma: an installed application with no tasks module (skipped), and one whose module
raises when imported (only with ``modules=["broken_runtime"]``)."""
