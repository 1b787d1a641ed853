"""The demo catalogue `seed_demo` loads: (sku, name, description, price in cents, units)."""

CATALOGUE = [
    ("LAPTOP-GAMING-15", 'Gaming laptop 15"', "RTX graphics, 32 GB RAM, 1 TB SSD.", 189900, 25),
    ("MOUSE-WIRELESS", "Wireless mouse", "Silent clicks, 70-day battery.", 2999, 200),
    ("KEYBOARD-MECH", "Mechanical keyboard", "Hot-swappable brown switches.", 8900, 120),
    ("MONITOR-4K-27", '4K monitor 27"', "IPS, 144 Hz, USB-C.", 44900, 40),
    ("HEADSET-USB", "USB headset", "Noise-cancelling microphone.", 5900, 150),
    ("WEBCAM-1080", "1080p webcam", "Autofocus, privacy shutter.", 4900, 90),
    ("DOCK-USBC", "USB-C dock", "Two displays, 100 W charging.", 12900, 60),
    ("SSD-2TB", "2 TB NVMe SSD", "7,000 MB/s reads.", 13900, 80),
]
