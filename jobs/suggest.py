"""The editor's suggestions: pauses to cut or shorten, filler words and retakes to cut.

Plain Python (no numpy, no media): the web process builds the list from the transcript's words
(jobs/edit.py), the person's own list of filler phrases, and what the worker found in the sound
(jobs/suggest_audio.py: the pauses, the hesitations a second listening heard, and the voiced
stretches no word covers).

Every suggestion is {"id", "kind", "start", "end", "text", "cut": [a, b], "words": [word ids]}, its
id the same each time the same transcript and sound are read, so the editor can remember which
ones the person rejected.
"""

import re
from bisect import bisect_left, bisect_right

from jobs.edit import Range

# Sounds of hesitation: a filler wherever they are said. Whisper writes them drawn out at times
# ("Umm", "Hmmm"), which `_drawn_out` allows for.
HESITATIONS = ("um", "uh", "er", "erm", "ah", "hmm", "mm")
# Words that are fillers only as an aside ("it's, you know, late"), not in a sentence ("do you
# know the way", "what kind of camera"): see `_set_off`. "like" is left out: far more often a
# verb or a comparison than a filler; a person who says it as one can add it.
DEFAULT_PHRASES = (*HESITATIONS, "you know", "I mean", "sort of", "kind of")
# A pause keeps this much of itself at each side when cut, so the words either side keep their breath.
PAUSE_MARGIN = 0.1
# What sets a phrase off as an aside: a pause this long before or after it, or a punctuation mark.
ASIDE_PAUSE = 0.2
ASIDE_MARKS = ",.;:!?…—–-"
# A retake: a phrase of at least RETAKE_WORDS words said again within RETAKE_SECONDS of its start.
# The first take may end in a word or two that were not said again ("the harbour project was… the
# harbour project is"), at most one per two repeated words, and then only before a break (a pause
# of RETAKE_PAUSE or a filler): "on the left and on the right" is a pattern of speech, not a retake.
# Two words said again after a full stop are a new sentence begun alike, not a retake.
RETAKE_WORDS = 2
SENTENCE_ENDS = (".", "!", "?")
TRAILING_OFF = ("...", "…")  # a take that trails off, not a sentence that ends
RETAKE_SECONDS = 10.0
RETAKE_PAUSE = 0.3
# The same word twice in a row ("the the"), the second within this of the first: a stutter.
STUTTER_GAP = 0.5
# A voiced stretch no word covers is cut with this much around it, but never into a word. One that
# comes within TOUCHING of a word runs on into it (jobs/suggest_audio.py leaves the sound that
# close to a word to the word).
SOUND_MARGIN = 0.05
WORD_SLACK = 0.05
TOUCHING = WORD_SLACK + 0.03

PAUSE_TEXT = "{seconds:.1f} s pause"
SOUND_TEXT = "(sound)"
HEARD_TEXT = "(hesitation)"
RETAKE_TEXT = "{words}…"

Suggestion = dict


def suggestions(
    words: list[dict],
    spans: list[Range],
    analysis: dict | None,
    phrases=DEFAULT_PHRASES,
    pause_length: float = 0.0,
) -> list[Suggestion]:
    """Every suggestion for a recording, in order of time.

    `words` are jobs.edit.words() of the transcript and `spans` their jobs.edit.word_spans();
    `analysis` is what jobs.suggest_audio.analyse() wrote (None before it ran: no pauses or sounds
    then); `phrases` the filler phrases (case and punctuation do not matter); a pause is suggested
    only when it is longer than `pause_length`, the length the editor shortens pauses to.
    """
    tokens = [normalize(word["text"]) for word in words]
    found = fillers(words, spans, tokens, phrases) + stutters(words, spans, tokens)
    found += retakes(words, spans, tokens)
    if analysis:
        found += unwritten(words, analysis.get("hesitations", []), found, heard=True)
        found += unwritten(words, analysis.get("sounds", []), found, heard=False)
        found += pauses(words, analysis.get("pauses", []), pause_length)
    return sorted(found, key=lambda s: (s["start"], s["end"], s["kind"]))


def normalize(text: str) -> str:
    """A word as phrases are matched: lower case, without punctuation ("Um," is "um")."""
    return re.sub(r"[^\w']+", "", text.lower().replace("’", "'"))


def fillers(words: list[dict], spans: list[Range], tokens: list[str], phrases) -> list[Suggestion]:
    """The words that say one of `phrases`, each phrase found once (the longest at each place)."""
    wanted = sorted(
        {tuple(filter(None, map(normalize, phrase.split()))) for phrase in phrases} - {()},
        key=len,
        reverse=True,
    )
    patterns = [[_drawn_out(word) for word in phrase] for phrase in wanted]
    # One look at each word for the first words of all phrases: most words start none.
    first_words = re.compile("|".join(phrase[0].pattern for phrase in patterns) or "(?!)")
    found, index = [], 0
    while index < len(words):
        phrase = None
        if first_words.fullmatch(tokens[index]):
            phrase = next((p for p in patterns if _matches(tokens[index : index + len(p)], p)), None)
        hesitation = phrase is not None and len(phrase) == 1 and _hesitation(tokens[index])
        aside = phrase and (hesitation or _set_off(words, index, index + len(phrase)))
        if not aside:
            index += 1
            continue
        found.append(_word_suggestion("filler", words, spans, index, index + len(phrase)))
        index += len(phrase)
    return found


def stutters(words: list[dict], spans: list[Range], tokens: list[str]) -> list[Suggestion]:
    """A word said twice in a row, quickly: cut the first."""
    found = []
    for index, token in enumerate(tokens[:-1]):
        if (
            token
            and token == tokens[index + 1]
            and not _hesitation(token)
            and words[index + 1]["start"] - words[index]["end"] <= STUTTER_GAP
            # "…for you, you need": a stutter runs on; a punctuation mark between says it did not.
            and not words[index]["text"].endswith(tuple(ASIDE_MARKS))
        ):
            said = words[index]["text"].strip(ASIDE_MARKS)
            found.append(
                {
                    **_word_suggestion("filler", words, spans, index, index + 1, "stutter"),
                    "text": f"{said} {said}",
                }
            )
    return found


def retakes(words: list[dict], spans: list[Range], tokens: list[str]) -> list[Suggestion]:
    """Phrases said again soon after: cut from the first take's first word to the last take.

    A chain of takes ("the harbour, the harbour project, the harbour project is ready") is one
    suggestion. Hesitations between the takes do not count as words of either."""
    said = [index for index, token in enumerate(tokens) if token and not _hesitation(token)]
    takes: list[tuple[int, int]] = []  # (first take's first word, the next take's first word)
    position = 0
    while position < len(said):
        again = _said_again(words, tokens, said, position)
        if again is None:
            position += 1
            continue
        first, second = said[position], said[again]
        if (
            takes
            and takes[-1][1] >= first
            and words[second]["start"] - words[takes[-1][0]]["start"] <= RETAKE_SECONDS
        ):
            first = takes.pop()[0]
        takes.append((first, second))
        position = again
    return [
        {
            **_word_suggestion("retake", words, spans, first, second),
            "end": words[second]["start"],
            "cut": [spans[first][0], spans[second][0]],
            "text": RETAKE_TEXT.format(words=" ".join(w["text"] for w in words[first:second]).rstrip(",.")),
        }
        for first, second in takes
    ]


def unwritten(words: list[dict], stretches, found: list[Suggestion], heard: bool) -> list[Suggestion]:
    """Fillers the transcript leaves out or puts in the wrong place: voiced `stretches` between its
    words; with `heard`, hesitations that a second listening, prompted for them, wrote there.

    Whisper often writes a hesitation a little after it was said, squeezed against the next word:
    a stretch next to a written hesitation is that hesitation, and its suggestion grows to cut
    it (changing `found`). A heard hesitation may lie under a word Whisper stretched over it the
    first time. A stretch that was not heard and runs on into a word is that word's start or end,
    which Whisper timed short; any other one, alone between two pauses, is a filler of its own."""
    starts, ends = [word["start"] for word in words], [word["end"] for word in words]
    hesitations = {s["words"][0]: s for s in found if s["kind"] == "filler" and _hesitation_words(s, words)}
    retakes = [s for s in found if s["kind"] == "retake"]
    fillers = [s for s in found if s["kind"] == "filler"]
    alone = []
    for start, end in stretches:
        before = bisect_right(ends, start) - 1  # the last word that ends before the stretch starts
        after = bisect_left(starts, end)  # the first word that starts after it ends
        if not heard and after - before > 1:
            continue
        low = words[before]["end"] if before >= 0 else 0.0
        high = words[after]["start"] if after < len(words) else float("inf")
        cut = [round(max(start - SOUND_MARGIN, low, 0.0), 3), round(min(end + SOUND_MARGIN, high), 3)]
        retake = next((s for s in retakes if s["cut"][0] < end and start < s["end"] + TOUCHING), None)
        if retake:
            # A hesitation between two takes goes with the first; Whisper often times the second
            # take's first word from it.
            if heard:
                _grow(retake, retake["start"], end, cut)
            continue
        overlapping = [s for s in fillers + alone if s["cut"][0] < cut[1] and cut[0] < s["cut"][1]]
        written = hesitations.get(before) or hesitations.get(after)
        if overlapping or written:
            if heard or not overlapping:
                _grow(written or overlapping[0], start, end, cut)
        elif heard or (start - low > TOUCHING and high - end > TOUCHING):
            alone.append(
                {
                    "id": f"{'hesitation' if heard else 'sound'}-{round(start * 1000)}",
                    "kind": "filler",
                    "start": start,
                    "end": end,
                    "text": HEARD_TEXT if heard else SOUND_TEXT,
                    "cut": cut,
                    "words": [],
                }
            )
    return alone


def _grow(suggestion: Suggestion, start: float, end: float, cut: list[float]) -> None:
    """`suggestion` made to cover the stretch `start`..`end`, and to cut `cut` as well."""
    suggestion["start"], suggestion["end"] = min(suggestion["start"], start), max(suggestion["end"], end)
    suggestion["cut"] = [min(suggestion["cut"][0], cut[0]), max(suggestion["cut"][1], cut[1])]


def pauses(words: list[dict], stretches, pause_length: float) -> list[Suggestion]:
    """The pauses longer than `pause_length`, each to be cut less PAUSE_MARGIN at either side (or
    shortened by the editor); none inside a word (a long stop in a drawn-out word is no pause)."""
    middles = [(word["start"] + word["end"]) / 2 for word in words]
    found = []
    for start, end in stretches:
        inside = bisect_left(middles, start) < len(middles) and middles[bisect_left(middles, start)] < end
        if end - start <= max(pause_length, 2 * PAUSE_MARGIN) or inside:
            continue
        found.append(
            {
                "id": f"pause-{round(start * 1000)}",
                "kind": "pause",
                "start": start,
                "end": end,
                "text": PAUSE_TEXT.format(seconds=end - start),
                "cut": [round(start + PAUSE_MARGIN, 3), round(end - PAUSE_MARGIN, 3)],
                "words": [],
            }
        )
    return found


def _said_again(words: list[dict], tokens: list[str], said: list[int], position: int) -> int | None:
    """Where in `said` (indexes of words that are not hesitations) the phrase starting at
    `position` is said again as a retake, or None."""
    start = words[said[position]]["start"]
    for again in range(position + 1, len(said)):
        if words[said[again]]["start"] - start > RETAKE_SECONDS:
            return None
        if tokens[said[again]] != tokens[said[position]]:
            continue
        distance = again - position
        repeated = 0
        while (
            repeated < distance
            and again + repeated < len(said)
            and tokens[said[position + repeated]] == tokens[said[again + repeated]]
        ):
            repeated += 1
        left_over = distance - repeated
        if repeated < RETAKE_WORDS or left_over > repeated // 2:
            continue
        if left_over and (repeated < 3 or not _break_before(words, tokens, said[again - 1], said[again])):
            continue
        # "…for the web. The web continues": a sentence ended, then the next began the same way.
        if repeated < 3 and _ends_sentence(words[said[again - 1]]["text"]):
            continue
        return again
    return None


def _ends_sentence(text: str) -> bool:
    return text.endswith(SENTENCE_ENDS) and not text.endswith(TRAILING_OFF)


def _break_before(words: list[dict], tokens: list[str], last: int, next_take: int) -> bool:
    """Whether the speaker stopped between word `last` and word `next_take`: a pause or a filler."""
    pause = words[next_take]["start"] - words[last]["end"] >= RETAKE_PAUSE
    return pause or next_take - last > 1 or words[last]["text"].endswith(tuple(ASIDE_MARKS))


def _drawn_out(word: str) -> re.Pattern:
    """`word`, and `word` with its last letter drawn out ("umm" for "um")."""
    return re.compile(f"{re.escape(word)}{re.escape(word[-1])}*")


HESITATION = re.compile("|".join(_drawn_out(word).pattern for word in HESITATIONS))


def _matches(said: list[str], phrase: list[re.Pattern]) -> bool:
    """Whether the words `said` are those of `phrase`."""
    return len(said) == len(phrase) and all(
        wanted.fullmatch(word) for word, wanted in zip(said, phrase, strict=True)
    )


def _hesitation_words(suggestion: Suggestion, words: list[dict]) -> bool:
    return len(suggestion["words"]) == 1 and _hesitation(normalize(words[suggestion["words"][0]]["text"]))


def is_hesitation(text: str) -> bool:
    """Whether a word of a transcript is a sound of hesitation ("Um,", "uhh")."""
    return _hesitation(normalize(text))


def _hesitation(token: str) -> bool:
    return HESITATION.fullmatch(token) is not None


def _set_off(words: list[dict], first: int, last: int) -> bool:
    """Whether words[first:last] stand apart from the sentence: a punctuation mark or a pause
    before or after them."""
    before = words[first - 1] if first else None
    after = words[last] if last < len(words) else None
    marked = words[last - 1]["text"].endswith(tuple(ASIDE_MARKS)) or (
        before is not None and before["text"].endswith(tuple(ASIDE_MARKS))
    )
    paused = (before is None or words[first]["start"] - before["end"] >= ASIDE_PAUSE) or (
        after is None or after["start"] - words[last - 1]["end"] >= ASIDE_PAUSE
    )
    return marked or paused


def _word_suggestion(
    kind: str, words: list[dict], spans: list[Range], first: int, last: int, name: str = ""
) -> Suggestion:
    """A suggestion to cut words[first:last], its id `name` (else `kind`) and the first word's id."""
    return {
        "id": f"{name or kind}-{words[first]['id']}",
        "kind": kind,
        "start": words[first]["start"],
        "end": words[last - 1]["end"],
        "text": " ".join(word["text"] for word in words[first:last]),
        "cut": [spans[first][0], spans[last - 1][1]],
        "words": [word["id"] for word in words[first:last]],
    }
