// Diagrams on the pages: bpmn-js (served from /static/vendor, installed by `make vendor`) draws the
// deployed file in a box that zooms and pans, marks what is done, current, waiting or failed and the
// flows taken, and counts the steps done more than once. Without the viewer (no JavaScript, or the
// files not installed) the page keeps the drawn image it carries (.diagram-fallback).
(function () {
  var boxes = document.querySelectorAll(".bpmn-viewer[data-xml]");
  if (!boxes.length || typeof window.BpmnJS !== "function") { return; }

  function get(url, kind) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error(url + ": " + response.status); }
      return kind === "json" ? response.json() : response.text();
    });
  }

  function badge(text, kind) {
    var element = document.createElement("span");
    element.className = "bpmn-badge bpmn-badge-" + kind;
    element.textContent = text;
    return element;
  }

  boxes.forEach(function (box) {
    box.hidden = false;  // the viewer measures its box: it must be laid out before the drawing fits it
    var viewer = new window.BpmnJS({ container: box });
    Promise.all([get(box.dataset.xml, "text"), get(box.dataset.state, "json")]).then(function (loaded) {
      return viewer.importXML(loaded[0]).then(function () { return loaded[1]; });
    }).then(function (state) {
      var canvas = viewer.get("canvas");
      var overlays = viewer.get("overlays");
      var registry = viewer.get("elementRegistry");
      // an element the engine put in for a listener, a parameter or a condition ("<owner>__…",
      // engine/foreign.py) is not in the file: it is shown on the element it stands for
      function shown(id) {
        if (registry.get(id)) { return id; }
        var owner = id.split("__")[0];
        return registry.get(owner) ? owner : null;
      }
      function mark(ids, marker) {
        (ids || []).forEach(function (id) { if (shown(id)) { canvas.addMarker(shown(id), marker); } });
      }
      mark(state.completed, "is-done");
      mark(state.taken, "is-taken");
      mark(state.active, "is-active");
      mark(state.failed, "is-failed");
      Object.keys(state.waiting || {}).forEach(function (id) {
        var at = shown(id);
        if (!at) { return; }
        canvas.addMarker(at, "is-waiting");
        overlays.add(at, { position: { bottom: -4, left: 0 }, html: badge("⏱ " + state.waiting[id], "waiting") });
      });
      Object.keys(state.counts || {}).forEach(function (id) {
        if (registry.get(id) && state.counts[id] > 1) {
          overlays.add(id, { position: { top: -10, right: 10 }, html: badge("×" + state.counts[id], "count") });
        }
      });
      canvas.zoom("fit-viewport");
      box.classList.add("is-ready");
      var fallback = box.parentNode.querySelector(".diagram-fallback");
      if (fallback) { fallback.hidden = true; }
    }).catch(function (error) {
      box.hidden = true;
      if (window.console) { console.warn("diagram viewer: " + error.message); }
    });
  });
})();
