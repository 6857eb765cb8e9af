"""Use cases: the only place where subsystems are combined."""
