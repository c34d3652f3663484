from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from touchstone.benchmarks.models import Benchmark


class Command(BaseCommand):
    help = (
        "List, add or remove the maintainers of a benchmark: the users who may create drafts of it and "
        "publish, freeze and deprecate its versions (staff may always)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--add", nargs="+", default=[], metavar="USERNAME")
        parser.add_argument("--remove", nargs="+", default=[], metavar="USERNAME")

    def handle(self, *args, slug: str, add: list[str], remove: list[str], **options) -> None:
        benchmark = Benchmark.objects.filter(slug=slug).first()
        if benchmark is None:
            raise CommandError(f"no benchmark {slug!r}; publish its first version first")
        users = get_user_model().objects
        for username in add + remove:
            if not users.filter(username=username).exists():
                raise CommandError(f"no user {username!r}; they sign up on the site first")
        benchmark.maintainers.add(*users.filter(username__in=add))
        benchmark.maintainers.remove(*users.filter(username__in=remove))
        names = sorted(benchmark.maintainers.values_list("username", flat=True))
        self.stdout.write(f"maintainers of {slug}: {', '.join(names) if names else 'none (staff only)'}")
