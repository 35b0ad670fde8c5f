from django.core.management.base import BaseCommand

from demo.seed import seed_demo


class Command(BaseCommand):
    help = "Load demo users, groups, orders and invoices. Safe to run again: nothing is duplicated."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="opscore-demo", help="password for demo users")

    def handle(self, *args, password: str, **options):
        report = seed_demo(password=password)
        self.stdout.write(
            f"demo data ready: {report.users_created} user(s), "
            f"{report.orders_created} order(s) and {report.invoices_created} invoice(s) created"
        )
