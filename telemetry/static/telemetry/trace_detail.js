// The trace detail page's script, a static file so the Content-Security-Policy
// allows scripts from this site only (config/csp.py).
//
// Folding (the server folds a large trace's subtrees first: rows come with data-collapsed
// and hidden), span details fetched on first open, find-in-trace, a selected span that the
// URL fragment names (a deep link) and keys to move it (the "keys ?" box lists them).
(function () {
  var table = document.getElementById("waterfall");
  var rows = {}, children = {}, details = {}, order = [];
  table.querySelectorAll("tr.span-row").forEach(function (row) {
    var id = row.dataset.spanId, parent = row.dataset.parentId;
    rows[id] = row;
    order.push(row);
    (children[parent] = children[parent] || []).push(id);
  });
  table.querySelectorAll("tr.details").forEach(function (row) { details[row.dataset.detailsFor] = row; });
  // A large trace's "N more spans not drawn" rows fold with the span they are under.
  var elided = {};
  table.querySelectorAll("tr.elided").forEach(function (row) { elided[row.dataset.parentId] = row; });

  // --- folding ---------------------------------------------------------------------------
  function show(id, visible) {
    if (elided[id]) elided[id].hidden = !visible;
    (children[id] || []).forEach(function (childId) {
      var row = rows[childId];
      row.hidden = !visible;
      details[childId].hidden = !visible || row.getAttribute("aria-expanded") !== "true";
      show(childId, visible && row.dataset.collapsed !== "true");
    });
  }
  function setCollapsed(id, collapsed) {
    var row = rows[id], button = row.querySelector("[data-toggle]");
    if (!button) return;
    row.dataset.collapsed = collapsed ? "true" : "false";
    button.textContent = collapsed ? "▸" : "▾";
    button.setAttribute("aria-label", (collapsed ? "expand " : "collapse ") + (children[id] || []).length + " children");
    show(id, !collapsed && !row.hidden);
    markHolders();
  }
  function isTop(row) { return !rows[row.dataset.parentId]; }
  function all(collapsed) {
    order.forEach(function (row) {
      var button = row.querySelector("[data-toggle]");
      if (!button) return;
      row.dataset.collapsed = collapsed ? "true" : "false";
      button.textContent = collapsed ? "▸" : "▾";
    });
    order.forEach(function (row) {
      if (isTop(row)) { row.hidden = false; show(row.dataset.spanId, !collapsed); }
    });
    markHolders();
  }
  // Unfolds the row's ancestors (from the nearest up: each unfold redraws what is below it).
  function unfoldTo(row) {
    for (var id = row.dataset.parentId; rows[id]; id = rows[id].dataset.parentId) {
      if (rows[id].dataset.collapsed === "true") setCollapsed(id, false);
    }
  }
  document.getElementById("expand-all").addEventListener("click", function () { all(false); });
  document.getElementById("collapse-all").addEventListener("click", function () { all(true); });

  // --- details ---------------------------------------------------------------------------
  // Only the root cause's details come with the page; the others are fetched on first
  // open, which keeps a trace of hundreds of spans quick to serve and to draw.
  function load(id) {
    var cell = details[id].firstElementChild;
    if (cell.childElementCount || details[id].dataset.loading) return;
    details[id].dataset.loading = "true";
    cell.innerHTML = '<p class="muted">loading…</p>';
    fetch(table.dataset.detailsUrl + id + "/", {credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) throw new Error(response.status + " " + response.statusText);
        return response.text();
      })
      .then(function (html) { cell.innerHTML = html; })
      .catch(function (error) { cell.innerHTML = '<p class="muted">could not load the details: ' + error.message + "</p>"; })
      .finally(function () { delete details[id].dataset.loading; });
  }
  function toggleDetails(id) {
    var row = rows[id], open = row.getAttribute("aria-expanded") === "true";
    row.setAttribute("aria-expanded", open ? "false" : "true");
    row.classList.toggle("selected", !open);
    details[id].hidden = open;
    if (!open) load(id);
  }

  // --- the selected span and its link ----------------------------------------------------
  var current = null;
  function select(row, where) {
    if (current) current.classList.remove("current");
    current = row;
    row.classList.add("current");
    // The address bar names the selected span: copying it copies a link to it.
    history.replaceState(null, "", "#span-" + row.dataset.spanId);
    if (where) row.scrollIntoView({block: where});
  }
  function linkTo(id) { return location.href.split("#")[0] + "#span-" + id; }
  function copyLink(id, button) {
    var url = linkTo(id), done = function (text) {
      if (!button) return;
      var label = button.dataset.label || button.textContent;
      button.dataset.label = label;
      button.textContent = text;
      setTimeout(function () { button.textContent = label; }, 2000);
    };
    var fallback = function () {
      // Without the clipboard API (a page not served over https, say): the old way.
      var field = document.createElement("textarea");
      field.value = url;
      document.body.appendChild(field);
      field.select();
      var copied = document.execCommand("copy");
      field.remove();
      done(copied ? "link copied" : "copy failed: " + url);
    };
    if (navigator.clipboard) navigator.clipboard.writeText(url).then(function () { done("link copied"); }, fallback);
    else fallback();
  }
  table.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy-link]");
    if (copy) { copyLink(copy.dataset.copyLink, copy); return; }
    var row = event.target.closest("tr.span-row");
    if (!row || event.target.closest("a")) return;
    select(row);
    if (event.target.closest("[data-toggle]")) {
      setCollapsed(row.dataset.spanId, row.dataset.collapsed !== "true");
    } else {
      toggleDetails(row.dataset.spanId);
    }
  });
  // A link to #span-<id> (a deep link, a parent, a linked span) selects and opens that
  // span, wherever it is folded.
  function reveal() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    target = target && target.closest("tr.span-row");
    if (!target) {
      // A span of a large trace that this page left undrawn: the page that draws it all.
      if (/^#span-[0-9a-f]{16}$/.test(location.hash) && document.getElementById("elided-spans")) {
        location.replace("?all=1" + location.hash);
      }
      return;
    }
    unfoldTo(target);
    if (target.getAttribute("aria-expanded") !== "true") toggleDetails(target.dataset.spanId);
    select(target, "center");
  }
  window.addEventListener("hashchange", reveal);

  // --- find in trace ---------------------------------------------------------------------
  var find = document.getElementById("find"), counter = document.getElementById("find-count");
  var matches = [], at = -1, holders = [], texts = {};
  function textOf(row) {
    var id = row.dataset.spanId;
    if (!(id in texts)) texts[id] = (row.querySelector("td.name").textContent + " " + id).toLowerCase();
    return texts[id];
  }
  // A folded span with matches below it shows so on its toggle.
  function markHolders() {
    holders.forEach(function (row) { row.classList.remove("holds-match"); });
    holders = [];
    matches.forEach(function (row) {
      var up = row;
      while (up.hidden && rows[up.dataset.parentId]) up = rows[up.dataset.parentId];
      if (up !== row && !up.classList.contains("holds-match")) { up.classList.add("holds-match"); holders.push(up); }
    });
  }
  function count() {
    var query = find.value.trim();
    counter.classList.toggle("none", Boolean(query) && !matches.length);
    counter.textContent = !query ? "" : !matches.length ? "no match" : (at < 0 ? "–" : at + 1) + "/" + matches.length;
  }
  function search() {
    var query = find.value.trim().toLowerCase();
    matches.forEach(function (row) { row.classList.remove("match", "found"); });
    matches = query ? order.filter(function (row) { return textOf(row).indexOf(query) !== -1; }) : [];
    matches.forEach(function (row) { row.classList.add("match"); });
    at = -1;
    markHolders();
    count();
  }
  function go(step) {
    if (!matches.length) return;
    if (at >= 0) matches[at].classList.remove("found");
    at = at < 0 ? (step > 0 ? 0 : matches.length - 1) : (at + step + matches.length) % matches.length;
    var row = matches[at];
    row.classList.add("found");
    unfoldTo(row);
    select(row, "center");
    count();
  }
  find.addEventListener("input", search);
  // An operation in the statistics finds its spans.
  document.querySelectorAll("[data-find]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      find.value = link.dataset.find;
      search();
      go(1);
    });
  });
  document.getElementById("find-next").addEventListener("click", function () { go(1); });
  document.getElementById("find-prev").addEventListener("click", function () { go(-1); });

  // --- keys ------------------------------------------------------------------------------
  var help = document.getElementById("keys-help");
  function toggleHelp(visible) { help.hidden = visible === undefined ? !help.hidden : !visible; }
  document.getElementById("keys-button").addEventListener("click", function () { toggleHelp(); });
  function move(step) {
    var visible = order.filter(function (row) { return !row.hidden; });
    if (!visible.length) return;
    var index = current ? visible.indexOf(current) : -1;
    index = index < 0 ? (step > 0 ? 0 : visible.length - 1) : Math.min(Math.max(index + step, 0), visible.length - 1);
    select(visible[index], "nearest");
  }
  function foldOrUp() {
    if (current.querySelector("[data-toggle]") && current.dataset.collapsed !== "true") {
      setCollapsed(current.dataset.spanId, true);
    } else if (rows[current.dataset.parentId]) {
      select(rows[current.dataset.parentId], "nearest");
    }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target === find) {
      if (event.key === "Enter") go(event.shiftKey ? -1 : 1);
      else if (event.key === "Escape") find.blur();
      else return;
      event.preventDefault();
      return;
    }
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;  // typing
    if (event.target.closest("button, a") && (event.key === "Enter" || event.key === " ")) return;
    var id = current && current.dataset.spanId;
    switch (event.key) {
      case "j": case "ArrowDown": move(1); break;
      case "k": case "ArrowUp": move(-1); break;
      case "Enter": if (!id) return; toggleDetails(id); break;
      case "l": case "ArrowRight": if (!id) return; setCollapsed(id, false); break;
      case "h": case "ArrowLeft": if (!id) return; foldOrUp(); break;
      case "/": find.focus(); find.select(); break;
      case "n": go(1); break;
      case "N": go(-1); break;
      case "c": if (!id) return; copyLink(id, document.getElementById("keys-button")); break;
      case "?": toggleHelp(); break;
      case "Escape": toggleHelp(false); break;
      default: return;
    }
    event.preventDefault();
  });

  reveal();
})();
