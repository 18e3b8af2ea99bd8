"""The error type whose message is shown to the person whose file could not be processed."""


class MediaError(Exception):
    """A problem with a media file, worded for the end user: what was wrong and what to do."""
