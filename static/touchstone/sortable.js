// Click a header of a table.sortable to sort by that column; numbers sort by their data-value.
// A cell without a number ("—", "–": not available) sorts last in either direction.
(function () {
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((header, column) => {
      if (!header.dataset.sort) return;
      header.addEventListener("click", () => {
        const ascending = !header.classList.contains("sorted-asc");
        headers.forEach((h) => h.classList.remove("sorted-asc", "sorted-desc"));
        header.classList.add(ascending ? "sorted-asc" : "sorted-desc");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const numeric = header.dataset.sort === "number";
        const key = (row) => {
          const cell = row.cells[column];
          const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
          return numeric ? parseFloat(raw) : raw.toLowerCase();
        };
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          if (numeric && (Number.isNaN(x) || Number.isNaN(y))) {
            return Number.isNaN(x) - Number.isNaN(y);  // missing values after every number
          }
          return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  }
})();
