// The trace detail page's script, a static file so the Content-Security-Policy
// allows scripts from this site only (config/csp.py).
(function () {
  var table = document.getElementById("waterfall");
  var rows = {}, children = {}, details = {};
  table.querySelectorAll("tr.span-row").forEach(function (row) {
    var id = row.dataset.spanId, parent = row.dataset.parentId;
    rows[id] = row;
    (children[parent] = children[parent] || []).push(id);
  });
  table.querySelectorAll("tr.details").forEach(function (row) { details[row.dataset.detailsFor] = row; });
  // A large trace's "N more spans not drawn" rows fold with the span they are under.
  var elided = {};
  table.querySelectorAll("tr.elided").forEach(function (row) { elided[row.dataset.parentId] = row; });

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
  }
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
  table.addEventListener("click", function (event) {
    var row = event.target.closest("tr.span-row");
    if (!row || event.target.closest("a")) return;
    if (event.target.closest("[data-toggle]")) {
      setCollapsed(row.dataset.spanId, row.dataset.collapsed !== "true");
    } else {
      toggleDetails(row.dataset.spanId);
    }
  });
  function all(collapsed) {
    Object.keys(rows).forEach(function (id) {
      if (rows[id].querySelector("[data-toggle]")) rows[id].dataset.collapsed = collapsed ? "true" : "false";
    });
    Object.keys(rows).forEach(function (id) {
      var button = rows[id].querySelector("[data-toggle]");
      if (button) button.textContent = collapsed ? "▸" : "▾";
      if (!rows[id].dataset.parentId || !rows[rows[id].dataset.parentId]) { rows[id].hidden = false; show(id, !collapsed); }
    });
  }
  document.getElementById("expand-all").addEventListener("click", function () { all(false); });
  document.getElementById("collapse-all").addEventListener("click", function () { all(true); });
  // A link to #span-<id> (a parent, a linked span) opens that span, wherever it is folded.
  function reveal() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    target = target && target.closest("tr.span-row");
    if (!target) return;
    for (var id = target.dataset.parentId; rows[id]; id = rows[id].dataset.parentId) {
      if (rows[id].dataset.collapsed === "true") setCollapsed(id, false);
    }
    if (target.getAttribute("aria-expanded") !== "true") toggleDetails(target.dataset.spanId);
    target.scrollIntoView({block: "center"});
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();
