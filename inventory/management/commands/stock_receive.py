"""``manage.py stock_receive SKU QUANTITY``: receive units into stock."""

from django.core.management.base import BaseCommand, CommandError

from inventory.services import stock_receive


class Command(BaseCommand):
    help = "Receive QUANTITY units of SKU into stock (creates the stock item if needed)."

    def add_arguments(self, parser):
        parser.add_argument("sku")
        parser.add_argument("quantity", type=int)

    def handle(self, *args, sku: str, quantity: int, **options):
        if quantity <= 0:
            raise CommandError("QUANTITY must be a positive number of units.")
        item = stock_receive(sku=sku, quantity=quantity)
        if options["verbosity"] > 0:
            self.stdout.write(f"{item.sku}: {item.on_hand} on hand, {item.available} available")
