from django.apps import AppConfig


class OpscoreConfig(AppConfig):
    name = "opscore"
    verbose_name = "opscore kernel"
