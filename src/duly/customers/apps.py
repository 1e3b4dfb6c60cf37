from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "duly.customers"
    label = "customers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from duly import checks  # noqa: F401 - registers Duly's deploy checks
