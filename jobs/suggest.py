"""PLACEHOLDER until the engine branch lands: suggestions for the editor."""

DEFAULT_PHRASES = ("um", "uh", "er", "ah", "hmm", "you know", "I mean", "sort of")


def suggestions(words, spans, analysis, phrases, pause_length):
    return []
