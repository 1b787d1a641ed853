"""The shop: catalogue, cart, storefront pages and the checkout that orchestrates the
other apps over REST."""
