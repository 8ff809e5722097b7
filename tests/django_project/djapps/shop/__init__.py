"""A Django application whose tasks use Django's own ``@task`` on the QTasksBackend."""
