// The event page (apiary.admin.records.EventAdmin): show the details section of the chosen
// type only. Each section is a fieldset classed "event-details event-details-<type>"
// (apiary.event_forms.detail_fieldsets); without this script all are shown, and the
// chosen type's is the one saved. A section that came back with errors is shown too,
// until another type is chosen.
"use strict";

(function () {
  function sync(select, withErrors) {
    var chosen = "event-details-" + select.value;
    var sections = document.querySelectorAll("fieldset.event-details");
    for (var i = 0; i < sections.length; i++) {
      var section = sections[i];
      var show =
        section.classList.contains(chosen) ||
        (withErrors && section.querySelector(".errorlist") !== null);
      section.style.display = show ? "" : "none";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_type");
    if (!select || select.tagName !== "SELECT") {
      return; // a read-only page
    }
    select.addEventListener("change", function () {
      sync(select, false);
    });
    sync(select, true);
  });
})();
