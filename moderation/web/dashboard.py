"""Blueprint ``dashboard`` (``/moderate``): the queue, comment detail, single and bulk actions, undo,
edit, the audit log, the moderation lists, the spam filter's cut-offs and the moderators page.
The Mail page (admins only) lists suppressed addresses and dead letters, with Remove and Retry.

Every endpoint needs a signed-in moderator except the sign-in form (`auth.deny_by_default`); every
POST carries the CSRF token of the app-wide `CSRFProtect`. Actions are plain form POSTs that redirect
back, so the dashboard works without JavaScript; ``dashboard.js`` adds the keyboard on top.

Undo: the last action's audit rows are remembered in the session as their id range (a session cookie
cannot hold the ids of a select-all over thousands of comments); `queue.undo` reverses them, newest
first, each through the state machine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus, urlencode

from flask import (
    Blueprint,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask_wtf.csrf import CSRFError
from sqlalchemy import Row
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from moderation.config import SiteSettings
from moderation.domain import verdict_words
from moderation.domain.states import Action, CommentKind, CommentStatus, allowed_actions
from moderation.errors import Forbidden, InvalidInput, ModerationError
from moderation.models import Comment, ListKind, Moderator, Reader, Role
from moderation.services import accounts as account_service
from moderation.services import lists as list_service
from moderation.services import mailing as mail_service
from moderation.services import outbox as outbox_service
from moderation.services import queue as queue_service
from moderation.services import queue_context, queue_filters
from moderation.services import readers as reader_service
from moderation.services import spam_filter as spam_filter_service
from moderation.web import auth, current
from moderation.web.auth import role_required, user
from moderation.web.errors import status_of
from moderation.web.security import set_page_security_headers

bp = Blueprint("dashboard", __name__, url_prefix="/moderate")
bp.add_url_rule("/login", "login", auth.login, methods=["GET", "POST"])
bp.add_url_rule("/logout", "logout", auth.logout, methods=["POST"])
auth.deny_by_default(bp, public=["dashboard.login"])

ACTIONS = "approve,spam,ham,hold,delete,restore"
# (button label, what the flash message says was done)
WORDS = {
    Action.approve: ("Approve", "approved"),
    Action.spam: ("Spam", "marked as spam"),
    Action.ham: ("Not spam", "marked as not spam and approved"),
    Action.hold: ("Unapprove", "sent back to pending"),
    Action.delete: ("Delete", "deleted"),
    Action.restore: ("Restore", "restored to pending"),
}
KEYS = {Action.approve: "a", Action.spam: "s", Action.delete: "d"}
# In the Spam tab, four actions publish, re-queue or delete: each is named by what it does.
SPAM_LABELS = {
    Action.ham: "Not spam (publish and teach the filter)",
    Action.approve: "Publish",
    Action.hold: "Back to the queue",
    Action.delete: "Delete",
}
SPAM_ORDER = [Action.ham, Action.approve, Action.hold, Action.delete]


def action_label(status: CommentStatus, action: Action) -> str:
    """The button label of `action` on a comment in `status`."""
    if status is CommentStatus.spam and action in SPAM_LABELS:
        return SPAM_LABELS[action]
    return WORDS[action][0]


def _actions_of(status: CommentStatus) -> list[Action]:
    actions = allowed_actions(status)
    if status is CommentStatus.spam:
        return [a for a in SPAM_ORDER if a in actions] + [a for a in actions if a not in SPAM_ORDER]
    return actions


# The action buttons of a comment in each status: (action, label, title); built once, not per row
BUTTONS = {
    status: [
        (
            action,
            action_label(status, action),
            f"{action_label(status, action)} ({KEYS[action]})" if action in KEYS else "",
        )
        for action in _actions_of(status)
    ]
    for status in CommentStatus
}
# Links the comment page shows beside its actions, (label, url) per comment; other modules (the
# one-click e-mail links) may append providers here.
DETAIL_LINKS: list[Callable[[Comment], list[tuple[str, str]]]] = []


def _sites() -> Mapping[str, SiteSettings]:
    return current.context().settings.sites


def _scope() -> frozenset[str] | None:
    """The sites the signed-in moderator may moderate (None: all), read once per request: their
    queue shows only those, and another site's comment answers 404 (`queue.find_comment`)."""
    if "moderator_sites" not in g:
        session = current.session()
        moderator = session.get(Moderator, user().id)
        g.moderator_sites = (
            account_service.sites_of(session, moderator) if moderator is not None else frozenset()
        )
    scope: frozenset[str] | None = g.moderator_sites
    return scope


def back() -> Response:
    """Redirect to the form's ``next`` (a dashboard path) or the queue."""
    return redirect(auth.safe_next(request.form.get("next")), 303)


def _plural(n: int, word: str = "comment") -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def report(batch: queue_service.Batch, done: str, also: str = "") -> None:
    """Flash what an action did (one message, `also` appended), and remember it for undo: the
    page shows the message and its Undo button as one banner."""
    message = f"{_plural(batch.done)} {done}."
    if batch.skipped:
        message += f" {_plural(batch.skipped)} skipped: the action does not apply to them."
    if batch.remaining:
        message += f" {batch.remaining:,} more match: run the action again to go on."
    flash(f"{message} {also}" if also else message, "success" if batch.done else "warning")
    if batch.events:
        cookie_session["undo"] = {
            "first": min(batch.events),
            "last": max(batch.events),
            "label": message.split(".")[0],
            "entry": batch.entry_id,
        }


def warn_raised(rose: list[tuple[str, float, float]]) -> None:
    """Say which sites' spam cut-off an approval just raised, while its Undo is still at hand."""
    for site, was, now in rose:
        flash(
            spam_filter_service.raise_words(site, was, now)
            + " If the comment is spam after all, undo, or mark it spam on the Spam filter page.",
            "warning",
        )


def _action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise InvalidInput("unknown action", fields={"action": "choose an action"}) from None


def _ids(values: list[str]) -> list[int]:
    if not values:
        raise InvalidInput("select some comments first", fields={"ids": "none selected"})
    if not all(v.isascii() and v.isdigit() for v in values) or len(values) > 1000:
        raise InvalidInput("bad selection", fields={"ids": "comment ids"})
    return [int(v) for v in values]


# --- the queue -------------------------------------------------------------------------------------


@bp.get("/")
def queue() -> str:
    """The queue: one tab per status with counts, filters, search, keyset pages."""
    f = queue_filters.parse_filter(request.args, _sites()).but(scope=_scope())
    limit, cursor = queue_filters.parse_page(request.args)
    session = current.session()
    page = queue_service.list_rows(session, f, limit=limit, cursor=cursor)
    around = queue_context.row_contexts(session, [row.id for row in page.rows])
    return render_template(
        "dashboard/queue.html",
        f=f,
        rows=queue_rows(f, page, around),
        next=page.next,
        cursor=cursor,
        limit=limit,
        counts=queue_service.status_counts(session, f),
        newest=queue_service.newest_id(session),
        # where the search matches, by tab (None without a search): `SearchCounts`
        search_elsewhere=queue_service.search_counts(session, f) if f.q else None,
        sites=sorted(_sites() if f.scope is None else f.scope),  # the filter offers theirs only
    )


@bp.get("/comments/<int:comment_id>")
def comment(comment_id: int) -> str:
    """One comment: text, every spam check, the author's other comments, linkback, audit trail."""
    session = current.session()
    found = queue_service.find_comment(session, comment_id, _scope())
    trail = queue_service.audit_log(session, comment_id=comment_id, limit=100)
    reader = session.get(Reader, found.reader_id) if found.reader_id is not None else None
    around = queue_context.thread_around(session, found)
    latest = found.checks[-1] if found.checks else None
    event = trail.events[0] if trail.events else None
    return render_template(
        "dashboard/comment.html",
        c=found,
        reader=reader,
        parents=[_reply_to(other) for other in around.parents],
        replies=[_reply_to(other) for other in around.replies],
        more_above=around.more_above,
        verdict=_words(
            found.status,
            found.kind,
            found.verified,
            found.discarded,
            latest,
            event,
            found.recheck_reason,
            found.import_source,
        ),
        check_words={check.id: _check_words(check) for check in found.checks},
        history=queue_service.author_history(session, found, sites=_scope()),
        events=trail.events,
        links=[link for provider in DETAIL_LINKS for link in provider(found)],
    )


@bp.post(f"/comments/<int:comment_id>/<any({ACTIONS}):action>")
def act(comment_id: int, action: str) -> Response:
    """One comment through one action."""
    chosen = Action(action)
    with current.write() as tx, spam_filter_service.watch_spam_cutoffs(tx) as rose:
        batch = queue_service.act_on(
            tx, current.context(), comment_id, chosen, user().actor, _scope()
        )
    report(batch, WORDS[chosen][1])
    warn_raised(rose)
    return back()


@bp.post("/comments/<int:comment_id>/spam-and-block")
def spam_and_block(comment_id: int) -> Response:
    """Block the author's IP, e-mail or website domain, then mark the comment spam. Only admins
    may (the lists' rule, `list_service.require_list_editor`); anyone else is told so, and the
    comment is left as it was."""
    block = request.form.get("block", "")
    with current.write() as tx:
        queue_service.find_comment(tx, comment_id, _scope())  # 404 for another site's comment
        batch = list_service.spam_and_block(tx, current.context(), comment_id, block, user().actor)
    what = {"ip": "IP", "email": "e-mail", "domain": "website domain"}.get(block, block)
    report(batch, f"marked as spam and its {what} blocked")
    return back()


@bp.post("/comments/<int:comment_id>/block-identity")
def block_identity(comment_id: int) -> Response:
    """Block the signed-in identity that wrote the comment: its tokens are refused and it
    cannot post. Any moderator who may see the comment may."""
    return _set_identity_blocked(comment_id, "block")


@bp.post("/comments/<int:comment_id>/unblock-identity")
def unblock_identity(comment_id: int) -> Response:
    """Lift the block of the identity that wrote the comment."""
    return _set_identity_blocked(comment_id, "unblock")


def _set_identity_blocked(comment_id: int, change: str) -> Response:
    session = current.session()
    found = queue_service.find_comment(session, comment_id, _scope())
    if found.reader_id is None:
        flash("This comment was not written by a signed-in reader.", "warning")
        return back()
    with current.write() as tx:
        reader = reader_service.set_blocked(tx, found.reader_id, change == "block")
        name = reader.name
    flash(f"The identity {name!r} is {change}ed.", "info")
    return back()


@bp.post("/comments/<int:comment_id>/approve-and-trust")
def approve_and_trust(comment_id: int) -> Response:
    """Approve; the author's next comments then skip the first-time queue."""
    with current.write() as tx, spam_filter_service.watch_spam_cutoffs(tx) as rose:
        batch, trusted = queue_service.approve_and_trust(
            tx, current.context(), comment_id, user().actor, _scope()
        )
    if trusted:
        report(
            batch,
            "approved",
            "Its author is trusted now: their next comments skip the first-time queue.",
        )
    else:
        report(
            batch, "approved", "Without a name and an e-mail address there is no author to trust."
        )
    warn_raised(rose)
    return back()


@bp.post("/comments/<int:comment_id>/edit")
def edit(comment_id: int) -> Response:
    """A moderator's edit of the comment's text."""
    text = request.form.get("text", "")
    with current.write() as tx:
        event = queue_service.edit_comment(
            tx, current.context(), comment_id, text, user().actor, _scope()
        )
    flash("The comment was saved." if event else "Nothing changed.", "success")
    return redirect(url_for("dashboard.comment", comment_id=comment_id), 303)


@bp.post("/bulk")
def bulk() -> Response:
    """An action on the ticked comments, or on every comment matching the filter."""
    action, actor = _action(request.form.get("action", "")), user().actor
    if request.form.get("all_matching"):
        f = queue_filters.parse_filter(request.form, _sites()).but(scope=_scope())
        upto = queue_filters.int_arg(request.form, "max_id", 1, None) or 0
        with current.write() as tx, spam_filter_service.watch_spam_cutoffs(tx) as rose:
            batch = queue_service.act_on_matching(
                tx, current.context(), f, action, actor, upto=upto
            )
    else:
        ids = _ids(request.form.getlist("ids"))
        with current.write() as tx, spam_filter_service.watch_spam_cutoffs(tx) as rose:
            batch = queue_service.act_on_many(tx, current.context(), ids, action, actor, _scope())
    report(batch, WORDS[action][1])
    warn_raised(rose)
    return back()


@bp.post("/undo")
def undo() -> Response:
    """Reverse the last action (each change through the state machine, audited)."""
    last = cookie_session.pop("undo", None)
    if not last:
        flash("There is nothing to undo.", "warning")
        return back()
    actor = user().actor
    with current.write() as tx:
        ids = queue_service.events_between(tx, last["first"], last["last"], actor)
        batch = queue_service.undo(tx, current.context(), ids, actor)
        list_service.remove_block(tx, last.get("entry"))
    report(batch, f"restored to where they were (undo of: {last['label']})")
    return back()


# --- audit log, lists, moderators --------------------------------------------------------------------


@bp.get("/audit")
def audit() -> str:
    """The audit log: who did what, when, from which state, why; newest first. A moderator of
    some sites sees the rows about those sites' comments only."""
    args = request.args
    comment_id = queue_filters.int_arg(args, "comment", 1, None)
    moderator_id = queue_filters.int_arg(args, "moderator", 1, None)
    limit, cursor = queue_filters.parse_page(args)
    session = current.session()
    page = queue_service.audit_log(
        session,
        comment_id=comment_id,
        moderator_id=moderator_id,
        limit=limit,
        cursor=cursor,
        sites=_scope(),  # a site moderator's log: their sites' comments only
    )
    return render_template(
        "dashboard/audit.html",
        page=page,
        comment_id=comment_id,
        moderator_id=moderator_id,
        # a moderator of some sites filters by themself; who else moderates is an admin's business
        moderators=account_service.list_moderators(session)
        if _scope() is None
        else [m for m in account_service.list_moderators(session) if m.id == user().id],
        cursor=cursor,
        limit=limit if limit != queue_filters.DEFAULT_LIMIT else None,
    )


def _lists_page(error: str | None = None, status: int = 200) -> Response:
    html = render_template(
        "dashboard/lists.html",
        entries=list_service.list_entries(current.session()),
        error=error,
        form=request.form,
    )
    return Response(html, status=status)


@bp.get("/lists")
def lists() -> Response:
    """The moderation lists (admins may change them)."""
    return _lists_page()


def _not_an_editor(exc: Forbidden) -> Response:
    """The lists page with why the change was refused (403)."""
    return _lists_page(exc.message[:1].upper() + exc.message[1:] + ".", 403)


@bp.post("/lists")
def add_list_entry() -> Response:
    """Add an entry (admins: `list_service.require_list_editor`); a bad one is shown on the page
    with the scorers' own message."""
    form = request.form
    try:
        kind = ListKind(form.get("kind", ""))
        with current.write() as tx:
            list_service.add_entry_by(
                tx,
                current.context(),
                user().actor,
                kind,
                form.get("value", ""),
                site=form.get("site") or None,
                note=form.get("note", ""),
            )
    except ValueError:
        return _lists_page("Choose a list.", 400)
    except Forbidden as exc:
        return _not_an_editor(exc)
    except InvalidInput as exc:
        return _lists_page(exc.message, 400)
    flash(f"Added to {list_service.LABELS[kind].lower()}.", "success")
    return redirect(url_for("dashboard.lists"), 303)


@bp.post("/lists/<int:entry_id>/delete")
def remove_list_entry(entry_id: int) -> Response:
    """Remove an entry (admins: `list_service.require_list_editor`)."""
    try:
        with current.write() as tx:
            entry = list_service.remove_entry_by(tx, user().actor, entry_id)
    except Forbidden as exc:
        return _not_an_editor(exc)
    flash(f"Removed {entry.value} from {list_service.LABELS[entry.kind].lower()}.", "success")
    return redirect(url_for("dashboard.lists"), 303)


@bp.get("/spam-filter")
def spam_filter() -> str:
    """What the spam filter learned on each of the moderator's sites: its cut-offs against the
    shipped ones, the decisions they rest on, and the approvals that hold the spam cut-off up."""
    scope = _scope()
    sites = sorted(_sites() if scope is None else scope)
    return render_template(
        "dashboard/spam_filter.html",
        filters=spam_filter_service.site_filters(current.session(), current.context(), sites),
    )


@bp.get("/moderators")
@role_required(Role.admin)
def moderators() -> str:
    """Moderators, their roles and the sites each may moderate (admins only)."""
    session = current.session()
    return render_template(
        "dashboard/moderators.html",
        moderators=account_service.list_moderators(session),
        listed=account_service.sites_by_moderator(session),
    )


@bp.post("/moderators")
@role_required(Role.admin)
def add_moderator() -> Response:
    """Create a moderator with an e-mail, a role, a first password and the sites they may
    moderate (none ticked: every site)."""
    form = request.form
    with current.write() as tx:
        added = account_service.add_moderator(
            tx,
            current.context(),
            form.get("email", ""),
            form.get("role", ""),
            form.get("password", ""),
        )
        listed = account_service.set_sites(tx, added.id, form.getlist("site"), _sites())
        email, role = added.email, added.role.value
    where = f", {_site_words(listed)}" if listed else ""
    flash(f"{email} can sign in now ({role}{where}).", "success")
    return redirect(url_for("dashboard.moderators"), 303)


def _site_words(listed: list[str]) -> str:
    """``the sites blog, docs``, ``the site blog``, or ``every site`` (none listed)."""
    return f"the site{'s' * (len(listed) > 1)} {', '.join(listed)}" if listed else "every site"


@bp.post("/moderators/<int:moderator_id>/sites")
@role_required(Role.admin)
def set_sites(moderator_id: int) -> Response:
    """Replace the sites a moderator may moderate by the ticked ones (none: every site); their
    queue changes with their next page, their sessions go on."""
    with current.write() as tx:
        listed = account_service.set_sites(tx, moderator_id, request.form.getlist("site"), _sites())
        email = account_service.get_moderator(tx, moderator_id).email
    flash(f"{email} moderates {_site_words(listed)} now.", "success")
    return redirect(url_for("dashboard.moderators"), 303)


@bp.post("/moderators/<int:moderator_id>/<any(activate,deactivate):change>")
@role_required(Role.admin)
def set_active(moderator_id: int, change: str) -> Response:
    """Deactivate (sign-in refused, sessions end) or reactivate a moderator."""
    with current.write() as tx:
        changed = account_service.set_active(tx, moderator_id, change == "activate", by=user().id)
    flash(f"{changed.email} is {'active' if changed.active else 'deactivated'}.", "success")
    return redirect(url_for("dashboard.moderators"), 303)


@bp.get("/mail")
@role_required(Role.admin)
def mail() -> str:
    """Mail that cannot go out (admins only): the suppressed addresses and the dead letters."""
    session = current.session()
    return render_template(
        "dashboard/mail.html",
        suppressed=mail_service.suppressed(session),
        dead=outbox_service.dead_letters(session),
        max_attempts=current.context().settings.mail.max_attempts,
    )


@bp.post("/mail/suppressed/remove")
@role_required(Role.admin)
def unsuppress() -> Response:
    """Take an address off the suppression list: mail to it is sent again."""
    address = request.form.get("email", "")
    with current.write() as tx:
        removed = mail_service.unsuppress(tx, address)
    if removed:
        flash(f"Mail will be sent to {address} again.", "success")
    else:
        flash(f"{address or 'That address'} was not on the suppression list.", "warning")
    return redirect(url_for("dashboard.mail"), 303)


@bp.post("/mail/dead/<int:entry_id>/retry")
@role_required(Role.admin)
def retry_dead(entry_id: int) -> Response:
    """Give a dead letter another round of tries, starting now."""
    with current.write() as tx:
        retried = outbox_service.retry_dead(tx, current.context(), entry_id)
    if retried:
        flash("The mail is queued again; it is sent in a moment.", "success")
    else:
        flash("That mail is no longer waiting to be retried.", "warning")
    return redirect(url_for("dashboard.mail"), 303)


# --- templates, errors, headers --------------------------------------------------------------------


def when(moment: datetime | None) -> str:
    """A time as the dashboard prints it (UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def percent(share: float) -> str:
    """0.005 → ``0.5 %``."""
    return f"{share * 100:g} %"


def page_url(site: str, uri: str) -> str | None:
    """The page a thread belongs to, when its site is still configured."""
    settings = _sites().get(site)
    return settings.page_url(uri) if settings else None


def _queue_base() -> str:
    """The queue's path, built once per request (a page links to it hundreds of times)."""
    if "dashboard_base" not in g:
        g.dashboard_base = url_for("dashboard.queue")
    return str(g.dashboard_base)


def queue_url(f: queue_filters.QueueFilter, **changes: Any) -> str:
    """The queue under `f` with some fields changed (``cursor``/``limit`` pass through)."""
    extra = {k: changes.pop(k) for k in ("cursor", "limit") if k in changes}
    args: dict[str, object] = {**f.but(**changes).args(), **{k: v for k, v in extra.items() if v}}
    return f"{_queue_base()}?{urlencode(args)}"


def comment_url(comment_id: int, action: str = "") -> str:
    """A comment's page, or the URL one of its actions posts to."""
    return f"{_queue_base()}comments/{comment_id}" + (f"/{action}" if action else "")


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One row of the queue page: the comment's columns (`c`: `queue_service.ROW_COLUMNS`), its
    latest spam check, and the links and times the row prints. These are computed in one Python
    pass: made in the template, each costs a function call (and `url_for`, `urlencode` more),
    dearer than the markup around it, 50 times a page."""

    c: Row[Any]
    check: Row[Any] | None
    url: str  # the comment's page; its buttons post to url/<action>
    created: str  # ISO 8601, for <time datetime>
    when: str
    email_search: str  # the queue under the same filter, searching for the e-mail
    ip_search: str  # ... for the IP
    page: str | None  # the thread's page on its site (None when the site is gone)
    thread: str  # the queue narrowed to the thread
    reply_to: ReplyTo | None = None  # the comment this one answers
    words: verdict_words.Words | None = None  # the verdict in plain words


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Another comment as context shows it: who wrote it, where it is, its first line, its page."""

    id: int
    author: str
    status: CommentStatus
    kind: CommentKind
    line: str
    url: str


def _reply_to(other: Any) -> ReplyTo:
    """`other` (any row with ``id``, ``author``, ``status``, ``kind``, ``text``, ``text_format``)."""
    line = verdict_words.first_line(other.text, is_html=other.text_format == "html")
    return ReplyTo(other.id, other.author, other.status, other.kind, line, comment_url(other.id))


def _check_of(check: Any) -> verdict_words.Check | None:
    if check is None:
        return None
    verdict = getattr(check.verdict, "value", check.verdict)
    return verdict_words.Check(str(verdict), float(check.score), check.signals or [])


def _words(
    status: CommentStatus,
    kind: CommentKind,
    verified: bool | None,
    discarded: bool,
    check: Any,
    event: Any,
    recheck_reason: str | None,
    import_source: str | None,
) -> verdict_words.Words:
    """The verdict sentence from rows: the latest check and audit row may be ORM objects or rows."""
    return verdict_words.describe(
        CommentStatus(status),
        kind=CommentKind(kind),
        verified=verified,
        discarded=bool(discarded),
        check=_check_of(check),
        event=verdict_words.Event(event.actor, event.action, event.reason or "") if event else None,
        recheck_reason=recheck_reason,
        import_source=import_source,
    )


def _check_words(check: Any) -> str:
    """What one spam check said, in words, whatever became of the comment since."""
    found = verdict_words.evidence(check.signals or [], spammy=check.verdict.value != "ham")
    head = verdict_words.CHECK_HEADS.get(check.verdict.value, check.verdict.value)
    return f"{head}: {verdict_words.join(found)}" if found else head


def queue_rows(
    f: queue_filters.QueueFilter,
    page: queue_service.QueueRows,
    around: Mapping[int, queue_context.RowContext] | None = None,
) -> list[QueueRow]:
    """The rows of a queue page under `f`; links equal `queue_url`'s and `comment_url`'s, built by
    concatenation from prefixes made once per page. `around` (`queue_context.row_contexts`) adds
    each row's parent and its verdict in words."""
    around = around or {}
    base, args = _queue_base(), f.args()
    comments = f"{base}comments/"
    narrowing = urlencode({k: v for k, v in args.items() if k in ("status", "site", "uri", "kind")})
    search, search_end = f"{base}?{narrowing}&q=", "&discarded=1" if f.discarded else ""
    rest = urlencode({k: v for k, v in args.items() if k in ("kind", "q", "discarded")})
    thread, thread_end = f"{base}?status={f.status.value}&site=", f"&{rest}" if rest else ""
    rows = []
    for c in page.rows:
        url, email, ip = f"{comments}{c.id}", quote_plus(c.email), quote_plus(c.ip)
        thread_url = f"{thread}{quote_plus(c.site)}&uri={quote_plus(c.uri)}{thread_end}"
        check, near = page.checks.get(c.id), around.get(c.id)
        words = None
        if near is not None:
            words = _words(
                c.status,
                c.kind,
                c.verified,
                c.discarded,
                check,
                near.event,
                near.recheck_reason,
                near.import_source,
            )
        rows.append(
            QueueRow(
                c,
                check,
                url,
                c.created_at.isoformat(),
                when(c.created_at),
                f"{search}{email}{search_end}",
                f"{search}{ip}{search_end}",
                page_url(c.site, c.uri),
                thread_url,
                _reply_to(near.parent) if near is not None and near.parent is not None else None,
                words,
            )
        )
    return rows


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "when": when,
        "prob": spam_filter_service.prob,
        "percent": percent,
        "plural": _plural,
        "page_url": page_url,
        "queue_url": queue_url,
        "comment_url": comment_url,
        "words": WORDS,
        "keys": KEYS,
        "buttons": BUTTONS,
        "action_label": action_label,
        "allowed_actions": allowed_actions,
        "statuses": list(CommentStatus),
        "kinds": list(CommentKind),
        "sites": sorted(_sites()),
        "list_kinds": list(ListKind),
        "list_labels": list_service.LABELS,
        "list_help": list_service.HELP,
        "undo": cookie_session.get("undo"),
        "Action": Action,
        "Status": CommentStatus,
        "roles": list(Role),
    }


def _error_page(message: str, status: int) -> Response:
    return Response(
        render_template("dashboard/error.html", message=message, status=status), status=status
    )


@bp.errorhandler(ModerationError)
def _moderation_error(exc: ModerationError) -> Response:
    """A refused action: on a form POST, the message on the page the moderator came from."""
    if request.method == "GET":
        return _error_page(exc.message, status_of(exc))
    # (nothing of a refused action was kept: its `current.write()` block rolled back)
    flash(exc.message[:1].upper() + exc.message[1:] + ".", "error")
    return back()


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Response:
    return _error_page("The form had expired. Go back, reload the page and try again.", 400)


@bp.errorhandler(403)
@bp.errorhandler(404)
def _http_error(exc: HTTPException) -> Response:
    messages = {403: "Only admins may do this.", 404: "There is no such page."}
    return _error_page(messages.get(exc.code or 0, exc.description or ""), exc.code or 500)


@bp.after_request
def _headers(response: Response) -> Response:
    """Dashboard pages show strangers' text: no scripts or frames but ours, no caching."""
    return set_page_security_headers(response)
