// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // "Back" links on error pages.
  for (const a of document.querySelectorAll("a[data-back]")) {
    a.addEventListener("click", (e) => { e.preventDefault(); history.back(); });
  }
  // Filter forms submit on change.
  for (const f of document.querySelectorAll("form[data-autosubmit]")) {
    for (const el of f.querySelectorAll("select")) el.addEventListener("change", () => f.requestSubmit());
  }
  // Show chosen file names and sizes before upload.
  for (const input of document.querySelectorAll("input[type=file][data-list]")) {
    const out = document.getElementById(input.dataset.list);
    input.addEventListener("change", () => {
      if (!out) return;
      out.textContent = "";
      for (const f of input.files) {
        const li = document.createElement("li");
        li.textContent = `${f.name} — ${(f.size / 1024).toFixed(0)} Ko`;
        out.appendChild(li);
      }
    });
  }
});
