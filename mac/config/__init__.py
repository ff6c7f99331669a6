"""``mac.config``: holds ``mac.config.inference``; a thin re-export package, no logic."""
