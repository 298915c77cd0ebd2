"""The Django app: registers system checks and arranges for the poller to start; starts nothing heavy."""

from __future__ import annotations

from django.apps import AppConfig


class HealthCheckConfig(AppConfig):
    name = "health_check"
    verbose_name = "Health checks"

    def ready(self) -> None:
        from health_check import autostart, system_checks  # noqa: F401 - registers the system checks

        autostart.install()
