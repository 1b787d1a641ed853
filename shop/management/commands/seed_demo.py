"""``manage.py seed_demo``: load the demo catalogue and its stock (once)."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from shop.demo import CATALOGUE
from shop.models import Product


class Command(BaseCommand):
    help = (
        "Load the demo catalogue (a gaming laptop, a wireless mouse, a mechanical keyboard, "
        "a 4K monitor and more) with stock. Products that exist are left alone; --if-empty "
        "does nothing when any product exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="skip when the catalogue has products")

    def handle(self, *args, **options):
        if options["if_empty"] and Product.objects.exists():
            self.stdout.write("catalogue already seeded")
            return
        created = 0
        for sku, name, description, price_cents, units in CATALOGUE:
            _, is_new = Product.objects.get_or_create(
                sku=sku, defaults={"name": name, "description": description, "price_cents": price_cents}
            )
            if is_new:
                # Stock belongs to inventory: receive it through inventory's own command.
                call_command("stock_receive", sku, units, verbosity=0)
                created += 1
        self.stdout.write(self.style.SUCCESS(f"seeded {created} products ({len(CATALOGUE)} in the demo)"))
