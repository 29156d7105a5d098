// A directory page at `latest`, kept live: on each change the server streams (Server-Sent
// Events), the page fetches its grid again as the server draws it now and swaps in only the
// tiles that differ, so new files appear and moved boxes are redrawn without a reload. The
// server renders every tile, so this script draws nothing itself and every read rule holds.
"use strict";

(function () {
  const grid = document.querySelector("ul.grid[data-changes]");
  if (!grid || !window.EventSource) {
    return;
  }
  const QUIET_MS = 250; // a commit of many changes arrives as a burst: fetch once after it
  const served = new WeakMap(); // a swapped-in tile → the server's HTML of it (its class changes)
  let timer = null;

  // A tile's HTML without its image's address: that address names the version the grid was
  // drawn at, so it differs after every change while the file's bytes (and so the image)
  // never do. Compared with it, every tile was swapped and every thumbnail fetched again.
  function drawn(html) {
    return html.replace(/ href="[^"]*\/thumbnail\?[^"]*"/g, "");
  }

  // Put `fresh`'s tiles into `shown` in their order, keeping each tile that is unchanged
  // (its images stay as they are) and marking the new ones for a moment.
  function merge(shown, fresh) {
    const before = new Map(Array.from(shown.children, (tile) => [tile.dataset.file, tile]));
    let previous = null;
    for (const incoming of Array.from(fresh.children)) {
      const old = before.get(incoming.dataset.file);
      before.delete(incoming.dataset.file);
      let tile = old;
      if (!old || drawn(served.get(old) || old.outerHTML) !== drawn(incoming.outerHTML)) {
        tile = document.importNode(incoming, true);
        served.set(tile, incoming.outerHTML);
        tile.classList.add(old ? "redrawn" : "arrived");
      }
      const next = previous ? previous.nextElementSibling : shown.firstElementChild;
      if (tile !== next) {
        shown.insertBefore(tile, next);
      }
      if (old && tile !== old) {
        old.remove();
      }
      previous = tile;
    }
    before.forEach((gone) => gone.remove());
  }

  function replace(id, fresh) {
    const found = fresh.getElementById(id);
    const here = document.getElementById(id);
    if (found && here) {
      here.replaceWith(document.importNode(found, true));
    }
  }

  async function refresh() {
    timer = null;
    const response = await fetch(grid.dataset.tiles, { credentials: "same-origin" });
    if (!response.ok) {
      return; // signed out or no longer allowed: the next reload shows why
    }
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const tiles = fresh.querySelector("ul.grid");
    if (tiles) {
      merge(grid, tiles);
      grid.dataset.version = tiles.dataset.version;
      const heading = document.getElementById("shown-version");
      if (heading) {
        heading.textContent = `at v${tiles.dataset.version}`; // the version the grid now shows
      }
    }
    replace("file-count", fresh);
    replace("grid-paging", fresh);
  }

  const stream = new EventSource(grid.dataset.changes);
  stream.addEventListener("change", () => {
    if (timer === null) {
      timer = setTimeout(refresh, QUIET_MS);
    }
  });
  document.documentElement.dataset.live = "connecting";
  stream.addEventListener("open", () => (document.documentElement.dataset.live = "open"));
  stream.addEventListener("error", () => (document.documentElement.dataset.live = "reconnecting"));
})();
