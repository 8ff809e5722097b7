from django.apps import AppConfig


class BetaConfig(AppConfig):
    name = "tests.django_project.djapps.beta"
    label = "djdisc_beta"
