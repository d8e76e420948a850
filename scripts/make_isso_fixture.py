"""Write tests/fixtures/imports/isso/comments.db with the real Isso (0.14.0), for the Isso reader's
tests. Run it with the Python of a venv that has Isso installed (never the project's .venv):

    python3 -m venv /tmp/isso-venv
    /tmp/isso-venv/bin/pip install -r /work/shared/peers/isso/isso_peer.requirements.txt
    /tmp/isso-venv/bin/python scripts/make_isso_fixture.py [OUT]

Every row is written by Isso's own database layer (`isso.db.SQLite3`: `threads.new`,
`comments.add`, `activate`, `update`, `delete`, `vote`), after the same preparation its
`POST /new` view applies (`API.verify`, HTML-escaped author/email/website, `normalize` of the
website, the address anonymised by `isso.utils.anonymize`). Times are fixed so that the file is
the same on every run (Isso's `add` honours a given `created`). It prints what Isso did with the
ten-level reply chain and the deletions, which tests/fixtures/imports/isso/README.md records.
"""

from __future__ import annotations

import sqlite3
import sys
from html import escape
from pathlib import Path
from typing import Any

from isso import config, utils
from isso.db import SQLite3
from isso.views.comments import API, normalize

BASE = 1704067200.0  # 2024-01-01T00:00:00Z
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/imports/isso/comments.db"

HOSTILE = (
    "Nice post!\n\n"
    "<script>alert('xss')</script>\n\n"
    "[click me](javascript:alert(1)) and *emphasis*\n\n"
    '<img src="x" onerror="alert(2)">'
)


def submit(
    db: SQLite3,
    uri: str,
    text: str,
    *,
    minute: int,
    addr: str,
    parent: int | None = None,
    mode: int = 1,
    author: str | None = None,
    email: str | None = None,
    website: str | None = None,
) -> int:
    """One comment as Isso's `POST /new` stores it: the view's checks and escaping, then
    `comments.add`. Returns the new comment's id."""
    data: dict[str, Any] = {
        "text": text,
        "author": author,
        "email": email,
        "website": website,
        "parent": parent,
    }
    valid, reason = API.verify(data)
    if not valid:
        raise SystemExit(f"Isso refuses {text[:30]!r}: {reason}")
    for field in ("author", "email"):
        if data.get(field) is not None:
            data[field] = escape(data[field], quote=False)
    if data.get("website") is not None:
        data["website"] = escape(data["website"], quote=True)
    if data.get("website"):
        data["website"] = normalize(data["website"])
    data["mode"] = mode
    data["remote_addr"] = utils.anonymize(addr)
    data["created"] = BASE + minute * 60 + 0.25
    data["notification"] = 0
    return int(db.comments.add(uri, data)["id"])


def vote(db: SQLite3, cid: int, addr: str, *, up: bool) -> dict[str, Any]:
    """A like or dislike from `addr`, as the view passes it (anonymised)."""
    return dict(db.comments.vote(up, cid, utils.anonymize(addr)))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    conf = config.load(config.default_file())
    db = SQLite3(str(out), conf)

    # Thread 1: a ten-level reply chain (each reply answers the one before), votes.
    t1 = "/blog/2024/hello-world/"
    db.threads.new(t1, "Hello, world")
    root = submit(
        db, t1, "First! Some **bold** Markdown and a [link](https://example.org/).",
        minute=1, addr="203.0.113.7", author="Alice", email="alice@example.org",
        website="alice.example.org",
    )  # fmt: skip
    chain = [root]
    for level in range(1, 11):
        cid = submit(
            db, t1, f"Reply at level {level} to comment {chain[-1]}.",
            minute=1 + level, addr=f"198.51.100.{level}", parent=chain[-1],
            author=f"Replier {level}", email=f"replier{level}@example.net",
        )  # fmt: skip
        chain.append(cid)
    votes = [
        vote(db, root, "192.0.2.1", up=True),
        vote(db, root, "192.0.2.77", up=True),  # same /24 as 192.0.2.1 once anonymised: refused
        vote(db, root, "192.0.3.1", up=True),
        vote(db, root, "192.0.4.1", up=False),
        vote(db, root, "203.0.113.99", up=True),  # the author's own /24: refused
        vote(db, chain[3], "192.0.5.1", up=False),
        vote(db, chain[3], "192.0.6.1", up=False),
    ]
    gone_level = chain[5]
    db.comments.delete(gone_level)  # no comment names it as parent: Isso removes the row
    pending_reply = submit(
        db, t1, "A reply still waiting for the moderator.",
        minute=20, addr="2001:db8:85a3::8a2e:370:7334", parent=chain[10], mode=2,
        author="Pending Pat",
    )  # fmt: skip

    # Thread 2: non-ASCII, hostile markup, an edit, deletions with and without replies.
    t2 = "/blog/2024/ünïcödé/"
    db.threads.new(t2, "Grüße, 日本語 und ☃")
    unicode_c = submit(
        db, t2, "Grüße aus Köln! 🎉 日本語のコメント。 مرحبا بالعالم",
        minute=30, addr="198.51.100.200", author="Zoë Ørsted", email="zoe@example.org",
    )  # fmt: skip
    hostile = submit(
        db, t2, HOSTILE, minute=31, addr="203.0.113.50",
        author="Tom & Jerry <b>", email="tom@example.org",
        website="https://example.com/?a=1&b=<2>",
    )  # fmt: skip
    edited = submit(db, t2, "Typo in this commnet.", minute=32, addr="203.0.113.51", author="Ed")
    db.comments.update(edited, {"text": "Typo in this comment, fixed.", "modified": BASE + 33 * 60})
    kept_parent = submit(
        db, t2, "A parent that will be deleted.", minute=34, addr="203.0.113.52",
        author="Soon Gone", email="gone@example.org", website="https://gone.example.org",
    )  # fmt: skip
    submit(db, t2, "Its reply keeps it as a placeholder.", minute=35, addr="203.0.113.53",
           parent=kept_parent)  # fmt: skip
    db.comments.delete(kept_parent)  # has a reply: text '', author/website NULL, email kept, mode 4
    lone = submit(db, t2, "Deleted without replies.", minute=36, addr="203.0.113.54")
    db.comments.delete(lone)  # removed
    gone_parent = submit(
        db, t2, "Deleted, then its only reply too.", minute=37, addr="203.0.113.55"
    )
    gone_reply = submit(db, t2, "The only reply.", minute=38, addr="203.0.113.56",
                        parent=gone_parent)  # fmt: skip
    db.comments.delete(gone_parent)  # placeholder first ...
    db.comments.delete(gone_reply)  # ... then both rows are gone (_remove_stale)
    approved_later = submit(db, t2, "Held, then approved.", minute=39, addr="203.0.113.57",
                            mode=2, author="Later")  # fmt: skip
    db.comments.activate(approved_later)
    submit(db, t2, "Still pending, with ünïcödé.", minute=40, addr="203.0.113.58", mode=2)
    vote(db, unicode_c, "192.0.7.1", up=True)
    vote(db, hostile, "192.0.8.1", up=False)

    # Thread 3: one pending comment. Thread 4: empty (created last: Isso's trigger removes
    # threads without comments after any delete).
    t3 = "/about/"
    db.threads.new(t3, "About")
    submit(db, t3, "Is this page still maintained?", minute=50, addr="203.0.113.60", mode=2)
    db.threads.new("/empty/", "A page nobody commented on")

    con = sqlite3.connect(out)
    con.execute("VACUUM")
    rows = con.execute("SELECT id, tid, parent, mode, likes, dislikes FROM comments ORDER BY id")
    print(f"wrote {out}")
    print("chain as posted:", chain, "(each replied to the one before)")
    print("votes:", votes)
    print("deleted level-5 reply", gone_level, "| pending reply", pending_reply,
          "| placeholder", kept_parent, "| removed", lone, gone_parent, gone_reply)  # fmt: skip
    print("id tid parent mode likes dislikes")
    for row in rows:
        print(*row)
    print("threads:", con.execute("SELECT id, uri, title FROM threads ORDER BY id").fetchall())
    con.close()


if __name__ == "__main__":
    main()
