"""Exceptions a user can cause. The CLI prints their message in one line and exits with 2."""


class UserError(Exception):
    """Bad input from the user: a spec, a file, a flag. The message says what was expected."""


class SpecError(UserError):
    """A source or sink spec that cannot be understood (unknown scheme, bad option)."""


class ConfigError(UserError):
    """A config file that cannot be read or holds an unknown key or a wrong type."""


class SourceError(Exception):
    """A source that cannot open or stopped delivering; at start-up it is the user's to fix."""


class EndOfStream(Exception):
    """A finite source (a file played once) has no more frames."""


class SinkError(Exception):
    """A sink that cannot open or write."""


class ModelNotRun(RuntimeError):
    """A model handed to the pipeline that never ran: superseded by a newer one, or the node
    stopped first. Not a failure of the model."""
