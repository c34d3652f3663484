"""What the command-line client raises when a server refuses it or cannot be reached."""

from __future__ import annotations


class ClientError(Exception):
    """The server refused a request, or could not be reached; the message says which and why."""


class TransientError(ClientError):
    """A failure that may pass by itself: no connection, a timeout, or a 5xx answer."""
