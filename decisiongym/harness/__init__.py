"""Running agents on environments and measuring them."""
