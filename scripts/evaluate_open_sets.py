"""Evaluate the local scorer on the open sets through the `moderation` command itself.

    .venv/bin/python scripts/evaluate_open_sets.py [--data ../shared/data/spam/comments]
        [--max-fp-share 0.005] [--no-history] [--blog data/spam/blog-comments/blog-comments.csv]

Split by source, so that no video is in both training and test: for each YouTube video a base model is
built exactly as the shipped one is (scripts/train_base_model.py: the same weights, scaling and
cut-off calibration) but from the other four videos only, and a fresh SQLite installation runs
`moderation spam evaluate VIDEO.csv --base THAT_MODEL [--online] --json`: the rules and the
classifier as shipped, no Akismet, nothing stored; `--online` also calibrates the cut-offs as a
site's decisions do, with ``--max-fp-share`` as ``[spam] max_false_positive_share``. The other
four videos are also its ``--history`` (unless ``--no-history``): the earlier pages the
repeated-text rule counts copies on, a spam label a copy marked spam. Also reported:
the shipped scorer on the SMS and e-mail sets, as shipped and online, and on the blog comments
(ham only, so only its fpr and held mean anything) when their CSV is there (``--blog``, by default
data/spam/blog-comments/blog-comments.csv, rebuilt locally by scripts/convert_blog_comments.py;
``--blog ""`` leaves it out). Prints one markdown table (with recall at 1 % and 0.5 % FPR); the
README quotes it.
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
DEFAULT_BLOG = ROOT / "data" / "spam" / "blog-comments" / "blog-comments.csv"
KEYS = (
    "precision",
    "recall",
    "fpr",
    "recall_at_fpr_1pct",
    "recall_at_fpr_0_5pct",
    "auc",
    "held",
    "rows",
    "rows_per_s",
)
CONFIG = """[server]
secret_key = "evaluation-secret-key-0123456789"
public_url = "http://127.0.0.1:1"
data_dir = "{folder}/var"
[database]
url = "sqlite:///{folder}/eval.db"
[sites.eval]
url = "https://eval.invalid"
origins = ["https://eval.invalid"]
[spam]
max_false_positive_share = {share}
"""
SHARE = 0.005  # the default of [spam] max_false_positive_share


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


def base_without(data: Path, video: str, out: Path) -> Path:
    """A base model built like the shipped one, from every open set but this video."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_base_model as tbm

    youtube, aux = tbm.load(data)
    out.write_bytes(tbm.build([ex for ex in youtube if ex.row.source != video], aux).to_bytes())
    return out


def installation(folder: Path, share: float) -> Path:
    """A fresh SQLite installation in ``folder`` (made here), migrated."""
    folder.mkdir()
    (folder / "config.toml").write_text(CONFIG.format(folder=folder, share=share))
    moderation(folder, "db", "upgrade")
    return folder


def fold(
    work: Path, name: str, base: Path, test: Path, share: float, history: list[Path]
) -> dict[str, dict[str, float]]:
    folder = installation(work / name, share)
    args = ["--base", str(base)]
    for path in history:
        args += ["--history", str(path)]
    return {
        mode: json.loads(moderation(folder, "spam", "evaluate", str(test), *args, *flags, "--json"))
        for mode, flags in (("as shipped", []), ("--online", ["--online"]))
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
    parser.add_argument(
        "--max-fp-share",
        type=float,
        default=SHARE,
        help="[spam] max_false_positive_share of the evaluating installation",
    )
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="no other videos as earlier pages for the repeated-text rule",
    )
    parser.add_argument(
        "--blog",
        default=str(DEFAULT_BLOG),
        help="the blog comments (ham only), scored when the file exists; '' to leave them out",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="moderation-eval-"))
    videos = split_by_source(args.data / "youtube.csv", work)
    print("| held out | mode | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    means: dict[str, dict[str, float]] = {}
    for name, test in videos.items():
        base = base_without(args.data, name, work / f"base-without-{name}.json.gz")
        history = [] if args.no_history else [p for n, p in videos.items() if n != name]
        for mode, result in fold(work, name, base, test, args.max_fp_share, history).items():
            show(name, mode, result)
            for key in KEYS:
                means.setdefault(mode, {}).setdefault(key, 0.0)
                means[mode][key] += (result.get(key) or 0.0) / len(videos)
    for mode, result in means.items():
        show("**mean of the videos**", mode, result)
    others = [(name, args.data / f"{name}.csv") for name in ("sms", "email-spamassassin")]
    if args.blog and Path(args.blog).is_file():
        others.append(("blog-comments, ham only", Path(args.blog)))
    elif args.blog:
        print(f"(no blog comments at {args.blog}: scripts/convert_blog_comments.py builds them)")
    for index, (other, path) in enumerate(others):
        folder = installation(work / f"shipped-{index}", args.max_fp_share)
        for mode, flags in (("as shipped", []), ("--online", ["--online"])):
            result = json.loads(moderation(folder, "spam", "evaluate", str(path), *flags, "--json"))
            show(f"{other} (shipped base)", mode, result)


if __name__ == "__main__":
    main()
