// A new alert rule's page (alerts.admin.AlertRuleAdmin): show the parameters of the
// chosen kind only. Each kind's are a fieldset classed "rule-params rule-params-<kind>"
// (alerts.rule_forms.param_fieldsets); without this script all are shown, and the chosen
// kind's are the ones saved. A section that came back with errors is shown too, until
// another kind is chosen. A rule's own page has its kind's section only (kind is fixed).
"use strict";

(function () {
  function sync(select, withErrors) {
    var chosen = "rule-params-" + select.value;
    var sections = document.querySelectorAll("fieldset.rule-params");
    for (var i = 0; i < sections.length; i++) {
      var section = sections[i];
      var show =
        section.classList.contains(chosen) ||
        (withErrors && section.querySelector(".errorlist") !== null);
      section.style.display = show ? "" : "none";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_kind");
    if (!select || select.tagName !== "SELECT") {
      return; // a rule's own page: its kind is fixed
    }
    select.addEventListener("change", function () {
      sync(select, false);
    });
    sync(select, true);
  });
})();
