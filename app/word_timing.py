"""Stage 5, word timing: decoded text -> words timed from the cross-attention (dynamic time
warping over the alignment heads, as Whisper's word timestamps), put back in the media, and
the stretches of detected speech that no word covers."""

from __future__ import annotations

from bisect import bisect_right

from app.chunks import ChunkInput, Span
from data.subtitles import Word
from model.alignment import align_words
from model.checkpoint import LoadedModel
from model.decoder import CrossCache


def time_words(
    loaded: LoadedModel,
    cross: CrossCache,
    sot: list[int],
    items: list[ChunkInput],
    texts: list[list[int]],
    content_frames: list[int],
) -> list[list[Word]]:
    """Each chunk's text tokens (no timestamps) -> its words in media seconds.
    cross: the chunks' encoder keys/values, one row each; content_frames: the 10-ms mel
    frames each text was spoken in (the alignment looks no further)."""
    aligned = align_words(
        loaded.model,
        loaded.tokenizer,
        cross,
        sot,
        texts,
        content_frames,
        [0.0] * len(items),
        probabilities=False,  # no output carries them
    )
    return [
        [Word(*item.chunk.to_media(w.start, w.end), w.text, w.probability) for w in found]
        for item, found in zip(items, aligned, strict=True)
    ]


def unworded_speech(words: list[Word], speech: tuple[Span, ...], min_seconds: float) -> list[Span]:
    """Stretches of at least `min_seconds` of the speech regions that no word overlaps.
    words: sorted by start."""
    stretches = []
    for start, end in speech:
        cursor = start
        for word in words:
            if word.end <= cursor or word.start >= end:
                continue
            if word.start - cursor >= min_seconds:
                stretches.append((cursor, word.start))
            cursor = max(cursor, word.end)
        if end - cursor >= min_seconds:
            stretches.append((cursor, end))
    return stretches


def snap_to_speech(words: list[Word], speech: list[tuple[float, float]]) -> list[Word]:
    """Word edges that fall outside every speech region move onto the nearest speech inside
    the word: the alignment tends to start a window's first word at the window's (padded)
    start, seconds before the voice."""
    if not speech:
        return list(words)
    starts = [start for start, _ in speech]
    snapped = []
    for word in words:
        start, end = word.start, word.end
        i = bisect_right(starts, start) - 1  # the region starting at or before `start`
        if i < 0 or start >= speech[i][1]:  # in a silence: go to the next region's start
            following = speech[i + 1][0] if i + 1 < len(speech) else None
            if following is not None and following < end:
                start = following
        j = bisect_right(starts, end) - 1
        if j >= 0 and speech[j][1] < end and speech[j][1] > start:  # ends in a silence
            end = speech[j][1]
        snapped.append(Word(start, end, word.text, word.probability))
    return snapped
