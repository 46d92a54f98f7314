// Progressive enhancement only: every page works without it.
// Ask before a button with data-confirm submits; stop a double submit of the same form.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  var form = event.target;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  setTimeout(function () { delete form.dataset.sent; }, 5000);
});

// A long list (data-searchable) gets a box above it that narrows its options to those containing the text typed.
document.querySelectorAll("select[data-searchable]").forEach(function (select) {
  var box = document.createElement("input");
  box.type = "search";
  box.className = "select-filter";
  box.placeholder = select.getAttribute("data-searchable");
  box.setAttribute("aria-label", select.getAttribute("data-searchable"));
  select.parentNode.insertBefore(box, select);
  box.addEventListener("input", function () {
    var needle = box.value.trim().toLowerCase();
    var first = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var shown = !option.value || !needle || option.text.toLowerCase().indexOf(needle) >= 0;
      option.hidden = !shown;
      if (shown && option.value && first === null) { first = option; }
    });
    if (needle && first && (select.selectedIndex < 1 || select.options[select.selectedIndex].hidden)) {
      select.value = first.value;
    }
  });
});

// Each cell knows its column's heading, so a table laid out as cards on a phone still labels it.
document.querySelectorAll("table").forEach(function (table) {
  var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) { return th.textContent.trim(); });
  if (!heads.length) { return; }
  table.querySelectorAll("tbody tr").forEach(function (row) {
    Array.prototype.forEach.call(row.children, function (cell, i) {
      if (heads[i] && !cell.hasAttribute("data-label")) { cell.setAttribute("data-label", heads[i]); }
    });
  });
});

// Several files chosen at once: each gets its own material type (material-0, material-1, … in the
// order the files are sent), starting from the type chosen for all.
document.querySelectorAll("input[type=file][data-material-list]").forEach(function (input) {
  var common = input.form.querySelector("select[name=material]");
  var list = document.createElement("ul");
  list.className = "file-list";
  input.closest(".upload").appendChild(list);
  input.addEventListener("change", function () {
    list.textContent = "";
    Array.prototype.forEach.call(input.files, function (file, i) {
      var item = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = file.name;
      var select = common.cloneNode(true);
      select.name = "material-" + i;
      select.value = common.value;
      select.setAttribute("aria-label", input.getAttribute("data-material-list") + "：" + file.name);
      item.appendChild(name);
      item.appendChild(select);
      list.appendChild(item);
    });
  });
});

// A refused form (its error flashed at the top of a page that may be long, the 办件 first): bring
// the first field to correct into view and into focus.
(function () {
  var field = document.querySelector(".flash-error") &&
    document.querySelector(".has-error input, .has-error select, .has-error textarea");
  if (field) {
    field.scrollIntoView({ block: "center" });
    field.focus({ preventScroll: true });
  }
})();
