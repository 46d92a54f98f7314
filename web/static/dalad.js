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
