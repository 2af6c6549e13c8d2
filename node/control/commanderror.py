"""The error of every command room: its message is what a surface sends back to the user."""

from __future__ import annotations

from node.errors import UserError


class CommandError(UserError):
    """A request that cannot be carried out; the message says why, for the sender."""
