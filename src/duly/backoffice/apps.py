from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "duly.backoffice"
    label = "backoffice"
    verbose_name = "Back office"
