// The trace detail page's script, a static file so the Content-Security-Policy
// allows scripts from this site only (config/csp.py).
//
// Folding (the server folds a large trace's subtrees first: a folded span comes with
// data-collapsed and, in place of its subtree, one "folded-rest" row; unfolding it fetches
// the subtree's rows), span details fetched on first open, find-in-trace (asked of the
// server when the page does not hold every span), a selected span that the URL fragment
// names (a deep link) and keys to move it (the "keys ?" box lists them).
(function () {
  var table = document.getElementById("waterfall");
  var partial = table.dataset.partial === "true";
  var rows, children, details, order, elided, pending;
  // The maps over the rows in the table, built again when fetched rows come in.
  function scan() {
    rows = {}; children = {}; details = {}; order = []; elided = {}; pending = {};
    table.querySelectorAll("tr.span-row").forEach(function (row) {
      var id = row.dataset.spanId, parent = row.dataset.parentId;
      rows[id] = row;
      order.push(row);
      (children[parent] = children[parent] || []).push(id);
    });
    table.querySelectorAll("tr.details").forEach(function (row) { details[row.dataset.detailsFor] = row; });
    // A large trace's "N more spans not drawn" rows fold with the span they are under.
    table.querySelectorAll("tr.elided").forEach(function (row) { elided[row.dataset.parentId] = row; });
    // A folded subtree not sent yet: its one row, replaced by the subtree when unfolded.
    table.querySelectorAll("tr.folded-rest").forEach(function (row) { pending[row.dataset.parentId] = row; });
    if (typeof applyZoom === "function" && zoomed) applyZoom();  // fetched rows drawn zoomed too
  }
  scan();
  // The viewer's own URL, read as ``as`` ("json" or "text"); a non-2xx answer is an error
  // that says its status.
  function get(url, as) {
    return fetch(url, {credentials: "same-origin"}).then(function (response) {
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      return response[as]();
    });
  }

  // --- folding ---------------------------------------------------------------------------
  function show(id, visible) {
    if (elided[id]) elided[id].hidden = !visible;
    if (pending[id]) pending[id].hidden = !visible;
    (children[id] || []).forEach(function (childId) {
      var row = rows[childId];
      row.hidden = !visible;
      details[childId].hidden = !visible || row.getAttribute("aria-expanded") !== "true";
      show(childId, visible && row.dataset.collapsed !== "true");
    });
  }
  // Fetches folded spans' subtrees in place of their "folded-rest" rows, in one request
  // (``show``: a span below whose way is drawn open; ``unfold``: nothing below folded). A
  // promise; a span the server left out (over the rows limit) keeps its row, which says so.
  var loading = {};
  function fetchSubtrees(ids, options) {
    ids = ids.filter(function (id) { return pending[id]; });
    var waiting = ids.filter(function (id) { return loading[id]; }).map(function (id) { return loading[id]; });
    ids = ids.filter(function (id) { return !loading[id]; });
    if (!ids.length) return Promise.all(waiting);
    var query = ids.map(function (id) { return "under=" + id; });
    if (options && options.show) query.push("show=" + encodeURIComponent(options.show));
    if (options && options.unfold) query.push("unfold=1");
    var rests = {};
    ids.forEach(function (id) {
      rests[id] = pending[id];
      rests[id].firstElementChild.textContent = "… loading " + rests[id].dataset.spans + " spans";
    });
    var request = get(table.dataset.rowsUrl + "?" + query.join("&"), "json")
      .then(function (answer) {
        ids.forEach(function (id) {
          var rest = rests[id];
          if (id in answer.rows) {
            rest.insertAdjacentHTML("beforebegin", answer.rows[id]);
            rest.remove();
          } else {
            rest.firstElementChild.textContent = "… " + rest.dataset.spans +
              " spans not drawn (over the page's rows limit): fold others and unfold this one again";
          }
        });
        scan();
      })
      .catch(function (error) {
        ids.forEach(function (id) { rests[id].firstElementChild.textContent = "could not load the spans: " + error.message; });
      })
      .finally(function () { ids.forEach(function (id) { delete loading[id]; }); });
    ids.forEach(function (id) { loading[id] = request; });
    return Promise.all(waiting.concat([request]));
  }
  function setCollapsed(id, collapsed, options) {
    var row = rows[id], button = row && row.querySelector("[data-toggle]");
    if (!button) return Promise.resolve();
    row.dataset.collapsed = collapsed ? "true" : "false";
    button.textContent = collapsed ? "▸" : "▾";
    button.setAttribute("aria-label", (collapsed ? "expand " : "collapse ") + button.title);
    show(id, !collapsed && !row.hidden);
    markHolders();
    if (collapsed || !pending[id]) return Promise.resolve();
    return fetchSubtrees([id], options).then(function () {
      if (row.dataset.collapsed === "true") return;  // folded again meanwhile
      show(id, !row.hidden);
      markHolders();
    });
  }
  function isTop(row) { return !rows[row.dataset.parentId]; }
  function all(collapsed, fetched) {
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
    // Unfold all: the folded subtrees not sent yet come unfolded (each within the limits).
    if (!collapsed && !fetched && Object.keys(pending).length) {
      fetchSubtrees(Object.keys(pending), {unfold: true}).then(function () { all(false, true); });
    }
  }
  // Unfolds the row's ancestors (from the nearest up: each unfold redraws what is below it).
  function unfoldTo(row) {
    for (var id = row.dataset.parentId; rows[id]; id = rows[id].dataset.parentId) {
      if (rows[id].dataset.collapsed === "true") setCollapsed(id, false);
    }
  }
  // Brings a span the page may not hold yet into the table: unfolds (and fetches) the way
  // to it, top down, from the drawn parents that find gave. A promise of its row, or null.
  function bringIn(id, parents) {
    var way = [];
    for (var up = id; up && !rows[up]; up = parents[up]) way.unshift(up);
    if (!rows[id] && !(way.length && rows[parents[way[0]]])) return Promise.resolve(null);
    var step = function (index) {
      if (rows[id]) { unfoldTo(rows[id]); return Promise.resolve(rows[id]); }
      var parent = parents[way[index]];
      if (!rows[parent] || index >= way.length) return Promise.resolve(null);
      return setCollapsed(parent, false, {show: id}).then(function () {
        unfoldTo(rows[parent]);
        return rows[way[index]] ? step(index + 1) : null;
      });
    };
    return step(0);
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
    get(table.dataset.detailsUrl + id + "/", "text")
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
  // span, wherever it is folded; one the page was not sent is fetched with the way to it.
  function reveal() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    target = target && target.closest("tr.span-row");
    if (target) { land(target); return; }
    if (!/^#span-[0-9a-f]{16}$/.test(location.hash) || !partial) return;
    var id = location.hash.slice(6);
    ask(id).then(function (found) { return bringIn(id, found.parents); }).then(function (row) {
      if (row) { land(row); return; }
      // Not reachable by unfolding (left out by the limits): the page drawn with the way to
      // it open, or, if even that leaves it out, the page that draws everything; the rest
      // of the query (the zoom) is kept.
      var params = new URLSearchParams(location.search);
      if (params.has("show")) { params.delete("show"); params.set("all", "1"); } else params.set("show", id);
      location.replace("?" + params.toString() + location.hash);
    });
  }
  function land(target) {
    unfoldTo(target);
    if (target.getAttribute("aria-expanded") !== "true") toggleDetails(target.dataset.spanId);
    select(target, "center");
  }
  window.addEventListener("hashchange", reveal);

  // --- find in trace ---------------------------------------------------------------------
  // A page holding every span finds in its rows; a large trace's page asks the server,
  // which finds in every span and gives the drawn parents up to each match (``parents``),
  // so a match inside a folded subtree not sent yet is marked on the folded span and
  // reached by unfolding the way.
  var find = document.getElementById("find"), counter = document.getElementById("find-count");
  var matches = [], total = 0, parents = {}, at = -1, holders = [], marked = [], texts = {}, asked = 0;
  function textOf(row) {
    var id = row.dataset.spanId;
    if (!(id in texts)) texts[id] = (row.querySelector("td.name").textContent + " " + id).toLowerCase();
    return texts[id];
  }
  function ask(query) {
    return get(table.dataset.findUrl + "?q=" + encodeURIComponent(query), "json");
  }
  function parentOf(id) { return rows[id] ? rows[id].dataset.parentId : parents[id]; }
  // Marks the matches the table holds, and on its toggle the nearest shown span above a
  // match that is folded away (or not sent yet).
  function markHolders() {
    holders.forEach(function (row) { row.classList.remove("holds-match"); });
    marked.forEach(function (row) { row.classList.remove("match", "found"); });
    holders = []; marked = [];
    matches.forEach(function (id, index) {
      var row = rows[id];
      if (row) {
        row.classList.add("match");
        if (index === at) row.classList.add("found");
        marked.push(row);
      }
      var up = id;
      while (up && (!rows[up] || rows[up].hidden)) up = parentOf(up);
      if (up && up !== id && !rows[up].classList.contains("holds-match")) {
        rows[up].classList.add("holds-match");
        holders.push(rows[up]);
      }
    });
  }
  function count() {
    var query = find.value.trim();
    counter.classList.toggle("none", Boolean(query) && !total);
    counter.textContent = !query ? "" : !total ? "no match" :
      (at < 0 ? "–" : at + 1) + "/" + total + (total > matches.length ? " (first " + matches.length + ")" : "");
  }
  function found(ids, all, drawnParents) {
    matches = ids; total = all; parents = drawnParents; at = -1;
    markHolders();
    count();
  }
  // A promise, settled when the matches are known (the server's answer to the last query).
  function search() {
    var query = find.value.trim().toLowerCase(), ticket = ++asked;
    if (!query) { found([], 0, {}); return Promise.resolve(); }
    if (!partial) {
      var ids = order.filter(function (row) { return textOf(row).indexOf(query) !== -1; })
        .map(function (row) { return row.dataset.spanId; });
      found(ids, ids.length, {});
      return Promise.resolve();
    }
    return ask(query).then(function (result) {
      if (ticket === asked) found(result.matches, result.total, result.parents);
    }, function (error) { counter.textContent = "find failed: " + error.message; });
  }
  var typing = null, searched = Promise.resolve();
  find.addEventListener("input", function () {
    clearTimeout(typing);
    if (!partial) { searched = search(); return; }
    searched = new Promise(function (done) {
      typing = setTimeout(function () { search().then(done); }, 150);
    });
  });
  function go(step) {
    searched.then(function () {
      if (!matches.length) return;
      at = at < 0 ? (step > 0 ? 0 : matches.length - 1) : (at + step + matches.length) % matches.length;
      var id = matches[at];
      var reached = rows[id] ? Promise.resolve(rows[id]) : bringIn(id, parents);
      reached.then(function (row) {
        if (!row) { counter.textContent = "not drawn: open it with draw all"; return; }
        unfoldTo(row);
        markHolders();
        select(row, "center");
        count();
      });
    });
  }
  // An operation in the statistics finds its spans.
  document.querySelectorAll("[data-find]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      find.value = link.dataset.find;
      searched = search();
      go(1);
    });
  });
  document.getElementById("find-next").addEventListener("click", function () { go(1); });
  document.getElementById("find-prev").addEventListener("click", function () { go(-1); });

  // --- minimap and zoom ------------------------------------------------------------------
  // The server draws the minimap (every span, bucketed); dragging on it selects a window of
  // the trace's time, to which the waterfall's bars and ticks are redrawn (bars outside are
  // clipped by their lane). The window is kept in the query (?zoom=from-to, fractions of the
  // trace), so a copied link keeps it.
  var area = document.getElementById("minimap-area"), windowBox = document.getElementById("minimap-window");
  var resetButton = document.getElementById("zoom-reset"), zoomLabel = document.getElementById("zoom-label");
  var totalMs = parseFloat(document.getElementById("minimap").dataset.totalMs) || 0;
  var zoomed = null;  // [from, to], fractions of the trace; null: the whole trace
  function original(element, property) {
    var key = "base" + property;
    if (!(key in element.dataset)) element.dataset[key] = parseFloat(element.style[property]) || 0;
    return parseFloat(element.dataset[key]);
  }
  // Milliseconds to as many places as a window of ``width`` ms needs to tell ticks apart.
  function ms(value, width) { return width >= 20 ? Math.round(value) : value.toFixed(width >= 2 ? 1 : 3); }
  function applyZoom() {
    var from = zoomed ? zoomed[0] : 0, span = zoomed ? zoomed[1] - zoomed[0] : 1;
    table.querySelectorAll(".bar").forEach(function (bar) {
      var left = original(bar, "left"), width = original(bar, "width");
      bar.style.left = ((left - from * 100) / span).toFixed(4) + "%";
      bar.style.width = (width / span).toFixed(4) + "%";
    });
    table.querySelectorAll(".tick").forEach(function (tick) {
      var pct = original(tick, "left");
      tick.textContent = ms((from + pct / 100 * span) * totalMs, span * totalMs) + " ms";
    });
    windowBox.hidden = !zoomed;
    resetButton.hidden = !zoomed;
    if (zoomed) {
      windowBox.style.left = (from * 100) + "%";
      windowBox.style.width = (span * 100) + "%";
    }
    zoomLabel.textContent = zoomed ? "showing " + ms(from * totalMs, span * totalMs) + "–" +
      ms(zoomed[1] * totalMs, span * totalMs) + " ms of " + Math.round(totalMs) + " ms" : "";
  }
  function setZoom(from, to) {
    from = Math.max(0, Math.min(from, 1)); to = Math.max(0, Math.min(to, 1));
    if (to - from < 0.0005) { var middle = (from + to) / 2; from = Math.max(0, middle - 0.00025); to = from + 0.0005; }
    zoomed = from <= 0 && to >= 1 ? null : [from, to];
    var params = new URLSearchParams(location.search);
    if (zoomed) params.set("zoom", from.toFixed(5) + "-" + to.toFixed(5)); else params.delete("zoom");
    var query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
    applyZoom();
  }
  function zoomBy(factor, centre) {
    var from = zoomed ? zoomed[0] : 0, to = zoomed ? zoomed[1] : 1;
    if (centre === undefined) centre = (from + to) / 2;
    var half = Math.min((to - from) * factor, 1) / 2;
    var left = Math.max(0, Math.min(centre - half, 1 - 2 * half));
    setZoom(left, left + 2 * half);
  }
  function zoomToSpan(row) {
    var bar = row.querySelector(".bar");
    if (!bar) return;
    var left = original(bar, "left") / 100, width = original(bar, "width") / 100, pad = Math.max(width * 0.05, 0.0005);
    setZoom(left - pad, left + width + pad);
  }
  function fraction(event) {
    var box = area.getBoundingClientRect();
    return Math.max(0, Math.min((event.clientX - box.left) / box.width, 1));
  }
  var dragFrom = null;
  area.addEventListener("pointerdown", function (event) {
    dragFrom = fraction(event);
    area.setPointerCapture(event.pointerId);
    windowBox.hidden = false;
    windowBox.style.left = (dragFrom * 100) + "%";
    windowBox.style.width = "0";
  });
  area.addEventListener("pointermove", function (event) {
    if (dragFrom === null) return;
    var at = fraction(event);
    windowBox.style.left = (Math.min(dragFrom, at) * 100) + "%";
    windowBox.style.width = (Math.abs(at - dragFrom) * 100) + "%";
  });
  area.addEventListener("pointerup", function (event) {
    if (dragFrom === null) return;
    var at = fraction(event), from = dragFrom;
    dragFrom = null;
    if (Math.abs(at - from) * area.getBoundingClientRect().width < 3) { applyZoom(); return; }  // a click
    setZoom(Math.min(from, at), Math.max(from, at));
  });
  resetButton.addEventListener("click", function () { setZoom(0, 1); });
  (function () {
    var asked = /^([0-9.]+)-([0-9.]+)$/.exec(new URLSearchParams(location.search).get("zoom") || "");
    if (asked && parseFloat(asked[2]) > parseFloat(asked[1])) setZoom(parseFloat(asked[1]), parseFloat(asked[2]));
  })();

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
      case "+": case "=": zoomBy(0.5); break;
      case "-": zoomBy(2); break;
      case "z": if (current) zoomToSpan(current); else zoomBy(0.5); break;
      case "0": setZoom(0, 1); break;
      case "?": toggleHelp(); break;
      case "Escape": toggleHelp(false); break;
      default: return;
    }
    event.preventDefault();
  });

  reveal();
})();
