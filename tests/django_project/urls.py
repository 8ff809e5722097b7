"""The test project's URLconf: Django's admin, whose default site has qtasks' pages
(``QTasksAdminConfig`` in ``INSTALLED_APPS``) under ``admin/qtasks/``."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
