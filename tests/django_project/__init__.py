"""``qtasks.contrib.django.autodiscover_tasks`` against a small Django project."""
