from __future__ import annotations

from django.apps import AppConfig


class FrontConfig(AppConfig):
    name = "touchstone.front"
    label = "front"

    def ready(self) -> None:
        # The receivers live with the code that queues work, which the domain apps may not
        # import; an app above it in the import order connects them.
        from touchstone import tasks

        tasks.connect_signals()
