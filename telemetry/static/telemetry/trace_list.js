// The trace list page's script, a static file so the Content-Security-Policy
// allows scripts from this site only (config/csp.py).
document.getElementById("add-attribute").addEventListener("click", function () {
  var label = document.createElement("label");
  label.textContent = "attribute key=value ";
  var input = document.createElement("input");
  input.name = "attr"; input.size = 34; input.placeholder = "key=value";
  label.appendChild(input);
  this.parentNode.insertBefore(label, this);
  input.focus();
});
