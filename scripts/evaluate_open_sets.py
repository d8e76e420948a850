"""Evaluate the local scorer on the open sets through the `moderation` command itself.

    .venv/bin/python scripts/evaluate_open_sets.py [--data ../shared/data/spam/comments]

Split by source, so that no video is in both training and test: for each YouTube video, a fresh
SQLite installation learns the other four videos with `moderation spam train`, then
`moderation spam evaluate VIDEO.csv --base none [--online] --json` scores the held-out video with the
rules and the classifier (no Akismet, nothing stored). The shipped base model is left out, because it
was trained on all five videos. Also reported: the shipped scorer on the SMS and e-mail sets, which
the base model saw only at a low weight. Prints one table; the README quotes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "spam" / "comments"
KEYS = ("precision", "recall", "fpr", "auc", "held", "rows", "rows_per_s")
CONFIG = """[server]
secret_key = "evaluation-secret-key-0123456789"
public_url = "http://127.0.0.1:1"
data_dir = "{folder}/var"
[database]
url = "sqlite:///{folder}/eval.db"
[sites.eval]
url = "https://eval.invalid"
origins = ["https://eval.invalid"]
"""


def moderation(folder: Path, *args: str) -> str:
    command = [
        sys.executable,
        "-m",
        "moderation.cli",
        "--config",
        str(folder / "config.toml"),
        *args,
    ]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def split_by_source(path: Path, folder: Path) -> dict[str, Path]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = reader.fieldnames or []
    files = {}
    for source in sorted({r["source"] for r in rows}):
        out = folder / f"{source}.csv"
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(r for r in rows if r["source"] == source)
        files[source] = out
    return files


def fold(work: Path, name: str, train: list[Path], test: Path) -> dict[str, dict[str, float]]:
    folder = work / name
    folder.mkdir()
    (folder / "config.toml").write_text(CONFIG.format(folder=folder))
    moderation(folder, "db", "upgrade")
    if train:
        moderation(folder, "spam", "train", *map(str, train))
    base = ["--base", "none"] if train else []
    return {
        mode: json.loads(moderation(folder, "spam", "evaluate", str(test), *base, *flags, "--json"))
        for mode, flags in (("trained on the others", []), ("--online", ["--online"]))
    }


def show(label: str, mode: str, result: dict[str, float]) -> None:
    cells = []
    for key in KEYS:
        value = result.get(key)
        cells.append(
            "-"
            if value is None
            else f"{value:.3f}"
            if key not in ("rows", "rows_per_s")
            else f"{value:.0f}"
        )
    print(f"| {label} | {mode} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="moderation-eval-"))
    videos = split_by_source(args.data / "youtube.csv", work)
    print("| held out | mode | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    means: dict[str, dict[str, float]] = {}
    for name, test in videos.items():
        others = [p for n, p in videos.items() if n != name]
        for mode, result in fold(work, name, others, test).items():
            show(name, mode, result)
            for key in KEYS:
                means.setdefault(mode, {}).setdefault(key, 0.0)
                means[mode][key] += (result.get(key) or 0.0) / len(videos)
    for mode, result in means.items():
        show("**mean of the videos**", mode, result)
    for other in ("sms", "email-spamassassin"):
        result = json.loads(moderation(_fresh(work, other), "spam", "evaluate",
                                       str(args.data / f"{other}.csv"), "--json"))  # fmt: skip
        show(f"{other} (shipped base)", "as shipped", result)


def _fresh(work: Path, name: str) -> Path:
    folder = work / f"shipped-{name}"
    folder.mkdir()
    (folder / "config.toml").write_text(CONFIG.format(folder=folder))
    moderation(folder, "db", "upgrade")
    return folder


if __name__ == "__main__":
    main()
