"""A lecture set: sentences full of names and jargon spoken by espeak-ng over slides that show
those terms among other lines, in noise; each clip also over a blank picture and under a
slide about something else.

Every clip is written in three pictures (slides, blank, unrelated) at each of four sound
levels (clean, 10, 5 and 0 dB of white, pink or music noise), so the three pictures of a
clip at one level share the very same audio. Each slide has a title, the clip's terms in
bullet lines, and lines unrelated to the speech; fonts, sizes and colours vary by clip.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lost_speech_media import VOICES, _mix, speak  # noqa: E402
from bench.readable_media import SAMPLE_RATE  # noqa: E402
from bench.shot_media import write_video  # noqa: E402

# (spoken sentence, slide title, the terms it says that the slide shows)
LECTURES = (
    ("Professor Nakamura explained how PostgreSQL runs autovacuum on busy tables.",
     "Database maintenance", ("Nakamura", "PostgreSQL", "autovacuum")),
    ("The Kubernetes scheduler places each pod using nodeAffinity and taints.",
     "Cluster scheduling", ("Kubernetes", "nodeAffinity", "taints")),
    ("Szymanski showed that the Levenshtein distance grows with the alphabet.",
     "Edit distances", ("Szymanski", "Levenshtein")),
    ("We fine tuned the wav2vec encoder with the CTC loss from Graves.",
     "Speech encoders", ("wav2vec", "CTC", "Graves")),
    ("Doctor Adebayo measured cortisol levels in the hippocampus of mice.",
     "Stress hormones", ("Adebayo", "cortisol", "hippocampus")),
    ("The Nyquist frequency limits what the Butterworth filter can pass.",
     "Signal processing", ("Nyquist", "Butterworth")),
    ("Our team deployed the model on Triton with TensorRT and ONNX.",
     "Serving models", ("Triton", "TensorRT", "ONNX")),
    ("Anaphylaxis is treated with epinephrine and then with antihistamines.",
     "Emergency care", ("Anaphylaxis", "epinephrine", "antihistamines")),
    ("Mitochondria produce ATP through oxidative phosphorylation.",
     "Cell energy", ("Mitochondria", "ATP", "phosphorylation")),
    ("The Schrodinger equation describes the wavefunction of the electron.",
     "Quantum mechanics", ("Schrodinger", "wavefunction")),
    ("Miss Ilunga wrote the parser in Haskell using the Parsec library.",
     "Functional parsing", ("Ilunga", "Haskell", "Parsec")),
    ("The Bayesian posterior was sampled with Hamiltonian Monte Carlo in Stan.",
     "Inference", ("Bayesian", "Hamiltonian", "Stan")),
    ("The Krebs cycle turns acetyl coenzyme into carbon dioxide.",
     "Metabolism", ("Krebs", "acetyl", "coenzyme")),
    ("Mister Vandenberghe signed the contract in Rotterdam on Thursday.",
     "Port logistics", ("Vandenberghe", "Rotterdam")),
    ("The eigenvalues of the Hessian tell us whether the point is a saddle.",
     "Optimisation", ("eigenvalues", "Hessian")),
    ("Redis keeps the session tokens while Kafka streams the events.",
     "Backend design", ("Redis", "Kafka")),
    ("Photosynthesis in the chloroplast depends on chlorophyll and rubisco.",
     "Plant biology", ("Photosynthesis", "chloroplast", "chlorophyll", "rubisco")),
    ("Tchaikovsky wrote the Nutcracker for the Mariinsky theatre.",
     "Russian ballet", ("Tchaikovsky", "Nutcracker", "Mariinsky")),
    ("The Reynolds number predicts turbulence in the Poiseuille flow.",
     "Fluid dynamics", ("Reynolds", "Poiseuille", "turbulence")),
    ("Our compiler lowers the code through LLVM and emits WebAssembly.",
     "Compilers", ("LLVM", "WebAssembly")),
    ("Doctor Rasmussen studies glaciers on the Jakobshavn fjord in Greenland.",
     "Glaciology", ("Rasmussen", "Jakobshavn", "Greenland")),
    ("The Fourier transform turns convolution into multiplication.",
     "Transforms", ("Fourier", "convolution")),
    ("Ibuprofen and acetaminophen relieve pain in different ways.",
     "Pain relief", ("Ibuprofen", "acetaminophen")),
    ("Miss Oyelaran leads the research on perovskite solar cells.",
     "Solar energy", ("Oyelaran", "perovskite")),
    ("The Lagrangian of the pendulum gives the Euler equations.",
     "Classical mechanics", ("Lagrangian", "Euler", "pendulum")),
    ("Our React frontend talks to a FastAPI backend over GraphQL.",
     "Web stack", ("React", "FastAPI", "GraphQL")),
    ("Tuberculosis is caught by an interferon gamma release assay.",
     "Diagnostics", ("Tuberculosis", "interferon", "assay")),
    ("Professor Castellanos mapped the Chicxulub crater with gravimetry.",
     "Impact craters", ("Castellanos", "Chicxulub", "gravimetry")),
    ("The Dijkstra algorithm finds the shortest path on a weighted graph.",
     "Graph search", ("Dijkstra",)),
    ("Thermodynamics forbids a perpetuum mobile of the second kind.",
     "Heat engines", ("Thermodynamics", "perpetuum", "mobile")),
    ("The Sarbanes Oxley act changed how auditors certify accounts.",
     "Corporate law", ("Sarbanes", "Oxley", "auditors")),
    ("Mister Kowalczyk tuned the PID controller on the quadcopter.",
     "Control systems", ("Kowalczyk", "PID", "quadcopter")),
    ("The hippocampus and the amygdala both shape emotional memory.",
     "Memory", ("hippocampus", "amygdala")),
    ("Gaudi designed the Sagrada Familia in Barcelona.",
     "Architecture", ("Gaudi", "Sagrada", "Familia", "Barcelona")),
    ("Our Terraform modules provision the Postgres cluster on Azure.",
     "Infrastructure", ("Terraform", "Postgres", "Azure")),
    ("Doctor Mbeki prescribed metformin for the patient's diabetes.",
     "Endocrinology", ("Mbeki", "metformin", "diabetes")),
)  # fmt: skip
# Lines on every kind of slide that the speech never says.
OTHER_LINES = (
    "Reading: chapter 4, pages 112-130",
    "Office hours on Tuesday afternoon",
    "Questions are welcome at any time",
    "Lab report due next week",
    "See the course website for slides",
    "Exam review in the last session",
)
# (kind, SNR in dB): None is clean speech.
LEVELS = (("clean", None), ("10dB", 10.0), ("5dB", 5.0), ("0dB", 0.0))
NOISES = ("white", "pink", "music")
PICTURES = ("slides", "blank", "unrelated")
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
)
INKS = ((20, 30, 90), (30, 30, 30), (120, 20, 20), (10, 80, 40), (230, 230, 230))
PAPERS = ((250, 250, 245), (255, 255, 255), (240, 244, 250), (250, 245, 230), (25, 35, 60))
SIZE = (1280, 720)
FPS = Fraction(10)


@dataclass
class LectureClip:
    name: str
    text: str  # what is spoken
    terms: list[str]  # on the slide and spoken
    level: str
    noise: str
    picture: str
    voice: str


def _font(index: int, size: int):
    from PIL import ImageFont

    path = FONTS[index % len(FONTS)]
    if Path(path).exists():
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)  # Pillow's own font where these are missing


def draw_slide(title: str, lines: list[str], style: int, size=SIZE) -> np.ndarray:
    """A slide: a title and bullet lines; font, size and colours chosen by `style`."""
    from PIL import Image, ImageDraw

    width, height = size
    ink, paper = INKS[style % len(INKS)], PAPERS[style % len(PAPERS)]
    if sum(paper) < 300:  # a dark slide: light ink
        ink = INKS[-1]
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    body = height // (16 + 2 * (style % 4))
    draw.text((width // 16, height // 14), title, font=_font(style + 1, body * 3 // 2), fill=ink)
    for k, line in enumerate(lines):
        y = height // 4 + k * body * 2
        draw.text((width // 12, y), "• " + line, font=_font(style, body), fill=ink)
    return np.asarray(image)


def slide_lines(index: int) -> tuple[str, list[str]]:
    """A clip's slide: its title, its terms in bullets, and two lines the speech never says."""
    _, title, terms = LECTURES[index]
    bullets = [", ".join(terms[i : i + 2]) for i in range(0, len(terms), 2)]
    others = [OTHER_LINES[(index + k) % len(OTHER_LINES)] for k in range(2)]
    return title, bullets[:1] + others[:1] + bullets[1:] + others[1:]


def build_set(out: Path, clips: int = len(LECTURES), seed: int = 0) -> list[LectureClip]:
    """Write the set into `out` (videos and a clips.json); returns the clips."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    blank = np.full((SIZE[1], SIZE[0], 3), 16, np.uint8)
    made = []
    for index in range(clips):
        text, _, terms = LECTURES[index]
        voice = VOICES[index % len(VOICES)]
        speech = speak(text, voice, int(rng.integers(150, 180)))
        lead = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
        speech = np.concatenate([lead, speech, lead])
        seconds = len(speech) / SAMPLE_RATE
        n_frames = int(np.ceil(seconds * float(FPS)))
        own = draw_slide(*slide_lines(index), style=index)
        other_index = (index + len(LECTURES) // 2) % len(LECTURES)
        other = draw_slide(*slide_lines(other_index), style=index + 2)
        noise = NOISES[index % len(NOISES)]
        for level, snr in LEVELS:
            audio = _mix(speech, noise, snr, rng)
            for picture, frame in (("slides", own), ("blank", blank), ("unrelated", other)):
                name = f"{index:02d}_{level}_{picture}"
                write_video(out / f"{name}.mp4", [frame] * n_frames, FPS, SIZE, audio, "veryfast")
                made.append(LectureClip(name, text, list(terms), level, noise, picture, voice))
    (out / "clips.json").write_text(json.dumps([asdict(c) for c in made], indent=1) + "\n")
    return made


def load_set(out: Path) -> list[LectureClip]:
    return [LectureClip(**row) for row in json.loads((out / "clips.json").read_text())]


# Text that must not harm: interface chrome with a watermark, a long paragraph about
# something else, and burned-in subtitles of the speech itself (two short-lived lines).
HARMS = ("blank", "chrome", "paragraph", "subtitles")
HARM_LEVELS = (("clean", None), ("5dB", 5.0))


def _harm_pictures(kind: str, index: int, n_frames: int) -> list[np.ndarray]:
    from PIL import Image, ImageDraw

    width, height = SIZE
    image = Image.new("RGB", SIZE, (16, 16, 16))
    draw = ImageDraw.Draw(image)
    if kind == "chrome":
        draw.rectangle((0, 0, width, height // 18), fill=(230, 230, 230))
        draw.text((12, 6), "File   Edit   View   Insert   Format   Tools   Help",
                  font=_font(0, height // 30), fill=(20, 20, 20))  # fmt: skip
        draw.text((width - 330, height - 50), "CONFIDENTIAL DRAFT",
                  font=_font(0, height // 26), fill=(90, 90, 90))  # fmt: skip
    if kind == "paragraph":
        other = [LECTURES[(index + k) % len(LECTURES)][0] for k in (5, 11, 17)]
        words = " ".join(other).split()
        for row in range(0, len(words), 9):
            draw.text((width // 16, height // 8 + row // 9 * height // 14),
                      " ".join(words[row : row + 9]), font=_font(1, height // 26),
                      fill=(220, 220, 220))  # fmt: skip
    plain = np.asarray(image)
    if kind != "subtitles":
        return [plain] * n_frames
    words = LECTURES[index][0].split()
    halves = [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
    pictures = []
    for half in halves:
        picture = image.copy()
        line = ImageDraw.Draw(picture)
        font = _font(0, height // 20)
        left = (width - line.textlength(half, font=font)) / 2
        line.text((left, height * 0.86), half, font=font, fill=(255, 255, 255))
        pictures.append(np.asarray(picture))
    return [pictures[0]] * (n_frames // 2) + [pictures[1]] * (n_frames - n_frames // 2)


def build_harm_set(out: Path, clips: int = 12, seed: int = 1) -> list[LectureClip]:
    """The first `clips` sentences at clean and 5 dB under each picture of HARMS."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    made = []
    for index in range(clips):
        text, _, terms = LECTURES[index]
        voice = VOICES[(index + 3) % len(VOICES)]
        speech = speak(text, voice, int(rng.integers(150, 180)))
        lead = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
        speech = np.concatenate([lead, speech, lead])
        n_frames = int(np.ceil(len(speech) / SAMPLE_RATE * float(FPS)))
        noise = NOISES[index % len(NOISES)]
        for level, snr in HARM_LEVELS:
            audio = _mix(speech, noise, snr, rng)
            for kind in HARMS:
                name = f"{index:02d}_{level}_{kind}"
                frames = _harm_pictures(kind, index, n_frames)
                write_video(out / f"{name}.mp4", frames, FPS, SIZE, audio, "veryfast")
                made.append(LectureClip(name, text, list(terms), level, noise, kind, voice))
    (out / "clips.json").write_text(json.dumps([asdict(c) for c in made], indent=1) + "\n")
    return made
