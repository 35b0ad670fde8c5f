from django.core.management.base import BaseCommand
from django.db.models import Count

from approvals.models import ReviewTask
from processes.invoices.models import Invoice
from processes.orders.models import Order
from workflows.models import Execution


class Command(BaseCommand):
    help = "Print orders, invoices, review tasks and executions (the demo's health at a glance)."

    def handle(self, *args, **options):
        orders = dict(Order.objects.values_list("state").annotate(n=Count("pk")))
        executions = dict(Execution.objects.values_list("status").annotate(n=Count("pk")))
        invoices = dict(Invoice.objects.values_list("state").annotate(n=Count("pk")))
        tasks = dict(ReviewTask.objects.values_list("status").annotate(n=Count("pk")))
        self.stdout.write(f"orders: {orders}")
        self.stdout.write(f"invoices: {invoices}")
        self.stdout.write(f"review tasks: {tasks}")
        self.stdout.write(f"executions: {executions}")
        self.stdout.write(
            f"unfinished executions: {executions.get('pending', 0) + executions.get('running', 0)}"
        )
