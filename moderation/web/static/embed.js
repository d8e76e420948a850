/*! moderation comment widget: plain JavaScript, no framework, no build step.
 *
 *   <section id="comments" data-site="blog" data-uri="/2010/07/co-production/"></section>
 *   <script src="https://comments.example.org/embed.js" async></script>
 *
 * Container options: data-title (the page title for a new thread), data-lang ("en", "de", "fr"; else the
 * document's lang, else the browser's), data-theme ("dark" or "light"; else prefers-color-scheme),
 * data-edit-window (seconds the author may edit when the server does not say: the POST answer's
 * edit_until wins).
 * Counts: <span data-comment-count data-uri="/a/" [data-site="blog"]></span>, one request per site.
 * Theming: set --mod-fg, --mod-bg, --mod-muted, --mod-accent, --mod-accent-fg, --mod-border, --mod-soft,
 * --mod-error, --mod-wait, --mod-wait-border, --mod-radius, --mod-font, --mod-indent on #comments.
 *
 * Safety: the comment's `html` (sanitized by the server, and filtered once more here) is the only markup
 * this script ever parses; everything else goes through textContent and setAttribute, and the only URLs
 * it links to or loads from readers' data are http(s).
 */
(function () {
  "use strict";
  var me = document.currentScript || document.querySelector('script[src*="/embed.js"]');
  var API = me ? me.src.replace(/\/embed\.js([?#].*)?$/, "") : "";
  var enc = encodeURIComponent, seq = 0;

  var L = {
    en: {
      n0: "No comments yet", n1: "1 comment", n: "{n} comments", add: "Leave a comment",
      replyTo: "Reply to {a}", editTitle: "Edit your comment", name: "Name", email: "E-mail",
      emailNote: "Optional, never shown.", website: "Website", text: "Comment",
      hint: "Markdown works: *emphasis*, **bold**, `code`, > quotes, links.",
      hp: "Leave this field empty", post: "Post comment", postReply: "Post reply", save: "Save",
      cancel: "Cancel", preview: "Preview", previewOff: "Hide preview", reply: "Reply", edit: "Edit",
      del: "Delete", delAsk: "Delete this comment?", delYes: "Yes, delete", anon: "Anonymous",
      deleted: "This comment was deleted.", held: "awaiting moderation", edited: "edited",
      inReply: "in reply to {a}", trackback: "Trackback", pingback: "Pingback",
      webmention: "Webmention", published: "Your comment was published.",
      heldMsg: "Thank you! Your comment is awaiting moderation. Until it is approved, only you can see it.",
      saved: "Your changes were saved.", removed: "Your comment was deleted.",
      closed: "Comments are closed.", loadErr: "The comments could not be loaded.",
      retry: "Try again", tbUrl: "Trackback URL", feed: "Atom feed",
      data: "Your data",
      e400: "Please check the marked fields.", e403: "This page may not use the comment service.",
      token: "The time to change this comment is over.", e404: "This comment no longer exists.",
      e409: "You have already posted this comment.", e413: "Your comment is too long.",
      e415: "The comment could not be sent in the expected format.",
      e429: "You are posting too quickly. Please try again {t}.",
      e5xx: "Something went wrong on our side. Please try again later.",
      net: "The comment service cannot be reached. Please check your connection and try again.",
      required: "Please fill in this field.", badEmail: "This is not an e-mail address.",
      badWebsite: "Only http:// and https:// addresses work here.", tooLong: "This is too long.",
      notify: "Notify me", nNone: "never", nReplies: "of replies", nThread: "of every new comment",
      notifyNote: "By e-mail, once you confirm.", needEmail: "Needed to notify you.",
      checkMail: "To get e-mails, confirm the link we send you.",
      more: "Show more comments", sort: "Sort comments", oldest: "Oldest", newest: "Newest", top: "Top",
      like: "Like", dislike: "Dislike", likePage: "Like this page",
      off: "Comments are unavailable on this page.",
      win: "You can edit or delete this comment for {n} minutes.",
      editOf: "Edit your comment of {t}", delOf: "Delete your comment of {t}",
      signIn: "Sign in with {p}", signedAs: "Signed in as {n}", signOut: "Sign out", verified: "verified"
    },
    de: {
      n0: "Noch keine Kommentare", n1: "1 Kommentar", n: "{n} Kommentare", add: "Kommentar schreiben",
      replyTo: "Antwort an {a}", editTitle: "Kommentar bearbeiten", name: "Name", email: "E-Mail",
      emailNote: "Freiwillig, wird nie angezeigt.", website: "Website", text: "Kommentar",
      hint: "Markdown geht: *kursiv*, **fett**, `Code`, > Zitate, Links.",
      hp: "Dieses Feld bitte leer lassen", post: "Kommentar senden", postReply: "Antwort senden",
      save: "Speichern", cancel: "Abbrechen", preview: "Vorschau", previewOff: "Vorschau ausblenden",
      reply: "Antworten", edit: "Bearbeiten", del: "Löschen", delAsk: "Diesen Kommentar löschen?",
      delYes: "Ja, löschen", anon: "Anonym", deleted: "Dieser Kommentar wurde gelöscht.",
      held: "wartet auf Freigabe", edited: "bearbeitet", inReply: "Antwort an {a}",
      trackback: "Trackback", pingback: "Pingback", webmention: "Webmention",
      published: "Ihr Kommentar wurde veröffentlicht.",
      heldMsg: "Danke! Ihr Kommentar wartet auf Freigabe. Bis dahin sehen nur Sie ihn.",
      saved: "Ihre Änderungen wurden gespeichert.", removed: "Ihr Kommentar wurde gelöscht.",
      closed: "Die Kommentare sind geschlossen.",
      loadErr: "Die Kommentare konnten nicht geladen werden.", retry: "Erneut versuchen",
      tbUrl: "Trackback-URL", feed: "Atom-Feed", e400: "Bitte prüfen Sie die markierten Felder.",
      data: "Ihre Daten",
      e403: "Diese Seite darf den Kommentardienst nicht nutzen.",
      token: "Die Zeit zum Ändern dieses Kommentars ist abgelaufen.",
      e404: "Diesen Kommentar gibt es nicht mehr.", e409: "Diesen Kommentar haben Sie schon gesendet.",
      e413: "Ihr Kommentar ist zu lang.",
      e415: "Der Kommentar konnte nicht im erwarteten Format gesendet werden.",
      e429: "Sie senden zu schnell. Bitte versuchen Sie es {t} erneut.",
      e5xx: "Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es später erneut.",
      net: "Der Kommentardienst ist nicht erreichbar. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
      required: "Bitte füllen Sie dieses Feld aus.", badEmail: "Das ist keine E-Mail-Adresse.",
      badWebsite: "Hier gehen nur http://- und https://-Adressen.", tooLong: "Das ist zu lang.",
      notify: "Benachrichtigen", nNone: "nie", nReplies: "bei Antworten", nThread: "bei jedem neuen Kommentar",
      notifyNote: "Per E-Mail, nach Ihrer Bestätigung.", needEmail: "Für Benachrichtigungen nötig.",
      checkMail: "Für E-Mails bestätigen Sie bitte den Link, den wir Ihnen senden.",
      more: "Weitere Kommentare zeigen", sort: "Kommentare sortieren", oldest: "Älteste", newest: "Neueste",
      top: "Beliebteste", like: "Gefällt mir", dislike: "Gefällt mir nicht", likePage: "Diese Seite gefällt mir",
      off: "Kommentare sind auf dieser Seite nicht verfügbar.",
      win: "Sie können diesen Kommentar {n} Minuten lang bearbeiten oder löschen.",
      editOf: "Ihren Kommentar von {t} bearbeiten", delOf: "Ihren Kommentar von {t} löschen",
      signIn: "Anmelden mit {p}", signedAs: "Angemeldet als {n}", signOut: "Abmelden", verified: "bestätigt"
    },
    fr: {
      n0: "Aucun commentaire pour l’instant", n1: "1 commentaire", n: "{n} commentaires",
      add: "Laisser un commentaire", replyTo: "Répondre à {a}", editTitle: "Modifier votre commentaire",
      name: "Nom", email: "Courriel", emailNote: "Facultatif, jamais affiché.", website: "Site web",
      text: "Commentaire", hint: "Markdown accepté\u00a0: *italique*, **gras**, `code`, > citations, liens.",
      hp: "Laissez ce champ vide", post: "Publier le commentaire", postReply: "Publier la réponse",
      save: "Enregistrer", cancel: "Annuler", preview: "Aperçu", previewOff: "Masquer l’aperçu",
      reply: "Répondre",
      edit: "Modifier", del: "Supprimer", delAsk: "Supprimer ce commentaire\u00a0?",
      delYes: "Oui, supprimer", anon: "Anonyme", deleted: "Ce commentaire a été supprimé.",
      held: "en attente de modération", edited: "modifié", inReply: "en réponse à {a}",
      trackback: "Rétrolien", pingback: "Pingback", webmention: "Webmention",
      published: "Votre commentaire a été publié.",
      heldMsg: "Merci\u00a0! Votre commentaire est en attente de modération. D’ici là, vous seul pouvez le voir.",
      saved: "Vos modifications ont été enregistrées.", removed: "Votre commentaire a été supprimé.",
      closed: "Les commentaires sont fermés.", loadErr: "Les commentaires n’ont pas pu être chargés.",
      retry: "Réessayer", tbUrl: "URL de rétrolien", feed: "Flux Atom",
      data: "Vos données",
      e400: "Veuillez vérifier les champs signalés.",
      e403: "Cette page n’est pas autorisée à utiliser le service de commentaires.",
      token: "Le délai pour modifier ce commentaire est écoulé.", e404: "Ce commentaire n’existe plus.",
      e409: "Vous avez déjà publié ce commentaire.", e413: "Votre commentaire est trop long.",
      e415: "Le commentaire n’a pas pu être envoyé dans le format attendu.",
      e429: "Vous publiez trop vite. Veuillez réessayer {t}.",
      e5xx: "Une erreur s’est produite de notre côté. Veuillez réessayer plus tard.",
      net: "Le service de commentaires est injoignable. Vérifiez votre connexion et réessayez.",
      required: "Veuillez remplir ce champ.", badEmail: "Ce n’est pas une adresse électronique.",
      badWebsite: "Seules les adresses http:// et https:// sont acceptées.", tooLong: "C’est trop long.",
      notify: "M’avertir", nNone: "jamais", nReplies: "des réponses", nThread: "de chaque nouveau commentaire",
      notifyNote: "Par courriel, après confirmation.", needEmail: "Nécessaire pour vous avertir.",
      checkMail: "Pour recevoir les courriels, confirmez le lien que nous vous enverrons.",
      more: "Afficher plus de commentaires", sort: "Trier les commentaires", oldest: "Plus anciens",
      newest: "Plus récents", top: "Populaires", like: "J’aime", dislike: "Je n’aime pas",
      likePage: "J’aime cette page", off: "Les commentaires ne sont pas disponibles sur cette page.",
      win: "Vous pouvez modifier ou supprimer ce commentaire pendant {n}\u00a0minutes.",
      editOf: "Modifier votre commentaire de {t}", delOf: "Supprimer votre commentaire de {t}",
      signIn: "Se connecter avec {p}", signedAs: "Connecté en tant que {n}", signOut: "Se déconnecter", verified: "vérifié"
    }
  };

  var DARK = "--mod-fg:#e6edf3;--mod-bg:#161b22;--mod-field-bg:#0d1117;--mod-pad:1rem clamp(.75rem,3vw,1.25rem);--mod-muted:#9ba4ae;--mod-accent:#6cb6ff;" +
    "--mod-accent-fg:#0d1117;--mod-border:#3d444d;--mod-soft:#212830;--mod-error:#ff8e8e;" +
    "--mod-wait:#2b2411;--mod-wait-border:#a97d13;color-scheme:dark";
  var CSS = ".mod{--mod-fg:#1f2328;--mod-bg:transparent;--mod-field-bg:#fff;--mod-pad:0;--mod-muted:#59636e;--mod-accent:#0a5bc4;" +
    "--mod-accent-fg:#fff;--mod-border:#d0d7de;--mod-soft:#f4f6f8;--mod-error:#b3261e;--mod-wait:#fff8e5;" +
    "--mod-wait-border:#d4a72c;--mod-radius:8px;--mod-font:inherit;--mod-indent:1.25rem;" +
    "color-scheme:light;color:var(--mod-fg);background:var(--mod-bg);font-family:var(--mod-font);" +
    "line-height:1.55;padding:var(--mod-pad);border-radius:var(--mod-radius);overflow-wrap:anywhere}" +
    "@media (prefers-color-scheme:dark){.mod:not([data-theme=light]){" + DARK + "}}" +
    ".mod[data-theme=dark]{" + DARK + "}" +
    ".mod *,.mod ::before,.mod ::after{box-sizing:border-box}.mod [hidden]{display:none!important}" +
    ".mod a{color:var(--mod-accent)}.mod :focus-visible{outline:2px solid var(--mod-accent);outline-offset:2px}" +
    ".mod-title{font-size:1.3em;line-height:1.3;margin:0 0 .25rem}.mod-title:focus{outline:0}" +
    ".mod-status{margin:0;color:var(--mod-muted)}.mod-status.mod-bad{color:var(--mod-error)}" +
    ".mod-list,.mod-replies{list-style:none;margin:0;padding:0}.mod-item{margin:1.1rem 0 0}" +
    ".mod-replies{margin-left:var(--mod-indent);padding-left:.9rem;border-left:2px solid var(--mod-border)}" +
    ".mod-replies.mod-flat{margin-left:0;padding-left:0;border-left:0}" +
    ".mod-c{border-radius:var(--mod-radius);padding:.35rem .5rem;margin:0 -.5rem}" +
    ".mod-c:target,.mod-c:focus{outline:0;background:var(--mod-soft);box-shadow:0 0 0 2px var(--mod-accent)}" +
    ".mod-c.mod-held{background:var(--mod-wait);box-shadow:inset 0 0 0 1px var(--mod-wait-border)}" +
    ".mod-c.mod-held:focus{box-shadow:0 0 0 2px var(--mod-accent)}" +
    ".mod-head{display:flex;flex-wrap:wrap;align-items:center;gap:.1rem .5rem;font-size:.9em;color:var(--mod-muted)}" +
    ".mod-av{width:2rem;height:2rem;border-radius:50%;flex:none;background:var(--mod-soft)}" +
    ".mod-name{font-weight:600;color:var(--mod-fg);text-decoration:none}a.mod-name{color:var(--mod-accent)}" +
    ".mod .mod-when,.mod .mod-to{color:inherit;text-decoration:none}.mod a:hover{text-decoration:underline}" +
    ".mod-badge{font-size:.85em;line-height:1.4;border:1px solid var(--mod-border);border-radius:1em;padding:0 .55em}" +
    ".mod-wait{border-color:var(--mod-wait-border);color:var(--mod-fg)}" +
    ".mod-body,.mod-acts,.mod-c .mod-form{margin-left:2.5rem}.mod-body{margin-top:.1rem}" +
    ".mod-body>:first-child{margin-top:0}.mod-body>:last-child{margin-bottom:0}" +
    ".mod-body p,.mod-body ul,.mod-body ol,.mod-body pre,.mod-body blockquote{margin:.5em 0}" +
    ".mod-body pre{overflow:auto;padding:.6em .8em;background:var(--mod-soft);border-radius:6px;overflow-wrap:normal}" +
    ".mod-body code{font-size:.9em;background:var(--mod-soft);padding:.1em .3em;border-radius:4px}" +
    ".mod-body pre code{padding:0;background:none}" +
    ".mod-body blockquote{padding-left:.8em;border-left:3px solid var(--mod-border);color:var(--mod-muted)}" +
    ".mod-deleted{font-style:italic;color:var(--mod-muted);margin:0}" +
    ".mod-acts{display:flex;flex-wrap:wrap;align-items:center;gap:0 1rem;font-size:.875em;color:var(--mod-muted)}" +
    ".mod-link{font:inherit;background:none;border:0;padding:.3rem 0;color:var(--mod-muted);cursor:pointer;" +
    "text-decoration:underline;text-underline-offset:2px}.mod-link:hover{color:var(--mod-fg)}" +
    "@media (pointer:coarse){.mod-link{padding:.6rem 0}}.mod-link.mod-danger,.mod-err{color:var(--mod-error)}.mod-editing>.mod-body,.mod-editing>.mod-acts{display:none}" +
    ".mod-form{margin:1.75rem 0 0;display:grid;gap:.75rem}.mod-c .mod-form{margin-top:.75rem;margin-bottom:.5rem}" +
    ".mod-form h3{font-size:1.1em;margin:0}.mod-c .mod-form{padding:.75rem 1rem 1rem;border:1px solid var(--mod-border);" +
    "border-radius:var(--mod-radius);background:var(--mod-bg)}.mod-c .mod-form h3{font-size:1em}" +
    ".mod-fields{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.75rem}" +
    ".mod-field{margin:0;display:flex;flex-direction:column;gap:.25rem}.mod-field label{font-size:.9em;font-weight:600}" +
    ".mod-note{font-size:.8em;color:var(--mod-muted)}" +
    ".mod input,.mod textarea,.mod select{font:inherit;color:var(--mod-fg);background:var(--mod-field-bg);width:100%;" +
    "border:1px solid var(--mod-border);border-radius:6px;padding:.5rem .6rem;margin:0}" +
    ".mod textarea{min-height:7rem;resize:vertical}" +
    ".mod input:focus,.mod textarea:focus,.mod select:focus{outline:2px solid var(--mod-accent);outline-offset:-1px}" +
    ".mod [aria-invalid=true]{border-color:var(--mod-error)}.mod-err{font-size:.875em}.mod-err:empty{display:none}" +
    ".mod-hint{color:var(--mod-muted);font-size:.85em}.mod-auth{margin:1rem 0;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}" +
    ".mod-hp{position:absolute!important;left:-10000px!important;width:1px;height:1px;overflow:hidden}" +
    ".mod-preview{border:1px dashed var(--mod-border);border-radius:6px;padding:.6rem .8rem}" +
    ".mod-preview>:first-child{margin-top:0}.mod-preview>:last-child{margin-bottom:0}" +
    ".mod-bar{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:.5rem 0}" +
    ".mod-bar [aria-pressed=true],.mod-vote[aria-pressed=true]{color:var(--mod-accent);font-weight:600}" +
    ".mod-sort{display:flex;gap:.75rem;font-size:.875em}.mod-more{margin-top:1rem}" +
    ".mod-buttons{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}" +
    ".mod-btn{font:inherit;font-size:.95em;cursor:pointer;border-radius:6px;padding:.45rem 1rem;min-height:2.5rem;" +
    "border:1px solid var(--mod-border);background:var(--mod-soft);color:var(--mod-fg)}" +
    ".mod-primary{background:var(--mod-accent);border-color:var(--mod-accent);color:var(--mod-accent-fg);font-weight:600}" +
    ".mod-btn:disabled{opacity:.6;cursor:progress}.mod select:disabled{opacity:.6}.mod-msg{margin:0}" +
    ".mod-msg:not(:empty){padding:.5rem .75rem;border-radius:6px;background:var(--mod-soft)}" +
    ".mod-msg.mod-bad{color:var(--mod-error)}.mod-closed{font-style:italic;color:var(--mod-muted)}.mod-closed:focus{outline:0}" +
    ".mod-foot{margin-top:1.5rem;padding-top:.6rem;border-top:1px solid var(--mod-border);font-size:.85em;" +
    "color:var(--mod-muted);display:flex;flex-wrap:wrap;gap:.25rem 1.5rem}.mod-foot p{margin:0}" +
    "@media (max-width:36em){.mod{--mod-indent:.25rem}" +
    ".mod-body,.mod-acts,.mod-c .mod-form{margin-left:0}.mod-replies{padding-left:.6rem}}";

  function h(tag, attrs, kids) {
    var e = document.createElement(tag);
    for (var k in attrs) {
      var v = attrs[k];
      if (v == null || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
      else e.setAttribute(k === "cls" ? "class" : k, v === true ? "" : v);
    }
    (kids || []).forEach(function (c) { if (c != null) e.append(c); });
    return e;
  }

  function load(key, dflt) {
    try { var v = JSON.parse(localStorage.getItem(key)); return v == null ? dflt : v; } catch (e) { return dflt; }
  }

  function store(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* storage off: forget */ }
  }

  // The opaque reader id sent with votes and likes: random, made once, kept in localStorage.
  var rid;
  function reader() {
    rid = rid || load("moderation:reader", "");
    if (!/^[\w-]{8,64}$/.test(rid)) {
      rid = [].map.call(crypto.getRandomValues(new Uint8Array(24)), function (b) { return (b % 36).toString(36); }).join("");
      store("moderation:reader", rid);
    }
    return rid;
  }

  // A link or image address from readers' data: absolute http(s) only, normalized by the URL parser.
  function webUrl(u) {
    if (typeof u !== "string" || !u) return null;
    try { var x = new URL(u); } catch (e) { return null; }
    return x.protocol === "http:" || x.protocol === "https:" ? x.href : null;
  }

  // The server sanitizes C.html; this filter keeps the same small allowlist once more, so a bug there
  // alone cannot run script here. Parsing happens in an inert <template>: nothing loads or runs.
  var TAGS = /^(P|BR|EM|STRONG|DEL|CODE|PRE|BLOCKQUOTE|UL|OL|LI|A|HR)$/;
  function filter(root) {
    [].slice.call(root.childNodes).forEach(function (n) {
      if (n.nodeType === 3) return;
      if (n.nodeType !== 1 || !TAGS.test(n.tagName) || n.namespaceURI !== "http://www.w3.org/1999/xhtml") {
        n.replaceWith(n.nodeType === 1 ? n.textContent : "");
        return;
      }
      [].slice.call(n.attributes).forEach(function (a) {
        var ok = a.name === "title" || (a.name === "href" && n.tagName === "A" && /^(https?|mailto):$/.test(
          (function () { try { return new URL(a.value).protocol; } catch (e) { return ""; } })()));
        if (!ok) n.removeAttribute(a.name);
      });
      if (n.tagName === "A") n.setAttribute("rel", "nofollow ugc noopener");
      filter(n);
    });
  }

  function rich(html) {
    var t = document.createElement("template");
    t.innerHTML = typeof html === "string" ? html : ""; // C.html, sanitized by the server
    filter(t.content);
    return t.content;
  }

  function pickLang(box) {
    var l = (box.getAttribute("data-lang") || document.documentElement.lang || navigator.language || "en");
    l = l.slice(0, 2).toLowerCase();
    return L[l] ? l : "en";
  }

  function Widget(box) {
    var site = box.getAttribute("data-site") || "", uri = box.getAttribute("data-uri") || location.pathname;
    var lang = pickLang(box), t = L[lang], n = ++seq;
    var rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    var rtfIn = new Intl.RelativeTimeFormat(lang, { numeric: "always" });
    var windowMs = 1000 * (parseInt(box.getAttribute("data-edit-window"), 10) || 900);
    var ownKey = "moderation:own:" + site + ":" + uri, whoKey = "moderation:author";
    var thread = { count: 0, open: true }, tree = [], mine = {}, extra = {}, open = null, failed = false;
    // Paging: `next` is the server's cursor of the following page; the sort order is remembered.
    var next = null, sort = load("moderation:sort", "oldest"), voteKey = "moderation:votes:" + site;
    var likeKey = "moderation:like:" + site + ":" + uri, votes = load(voteKey, {});
    // A signed-in reader: the token the sign-in popup posted back, kept per site (no cookies).
    var sessKey = "moderation:signin:" + site, sess = load(sessKey, null), auth = h("div", { cls: "mod-auth" });

    var title = h("h2", { cls: "mod-title", id: "mod" + n + "-title", tabindex: "-1" });
    var status = h("p", { cls: "mod-status", role: "status", "aria-live": "polite" });
    var list = h("ol", { cls: "mod-list" });
    var sorts = ["oldest", "newest", "top"].map(function (k) {
      return h("button", { type: "button", cls: "mod-link", "data-sort": k, text: t[k], onclick: function () {
        sort = k;
        store("moderation:sort", k);
        reload();
      } });
    });
    var pageLike = h("button", { type: "button", cls: "mod-btn mod-page-like", onclick: function () {
      var on = !load(likeKey, false);
      send("POST", "/api/v1/likes", { site: site, uri: uri, like: on }).then(function (r) {
        if (!r.ok || !r.data) return say(status, errText(r), true);
        store(likeKey, r.data.mine);
        thread.likes = r.data.likes;
        paintBar();
      });
    } });
    var bar = h("div", { cls: "mod-bar" }, [pageLike, h("div", { cls: "mod-sort", role: "group", "aria-label": t.sort }, sorts)]);
    var moreBtn = h("button", { type: "button", cls: "mod-btn mod-more", hidden: true, text: t.more, onclick: more });
    var closedNote = h("p", { cls: "mod-closed", hidden: true, tabindex: "-1", text: t.closed });
    var main = form({});
    var tb = h("p", { cls: "mod-tb", hidden: true });
    var feed = h("a", { href: API + "/feeds/" + enc(site) + "/thread.atom?uri=" + enc(uri),
      type: "application/atom+xml", cls: "mod-feed", text: t.feed });
    box.classList.add("mod");
    box.setAttribute("lang", lang);
    if (!box.hasAttribute("aria-labelledby")) box.setAttribute("aria-labelledby", title.id);
    box.replaceChildren(title, status, bar, list, moreBtn, closedNote, auth, main.el,
      h("footer", { cls: "mod-foot" }, [tb, h("p", null, [feed])]));
    // The footer (the last child): readers export or erase their own data on the service's page.
    box.lastChild.append(h("p", null, [h("a", { href: API + "/privacy/?site=" + enc(site),
      cls: "mod-data", text: t.data })]));

    function say(el, text, bad) {
      el.textContent = text || "";
      el.classList.toggle("mod-bad", !!bad);
    }

    function send(method, path, body, token) {
      var hd = {};
      if (body) hd["Content-Type"] = "application/json";
      if (token) hd["X-Edit-Token"] = token;
      if (/(vote|likes)$/.test(path)) hd["X-Reader"] = reader();
      if (sess && method !== "GET") hd.Authorization = "Bearer " + sess.token;
      return fetch(API + path, { method: method, headers: hd, credentials: "omit",
        body: body ? JSON.stringify(body) : null }).then(function (r) {
        return r.text().then(function (b) {
          var d = null;
          try { d = b ? JSON.parse(b) : null; } catch (e) { /* not JSON: a proxy's error page */ }
          if (r.status === 401 && d && d.error && d.error.code === "reader_token_invalid") signed(null);
          return { ok: r.ok, status: r.status, data: d, retry: r.headers.get("Retry-After") };
        });
      }, function () { return { ok: false, status: 0 }; });
    }

    function errText(r) {
      var s = r.status, e = (r.data && r.data.error) || {}, code = e.code || "";
      if (!s) return t.net;
      if (s === 429) {
        var sec = Math.max(1, parseInt(r.retry, 10) || 60);
        return t.e429.replace("{t}", sec < 100 ? rtfIn.format(sec, "second") : rtfIn.format(Math.ceil(sec / 60), "minute"));
      }
      if (s === 403) return code === "thread_closed" ? t.closed : /^token/.test(code) ? t.token : t.e403;
      return t["e" + s] || (s >= 500 ? t.e5xx : e.message || t.e5xx);
    }

    function fieldText(name, m) {
      if (m === "required") return t.required;
      if (/^too long/.test(m)) return t.tooLong;
      if (name === "email" && /e-mail/.test(m)) return t.badEmail;
      if (name === "email" && /notified/.test(m)) return t.needEmail;
      if (name === "website" && /http/.test(m)) return t.badWebsite;
      return m;
    }

    // The reader's own comments on this page: {id, token, exp, text, c?}; `c` is the copy shown while
    // the thread does not show the comment itself (awaiting moderation).
    function own() {
      var a = load(ownKey, []);
      return (Array.isArray(a) ? a : []).filter(function (o) { return o && o.id && o.token && o.exp > Date.now(); });
    }

    function keepOwn(entry) { // an edited entry keeps its place (held copies are shown in this order)
      var a = own(), i = a.findIndex(function (o) { return o.id === entry.id; });
      if (i < 0) i = a.length;
      a.splice(i, 1, entry);
      a = a.filter(function (o) { return o.token; });
      if (a.length) store(ownKey, a); else try { localStorage.removeItem(ownKey); } catch (e) { /* off */ }
    }

    // A form: a new comment (opts.parent for a reply) or an edit of one's own comment (opts.edit).
    function form(opts) {
      var id = "mod" + n + "-f" + (++seq) + "-", who = load(whoKey, {}), f = {}, edit = opts.edit;
      function field(name, label, note, attrs) {
        var input = f[name] = h(name === "text" ? "textarea" : name === "notify" ? "select" : "input", attrs,
          name === "notify" ? [["none", t.nNone], ["replies", t.nReplies], ["thread", t.nThread]].map(function (o) {
            return h("option", { value: o[0], text: o[1] }); }) : null);
        input.id = id + name;
        input.name = name;
        input.setAttribute("aria-describedby", id + name + "-e" + (note ? " " + id + name + "-n" : ""));
        if (name !== "text" && typeof who[name] === "string") input.value = who[name];
        return h("p", { cls: "mod-field mod-f-" + name }, [
          h("label", { "for": input.id, text: label }), input,
          note ? h("small", { cls: "mod-note", id: id + name + "-n", text: note }) : null,
          h("span", { cls: "mod-err", id: id + name + "-e" })]);
      }
      var people = edit ? null : h("div", { cls: "mod-fields" }, [
        field("author", t.name, null, { type: "text", autocomplete: "name", maxlength: 200 }),
        field("email", t.email, t.emailNote, { type: "email", autocomplete: "email", spellcheck: "false" }),
        field("website", t.website, null, { type: "url", autocomplete: "url", inputmode: "url", spellcheck: "false" })]);
      // (outside `people`: a signed-in reader, whose fields are hidden, chooses too)
      var mailMe = edit ? null : field("notify", t.notify, t.notifyNote, {});
      var text = field("text", t.text, t.hint, { rows: edit ? 4 : 5,
        onkeydown: function (ev) { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) el.requestSubmit(); } });
      if (edit) f.text.value = edit.text;
      else {
        people.hidden = !!sess; // notifications need an address: the choice is off (and sends "none") without one
        f.email.addEventListener("input", wantMail);
        wantMail();
      }
      function wantMail() { f.notify.disabled = !sess && !f.email.value.trim(); }
      function notify() { return f.notify.disabled ? "none" : f.notify.value; }
      var pv = h("div", { cls: "mod-preview", id: id + "pv", hidden: true });
      var pvBtn = h("button", { type: "button", cls: "mod-btn", "aria-expanded": "false", "aria-controls": pv.id,
        text: t.preview, onclick: function () { preview(pv.hidden); } }), pvN = 0, pvT;
      var submit = h("button", { type: "submit", cls: "mod-btn mod-primary",
        text: edit ? t.save : opts.parent ? t.postReply : t.post });
      var msg = h("p", { cls: "mod-msg", role: "status", "aria-live": "polite" });
      var heading = h("h3", { id: id + "h", text: opts.label || t.add });
      var hp = h("input", { id: id + "hp", name: "homepage", type: "text", tabindex: "-1", autocomplete: "off" });
      var el = h("form", { cls: "mod-form", novalidate: true, "aria-labelledby": heading.id,
        onsubmit: onSubmit, onkeydown: function (ev) {
          if (ev.key === "Escape" && opts.cancel) { ev.preventDefault(); opts.cancel(); }
        } }, [
        heading,
        people, mailMe,
        edit ? null : h("div", { cls: "mod-hp", "aria-hidden": "true" }, [h("label", { "for": hp.id, text: t.hp }), hp]),
        text, pv,
        h("div", { cls: "mod-buttons" }, [submit, pvBtn,
          opts.cancel ? h("button", { type: "button", cls: "mod-btn", text: t.cancel, onclick: opts.cancel }) : null]),
        msg]);
      f.text.addEventListener("input", function () {
        clearTimeout(pvT);
        if (!pv.hidden) pvT = setTimeout(preview, 300, true);
      });

      // The server renders the Markdown (POST /preview): the very HTML that posting stores.
      function preview(on) {
        var k = ++pvN;
        pv.hidden = !on;
        pvBtn.setAttribute("aria-expanded", String(on));
        pvBtn.textContent = on ? t.previewOff : t.preview;
        if (on && f.text.value.trim()) {
          pv.setAttribute("aria-busy", "true");
          send("POST", "/api/v1/preview", { text: f.text.value }).then(function (r) {
            if (k !== pvN) return; // a later preview is on its way
            pv.removeAttribute("aria-busy");
            pv.replaceChildren(r.ok && r.data ? rich(r.data.html) : h("p", { cls: "mod-err", text: errText(r) }));
          });
        } else pv.replaceChildren();
      }

      function onSubmit(ev) {
        ev.preventDefault();
        if (submit.disabled) return;
        Object.keys(f).forEach(function (k) {
          f[k].removeAttribute("aria-invalid");
          document.getElementById(id + k + "-e").textContent = "";
        });
        say(msg, "");
        submit.disabled = true;
        var req = edit ? send("PATCH", "/api/v1/comments/" + edit.id, { text: f.text.value }, edit.token)
          : send("POST", "/api/v1/comments", {
            site: site, uri: uri, title: (box.getAttribute("data-title") || document.title).slice(0, 500),
            parent: opts.parent || null, author: f.author.value, email: f.email.value,
            website: f.website.value, text: f.text.value, honeypot: hp.value, notify: notify() });
        req.then(function (r) {
          submit.disabled = false;
          if (!r.ok || !r.data) return fail(r);
          var c = edit ? r.data : r.data.comment;
          if (edit) {
            keepOwn({ id: c.id, token: edit.token, exp: edit.exp, text: f.text.value, c: c });
            say(status, t.saved);
          } else {
            store(whoKey, { author: f.author.value, email: f.email.value, website: f.website.value });
            keepOwn({ id: c.id, token: r.data.edit_token, text: f.text.value, c: c,
              exp: Date.parse(r.data.edit_until) || Date.now() + windowMs });
            var mins = Math.round((Date.parse(r.data.edit_until) - Date.now()) / 60000);
            say(opts.parent ? status : msg, (r.status === 202 ? t.heldMsg : t.published) +
              (mins > 0 && !sess ? " " + t.win.replace("{n}", mins) : "") +
              (notify() !== "none" ? " " + t.checkMail : ""));
            f.text.value = "";
            preview(false);
          }
          if (opts.cancel) closeOpen(false);
          return reload(c.id).then(function () { focusComment(c.id); });
        });
      }

      function fail(r) {
        var e = (r.data && r.data.error) || {}, fields = e.fields || {}, rest = [], first = null;
        Object.keys(f).forEach(function (k) { // in the form's order, so focus goes to the first one
          if (!(k in fields)) return;
          f[k].setAttribute("aria-invalid", "true");
          document.getElementById(id + k + "-e").textContent = fieldText(k, String(fields[k]));
          first = first || f[k];
        });
        Object.keys(fields).forEach(function (k) { if (!f[k]) rest.push(k + ": " + fields[k]); });
        say(msg, [errText(r)].concat(rest).join(" "), true);
        if (first) first.focus();
        if (e.code === "thread_closed") {
          thread.open = false;
          paint();
          closedNote.focus();
        }
        if (edit && (/^token/.test(e.code) || r.status === 404)) keepOwn({ id: edit.id });
      }

      return { el: el, f: f, msg: msg, people: people, wantMail: wantMail };
    }

    function ago(d) {
      var s = Math.min(0, (d - Date.now()) / 1000);
      var units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
      for (var i = 0; i < units.length; i++) {
        if (-s >= units[i][1]) return rtf.format(Math.trunc(s / units[i][1]), units[i][0]);
      }
      return rtf.format(0, "second");
    }

    function when(iso, cls, label) {
      var d = new Date(iso);
      if (!iso || isNaN(d)) return null;
      var el = h("time", { cls: "mod-t", datetime: iso, title: d.toLocaleString(lang, { dateStyle: "long", timeStyle: "short" }) });
      el.textContent = label || ago(d);
      return label ? h("span", { cls: cls }, [el]) : el;
    }

    function authorName(c) { return c.author || t.anon; }

    function item(c, depth, parent) {
      var li = h("li", { cls: "mod-item" }), art, o = mine[c.id];
      if (c.deleted) {
        art = h("article", { cls: "mod-c mod-gone", id: "comment-" + c.id }, [h("p", { cls: "mod-deleted", text: t.deleted })]);
      } else {
        var web = webUrl(c.website || c.profile), av = webUrl(c.avatar), name = authorName(c);
        var acts = h("div", { cls: "mod-acts" });
        art = h("article", { cls: "mod-c" + (c.held ? " mod-held" : ""), id: "comment-" + c.id, tabindex: "-1" }, [
          h("header", { cls: "mod-head" }, [
            av ? h("img", { cls: "mod-av", src: av, alt: "", width: 32, height: 32, loading: "lazy",
              referrerpolicy: "no-referrer" }) : h("span", { cls: "mod-av" }),
            web ? h("a", { cls: "mod-name", href: web, rel: "nofollow ugc noopener", text: name })
              : h("span", { cls: "mod-name", text: name }),
            c.verified ? h("span", { cls: "mod-badge mod-ver", title: t.verified, text: "✓ " + t.verified }) : null,
            /^(trackback|pingback|webmention)$/.test(c.kind) ? h("span", { cls: "mod-badge", text: t[c.kind] }) : null,
            depth > 3 && parent && !parent.deleted ? h("a", { cls: "mod-to", href: "#comment-" + parent.id,
              text: "↪ " + t.inReply.replace("{a}", authorName(parent)) }) : null,
            c.created ? h("a", { cls: "mod-when", href: "#comment-" + c.id }, [when(c.created)]) : null,
            c.modified ? when(c.modified, "mod-edited", t.edited) : null,
            c.held ? h("span", { cls: "mod-badge mod-wait", text: t.held }) : null]),
          h("div", { cls: "mod-body" }, [rich(c.html)]), acts]);
        if (!c.held && thread.open) {
          acts.append(h("button", { type: "button", cls: "mod-link mod-reply", "aria-expanded": "false",
            "aria-label": t.replyTo.replace("{a}", name), text: t.reply,
            onclick: function () { toggle("reply", c); } }));
        }
        if (!c.held && c.kind === "comment") voteButtons(c, acts); // linkbacks take no votes
        if (o && o.exp > Date.now()) {
          var at = new Date(c.created).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
          acts.append(
            h("button", { type: "button", cls: "mod-link mod-edit", "aria-expanded": "false", text: t.edit,
              "aria-label": t.editOf.replace("{t}", at), onclick: function () { toggle("edit", c, o); } }),
            h("button", { type: "button", cls: "mod-link mod-del", text: t.del,
              "aria-label": t.delOf.replace("{t}", at), onclick: function () { askDelete(c, o, acts); } }));
        }
      }
      li.append(art);
      var kids = (c.replies || []).concat(extra[c.id] || []);
      if (kids.length) {
        li.append(h("ol", { cls: "mod-replies" + (depth >= 3 ? " mod-flat" : "") },
          kids.map(function (k) { return item(k, depth + 1, c); })));
      }
      return li;
    }

    // Like (and Dislike) when the comment's JSON has the counts; pressing one's own vote again takes it back.
    function voteButtons(c, acts) {
      var kinds = [["likes", 1, t.like], ["dislikes", -1, t.dislike]].filter(function (k) { return k[0] in c; });
      var bs = kinds.map(function (k) {
        return h("button", { type: "button", cls: "mod-link mod-vote", onclick: function () {
          send("POST", "/api/v1/comments/" + c.id + "/vote", { value: votes[c.id] === k[1] ? 0 : k[1] })
            .then(function (r) {
              if (!r.ok || !r.data) return say(status, errText(r), true);
              votes[c.id] = r.data.mine;
              store(voteKey, votes);
              c.likes = r.data.likes;
              if ("dislikes" in r.data) c.dislikes = r.data.dislikes;
              draw();
            });
        } });
      });
      function draw() {
        bs.forEach(function (b, i) {
          b.setAttribute("aria-pressed", String(votes[c.id] === kinds[i][1]));
          b.replaceChildren(kinds[i][2] + " ", h("span", { cls: "mod-n", text: c[kinds[i][0]] || 0 }));
        });
      }
      draw();
      acts.append.apply(acts, bs);
    }

    function paintBar() {
      var k = thread.likes || 0;
      pageLike.hidden = !thread.page_likes;
      pageLike.setAttribute("aria-pressed", String(!!load(likeKey, false)));
      pageLike.replaceChildren(t.likePage + " ", h("span", { cls: "mod-n", text: k }));
      sorts.forEach(function (b) { b.setAttribute("aria-pressed", String(b.getAttribute("data-sort") === sort)); });
      sorts[0].parentNode.hidden = (thread.count || 0) < 2; // nothing to sort
      sorts[2].hidden = !(tree[0] && "likes" in tree[0]); // votes off: no "Top"
      bar.hidden = pageLike.hidden && sorts[0].parentNode.hidden;
    }

    function paint() {
      var seen = {}, mineList = own();
      (function walk(cs) { cs.forEach(function (c) { seen[c.id] = !c.deleted; walk(c.replies || []); }); })(tree);
      mine = {};
      extra = {};
      mineList = mineList.filter(function (o) {
        if (o.id in seen) {
          if (!seen[o.id]) return false; // deleted meanwhile
          delete o.c; // the thread shows it now: drop our copy, keep the edit token
        }
        mine[o.id] = o;
        if (o.c) {
          var p = o.c.parent in seen ? o.c.parent : 0;
          (extra[p] = extra[p] || []).push(Object.assign({}, o.c, { replies: [], held: true }));
        }
        return true;
      });
      store(ownKey, mineList);
      // The heading counts what this reader sees: the thread's total and their own held comments.
      var k = thread.count || 0, all = k + mineList.filter(function (o) { return o.c; }).length;
      title.textContent = all === 0 ? t.n0 : all === 1 ? t.n1 : t.n.replace("{n}", all);
      moreBtn.hidden = !next;
      paintBar();
      list.replaceChildren.apply(list, tree.concat(extra[0] || []).map(function (c) { return item(c, 0, null); }));
      paintAuth();
      closedNote.hidden = !!thread.open;
      var tbUrl = webUrl(thread.trackback_url);
      tb.hidden = !tbUrl;
      tb.replaceChildren(t.tbUrl + ": ", h("code", { text: tbUrl || "" }));
      [].forEach.call(document.querySelectorAll("[data-comment-count]"), function (el) {
        if ((el.getAttribute("data-site") || site) === site && el.getAttribute("data-uri") === uri) el.textContent = k;
      });
      attach();
    }

    // Sign-in buttons when the site offers identities; the popup posts the token to exactly this origin.
    function paintAuth() {
      var ps = thread.providers || [], need = thread.identity === "required" && !sess;
      main.el.hidden = !thread.open || need;
      main.people.hidden = !!sess;
      main.wantMail();
      auth.hidden = !thread.open || !ps.length;
      auth.replaceChildren.apply(auth, sess ? [t.signedAs.replace("{n}", sess.name) + " · ",
        h("button", { type: "button", cls: "mod-link mod-out", text: t.signOut, onclick: function () {
          send("POST", "/api/v1/me/logout").then(function () { signed(null); });
        } })] : ps.map(function (p) {
        return h("button", { type: "button", cls: "mod-btn mod-in", text: t.signIn.replace("{p}", p.name), onclick: function () {
          window.open(API + "/auth/" + enc(p.id) + "/start?site=" + enc(site) + "&origin=" + enc(location.origin),
            "modsignin", "width=520,height=640");
        } });
      }));
    }

    function signed(s) {
      sess = s;
      if (s) store(sessKey, s); else try { localStorage.removeItem(sessKey); } catch (e) { /* off */ }
      paintAuth();
    }

    // A token revoked (signed out elsewhere) or blocked since: forget it now, not at the next post.
    if (sess) fetch(API + "/api/v1/me", { headers: { Authorization: "Bearer " + sess.token }, credentials: "omit" })
      .then(function (r) { if (r.status === 401 || r.status === 403) signed(null); }, function () { /* offline */ });

    addEventListener("message", function (e) {
      var d = e.data;
      if (e.origin === new URL(API, location.href).origin && d && d.type === "moderation-signin" && d.token) {
        signed({ token: d.token, name: d.name });
      }
    });

    // The first page in the chosen order (with `around`: every page up to the one holding that comment),
    // or with `after` the next page, appended.
    function reload(around, after) {
      box.setAttribute("data-state", "loading");
      list.setAttribute("aria-busy", "true");
      return send("GET", "/api/v1/threads/comments?site=" + enc(site) + "&uri=" + enc(uri) + "&sort=" + sort +
        (around > 0 ? "&around=" + around : "") + (after ? "&after=" + enc(after) : "")).then(function (r) {
        list.removeAttribute("aria-busy");
        var e = r.data && r.data.error;
        if (!r.ok || !r.data || !r.data.thread) {
          box.setAttribute("data-state", "error");
          failed = true;
          if (e && (r.status === 400 || r.status === 403) && !after) {
            // A set-up mistake: tell the site owner (once, in the console), and readers only that.
            console.error("moderation: " + ((e.fields || {}).site === "no such site"
              ? "no site '" + site + "' in this service (check data-site)" : e.message +
                (r.status === 400 ? " " + JSON.stringify(e.fields) : "")));
            bar.hidden = main.el.hidden = true;
            return say(status, t.off);
          }
          status.replaceChildren(t.loadErr + " " + (r.status ? "" : t.net) + " ",
            h("button", { type: "button", cls: "mod-link", text: t.retry, onclick: function () { reload(); } }));
          status.classList.add("mod-bad");
          return;
        }
        if (failed) say(status, "");
        failed = false;
        thread = r.data.thread;
        next = r.data.next || null;
        var got = Array.isArray(r.data.comments) ? r.data.comments : [], ids = {};
        if (after) {
          tree.forEach(function (c) { ids[c.id] = 1; });
          tree = tree.concat(got.filter(function (c) { return !ids[c.id]; }));
        } else tree = got;
        paint();
        box.setAttribute("data-state", "ready");
      });
    }

    function more() { // (not disabled meanwhile: that would take the keyboard focus away)
      var before = tree.length;
      if (box.getAttribute("data-state") === "loading") return;
      reload(0, next).then(function () {
        var c = tree[before]; // the end reached: focus goes on to the first comment of the new page
        if (moreBtn.hidden && c) focusComment(c.id);
      });
    }

    function article(id) { return list.querySelector("#comment-" + Number(id)); }

    function focusComment(id) {
      var a = article(id);
      if (a) a.focus();
    }

    // One reply or edit form open at a time; it survives a re-render with what was typed in it.
    function toggle(kind, c, o) {
      var same = open && open.id === c.id && open.kind === kind;
      closeOpen(same);
      if (same) return;
      var fm = form(kind === "edit"
        ? { edit: { id: c.id, token: o.token, exp: o.exp, text: o.text || "" }, label: t.editTitle, cancel: cancel }
        : { parent: c.id, label: t.replyTo.replace("{a}", authorName(c)), cancel: cancel });
      open = { id: c.id, kind: kind, form: fm };
      attach();
      fm.f.text.focus();
      function cancel() { closeOpen(true); }
    }

    function attach() {
      var a = open && article(open.id);
      if (!open) return;
      if (!a || (open.kind === "reply" && !thread.open)) { open = null; return; }
      var b = a.querySelector(".mod-" + open.kind);
      if (b) b.setAttribute("aria-expanded", "true");
      a.classList.toggle("mod-editing", open.kind === "edit");
      a.append(open.form.el);
    }

    function closeOpen(refocus) {
      if (!open) return;
      var was = open, a = article(was.id);
      open = null;
      was.form.el.remove();
      if (!a) return;
      a.classList.remove("mod-editing");
      var b = a.querySelector(".mod-" + was.kind);
      if (b) {
        b.setAttribute("aria-expanded", "false");
        if (refocus) b.focus();
      }
    }

    function askDelete(c, o, acts) {
      var before = [].slice.call(acts.childNodes);
      var no = h("button", { type: "button", cls: "mod-link", text: t.cancel, onclick: function () {
        acts.replaceChildren.apply(acts, before);
        acts.querySelector(".mod-del").focus();
      } });
      var yes = h("button", { type: "button", cls: "mod-link mod-danger", text: t.delYes, onclick: function () {
        yes.disabled = true;
        send("DELETE", "/api/v1/comments/" + c.id, null, o.token).then(function (r) {
          if (r.ok || r.status === 404 || r.status === 403) keepOwn({ id: c.id });
          if (r.ok) say(status, t.removed);
          else {
            yes.disabled = false;
            say(status, errText(r), true);
            acts.append(h("span", { cls: "mod-err", text: errText(r) }));
            if (r.status !== 404 && r.status !== 403) return;
          }
          return reload().then(function () { if (r.ok) title.focus(); });
        });
      } });
      if (open && open.id === c.id) closeOpen(false);
      acts.replaceChildren(h("span", { text: t.delAsk }), yes, no);
      yes.focus();
    }

    setInterval(function () {
      [].forEach.call(list.querySelectorAll("a > time.mod-t"), function (el) {
        el.textContent = ago(new Date(el.getAttribute("datetime")));
      });
    }, 60000);

    // A link to #comment-<id>: load the pages up to the one holding it, then show and focus it.
    var linked = /^#comment-\d+$/.test(location.hash) && +location.hash.slice(9);
    reload(linked).then(function () {
      var target = linked && article(linked);
      if (target) {
        target.scrollIntoView({ block: "center" });
        target.focus({ preventScroll: true });
      }
    });
  }

  // Fill every [data-comment-count] with one request per site (at most 100 pages per request).
  function counts(defaultSite) {
    var groups = {};
    [].forEach.call(document.querySelectorAll("[data-comment-count]"), function (el) {
      var s = el.getAttribute("data-site") || defaultSite, u = el.getAttribute("data-uri");
      if (s && u) (groups[s] = groups[s] || []).push(el);
    });
    Object.keys(groups).forEach(function (s) {
      var els = groups[s], uris = [];
      els.forEach(function (el) { var u = el.getAttribute("data-uri"); if (uris.indexOf(u) < 0) uris.push(u); });
      for (var i = 0; i < uris.length; i += 100) {
        fetch(API + "/api/v1/counts?site=" + enc(s) + uris.slice(i, i + 100).map(function (u) { return "&uri=" + enc(u); }).join(""),
          { credentials: "omit" })
          .then(function (r) { return r.ok ? r.json() : {}; })
          .then(function (d) {
            var got = (d && d.counts) || {};
            els.forEach(function (el) {
              var u = el.getAttribute("data-uri");
              if (Object.prototype.hasOwnProperty.call(got, u)) el.textContent = got[u];
            });
          })
          .catch(function () { /* counts are decoration */ });
      }
    });
  }

  function start() {
    var box = document.getElementById("comments");
    if (box && !box.hasAttribute("data-state")) {
      if (!document.getElementById("mod-style")) {
        var style = h("style", { id: "mod-style", nonce: me && me.nonce });
        style.textContent = CSS;
        document.head.append(style);
      }
      Widget(box);
    }
    counts(box && box.getAttribute("data-site"));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
