"""Web infrastructure: problem+json errors, the shared app context, the page shell. Features import it."""
