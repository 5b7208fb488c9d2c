"""The web page: a Gradio Blocks app over app/subtitle_run.py and evaluation/.

Two tabs, each one event that is also an API endpoint:

- Subtitle (`/subtitle`): a media file -> the video playing with its subtitles, a cue
  table, and SRT / VTT / JSON (/ TXT) downloads.
- Score (`/score`): hypothesis and reference subtitles (or caption-set JSON) -> the
  metric table, the per-cue pairs and the JSON report.

The callbacks only check limits, call plain functions and turn their one-line errors
into `gr.Error`. Every file the page offers is written by us into a fresh folder under
one server-owned directory; the only client file ever read is the upload Gradio hands
us (Gradio refuses input paths outside its upload folder). app/web_guard.py bounds the
queue and stops work whose client has gone; app/web_janitor.py keeps the temporary tree
from growing.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from app.cut_timing import cut_marks
from app.options import SubtitleOptions
from app.screen_terms import VISUAL_CONTEXT_MODES
from app.subtitle_run import (
    BatchOptions,
    FileResult,
    file_details,
    subtitle_file,
    unheard_line,
)
from app.web_guard import (
    GuardedBlocks,
    client_gone,
    log,
    paths_in_queue,
    paths_only,
    refuse,
)
from app.web_janitor import KEEP_OUTPUTS_SECONDS, Janitor
from app.whisper_loop import Progress
from data.media import MEDIA_EXTENSIONS, MediaError, MediaInfo, decoding, probe
from data.shot_changes import ShotChanges
from data.subtitle_rules import LayoutOptions, layout_problems
from data.subtitles import FORMATS as DOWNLOAD_FORMATS
from data.subtitles import READABLE_FORMATS, Cue, SubtitleError, read_subtitles, write_subtitles
from evaluation.caption_metrics import java_missing_note
from evaluation.caption_sets import CaptionSetError, load_hypotheses, load_references
from evaluation.metric_names import LOWER_IS_BETTER, METRIC_LABELS
from evaluation.report import markdown_table, write_json
from evaluation.scoring import UsageError, needs_java, score_paths
from evaluation.time_pairing import pair_hypothesis_words
from model.checkpoint import LoadedModel
from model.named_models import AUTO, BASE, MODEL_CHOICES
from model.search import DecodingOptions
from model.tokenizer import LANGUAGES

DEFAULT_DOWNLOADS = ["srt", "vtt", "json"]
SCORE_FILE_TYPES = [f".{fmt}" for fmt in READABLE_FORMATS]
CUE_HEADERS = ["start", "end", "text", "shot change", "on-screen terms"]
TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class ModelChoices:
    """The models the page offers: `names` in the Model control, `load(name)` gives one
    (loaded once, kept), `default` is chosen at first."""

    names: tuple[str, ...]
    default: str
    load: Callable[[str], LoadedModel]

    @classmethod
    def single(cls, loaded: LoadedModel) -> ModelChoices:
        return cls((loaded.name,), loaded.name, lambda _name: loaded)

    @classmethod
    def named(cls, load: Callable[[str], LoadedModel], default: str = AUTO) -> ModelChoices:
        return cls(MODEL_CHOICES, default, load)


@dataclass(frozen=True)
class Limits:
    max_file_mb: float = 1024
    max_minutes: float = 120
    concurrency: int = 1  # requests of one kind running at once; the rest wait in order
    max_waiting: int = 16  # requests waiting in the queue; more are refused as "server busy"
    per_client: int = 2  # requests one client address may have waiting or running

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


class RequestError(ValueError):
    """A request the server refuses; the message is one line meant for the user."""


class ClientGone(Exception):
    """The client of a running request disconnected: its work is abandoned."""


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

    def remove_stale(self) -> int:
        """Remove folders older than keep_seconds; how many were removed."""
        # Gradio copies what a request returns into its own cache, so an old folder
        # is no longer read by anyone.
        cutoff, removed = time.time() - self.keep_seconds, 0
        for folder in self.root.glob("request-*"):
            try:
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:  # removed by a request running beside this one
                pass
        return removed


def check_media(path: str | Path, limits: Limits) -> MediaInfo:
    """The upload's MediaInfo, or RequestError naming the file and what is wrong."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise RequestError(
            f"{path.name}: {size / 2**20:.1f} MB is over this server's limit of "
            f"{limits.max_file_mb:g} MB"
        )
    # Packets of files whose header only estimates the duration are read up to twice the
    # limit: enough to refuse them, far cheaper than decoding them.
    longest = 2 * limits.max_minutes * 60
    try:
        info = probe(path, longest)
    except MediaError as error:
        raise RequestError(f"{path.name}: {error.reason}") from None
    if info.duration > limits.max_minutes * 60:
        # Past `longest` a measurement may have stopped: say only what is certain.
        minutes = (
            f"more than {longest / 60:g}"
            if info.duration > longest
            else f"{info.duration / 60:.1f}"
        )
        raise RequestError(
            f"{path.name}: {minutes} minutes is over this server's limit of "
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
    """The cue table: times, text on one line, how the cue meets the video's cuts, and the
    on-screen terms its words were decoded with."""
    marks = cut_marks(cues, shots, layout or LayoutOptions())
    return [
        [clock(cue.start), clock(cue.end), cue.text.replace("\n", " "), mark,
         ", ".join(cue.screen_terms)]
        for cue, mark in zip(cues, marks, strict=True)
    ]  # fmt: skip


def write_downloads(
    result: FileResult,
    folder: Path,
    stem: str,
    formats: list[str],
    damage: str | None = None,
) -> list[Path]:
    """One file per format in `folder`, named after the upload, in `formats` order; the
    JSON says which model and language made it, and what it could not hear or read."""
    details = file_details(result, damage)
    return [write_subtitles(result.cues, folder / f"{stem}.{fmt}", fmt, details) for fmt in formats]


def web_batch(loaded: LoadedModel) -> BatchOptions:
    """Small batches on a CPU: a request can be stopped after each (a batch of 8 speech
    chunks takes tens of seconds there), and a CPU encodes one window at a time anyway."""
    return BatchOptions(batch_size=8 if loaded.model.device.type == "cuda" else 2, workers=0)


def choose_model(
    media_path: Path, models: ModelChoices, name: str, options: SubtitleOptions
) -> tuple[LoadedModel, SubtitleOptions]:
    """The model for this upload and the options with its language fixed: `auto` detects
    the language with base and takes tiny.en for English (app/language_routing.py); a
    multilingual model detects it itself; an English-only one is English."""
    from app.language_routing import detect_file_language, model_for_language

    language = options.decoding.language
    if name == AUTO:
        if language is None:
            language = detect_file_language(media_path, models.load(BASE), options)
        loaded = models.load(model_for_language(language))
    else:
        loaded = models.load(name)
        if language is None and loaded.tokenizer.multilingual:
            language = detect_file_language(media_path, loaded, options)
    if not loaded.tokenizer.multilingual:
        language = "en"
    return loaded, replace(options, decoding=replace(options.decoding, language=language))


def subtitle_upload(
    media_path: str | Path,
    loaded: LoadedModel | ModelChoices,
    options: SubtitleOptions,
    limits: Limits,
    outputs: OutputFolders,
    formats: list[str],
    progress: Progress | None = None,
    check: Callable[[], None] | None = None,
    model_name: str | None = None,
) -> tuple[FileResult, Path, list[Path], str | None]:
    """Subtitle one upload into a new output folder: (result, the VTT the player shows,
    downloads, what was damaged in the media or None). `loaded`: the model, or the choices
    `model_name` picks from. Damaged media are subtitled as far as they can be read.
    Raises RequestError with a one-line message for anything the user should see.
    `check()` runs before every read of the media and may raise to stop."""
    media_path = Path(media_path)
    check_media(media_path, limits)
    models = loaded if isinstance(loaded, ModelChoices) else ModelChoices.single(loaded)
    damage: list[str] = []  # the first reader's note: it reads all the audio
    try:
        # The header may understate the duration: decoding stops at the limit.
        with decoding(limits.max_minutes * 60, check, lambda _, note: damage.append(note)):
            name = model_name or models.default
            loaded, options = choose_model(media_path, models, name, options)
            result = subtitle_file(media_path, loaded, options, progress, web_batch(loaded))
    except MediaError as error:  # damage or length found only while decoding
        raise RequestError(f"{media_path.name}: {error.reason}") from None
    except (RuntimeError, ValueError, OSError) as error:  # e.g. out of GPU memory
        reason = " ".join(str(error).split())
        raise RequestError(f"{media_path.name}: {type(error).__name__}: {reason}") from None
    folder = outputs.new()
    # The player gets its own VTT, whatever the user chose to download.
    player_vtt = write_subtitles(result.cues, folder / "player" / f"{media_path.stem}.vtt", "vtt")
    first_damage = damage[0] if damage else None
    downloads = write_downloads(result, folder, media_path.stem, formats, first_damage)
    return result, player_vtt, downloads, first_damage


def subtitle_status(
    result: FileResult, name: str, seconds: float, damage: str | None = None
) -> str:
    """The line above the player: how many cues, the language and model, any speech that
    got no words, and any damage found in the media."""
    count = len(result.cues)
    status = f"{count} cue{'s' if count != 1 else ''} from `{name}` in {seconds:.1f} s"
    status += f" · language `{result.language or '-'}` · model `{result.model or '-'}`."
    if not result.cues and not result.unheard:
        status += " No speech was found."
    if result.unheard:  # the subtitles leave this speech out: say so
        status += " **Warning:** " + unheard_line(name, result.unheard) + "."
    if result.shots is not None:
        status += f" {len(result.shots.times)} shot changes; cue times follow them."
    guided = sum(1 for cue in result.cues if cue.screen_terms)
    if guided:
        status += f" Text on screen guided {guided} cue{'s' if guided != 1 else ''}."
    if damage:
        status += f" **`{name}` is {damage}**; the subtitles cover what could be read."
    return status


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
    lower = ", ".join(METRIC_LABELS[key] for key in LOWER_IS_BETTER)
    notes = [f"Figures on the 0-100 scale; {lower}: lower is better."]
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
    if problems := layout_problems(options):
        field, problem = problems[0]
        raise RequestError(
            f"layout: {field.replace('_', ' ')} {getattr(options, field):g} {problem}"
        )
    return options


def model_summary(loaded: LoadedModel | ModelChoices) -> str:
    """The line at the top of the page: the model(s), the device and the visual branch."""
    if isinstance(loaded, ModelChoices):
        if len(loaded.names) > 1:
            shown = loaded.load(loaded.default if loaded.default != AUTO else BASE)
            return (
                f"**Models** {', '.join(f'`{n}`' for n in loaded.names)} (chosen below; "
                f"`{AUTO}`: the language is detected by `{BASE}`, English is subtitled by "
                f"tiny.en, other languages by `{BASE}`) · **default** `{loaded.default}` · "
                f"**device** `{shown.model.device}` · **visual branch** "
                f"{_visual_branch(shown)}"
            )
        loaded = loaded.load(loaded.default)
    config = loaded.model.config
    return (
        f"**Model** `{loaded.name}` ({config.decoder} decoder, "
        f"{config.n_audio_layer}+{config.n_text_layer} layers, width {config.n_text_state}) · "
        f"**device** `{loaded.model.device}` · **visual branch** {_visual_branch(loaded)}"
    )


def _visual_branch(loaded: LoadedModel) -> str:
    config = loaded.model.config
    if loaded.model.uses_vision():
        return f"active ({config.frame_backbone} frames at {config.frames_per_second:g} fps)"
    return f"inactive: gates at 0, audio only ({config.frame_backbone} frames unused)"


# ------------------------------------------------------------------------------- the page


def build_app(
    loaded: LoadedModel | ModelChoices, limits: Limits, work_dir: Path | None = None
) -> gr.Blocks:
    """The Blocks app, queued, its temporary tree swept on a timer. `loaded`: one model, or
    the named models to choose from. `work_dir`: where request folders go (default: a new
    temporary directory)."""
    models = loaded if isinstance(loaded, ModelChoices) else ModelChoices.single(loaded)
    outputs = OutputFolders(
        Path(work_dir) / "outputs" if work_dir else Path(tempfile.mkdtemp(prefix="avsub-web-"))
    )
    default_fps = 1.0
    if len(models.names) == 1:
        default_fps = models.load(models.default).model.config.frames_per_second
    app: GuardedBlocks | None = None  # the page, defined below; the janitor reads its queue
    janitor = Janitor(
        Path(get_upload_folder()), outputs, lambda: paths_in_queue(app) if app else set()
    )

    def request_options(
        beam_size, line_width, fps, max_cps, max_duration, model_name, language, task,
        visual_context=None,
    ) -> SubtitleOptions:  # fmt: skip
        try:
            beam = int(beam_size) if beam_size is not None else 5
            fps = float(fps) if fps else None
        except (TypeError, ValueError):
            raise RequestError("beam size and frames per second must be numbers") from None
        if not 1 <= beam <= 10 or (fps is not None and not 0 < fps <= 30):
            raise RequestError("beam size must be 1 to 10 and frames per second 0 to 30")
        if model_name is not None and model_name not in models.names:
            raise RequestError(f"unknown model {model_name!r}")
        language = None if language in (None, "", AUTO) else language
        if language is not None and language not in LANGUAGES:
            raise RequestError(f"unknown language {language!r}")
        if task is not None and task not in TASKS:
            raise RequestError(f"unknown task {task!r}")
        visual_context = visual_context or VISUAL_CONTEXT_MODES[0]
        if visual_context not in VISUAL_CONTEXT_MODES:
            raise RequestError(f"unknown visual context {visual_context!r}")
        layout = page_layout(line_width, max_cps, max_duration)
        decoding = DecodingOptions(beam_size=beam, language=language, task=task or TASKS[0])
        return SubtitleOptions(
            decoding=decoding, layout=layout, fps=fps, visual_context=visual_context
        )

    rules = LayoutOptions()

    # Gradio finds the progress bar by this default value: its documented way.
    def on_subtitle(
        media,
        formats,
        beam_size,
        line_width,
        fps,
        max_cps=None,
        max_duration=None,
        model_name=None,
        language=None,
        task=None,
        visual_context=None,
        progress=gr.Progress(),  # noqa: B008
    ):
        """Subtitle a video or audio file: the video with its subtitles, cues, downloads."""
        if not media:
            raise refuse("Upload a video or audio file first.")
        formats = [fmt for fmt in DOWNLOAD_FORMATS if fmt in (formats or [])]
        if not formats:
            raise refuse("Choose at least one download format.")
        progress(0.0, desc="Starting")
        started = time.monotonic()

        def still_wanted() -> None:
            if client_gone():  # between steps: nobody is waiting for the rest
                raise ClientGone()

        def report(done: float, total: float) -> None:
            still_wanted()
            progress(done / total if total else 1.0, desc=f"Subtitled {done:.0f} of {total:.0f} s")

        try:
            options = request_options(
                beam_size, line_width, fps, max_cps, max_duration, model_name, language, task,
                visual_context,
            )  # fmt: skip
            result, player_vtt, downloads, damage = subtitle_upload(
                media, models, options, limits, outputs, formats, report, still_wanted, model_name
            )
        except RequestError as error:
            raise refuse(str(error)) from None
        except ClientGone:
            log.info("stopped: %s, its client has gone", Path(media).name)
            raise gr.Error("the client has gone", print_exception=False) from None
        finally:
            janitor.used(media)
        status = subtitle_status(result, Path(media).name, time.monotonic() - started, damage)
        if damage:
            log.info("%s: %s", Path(media).name, damage)
        cues = result.cues
        video = gr.Video(value=str(media), subtitles=str(player_vtt))
        rows = cue_rows(cues, result.shots, options.layout)
        return video, status, rows, [str(path) for path in downloads]

    def on_score(hyp, ref):
        """Score hypothesis subtitles (or captions) against a reference."""
        if not hyp or not ref:
            raise refuse("Upload both a hypothesis and a reference file.")
        try:
            table, pairs, report_path = score_uploads(hyp, ref, outputs.new())
        except RequestError as error:
            raise refuse(str(error)) from None
        finally:
            janitor.used(hyp)
            janitor.used(ref)
        return table, pairs, str(report_path)

    app = GuardedBlocks(
        title="avsub",
        analytics_enabled=False,
        limits=limits,
        on_dropped_upload=janitor.remove_partials,
    )
    janitor.uploaded = app.upload_file_set
    janitor.run()
    with app:
        gr.Markdown("# avsub: video in, timed subtitles out")
        gr.Markdown(model_summary(models), elem_id="model-info")
        with gr.Tab("Subtitle"):
            with gr.Row():
                with gr.Column(scale=1):
                    media = paths_only(
                        gr.File(
                            label="Video or audio file",
                            file_types=sorted(MEDIA_EXTENSIONS),
                            type="filepath",
                            elem_id="media-upload",
                        )
                    )
                    gr.Markdown(
                        f"Up to {limits.max_file_mb:g} MB and {limits.max_minutes:g} minutes."
                    )
                    formats = gr.CheckboxGroup(
                        list(DOWNLOAD_FORMATS), value=DEFAULT_DOWNLOADS, label="Download formats"
                    )
                    model_name = gr.Dropdown(
                        list(models.names), value=models.default, label="Model",
                        elem_id="model-choice",
                    )  # fmt: skip
                    language = gr.Dropdown(
                        [AUTO, *LANGUAGES], value=AUTO, label="Language (auto: detected)",
                        elem_id="language-choice",
                    )  # fmt: skip
                    task = gr.Radio(
                        list(TASKS), value=TASKS[0], label="Task (translate: English subtitles)"
                    )
                    visual_context = gr.Radio(
                        list(VISUAL_CONTEXT_MODES), value=VISUAL_CONTEXT_MODES[0],
                        label="Text on screen as context (auto: where the video shows text)",
                        elem_id="visual-context",
                    )  # fmt: skip
                    beam_size = gr.Slider(1, 10, value=5, step=1, label="Beam size (1 = greedy)")
                    line_width = gr.Slider(
                        20,
                        80,
                        value=rules.max_line_width,
                        step=1,
                        label="Characters per line at most",
                    )
                    max_cps = gr.Slider(
                        10, 40, value=rules.max_cps, step=1, label="Characters per second at most"
                    )
                    max_duration = gr.Slider(
                        1, 20, value=rules.max_duration, step=0.5, label="Seconds per cue at most"
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
                        column_widths=["12%", "12%", "40%", "16%", "20%"],
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
                inputs=[
                    media,
                    formats,
                    beam_size,
                    line_width,
                    fps,
                    max_cps,
                    max_duration,
                    model_name,
                    language,
                    task,
                    visual_context,
                ],  # fmt: skip
                outputs=[video, status, cues, downloads],
                api_name="subtitle",
                concurrency_limit=limits.concurrency,
            )
        with gr.Tab("Score"):
            with gr.Row():
                hyp = paths_only(
                    gr.File(
                        label="Hypothesis (SRT, VTT, JSON cues or caption set)",
                        file_types=SCORE_FILE_TYPES,
                        type="filepath",
                        elem_id="hyp-upload",
                    )
                )
                ref = paths_only(
                    gr.File(
                        label="Reference (same kind)",
                        file_types=SCORE_FILE_TYPES,
                        type="filepath",
                        elem_id="ref-upload",
                    )
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
    # Gradio's own bound stands behind Admission's, which refuses first with a clearer line.
    app.queue(default_concurrency_limit=limits.concurrency, max_size=limits.max_waiting + 1)
    return app
