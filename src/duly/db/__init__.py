"""Generic database helpers shared by the business apps (no business rule here)."""
