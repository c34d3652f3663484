// While a submission is queued or running, its page polls the API once a second, shows the
// status, progress and place in the queue, and reloads itself once the submission is finished.
(function () {
  const section = document.getElementById("status");
  if (!section || !section.dataset.api) return;
  const finished = ["scored", "failed", "withdrawn"];
  if (finished.includes(section.dataset.status)) return;
  async function poll() {
    const response = await fetch(section.dataset.api, {headers: {"Accept": "application/json"}});
    if (response.ok) {
      const state = await response.json();
      document.getElementById("status-text").textContent = state.status;
      const bar = document.getElementById("progress");
      if (bar) bar.value = state.progress;
      const message = document.getElementById("progress-message");
      if (message) message.textContent = state.progress_message;
      const place = document.getElementById("queue-place");
      if (place) {
        place.hidden = state.queue_position === null;
        if (state.queue_position !== null) {
          document.getElementById("queue-position").textContent = state.queue_position;
          document.getElementById("queued-ahead").textContent = state.queued_ahead;
        }
      }
      if (finished.includes(state.status)) { window.location.reload(); return; }
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
