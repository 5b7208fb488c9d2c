"""The web page: a Gradio Blocks app over app/pipeline.py and evaluation/.

Two tabs, each one event that is also an API endpoint:

- Subtitle (`/subtitle`): a media file -> the video playing with its subtitles, a cue
  table, and SRT / VTT / JSON (/ TXT) downloads.
- Score (`/score`): hypothesis and reference subtitles (or caption-set JSON) -> the
  metric table, the per-cue pairs and the JSON report.

The callbacks only check limits, call plain functions and turn their one-line errors
into `gr.Error`. Every file the page offers is written by us into a fresh folder under
one server-owned directory; the only client file ever read is the upload Gradio hands
us (Gradio refuses input paths outside its upload folder).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from app.cut_timing import cut_marks
from app.layout import LayoutOptions
from app.options import SubtitleOptions
from app.pipeline import Progress, subtitle_with_shots
from data.media import MEDIA_EXTENSIONS, MediaError, MediaInfo, probe
from data.shot_changes import ShotChanges
from data.subtitles import Cue, SubtitleError, read_subtitles, write_subtitles
from evaluation.caption_metrics import java_missing_note
from evaluation.caption_sets import CaptionSetError, load_hypotheses, load_references
from evaluation.report import markdown_table, write_json
from evaluation.scoring import UsageError, needs_java, score_paths
from evaluation.time_pairing import pair_hypothesis_words
from model.checkpoint import LoadedModel
from model.search import DecodingOptions

DOWNLOAD_FORMATS = ("srt", "vtt", "json", "txt")
DEFAULT_DOWNLOADS = ["srt", "vtt", "json"]
SCORE_FILE_TYPES = [".srt", ".vtt", ".json"]
KEEP_OUTPUTS_SECONDS = 3600  # our request folders older than this are removed
# Uploads wait in the queue before they are read: keep them well beyond a long wait.
KEEP_UPLOADS_SECONDS = 4 * 3600
CUE_HEADERS = ["start", "end", "text", "shot change"]


@dataclass(frozen=True)
class Limits:
    max_file_mb: float = 1024
    max_minutes: float = 120
    concurrency: int = 1  # requests of one kind running at once; the rest wait in order

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


class RequestError(ValueError):
    """A request the server refuses; the message is one line meant for the user."""


# ------------------------------------------------------------------------ plain functions


class OutputFolders:
    """One fresh folder per request under a server-owned root; stale ones are removed."""

    def __init__(self, root: Path, keep_seconds: float = KEEP_OUTPUTS_SECONDS):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.keep_seconds = keep_seconds

    def new(self) -> Path:
        self.remove_stale()
        return Path(tempfile.mkdtemp(prefix="request-", dir=self.root))

    def remove_stale(self) -> None:
        # Gradio copies what a request returns into its own cache, so an old folder
        # is no longer read by anyone.
        cutoff = time.time() - self.keep_seconds
        for folder in self.root.glob("request-*"):
            try:
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except FileNotFoundError:  # removed by a request running beside this one
                pass


def check_media(path: str | Path, limits: Limits) -> MediaInfo:
    """The upload's MediaInfo, or RequestError naming the file and what is wrong."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise RequestError(
            f"{path.name}: {size / 2**20:.1f} MB is over this server's limit of "
            f"{limits.max_file_mb:g} MB"
        )
    try:
        info = probe(path)
    except MediaError as error:
        raise RequestError(f"{path.name}: {error.reason}") from None
    if info.duration > limits.max_minutes * 60:
        raise RequestError(
            f"{path.name}: {info.duration / 60:.1f} minutes is over this server's limit of "
            f"{limits.max_minutes:g} minutes"
        )
    return info


def clock(seconds: float) -> str:
    """00:01:02.345"""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis / 1000:06.3f}"


def cue_rows(
    cues: list[Cue], shots: ShotChanges | None = None, layout: LayoutOptions | None = None
) -> list[list[str]]:
    """The cue table: times, text on one line, and how the cue meets the video's cuts."""
    marks = cut_marks(cues, shots, layout or LayoutOptions())
    return [
        [clock(cue.start), clock(cue.end), cue.text.replace("\n", " "), mark]
        for cue, mark in zip(cues, marks, strict=True)
    ]


def write_downloads(
    cues: list[Cue], folder: Path, stem: str, formats: list[str], shots: ShotChanges | None = None
) -> list[Path]:
    """One file per format in `folder`, named after the upload, in `formats` order."""
    return [write_subtitles(cues, folder / f"{stem}.{fmt}", fmt, shots) for fmt in formats]


def subtitle_upload(
    media_path: str | Path,
    loaded: LoadedModel,
    options: SubtitleOptions,
    limits: Limits,
    outputs: OutputFolders,
    formats: list[str],
    progress: Progress | None = None,
) -> tuple[list[Cue], Path, list[Path], ShotChanges | None]:
    """Subtitle one upload into a new output folder: (cues, the VTT the player shows,
    downloads, the video's cuts). Raises RequestError with a one-line message for
    anything the user should see."""
    media_path = Path(media_path)
    check_media(media_path, limits)
    try:
        cues, shots = subtitle_with_shots(media_path, loaded, options, progress)
    except MediaError as error:  # damage found only while decoding
        raise RequestError(f"{media_path.name}: {error.reason}") from None
    except (RuntimeError, ValueError, OSError) as error:  # e.g. out of GPU memory
        reason = " ".join(str(error).split())
        raise RequestError(f"{media_path.name}: {type(error).__name__}: {reason}") from None
    folder = outputs.new()
    # The player gets its own VTT, whatever the user chose to download.
    player_vtt = write_subtitles(cues, folder / "player" / f"{media_path.stem}.vtt", "vtt")
    downloads = write_downloads(cues, folder, media_path.stem, formats, shots)
    return cues, player_vtt, downloads, shots


def _public_names(report: dict, names: dict[str, str]) -> dict:
    """The report with the server's upload paths replaced by the uploaded file names."""
    for row in [*report["files"], *report.get("layout", {}).get("files", [])]:
        row["hyp"], row["ref"] = (
            names.get(row["hyp"], row["hyp"]),
            names.get(row["ref"], row["ref"]),
        )
    for key in ("hyp", "ref"):
        if key in report["settings"]:
            report["settings"][key] = names.get(report["settings"][key], report["settings"][key])
    return report


def cue_pairs(hyp_path: Path, ref_path: Path, mode: str) -> dict:
    """What was compared with what, as a table: {"headers", "data"}."""
    if mode == "caption sets":
        hyps, refs = load_hypotheses(hyp_path), load_references(ref_path)
        rows = [[key, hyps[key], " | ".join(refs[key])] for key in refs if key in hyps]
        return {"headers": ["id", "hypothesis", "references"], "data": rows}
    ref_cues = read_subtitles(ref_path)
    words = pair_hypothesis_words(read_subtitles(hyp_path), ref_cues)
    rows = [
        [clock(cue.start), clock(cue.end), cue.text.replace("\n", " "), said]
        for cue, said in zip(ref_cues, words, strict=True)
    ]
    return {"headers": ["start", "end", "reference", "hypothesis words in that time"], "data": rows}


def score_uploads(
    hyp_path: str | Path, ref_path: str | Path, folder: Path, metrics: list[str] | None = None
):
    """(Markdown metric table, per-cue pairs table, JSON report path) for two uploads;
    `metrics`: None for every metric that applies. Raises RequestError with a one-line
    message naming the uploaded file."""
    hyp_path, ref_path = Path(hyp_path), Path(ref_path)
    names = {str(hyp_path): hyp_path.name, str(ref_path): ref_path.name}
    try:
        report = score_paths(hyp_path, ref_path, metrics)
        pairs = cue_pairs(hyp_path, ref_path, report["settings"]["mode"])
    except (UsageError, SubtitleError, CaptionSetError) as error:
        message = str(error)
        for path, name in names.items():
            message = message.replace(path, name)
        raise RequestError(message) from None
    report = _public_names(report, names)
    table = markdown_table(report, report["settings"]["metrics"])
    notes = ["Figures on the 0-100 scale; WER, CER and SubER: lower is better."]
    if not report["settings"]["java"] and needs_java(report):
        notes.append(java_missing_note())
    report_path = write_json(report, folder / f"score-{hyp_path.stem}.json")
    return table + "\n\n" + " ".join(notes), pairs, report_path


def page_layout(line_width, max_cps, max_duration) -> LayoutOptions:
    """The subtitle tab's layout controls -> LayoutOptions; a control left out by an API
    caller keeps its default. RequestError for values no subtitle could keep."""
    defaults = LayoutOptions()
    try:
        options = LayoutOptions(
            max_line_width=int(line_width) if line_width is not None else defaults.max_line_width,
            max_cps=float(max_cps) if max_cps is not None else defaults.max_cps,
            max_duration=float(max_duration) if max_duration is not None else defaults.max_duration,
        )
    except (TypeError, ValueError):
        raise RequestError(
            "layout: line width, characters per second and duration must be numbers"
        ) from None
    if options.max_line_width < 10 or not options.max_cps > 0:
        raise RequestError(
            "layout: at least 10 characters per line and above 0 characters per second"
        )
    if not options.max_duration >= options.min_duration:
        raise RequestError(f"layout: cues must be allowed at least {options.min_duration:.2f} s")
    return options


def model_summary(loaded: LoadedModel) -> str:
    config, model = loaded.model.config, loaded.model
    fps = f"{config.frames_per_second:g}"
    if model.uses_vision():
        visual = f"active ({config.frame_backbone} frames at {fps} fps)"
    else:
        visual = f"inactive: gates at 0, audio only ({config.frame_backbone} frames unused)"
    return (
        f"**Model** `{loaded.name}` ({config.decoder} decoder, "
        f"{config.n_audio_layer}+{config.n_text_layer} layers, width {config.n_text_state}) · "
        f"**device** `{model.device}` · **visual branch** {visual}"
    )


# ------------------------------------------------------------------------------- the page


def build_app(loaded: LoadedModel, limits: Limits, work_dir: Path | None = None) -> gr.Blocks:
    """The Blocks app, queued. `work_dir`: where request folders go (default: a new
    temporary directory)."""
    outputs = OutputFolders(
        Path(work_dir) / "outputs" if work_dir else Path(tempfile.mkdtemp(prefix="avsub-web-"))
    )
    default_fps = loaded.model.config.frames_per_second

    # Gradio finds the progress bar by this default value: its documented way.
    def on_subtitle(
        media,
        formats,
        beam_size,
        line_width,
        fps,
        max_cps=None,
        max_duration=None,
        progress=gr.Progress(),  # noqa: B008
    ):
        """Subtitle a video or audio file: the video with its subtitles, cues, downloads."""
        if not media:
            raise gr.Error("Upload a video or audio file first.", print_exception=False)
        formats = [fmt for fmt in DOWNLOAD_FORMATS if fmt in (formats or [])]
        if not formats:
            raise gr.Error("Choose at least one download format.", print_exception=False)
        try:
            layout = page_layout(line_width, max_cps, max_duration)
        except RequestError as error:
            raise gr.Error(str(error), print_exception=False) from None
        options = SubtitleOptions(
            decoding=DecodingOptions(beam_size=int(beam_size)),
            layout=layout,
            fps=float(fps) if fps else None,
        )
        progress(0.0, desc="Starting")
        started = time.monotonic()

        def report(done: float, total: float) -> None:
            progress(done / total if total else 1.0, desc=f"Subtitled {done:.0f} of {total:.0f} s")

        try:
            cues, player_vtt, downloads, shots = subtitle_upload(
                media, loaded, options, limits, outputs, formats, report
            )
        except RequestError as error:
            raise gr.Error(str(error), print_exception=False) from None
        status = (
            f"{len(cues)} cue{'s' if len(cues) != 1 else ''} from `{Path(media).name}` "
            f"in {time.monotonic() - started:.1f} s."
        )
        if shots is not None:
            status += f" {len(shots.times)} shot changes; cue times follow them."
        if not cues:
            status += " No speech was found."
        video = gr.Video(value=str(media), subtitles=str(player_vtt))
        rows = cue_rows(cues, shots, layout)
        return video, status, rows, [str(path) for path in downloads]

    def on_score(hyp, ref):
        """Score hypothesis subtitles (or captions) against a reference."""
        if not hyp or not ref:
            raise gr.Error("Upload both a hypothesis and a reference file.", print_exception=False)
        try:
            table, pairs, report_path = score_uploads(hyp, ref, outputs.new())
        except RequestError as error:
            raise gr.Error(str(error), print_exception=False) from None
        return table, pairs, str(report_path)

    # Gradio's own cache holds the uploads and the copies of our outputs it serves.
    with gr.Blocks(
        title="avsub", analytics_enabled=False, delete_cache=(600, KEEP_UPLOADS_SECONDS)
    ) as app:
        gr.Markdown("# avsub: video in, timed subtitles out")
        gr.Markdown(model_summary(loaded), elem_id="model-info")
        with gr.Tab("Subtitle"):
            with gr.Row():
                with gr.Column(scale=1):
                    media = gr.File(
                        label="Video or audio file",
                        file_types=sorted(MEDIA_EXTENSIONS),
                        type="filepath",
                        elem_id="media-upload",
                    )
                    gr.Markdown(
                        f"Up to {limits.max_file_mb:g} MB and {limits.max_minutes:g} minutes."
                    )
                    formats = gr.CheckboxGroup(
                        list(DOWNLOAD_FORMATS), value=DEFAULT_DOWNLOADS, label="Download formats"
                    )
                    beam_size = gr.Slider(1, 10, value=5, step=1, label="Beam size (1 = greedy)")
                    line_width = gr.Slider(
                        20, 80, value=42, step=1, label="Characters per line at most"
                    )
                    max_cps = gr.Slider(
                        10, 40, value=20, step=1, label="Characters per second at most"
                    )
                    max_duration = gr.Slider(
                        1, 20, value=7, step=0.5, label="Seconds per cue at most"
                    )
                    fps = gr.Number(
                        value=default_fps,
                        minimum=0.1,
                        maximum=30,
                        label="Frames per second for the visual branch",
                    )
                    run = gr.Button("Subtitle", variant="primary", elem_id="subtitle-button")
                with gr.Column(scale=2):
                    video = gr.Video(
                        label="Video with subtitles", interactive=False, elem_id="player"
                    )
                    status = gr.Markdown(elem_id="subtitle-status")
                    cues = gr.Dataframe(
                        headers=CUE_HEADERS,
                        label="Cues",
                        interactive=False,
                        wrap=True,
                        column_widths=["15%", "15%", "45%", "25%"],
                        elem_id="cue-table",
                    )
                    downloads = gr.File(
                        label="Downloads",
                        file_count="multiple",
                        interactive=False,
                        elem_id="downloads",
                    )
            run.click(
                on_subtitle,
                # New controls go last: API callers' positional inputs keep their meaning.
                inputs=[media, formats, beam_size, line_width, fps, max_cps, max_duration],
                outputs=[video, status, cues, downloads],
                api_name="subtitle",
                concurrency_limit=limits.concurrency,
            )
        with gr.Tab("Score"):
            with gr.Row():
                hyp = gr.File(
                    label="Hypothesis (SRT, VTT, JSON cues or caption set)",
                    file_types=SCORE_FILE_TYPES,
                    type="filepath",
                    elem_id="hyp-upload",
                )
                ref = gr.File(
                    label="Reference (same kind)",
                    file_types=SCORE_FILE_TYPES,
                    type="filepath",
                    elem_id="ref-upload",
                )
            score = gr.Button("Score", variant="primary", elem_id="score-button")
            metrics = gr.Markdown(elem_id="score-table")
            pairs = gr.Dataframe(
                label="What was compared", interactive=False, wrap=True, elem_id="score-pairs"
            )
            report = gr.File(label="Full report (JSON)", interactive=False)
            score.click(
                on_score,
                inputs=[hyp, ref],
                outputs=[metrics, pairs, report],
                api_name="score",
                concurrency_limit=limits.concurrency,
            )
    app.queue(default_concurrency_limit=limits.concurrency)
    return app
