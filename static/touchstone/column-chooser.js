// The leaderboard's column chooser: each checkbox shows or hides one column (the header whose
// data-column matches) and the choice is remembered in this browser. The chooser stays hidden
// without JavaScript, and then every column shows.
(function () {
  const chooser = document.getElementById("column-chooser");
  if (!chooser) return;
  const table = document.getElementById(chooser.dataset.table);
  if (!table || !table.tHead) return;
  const storageKey = "touchstone.hidden-columns." + chooser.dataset.table;

  function remembered() {
    try {
      const stored = JSON.parse(window.localStorage.getItem(storageKey) || "[]");
      return new Set(Array.isArray(stored) ? stored : []);
    } catch (error) {
      return new Set();  // Storage refused (private mode) or unreadable: show every column.
    }
  }

  function remember(hidden) {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify(Array.from(hidden)));
    } catch (error) {
      // Without storage the choice lasts as long as the page.
    }
  }

  function apply(hidden) {
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((header, column) => {
      if (!header.dataset.column) return;
      const hide = hidden.has(header.dataset.column);
      header.hidden = hide;
      for (const body of table.tBodies) {
        for (const row of body.rows) {
          if (row.cells[column]) row.cells[column].hidden = hide;
        }
      }
    });
  }

  const hidden = remembered();
  for (const box of chooser.querySelectorAll("input[type=checkbox][data-column]")) {
    box.checked = !hidden.has(box.dataset.column);
    box.addEventListener("change", () => {
      if (box.checked) hidden.delete(box.dataset.column);
      else hidden.add(box.dataset.column);
      remember(hidden);
      apply(hidden);
    });
  }
  apply(hidden);
  chooser.hidden = false;
})();
