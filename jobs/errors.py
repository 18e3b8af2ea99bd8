"""The error type whose message is shown to the person whose file could not be processed."""

# How `python -m jobs` begins the one line on stderr that says why it failed (read back by
# jobs.mediainfo.probe_in_child).
CLI_ERROR = "error: "


class MediaError(Exception):
    """A problem with a media file, worded for the end user: what was wrong and what to do."""
