"""Inventory: stock per SKU and the reservations orders hold against it."""
