"""Hand-written schema migrations, applied in order by ``Store``."""
