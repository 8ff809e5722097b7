from django.apps import AppConfig


class AlphaConfig(AppConfig):
    name = "tests.django_project.djapps.alpha"
    label = "djdisc_alpha"
