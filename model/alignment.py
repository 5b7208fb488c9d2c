"""Word timestamps from the decoder's cross-attention, as Whisper computes them.

For each window, one teacher-forced pass over [start sequence, <|notimestamps|>, text,
<|endoftext|>] reads the audio cross-attention scores of the checkpoint's alignment heads
(heads whose attention follows the speech). Per head: softmax over the window's real audio
frames, standardised over tokens, median-filtered along time; the heads are averaged and
dynamic time warping finds the monotonic token-to-frame path. A word starts at the frame
where the path reaches its first token and ends where the next word starts. Then Whisper's
fixes: words at sentence ends no longer than twice the median word, punctuation merged into
its word, and a first word stretched back over a pause cut to twice the median.

Reference: openai-whisper `whisper/timing.py` and faster-whisper `add_word_timestamps`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from data.subtitles import Word
from model.audio import TIME_PRECISION
from model.captioner import AVCaptioner
from model.decoder import CrossCache, TextDecoder
from model.dtw import dtw_many
from model.tokenizer import WhisperTokenizer

# Languages written without spaces between words: split wherever a whole character ends.
UNICODE_SPLIT_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})
SENTENCE_END_MARKS = ".。!！?？"


@dataclass(frozen=True)
class AlignmentOptions:
    median_filter_width: int = 7  # encoder positions (20 ms each); odd
    prepend_punctuations: str = "\"'“¿([{-"
    append_punctuations: str = "\"'.。,，!！?？:：”)]}、"
    max_median_duration: float = 0.7  # seconds; the median word duration is capped at this


@dataclass
class _Timing:
    """One word while its neighbours may still absorb it (times from the window start)."""

    text: str  # with its leading space, as decoded
    tokens: list[int]
    start: float
    end: float
    probability: float | None


def align_words(
    model: AVCaptioner,
    tokenizer: WhisperTokenizer,
    cross: CrossCache,
    sot_sequence: list[int],
    text_tokens: list[list[int]],
    num_frames: list[int],
    time_offsets: list[float],
    options: AlignmentOptions = AlignmentOptions(),
    probabilities: bool = True,
) -> list[list[Word]]:
    """Words with start/end times for each of B windows.

    cross: the CrossCache of the B windows (as `model.encode` returns); sot_sequence: the
    start tokens the text was decoded after (a trailing <|notimestamps|> is allowed; the
    language token, if any, picks how words are split); text_tokens: B lists of text token
    ids (no timestamps, no specials; an empty list gives no words); num_frames: B counts of
    10-ms mel frames of real audio per window (<= 3000); time_offsets: B window starts in
    seconds, added to every time; probabilities: False leaves Word.probability None
    and skips the output projection over every token (a large share of the alignment's time).
    Returns B lists of Words in spoken order.
    """
    if not isinstance(model.decoder, TextDecoder):
        raise ValueError("word timestamps need the transformer decoder's cross-attention")
    results: list[list[Word]] = [[] for _ in text_tokens]
    rows = [b for b, tokens in enumerate(text_tokens) if tokens]
    if not rows:
        return results
    if sot_sequence and sot_sequence[-1] == tokenizer.no_timestamps:
        sot_sequence = sot_sequence[:-1]
    # Every window is run, those without text on the start tokens alone: picking the others
    # out of `cross` would copy their encoder keys/values (~18 MB a window).
    sequences = [
        [*sot_sequence, tokenizer.no_timestamps, *tokens, tokenizer.eot] for tokens in text_tokens
    ]
    width = max(len(s) for s in sequences)
    if width > model.config.n_text_ctx:
        raise ValueError(f"{width} tokens do not fit the decoder's {model.config.n_text_ctx}")
    padded = [s + [tokenizer.eot] * (width - len(s)) for s in sequences]
    device = model.device
    with torch.no_grad():
        states, scores = model.decoder.alignment_scores(
            torch.tensor(padded, device=device), cross, alignment_heads(model)
        )
    language = _language_of(tokenizer, sot_sequence)

    def logits_of(row: int, length: int) -> Tensor | None:  # (length, V), a window at a time
        if not probabilities:
            return None
        with torch.no_grad():
            return model.decoder.output_logits(states[row : row + 1, :length])[0].cpu()

    # Each window's token-by-frame matrix, then one DTW pass over all of them.
    matrices = {}
    for b in rows:
        length = len(sequences[b])
        scores_b = scores[b, :, :length].cpu()
        matrices[b] = _alignment_matrix(scores_b, len(sot_sequence), num_frames[b], options)
    paths = dtw_many([-matrices[b].double().numpy() for b in rows])
    for b, path in zip(rows, paths, strict=True):
        timings = _word_timings(
            tokenizer,
            text_tokens[b],
            logits_of(b, len(sequences[b])),
            path,
            len(sot_sequence),
            language,
        )
        results[b] = _finish(timings, time_offsets[b], options)
    return results


def alignment_heads(model: AVCaptioner) -> list[list[int]]:
    """The checkpoint's [layer, head] pairs; without any, every head of the upper half of
    the decoder layers (Whisper's default before a model's heads are known)."""
    if model.config.alignment_heads:
        return [list(pair) for pair in model.config.alignment_heads]
    n_layer, n_head = model.config.n_text_layer, model.config.n_text_head
    return [[layer, head] for layer in range(n_layer // 2, n_layer) for head in range(n_head)]


def median_filter(x: Tensor, width: int) -> Tensor:
    """Median of each `width` neighbours along the last dimension, reflect-padded at the
    edges: (..., M) -> (..., M). Unchanged when M is too short to reflect."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    shape, m = x.shape, x.shape[-1]
    flat = x.reshape(1, -1, m)  # F.pad's reflect mode wants 3-D input
    flat = F.pad(flat, (pad, pad), mode="reflect")[0]
    # Odd-even transposition sort of the `width` shifted copies (it sorts any n values in
    # n rounds of neighbour compare-exchanges), elementwise min/max over whole tensors:
    # faster than sort() on the unfolded windows, with the same values.
    values = [flat[:, i : i + m] for i in range(width)]
    for round_ in range(width):
        for i in range(round_ % 2, width - 1, 2):
            low, high = values[i], values[i + 1]
            values[i], values[i + 1] = torch.minimum(low, high), torch.maximum(low, high)
    return values[pad].reshape(shape)


def split_to_word_tokens(
    tokenizer: WhisperTokenizer, tokens: list[int], language: str = "en"
) -> tuple[list[str], list[list[int]]]:
    """Text tokens -> words (decoded, leading space kept) and each word's tokens. Spaces
    split words (punctuation stands alone until merged back); for zh/ja/th/lo/my/yue each
    whole character is a word."""
    pieces, piece_tokens = _split_on_characters(tokenizer, tokens)
    if language in UNICODE_SPLIT_LANGUAGES:
        return pieces, piece_tokens
    words: list[str] = []
    word_tokens: list[list[int]] = []
    for piece, ids in zip(pieces, piece_tokens, strict=True):
        starts_word = piece.startswith(" ") or piece.strip() in string.punctuation
        if starts_word or not words:
            words.append(piece)
            word_tokens.append(list(ids))
        else:
            words[-1] += piece
            word_tokens[-1].extend(ids)
    return words, word_tokens


def _split_on_characters(
    tokenizer: WhisperTokenizer, tokens: list[int]
) -> tuple[list[str], list[list[int]]]:
    """Group tokens so each group decodes to whole characters (a token may hold part of a
    multi-byte character; undecodable bytes that stay undecodable in the whole text end a
    group too, as in Whisper)."""
    replacement = "\ufffd"
    full = tokenizer.decode(tokens)
    pieces, groups, current, offset = [], [], [], 0
    for token in tokens:
        current.append(token)
        decoded = tokenizer.decode(current)
        broken_at = decoded.find(replacement)
        if broken_at < 0 or (
            offset + broken_at < len(full) and full[offset + broken_at] == replacement
        ):
            pieces.append(decoded)
            groups.append(current)
            current = []
            offset += len(decoded)
    if current:  # a character cut off at the very end
        pieces.append(tokenizer.decode(current))
        groups.append(current)
    return pieces, groups


def _language_of(tokenizer: WhisperTokenizer, sot_sequence: list[int]) -> str:
    """The language token in the start sequence ("en" for English-only vocabularies)."""
    by_id = {token: code for code, token in tokenizer.language_tokens.items()}
    for token in sot_sequence:
        if token in by_id:
            return by_id[token]
    return "en"


def _alignment_matrix(
    scores: Tensor, n_start: int, num_frames: int, options: AlignmentOptions
) -> Tensor:
    """One window's scores (A, T, n_audio_ctx) of the sequence [n_start start tokens,
    <|notimestamps|>, text, <|endoftext|>] -> (n_text + 1, F) how strongly each token
    (<|notimestamps|> .. last text token) attends to each real audio position."""
    n_positions = max(1, min(num_frames // 2, scores.shape[-1]))
    weights = scores[:, :, :n_positions].softmax(dim=-1)  # (A, T, F)
    std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
    # A frame every token attends to equally has std 0; it carries no timing (0, not NaN).
    weights = (weights - mean) / std.clamp_min(1e-12)
    weights = median_filter(weights, options.median_filter_width)
    return weights.mean(dim=0)[n_start:-1]


def _word_timings(
    tokenizer: WhisperTokenizer,
    text_tokens: list[int],
    logits: Tensor | None,
    path: tuple[np.ndarray, np.ndarray],
    n_start: int,
    language: str,
) -> list[_Timing]:
    """One window: logits (T, V) of the sequence (None: no probabilities) and the DTW path
    (token rows, frames) through its alignment matrix -> one _Timing per word (times from
    the window start, before Whisper's fixes)."""
    n_text = len(text_tokens)
    token_probs = None
    if logits is not None:
        # Position p predicts token p + 1: rows n_start .. n_start + n_text - 1 predict text.
        predicting = logits[n_start : n_start + n_text, : tokenizer.eot].softmax(dim=-1)
        token_probs = predicting[torch.arange(n_text), torch.tensor(text_tokens)].numpy()
    token_indices, time_indices = path

    words, word_tokens = split_to_word_tokens(tokenizer, text_tokens, language)
    boundaries = np.cumsum([0] + [len(t) for t in word_tokens])  # (n_words + 1,)
    # The path's first cell on each token row is when that token starts being heard.
    jumps = np.diff(token_indices, prepend=-1).astype(bool)
    jump_times = time_indices[jumps] * TIME_PRECISION  # (n_text + 1,)
    return [
        _Timing(
            text=word,
            tokens=tokens,
            start=float(jump_times[first]),
            end=float(jump_times[after]),
            probability=None if token_probs is None else float(np.mean(token_probs[first:after])),
        )
        for word, tokens, first, after in zip(
            words, word_tokens, boundaries[:-1], boundaries[1:], strict=True
        )
    ]


def _finish(timings: list[_Timing], time_offset: float, options: AlignmentOptions) -> list[Word]:
    """Whisper's fixes on one window's timings, then Words in absolute seconds."""
    durations = np.array([t.end - t.start for t in timings])
    durations = durations[durations.nonzero()]
    median = float(np.median(durations)) if len(durations) else 0.0
    median = min(options.max_median_duration, median)
    longest = 2 * median
    if len(durations):
        _clip_at_sentence_ends(timings, longest)
    _merge_punctuations(timings, options.prepend_punctuations, options.append_punctuations)
    kept = [t for t in timings if t.text]
    if kept:
        _clip_first_word_after_pause(kept, median, longest)
    return [
        Word(time_offset + t.start, time_offset + t.end, t.text.strip(), t.probability)
        for t in kept
    ]


def _clip_at_sentence_ends(timings: list[_Timing], longest: float) -> None:
    """A full stop (or the word after one) that the path stretched over a pause is cut to
    `longest`: the stop keeps its start, the next word keeps its end."""
    for i in range(1, len(timings)):
        if timings[i].end - timings[i].start > longest:
            if timings[i].text in SENTENCE_END_MARKS:
                timings[i].end = timings[i].start + longest
            elif timings[i - 1].text in SENTENCE_END_MARKS:
                timings[i].start = timings[i].end - longest


def _merge_punctuations(timings: list[_Timing], prepended: str, appended: str) -> None:
    """Opening marks join the next word, closing marks the previous one; the absorbed entry
    is left with empty text (its time span is dropped, as in Whisper)."""
    i, j = len(timings) - 2, len(timings) - 1
    while i >= 0:
        previous, following = timings[i], timings[j]
        if previous.text.startswith(" ") and previous.text.strip() in prepended:
            following.text = previous.text + following.text
            following.tokens = previous.tokens + following.tokens
            previous.text, previous.tokens = "", []
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(timings):
        previous, following = timings[i], timings[j]
        if not previous.text.endswith(" ") and following.text in appended:
            previous.text = previous.text + following.text
            previous.tokens = previous.tokens + following.tokens
            following.text, following.tokens = "", []
        else:
            i = j
        j += 1


def _clip_first_word_after_pause(words: list[_Timing], median: float, longest: float) -> None:
    """The path tends to start the first word at the window start even after silence. As
    Whisper does after a pause (here: measured from the window start), a first word (or
    first two) longer than `longest` is cut back to end - `longest`."""
    first = words[0]
    too_long = first.end - first.start > longest or (
        len(words) > 1 and words[1].end - first.start > 2 * longest
    )
    if first.end > 4 * median and too_long:
        if len(words) > 1 and words[1].end - words[1].start > longest:
            boundary = max(words[1].end / 2, words[1].end - longest)
            first.end = words[1].start = boundary
        first.start = max(0.0, first.end - longest)
