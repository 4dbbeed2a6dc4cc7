/* rolecall's browser side: what must answer at once, without a round trip to the server.
 *
 * - the URL gate: the page is rebuilt when the address changes by navigation (a link,
 *   the back button), not when a page writes its own state into the address;
 * - Replay's clock: stepping, playing and typing a moment move the slider here, and the
 *   moment's label and the chart's cursor follow at once (the server sends the table);
 * - CSV export of any table shown (a button with data-table names it).
 */
(function () {
  "use strict";
  var written = {path: null, search: null};

  function noUpdate() {
    return window.dash_clientside.no_update;
  }

  function isoMinute(ms) {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  /* A page's state into the address: pushed (the back button returns to it), or
   * replaced while Replay plays (a tick is not a place to go back to). */
  var pendingWrite = null;
  var settleCount = 0;

  /* Written a moment after the last change, off the path of the step itself: a burst of
   * steps is one entry in the history, and the table's request goes out first. */
  function writeStateSoon(params, replace) {
    if (pendingWrite !== null) {
      clearTimeout(pendingWrite);
    }
    pendingWrite = setTimeout(function () {
      pendingWrite = null;
      writeState(params, replace);
    }, 350);
  }

  function writeState(params, replace) {
    var query = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== "") {
        query.set(k, String(v));
      }
    });
    var text = query.toString();
    var search = text ? "?" + text : "";
    if (search === window.location.search) {
      return;
    }
    written = {path: window.location.pathname, search: search};
    var url = window.location.pathname + search + window.location.hash;
    if (replace) {
      window.history.replaceState({}, "", url);
    } else {
      window.history.pushState({}, "", url);
    }
    // dcc.Location is not told: its update would redraw the page's components. Going
    // back or forward to such an entry is handed to the router below.
  }

  window.addEventListener("popstate", function () {
    var here = {path: window.location.pathname, search: window.location.search};
    if (here.path === written.path && here.search === written.search) {
      return;
    }
    written = here;
    window.dash_clientside.set_props("route", {
      data: {path: here.path, search: here.search, at: Date.now()},
    });
  });

  function triggered() {
    var t = window.dash_clientside.callback_context.triggered;
    return t && t.length ? t[0].prop_id.split(".")[0] : "";
  }

  /* A typed moment: ISO 8601, UTC unless it names an offset; a space may stand for T. */
  function parseMoment(text) {
    var s = String(text || "").trim().replace(" ", "T");
    if (!/^\d{4}-\d{2}-\d{2}/.test(s)) {
      return NaN;
    }
    if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
      s += "T00:00:00";
    }
    if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(s)) {
      s += "Z";
    }
    return Date.parse(s);
  }

  function cursorTo(ms) {
    var gd = document.querySelector("#replay-activity .js-plotly-plot");
    if (!gd || !window.Plotly || !gd.layout || !gd.layout.shapes || !gd.layout.shapes.length) {
      return;
    }
    var x = new Date(ms).toISOString();
    window.Plotly.relayout(gd, {"shapes[0].x0": x, "shapes[0].x1": x});
  }

  function cursorSoon(ms) {
    // After the table's request is on its way: the chart is not what the step waits for.
    setTimeout(function () {
      cursorTo(ms);
    }, 0);
  }

  function csvCell(td) {
    // A cut text keeps its whole in data-full, or in the title of a link cut to width.
    var full = td.querySelector("[data-full]");
    var clipped = td.querySelector("a.clip[title]");
    var text = full ? full.getAttribute("data-full")
      : clipped && td.children.length === 1 ? clipped.getAttribute("title") : td.innerText;
    text = String(text).replace(/\s+/g, " ").trim();
    return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function tableCsv(table) {
    return Array.prototype.map
      .call(table.querySelectorAll("tr"), function (tr) {
        return Array.prototype.map.call(tr.querySelectorAll("th, td"), csvCell).join(",");
      })
      .join("\r\n") + "\r\n";
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.csv-export") : null;
    if (!button) {
      return;
    }
    var table = document.getElementById(button.getAttribute("data-table"));
    if (!table) {
      return;
    }
    var blob = new Blob([tableCsv(table)], {type: "text/csv"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = button.getAttribute("data-filename") || "rolecall.csv";
    document.body.appendChild(link);
    link.click();
    setTimeout(function () {
      URL.revokeObjectURL(link.href);
      link.remove();
    }, 1000);
  });

  /* Links inside HTML tables (dashboards/fast_table.py) navigate in the app, as
   * dcc.Link does: no reload of the page. */
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey) {
      return;
    }
    var link = event.target.closest ? event.target.closest(".html-table a[href]") : null;
    if (!link || link.origin !== window.location.origin || link.target) {
      return;
    }
    event.preventDefault();
    window.history.pushState({}, "", link.getAttribute("href"));
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
  });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    rolecall: {
      route: function (pathname, search) {
        if (pathname === null || pathname === undefined) {
          return noUpdate();
        }
        var s = search || "";
        if (pathname === written.path && s === written.search) {
          return noUpdate();
        }
        written = {path: pathname, search: s};
        return {path: pathname, search: s, at: Date.now()};
      },

      step: function (_b, _f, _t, click, _enter, value, top, size, origin, typed) {
        var id = triggered();
        var start = Date.parse(origin);
        var clamp = function (m) {
          return Math.max(0, Math.min(top, Math.round(m)));
        };
        if (id === "replay-activity") {
          if (!click || !click.points || !click.points.length) {
            return [noUpdate(), noUpdate()];
          }
          var x = parseMoment(String(click.points[0].x));
          return isNaN(x) ? [noUpdate(), noUpdate()] : [clamp((x - start) / 60000), ""];
        }
        if (id === "replay-at") {
          var at = parseMoment(typed);
          if (isNaN(at)) {
            return [noUpdate(), "Not a moment: type ISO 8601, e.g. 2026-01-05T12:00:00Z."];
          }
          var m = Math.floor((at - start) / 60000);
          if (m < 0 || m > top) {
            return [clamp(m), "Outside the data's range: shown at its nearest end."];
          }
          return [m, ""];
        }
        var steps = {"1 min": 1, "5 min": 5, "15 min": 15, "1 hour": 60, "6 hours": 360};
        var delta = (steps[size] || 5) * (id === "replay-back" ? -1 : 1);
        var next = clamp((value || 0) + delta);
        return [next, ""];
      },

      moment: function (value, origin) {
        var ms = Date.parse(origin) + (value || 0) * 60000;
        cursorSoon(ms);
        var iso = isoMinute(ms);
        return [iso.replace("T", " ").replace("Z", ""), iso];
      },

      replayState: function (value, account, role, principal, via, known, origin, paused) {
        var ms = Date.parse(origin) + (value || 0) * 60000;
        writeStateSoon(
          {
            at: isoMinute(ms), account: account, role: role, principal: principal, via: via,
            known: known
          },
          paused === false
        );
        return noUpdate();
      },

      paint: function (data, minutes, account, role, principal, via) {
        var box = document.getElementById("replay-table");
        if (!box || !data || typeof data.html !== "string") {
          return noUpdate();
        }
        var now = [minutes || 0, account || null, role || null, principal || null, via || null];
        if (JSON.stringify(data.view) !== JSON.stringify(now)) {
          return noUpdate(); // a late answer for a view no longer on screen
        }
        box.innerHTML = data.html;
        return noUpdate();
      },

      /* The permissions a step left out are asked for once the clock rests (a burst of
       * steps or play asks for none of the moments it passes). */
      settle: function (pending) {
        var mine = ++settleCount;
        if (!pending) {
          return noUpdate();
        }
        return new Promise(function (resolve) {
          setTimeout(function () {
            resolve(mine === settleCount ? pending : noUpdate());
          }, 600);
        });
      },

      write: function (params) {
        writeStateSoon(params, false);
        return noUpdate();
      },
    },
  });
})();
