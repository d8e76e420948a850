/* The moderation dashboard's keyboard and selection helpers. Plain JavaScript, no build step.
 *
 * Every action is an ordinary form POST (with its CSRF token) that the server answers with a redirect,
 * so the dashboard works without this file. It adds: j/k to move, x to select, a/s/d to approve,
 * spam or delete (the selected comments, else the current one), u to undo, / to search, o or Enter
 * to open, ? for help; shift-click on a checkbox selects a range.
 */
(function () {
  "use strict";

  var KEY_ACTIONS = { a: "approve", s: "spam", d: "delete" };
  var rows = Array.prototype.slice.call(document.querySelectorAll(".row"));
  var form = document.getElementById("queue-form");
  var help = document.getElementById("help");
  var selectPage = document.getElementById("select-page");
  var allMatching = document.getElementById("all-matching");
  var selection = document.getElementById("selection");
  var storeKey = "moderation:cursor:" + location.pathname + location.search.replace(/^\?$/, "");
  var current = -1;
  var lastClicked = null;

  function boxes() {
    return rows.map(function (row) { return row.querySelector("input[name=ids]"); });
  }

  function selectedCount() {
    return boxes().filter(function (box) { return box && box.checked; }).length;
  }

  function refreshSelection() {
    rows.forEach(function (row) {
      var box = row.querySelector("input[name=ids]");
      row.classList.toggle("selected", !!(box && box.checked));
    });
    var n = selectedCount();
    if (selection) {
      selection.textContent = n ? n + " selected" : "";
    }
    if (selectPage) {
      selectPage.checked = n > 0 && n === rows.length;
      selectPage.indeterminate = n > 0 && n < rows.length;
    }
  }

  function setCurrent(index, scroll) {
    if (!rows.length) {
      return;
    }
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (rows[current]) {
      rows[current].classList.remove("current");
      rows[current].removeAttribute("aria-current");
    }
    current = index;
    rows[current].classList.add("current");
    rows[current].setAttribute("aria-current", "true");
    if (scroll !== false) {
      rows[current].scrollIntoView({ block: "nearest" });
    }
    try {
      sessionStorage.setItem(storeKey, String(current));
    } catch (e) { /* storage may be off: the cursor then starts at the top */ }
  }

  var toastTimer = null;
  function toast(message) {
    var el = document.getElementById("toast");
    if (!el) {
      el = document.createElement("div");
      el.id = "toast";
      el.className = "notice notice-warning toast";
      el.setAttribute("role", "status");
      document.body.appendChild(el);
    }
    el.textContent = message;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, 2500);
  }

  function submitWith(button) {
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(button);
    } else {
      button.click();
    }
  }

  function act(action) {
    if (!form) {
      return;
    }
    var bulk = selectedCount() > 0 || (allMatching && allMatching.checked);
    var button;
    if (bulk) {
      button = form.querySelector("button[data-bulk=" + action + "]");
    } else if (rows.length) {
      button = rows[current] && rows[current].querySelector("button[data-action=" + action + "]");
    } else {
      button = form.querySelector("button[data-action=" + action + "]");  // the comment page
    }
    if (!button) {
      toast("“" + action + "” does not apply here.");
      return;
    }
    submitWith(button);
  }

  function toggleHelp(show) {
    if (!help) {
      return;
    }
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) {
      var close = help.querySelector("[data-help-close]");
      if (close) {
        close.focus();
      }
    }
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "Escape") {
      if (help && !help.hidden) {
        toggleHelp(false);
      } else if (typing(event.target)) {
        event.target.blur();
      }
      return;
    }
    if (typing(event.target) && event.target.type !== "checkbox") {
      return;
    }
    if (help && !help.hidden && event.key !== "?") {
      return;
    }
    var key = event.key;
    var handled = true;
    if (key === "j") {
      setCurrent(current + 1);
    } else if (key === "k") {
      setCurrent(current - 1);
    } else if (key === "x") {
      var box = rows[current] && rows[current].querySelector("input[name=ids]");
      if (box) {
        box.checked = !box.checked;
        lastClicked = current;
        refreshSelection();
      }
    } else if (KEY_ACTIONS[key]) {
      act(KEY_ACTIONS[key]);
    } else if (key === "u") {
      var undo = document.getElementById("undo-form");
      if (undo) {
        undo.submit();
      } else {
        toast("There is nothing to undo.");
      }
    } else if (key === "/") {
      var search = document.getElementById("q");
      if (search) {
        search.focus();
        search.select();
      } else {
        handled = false;
      }
    } else if (key === "?") {
      toggleHelp();
    } else if ((key === "o" || key === "Enter") && rows[current] && event.target.tagName !== "BUTTON" && event.target.tagName !== "A") {
      var open = rows[current].querySelector("a[data-open]");
      if (open) {
        location.href = open.href;
      }
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  });

  rows.forEach(function (row, index) {
    row.addEventListener("click", function (event) {
      if (event.target.closest("a, button, summary, details")) {
        return;
      }
      setCurrent(index, false);
    });
    var box = row.querySelector("input[name=ids]");
    if (!box) {
      return;
    }
    box.addEventListener("click", function (event) {
      if (event.shiftKey && lastClicked !== null && lastClicked !== index) {
        var from = Math.min(lastClicked, index);
        var to = Math.max(lastClicked, index);
        var all = boxes();
        for (var i = from; i <= to; i++) {
          if (all[i]) {
            all[i].checked = box.checked;
          }
        }
      }
      lastClicked = index;
      refreshSelection();
    });
  });

  if (selectPage) {
    selectPage.addEventListener("change", function () {
      boxes().forEach(function (box) {
        if (box) {
          box.checked = selectPage.checked;
        }
      });
      refreshSelection();
    });
  }

  document.querySelectorAll("[data-help]").forEach(function (button) {
    button.addEventListener("click", function () { toggleHelp(true); });
  });
  document.querySelectorAll("[data-help-close]").forEach(function (button) {
    button.addEventListener("click", function () { toggleHelp(false); });
  });
  if (help) {
    help.addEventListener("click", function (event) {
      if (event.target === help) {
        toggleHelp(false);
      }
    });
  }

  // Close an open "Spam & block" menu when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.removeAttribute("open");
      }
    });
  });

  var saved = -1;
  try {
    saved = parseInt(sessionStorage.getItem(storeKey) || "-1", 10);
  } catch (e) { /* no storage */ }
  if (rows.length) {
    setCurrent(saved >= 0 ? saved : 0, saved > 0);
  }
  refreshSelection();
  document.documentElement.classList.add("js");
})();
