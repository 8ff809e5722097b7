"""Integrations with other frameworks, each in its own subpackage (``qtasks.contrib.django``).

Nothing here imports a framework when ``qtasks`` is imported: each integration loads
its framework only when one of its functions is called.
"""
