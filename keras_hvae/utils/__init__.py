"""Small shared helpers: input validation and random streams."""
