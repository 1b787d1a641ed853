"""Payments: authorise, capture, void and refund against a simulated card gateway."""
