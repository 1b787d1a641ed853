// The trace compare page's script, a static file so the Content-Security-Policy
// allows scripts from this site only (config/csp.py).
document.getElementById("only-changed").addEventListener("change", function () {
  var only = this.checked;
  document.querySelectorAll("#diff tr.op").forEach(function (row) { row.hidden = only && row.dataset.changed !== "true"; });
});
