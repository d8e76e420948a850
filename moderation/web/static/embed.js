/* Placeholder until the full widget lands: renders the thread and a plain form that posts to the API. */
(function () {
  "use strict";
  var me = document.currentScript;
  var api = me ? me.src.replace(/\/embed\.js(\?.*)?$/, "") : "";
  var box = document.getElementById("comments");
  if (!box) return;
  var site = box.dataset.site, uri = box.dataset.uri || location.pathname;
  function el(tag, text) { var e = document.createElement(tag); if (text) e.textContent = text; return e; }
  function render(list, into) {
    list.forEach(function (c) {
      var li = el("li"); var who = el("strong", c.author || "Anonymous");
      var body = el("div"); body.innerHTML = c.html; /* server-sanitized */
      li.append(who, body);
      if (c.replies.length) { var ul = el("ul"); render(c.replies, ul); li.append(ul); }
      into.append(li);
    });
  }
  function load() {
    fetch(api + "/api/v1/threads/comments?site=" + encodeURIComponent(site) + "&uri=" + encodeURIComponent(uri))
      .then(function (r) { return r.json(); })
      .then(function (d) { var ul = el("ul"); render(d.comments, ul); list.replaceChildren(ul); });
  }
  var list = el("div"), form = el("form"), msg = el("p");
  form.innerHTML = '<label>Name <input name="author"></label> <label>E-mail <input name="email" type="email"></label>' +
    '<p><textarea name="text" rows="4" cols="50" required></textarea></p><button>Post</button>';
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = new FormData(form);
    fetch(api + "/api/v1/comments", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ site: site, uri: uri, author: f.get("author"), email: f.get("email"), text: f.get("text") }) })
      .then(function (r) { return r.json().then(function (d) { return [r.status, d]; }); })
      .then(function (res) {
        msg.textContent = res[0] === 201 ? "Published." : res[0] === 202 ? "Awaiting moderation." : res[1].error.message;
        if (res[0] < 300) { form.reset(); load(); }
      });
  });
  box.append(list, form, msg);
  load();
})();
