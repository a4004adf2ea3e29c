// The console's tables on a phone: console.css shows each row of the overview
// (table.bee-hives), of a change list (#result_list) and of a tabular inline as a card,
// each cell under its column's heading. This labels the cells with their heading
// (data-label); without it the cards still work, unlabelled.
(function () {
  "use strict";
  function heading(th) {
    const text = th.querySelector(".text") || th;
    return text.textContent.replace(/\s+/g, " ").trim();
  }
  function label(table) {
    const heads = Array.from(table.querySelectorAll(":scope > thead > tr > th")).map(heading);
    for (const row of table.querySelectorAll(":scope > tbody > tr")) {
      Array.from(row.children).forEach((cell, i) => {
        if (heads[i] && !cell.dataset.label) cell.dataset.label = heads[i];
      });
    }
  }
  function labelAll() {
    document.querySelectorAll("table.bee-hives, table#result_list, .inline-group .tabular table").forEach(label);
  }
  document.addEventListener("DOMContentLoaded", labelAll);
  // An inline's "Add another" row.
  document.addEventListener("formset:added", labelAll);
})();
