"""Pure business rules. Standard library, dateutil and holidays only: no Django, no I/O, no clock."""
