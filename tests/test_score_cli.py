"""score.py as a user runs it: a subprocess, its stdout table, its files and exit status."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.subtitles import Cue, write_subtitles
from evaluation.caption_metrics import score_caption_sets

ROOT = Path(__file__).resolve().parents[1]
METRIC_KEYS = {"bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rougeL", "cider"}
METRIC_KEYS |= {"wer", "cer", "suber", "t_bleu", "sacrebleu"}

REF_CUES = [
    Cue(1.0, 3.0, "And so, my fellow Americans:"),
    Cue(3.5, 6.0, "ask not what your country\ncan do for you."),
    Cue(6.5, 9.0, "Ask what you can do for your country."),
]
HYP_CUES = [
    Cue(1.1, 3.1, "and so my fellow americans"),
    Cue(3.6, 6.1, "ask not what the country can do for you"),
    Cue(6.6, 9.1, "ask what you can do for your country"),
]


def run_score(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "score.py"), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def table_rows(stdout: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in stdout.splitlines()
        if line.startswith("|")
    ]


def test_two_subtitle_files_give_table_json_and_csv(tmp_path):
    hyp = write_subtitles(HYP_CUES, tmp_path / "hyp.srt")
    ref = write_subtitles(REF_CUES, tmp_path / "ref.vtt")
    result = run_score(
        "--hyp", hyp, "--ref", ref, "--json", tmp_path / "o.json", "--csv", tmp_path / "o.csv"
    )
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout.split("\n\n")[0])  # the metric table; layout follows
    assert rows[0][1:] == [
        "WER",
        "CER",
        "SubER",
        "t-BLEU",
        "sacreBLEU",
        "BLEU-4",
        "ROUGE-L",
        "CIDEr-D",
    ]
    assert rows[2][0] == str(hyp) and rows[-1][0] == "**corpus (1 file)**"

    report = json.loads((tmp_path / "o.json").read_text())
    assert set(report) == {"corpus", "files", "unmatched", "settings", "layout"}
    assert report["files"][0]["hyp"] == str(hyp) and report["files"][0]["ref"] == str(ref)
    assert set(report["corpus"]) <= METRIC_KEYS
    assert report["corpus"]["wer"] == pytest.approx(100 * 1 / 22)  # "the" for "your"
    assert 0 < report["corpus"]["suber"] < 20
    assert report["settings"]["sacrebleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert "lowercase" in report["settings"]["wer_cer_normalisation"]
    assert rows[-1][1] == f"{report['corpus']['wer']:.2f}"

    with open(tmp_path / "o.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["hyp"] for row in table] == [str(hyp), "corpus"]
    assert float(table[-1]["wer"]) == pytest.approx(report["corpus"]["wer"])


def test_identical_files_are_perfect_through_the_cli(tmp_path):
    ref = write_subtitles(REF_CUES, tmp_path / "ref.srt")
    result = run_score(
        "--hyp",
        ref,
        "--ref",
        ref,
        "--json",
        tmp_path / "o.json",
        "--metrics",
        "wer,suber,sacrebleu",
    )
    assert result.returncode == 0, result.stderr
    corpus = json.loads((tmp_path / "o.json").read_text())["corpus"]
    assert corpus == {"wer": 0.0, "suber": 0.0, "sacrebleu": pytest.approx(100.0)}


def test_folders_list_unmatched_files_and_score_the_rest(tmp_path):
    write_subtitles(HYP_CUES, tmp_path / "hyp/show/ep1.srt")
    write_subtitles(REF_CUES, tmp_path / "ref/show/ep1.vtt")
    write_subtitles(HYP_CUES[:1], tmp_path / "hyp/ep2.vtt")
    write_subtitles(REF_CUES[:1], tmp_path / "ref/ep2.srt")
    write_subtitles(HYP_CUES, tmp_path / "hyp/only_hyp.srt")
    write_subtitles(REF_CUES, tmp_path / "ref/only_ref.srt")
    result = run_score(
        "--hyp",
        tmp_path / "hyp",
        "--ref",
        tmp_path / "ref",
        "--json",
        tmp_path / "o.json",
        "--metrics",
        "wer,bleu4",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "o.json").read_text())
    assert [Path(f["hyp"]).relative_to(tmp_path).as_posix() for f in report["files"]] == [
        "hyp/ep2.vtt",
        "hyp/show/ep1.srt",
    ]
    assert report["unmatched"] == [
        {"path": str(tmp_path / "hyp/only_hyp.srt"), "only_in": "hyp"},
        {"path": str(tmp_path / "ref/only_ref.srt"), "only_in": "ref"},
    ]
    assert "2 unmatched (not scored)" in result.stdout
    assert "**corpus (2 files)**" in result.stdout


def test_empty_hypothesis_file_scores_wer_100(tmp_path):
    (tmp_path / "empty.srt").write_bytes(b"")
    ref = write_subtitles(REF_CUES, tmp_path / "ref.srt")
    result = run_score("--hyp", tmp_path / "empty.srt", "--ref", ref, "--json", tmp_path / "o.json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o.json").read_text())["corpus"]["wer"] == 100.0


def test_cp1252_and_bom_files_are_read(tmp_path):
    text = "1\n00:00:01,000 --> 00:00:03,000\nCafé au lait, déjà vu.\n"
    (tmp_path / "hyp.srt").write_bytes(text.encode("cp1252"))
    (tmp_path / "ref.srt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = run_score(
        "--hyp", tmp_path / "hyp.srt", "--ref", tmp_path / "ref.srt", "--json", tmp_path / "o.json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o.json").read_text())["corpus"]["cer"] == 0.0


def test_malformed_subtitle_exits_1_with_one_line_naming_file_and_line(tmp_path):
    (tmp_path / "bad.srt").write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03.000 -> 00:00:04,000\nx\n"
    )
    ref = write_subtitles(REF_CUES, tmp_path / "ref.srt")
    result = run_score("--hyp", tmp_path / "bad.srt", "--ref", ref)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"score.py: error: {tmp_path / 'bad.srt'}:5: cue number 2 has no timing line"
    ]
    assert result.stdout == ""


def test_missing_file_exits_1(tmp_path):
    ref = write_subtitles(REF_CUES, tmp_path / "ref.srt")
    result = run_score("--hyp", tmp_path / "nowhere.srt", "--ref", ref)
    assert result.returncode == 1
    assert "nowhere.srt: no such file or folder" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hyp", "{hyp}"], "the following arguments are required: --ref"),
        (["--hyp", "{hyp}", "--ref", "{ref}", "--metrics", "bleu5"], "unknown metric 'bleu5'"),
        (
            ["--hyp", "{hyp}", "--ref", "{ref}", "--metrics", "meteor"],
            "not a subtitle metric: meteor",
        ),
        (["--hyp", "{dir}", "--ref", "{ref}"], "cannot score a folder"),
        (["--hyp", "{captions}", "--ref", "{ref}"], "cannot score a captions"),
    ],
)
def test_bad_usage_exits_2(tmp_path, args, message):
    names = {
        "hyp": write_subtitles(HYP_CUES, tmp_path / "hyp.srt"),
        "ref": write_subtitles(REF_CUES, tmp_path / "ref.srt"),
        "dir": tmp_path,
        "captions": tmp_path / "captions.json",
    }
    names["captions"].write_text('{"v1": "a cat"}')
    result = run_score(*(arg.format(**names) for arg in args))
    assert result.returncode == 2
    assert message in result.stderr


def write_caption_sets(tmp_path: Path) -> tuple[Path, Path, dict, dict]:
    refs = {
        f"video{i}": [
            f"a {animal} is {verb} in the park",
            f"the {animal} {verb} outside.",
            f"A {animal}, {verb}!",
        ]
        for i, (animal, verb) in enumerate(
            [("dog", "running"), ("cat", "sleeping"), ("horse", "eating"), ("bird", "singing")]
        )
    }
    hyps = {
        "video0": "a dog runs in a park",
        "video1": "the cat is sleeping",
        "video2": "a horse is eating",
    }
    hyps["extra"] = "no reference for this one"
    (tmp_path / "hyps.json").write_text(
        json.dumps([{"video_id": k, "caption": v} for k, v in hyps.items()])
    )
    msrvtt = {"sentences": [{"video_id": k, "caption": c} for k, v in refs.items() for c in v]}
    (tmp_path / "refs.json").write_text(json.dumps(msrvtt))
    return tmp_path / "hyps.json", tmp_path / "refs.json", hyps, refs


def test_caption_sets_through_the_cli_equal_the_function(tmp_path):
    hyp, ref, hyps, refs = write_caption_sets(tmp_path)
    metrics = ["bleu1", "bleu4", "rougeL", "cider"]
    result = run_score(
        "--hyp", hyp, "--ref", ref, "--json", tmp_path / "o.json", "--metrics", ",".join(metrics)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["corpus"] == pytest.approx(score_caption_sets(hyps, refs, metrics))
    assert report["files"] == []
    assert report["unmatched"] == [
        {"id": "extra", "only_in": "hyp"},
        {"id": "video3", "only_in": "ref"},
    ]
    assert report["settings"]["ids_scored"] == 3
    assert "**corpus (3 ids)**" in result.stdout


def test_without_java_meteor_is_skipped_with_one_note(tmp_path):
    hyp, ref, hyps, refs = write_caption_sets(tmp_path)
    no_java = {**os.environ, "PATH": str(tmp_path / "empty-path")}
    result = run_score("--hyp", hyp, "--ref", ref, "--json", tmp_path / "o.json", env=no_java)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "Java not found" in notes[0] and "13a" in notes[0]
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["corpus"]["meteor"] is None
    assert report["corpus"]["bleu4"] == pytest.approx(
        score_caption_sets(hyps, refs, ["bleu4"], use_java=False)["bleu4"]
    )
    assert report["settings"]["java"] is False and "13a" in report["settings"]["tokenizer"]
    assert table_rows(result.stdout)[-1][5] == "-"  # the METEOR column


@pytest.mark.needs_tool("java")  # METEOR
def test_caption_sets_with_java_report_meteor(tmp_path):
    hyp, ref, _, _ = write_caption_sets(tmp_path)
    result = run_score("--hyp", hyp, "--ref", ref, "--json", tmp_path / "o.json")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "o.json").read_text())
    assert set(report["corpus"]) == {
        "bleu1",
        "bleu2",
        "bleu3",
        "bleu4",
        "meteor",
        "rougeL",
        "cider",
    }
    assert 0 < report["corpus"]["meteor"] < 100
    assert "PTBTokenizer" in report["settings"]["tokenizer"]
    assert "note:" not in result.stderr
