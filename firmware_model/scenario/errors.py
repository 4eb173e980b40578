class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the line or the key at fault."""
