"""Headless Chromium harness: load an HTML page as a user would, with no internet, and report.

The page is copied with a probe script injected first in ``<head>``, served from a local
``http.server`` on 127.0.0.1, and loaded by Debian's ``chromium`` in headless mode with every
host name except 127.0.0.1 unresolvable (so any CDN or tile request fails, and is reported).
The probe records JavaScript errors (``window.onerror``, unhandled rejections, ``alert`` /
``confirm`` / ``prompt`` calls), counts drawn features (``path.leaflet-interactive``) and markers
(``.leaflet-marker-icon``) at start and after switching every overlay on in the layer control,
gathers the HTML of every popup and tooltip, lists the URLs the page fetched, and writes all of
it as JSON into the DOM, which ``--dump-dom`` prints after a virtual-time budget.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import socketserver
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def publish(png: Path, name: str) -> None:
    """Copy a screenshot into docs/ (shown in the README) when env ``GIS_UPDATE_DOCS`` is set:
    ``GIS_UPDATE_DOCS=1 python -m pytest tests/test_pipeline.py -k real``."""
    if os.environ.get("GIS_UPDATE_DOCS"):
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(png, DOCS / name)

_PROBE = r"""
<script>
(function () {
  var probe = {errors: [], alerts: [], start: null, all: null, popups: [], tooltips: [],
               resources: [], layers: [], title: null};
  window.__probe = probe;
  probe.failed = [];
  window.addEventListener("error", function (e) {
    if (e.target && e.target !== window && (e.target.src || e.target.href)) {
      // a resource that could not load (a basemap tile with no internet), not a script error
      probe.failed.push(String(e.target.src || e.target.href));
      return;
    }
    probe.errors.push(String(e.message || "error") +
                      (e.filename ? " @ " + e.filename + ":" + e.lineno : ""));
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    probe.errors.push("unhandled rejection: " + String(e.reason));
  });
  ["alert", "confirm", "prompt"].forEach(function (name) {
    window[name] = function (msg) { probe.alerts.push(name + "(" + String(msg) + ")"); };
  });
  function count() {
    return {paths: document.querySelectorAll("path.leaflet-interactive").length,
            markers: document.querySelectorAll(".leaflet-marker-icon").length};
  }
  function findMap() {
    for (var k in window) {
      try { if (window.L && window[k] instanceof L.Map) { return window[k]; } } catch (e) {}
    }
    return null;
  }
  function finish() {
    try {
      var shot = location.search.indexOf("shot") >= 0;
      var map = findMap();
      probe.start = count();
      probe.title = document.title;
      document.querySelectorAll(".leaflet-control-layers-overlays label").forEach(function (l) {
        probe.layers.push(l.textContent.trim());
      });
      if (!shot) {
        document.querySelectorAll("input.leaflet-control-layers-selector").forEach(function (i) {
          if (i.type === "checkbox" && !i.checked) { i.click(); }
        });
        probe.all = count();
        var box = document.createElement("div");
        box.id = "__probe_content";
        box.style.display = "none";
        document.body.appendChild(box);
        if (map) {
          map.eachLayer(function (l) {
            var p = l.getPopup && l.getPopup(), t = l.getTooltip && l.getTooltip();
            function html(x) {
              var c = x.getContent();
              return typeof c === "string" ? c : c.outerHTML;
            }
            if (p) { probe.popups.push(html(p)); }
            if (t) { probe.tooltips.push(html(t)); }
          });
        }
        // parse every popup/tooltip as the browser would: unescaped markup would create
        // elements here and an onerror handler would call alert()
        box.innerHTML = probe.popups.join("\n") + "\n" + probe.tooltips.join("\n");
        probe.scripts_in_content = box.querySelectorAll("script").length;
        probe.content_text = box.textContent;
      } else if (map) {
        var target = null;
        map.eachLayer(function (l) {
          var t = l.getTooltip && l.getTooltip();
          if (!target && l.getPopup && l.getPopup() && l instanceof L.Marker && t &&
              String(t.getContent()).indexOf("alert(1)") >= 0) { target = l; }
        });
        if (target && location.search.indexOf("nopopup") < 0) {
          var st = document.createElement("style");
          st.textContent = ".leaflet-popup{transition:none!important;opacity:1!important}";
          document.head.appendChild(st);
          // pan the facility to the middle so its popup clears the layer list, let the
          // vector renderer redraw, then open the popup
          map.panTo(target.getLatLng(), {animate: false});
          map.fire("moveend");
          setTimeout(function () { target.openPopup(); }, 300);
        }
      }
      probe.resources = performance.getEntriesByType("resource").map(function (r) {
        return r.name;
      });
      layout(probe);
    } catch (e) {
      probe.errors.push("probe: " + e);
    }
    var out = document.createElement("pre");
    out.id = "__probe";
    out.textContent = JSON.stringify(probe);
    out.style.display = "none";
    document.body.appendChild(out);
  }
  function rect(el) {
    var r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width,
            height: r.height};
  }
  function meets(a, b) {
    return !(a.right <= b.left || a.left >= b.right || a.bottom <= b.top || a.top >= b.bottom);
  }
  function overlaps(boxes) {
    var out = [];
    for (var i = 0; i < boxes.length; i++) {
      for (var j = i + 1; j < boxes.length; j++) {
        if (meets(boxes[i].r, boxes[j].r)) { out.push([boxes[i].t, boxes[j].t]); }
      }
    }
    return out;
  }
  // text the page shows as its own (not data marked translate="no"), visible or not
  function ownText(root) {
    var parts = [];
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, null);
    var n;
    while ((n = walker.nextNode())) {
      var p = n.parentElement;
      if (!p || p.closest("script,style,[translate=no],#__probe,#__probe_content")) { continue; }
      if (n.textContent.trim()) { parts.push(n.textContent.trim()); }
    }
    return parts;
  }
  function layout(probe) {
    // elements whose content is wider than their box (text overflowing its container)
    var over = [];
    document.querySelectorAll("body *").forEach(function (el) {
      if (el.closest("svg,script,style,.leaflet-pane,.leaflet-control-attribution,#__probe")) {
        return;
      }
      // the map's own box clips its panes by design (what lies beyond the view)
      if (el.classList && el.classList.contains("leaflet-container")) { return; }
      var cs = getComputedStyle(el);
      if (cs.display === "none" || cs.overflowX === "auto" || cs.overflowX === "scroll") {
        return;
      }
      if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
        over.push(el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
                  ? "." + String(el.className).split(" ")[0] : "") + ": " +
                  (el.textContent || "").trim().slice(0, 60) + " (" + el.scrollWidth + " > " +
                  el.clientWidth + ")");
      }
    });
    probe.overflow = over;
    probe.page_width = {scroll: document.documentElement.scrollWidth, inner: window.innerWidth};
    probe.own_text = ownText(document.body);
    var box = document.getElementById("__probe_content");
    probe.own_popup_text = box ? ownText(box) : [];
    probe.lang = document.documentElement.getAttribute("lang");
    var h1 = document.querySelector(".gis-head h1"), ctl = document.querySelector(
      ".leaflet-control-layers");
    probe.title_box = h1 ? rect(h1) : null;
    probe.control_box = ctl ? rect(ctl) : null;
    var mapEl = document.querySelector(".folium-map");
    probe.map_box = mapEl ? rect(mapEl) : null;
    var side = document.querySelector(".gis-side");
    probe.side_box = side ? rect(side) : null;
    // point labels of every chart, and commune labels on a map, must not overlap
    probe.chart_overlaps = [];
    probe.chart_labels = 0;
    document.querySelectorAll("svg.chart").forEach(function (svg) {
      var boxes = [];
      svg.querySelectorAll("text.pt").forEach(function (t) {
        boxes.push({r: rect(t), t: t.textContent});
      });
      svg.querySelectorAll("circle").forEach(function (c) {
        boxes.push({r: rect(c), t: "(point)"});
      });
      probe.chart_labels += svg.querySelectorAll("text.pt").length;
      overlaps(boxes).forEach(function (p) {
        if (p[0] !== "(point)" || p[1] !== "(point)") { probe.chart_overlaps.push(p); }
      });
    });
    var labels = [];
    document.querySelectorAll(".gis-label").forEach(function (el) {
      if (getComputedStyle(el).visibility !== "hidden") {
        labels.push({r: rect(el), t: el.textContent});
      }
    });
    probe.map_labels = labels.length;
    probe.map_label_overlaps = overlaps(labels);
    var summary = document.getElementById("summary");
    probe.summary_box = summary ? rect(summary) : null;
    var note = document.getElementById("gis-basenote");
    probe.basenote = note && note.style.display !== "none" ? note.textContent : null;
    probe.plan = window.gisPlan || null;
  }
  window.addEventListener("load", function () { setTimeout(finish, 1000); });
})();
</script>
"""


def find_chromium() -> str | None:
    """Path of the Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """Chromium's path; fail under CI (env ``CI`` set), skip elsewhere when missing."""
    path = find_chromium()
    if path:
        return path
    msg = "chromium not found: install it with .ci/system-packages.sh (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@dataclass
class PageReport:
    """What the probe saw in one page.

    ``errors`` are JavaScript errors; ``failed`` resources that could not load (basemap tiles
    with no internet). ``overflow`` lists elements whose content is wider than their box;
    ``own_text`` / ``own_popup_text`` the page's own text (not data marked
    ``translate="no"``); ``chart_overlaps`` and ``map_label_overlaps`` pairs of labels that
    overlap; ``title_box``, ``control_box``, ``map_box``, ``side_box``, ``summary_box``
    bounding boxes (px); ``basenote`` the basemap note shown on a map, if any."""

    errors: list[str]
    alerts: list[str]
    start: dict[str, int]
    all: dict[str, int] | None
    popups: list[str]
    tooltips: list[str]
    resources: list[str]
    layers: list[str]
    title: str | None
    scripts_in_content: int = 0
    content_text: str = ""
    dom: str = field(default="", repr=False)
    failed: list[str] = field(default_factory=list)
    layout: dict = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str):
        try:
            return self.__dict__["layout"][name]
        except KeyError:
            raise AttributeError(name) from None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (free port) for the duration of the block; yield base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    socketserver.TCPServer.allow_reuse_address = True
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()


def _chromium_args(chromium: str, profile: Path) -> list[str]:
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
        "--mute-audio", f"--user-data-dir={profile}",
        # no internet: every name but the local server fails to resolve
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]


def load_page(html_file: Path, *, screenshot: Path | None = None, budget_ms: int = 6000,
              timeout_s: float = 60.0, window_size: tuple[int, int] = (1280, 860),
              fragment: str = "", popup: bool = True) -> PageReport:
    """Load ``html_file`` in headless Chromium with the probe; optionally save a screenshot.

    Both runs use ``window_size``. The screenshot run shows the page as it opens (no overlay
    switched on) with the popup of the facility named ``<script>alert(1)</script>`` opened
    when there is one (``popup=False``: never). ``fragment`` is added to the address (e.g.
    ``plan=official_only`` for the plan map).
    """
    chromium = require_chromium()
    with tempfile.TemporaryDirectory(prefix="gis-browser-") as tmp:
        root = Path(tmp) / "site"
        root.mkdir()
        text = html_file.read_text(encoding="utf-8")
        text, n = re.subn(r"<head>", lambda m: m.group(0) + _PROBE, text, count=1)
        assert n == 1, f"{html_file}: no <head> to inject the probe into"
        (root / "page.html").write_text(text, encoding="utf-8")
        with serve(root) as base:
            args = _chromium_args(chromium, Path(tmp) / "profile")
            frag = f"#{fragment}" if fragment else ""
            run = subprocess.run(
                [*args, f"--virtual-time-budget={budget_ms}",
                 f"--window-size={window_size[0]},{window_size[1]}", "--dump-dom",
                 f"{base}/page.html{frag}"],
                capture_output=True, text=True, timeout=timeout_s, check=False)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                shot = subprocess.run(
                    [*args, f"--virtual-time-budget={budget_ms}",
                     f"--window-size={window_size[0]},{window_size[1]}",
                     f"--screenshot={screenshot}",
                     f"{base}/page.html?shot={1 if popup else 'nopopup'}{frag}"],
                    capture_output=True, text=True, timeout=timeout_s, check=False)
                assert screenshot.exists(), f"no screenshot written: {shot.stderr[-2000:]}"
    dom = run.stdout
    match = re.search(r'<pre id="__probe"[^>]*>(.*?)</pre>', dom, flags=re.S)
    assert match, (f"probe output missing (rc={run.returncode}); stderr tail:\n"
                   f"{run.stderr[-3000:]}\nDOM head:\n{dom[:2000]}")
    data = json.loads(html.unescape(match.group(1)))
    return PageReport(
        errors=data["errors"], alerts=data["alerts"], start=data["start"], all=data["all"],
        popups=data["popups"], tooltips=data["tooltips"], resources=data["resources"],
        layers=data["layers"], title=data["title"],
        scripts_in_content=data.get("scripts_in_content", 0),
        content_text=data.get("content_text", ""), dom=dom, failed=data.get("failed", []),
        layout={k: data.get(k) for k in (
            "overflow", "page_width", "own_text", "own_popup_text", "lang", "title_box",
            "control_box", "map_box", "side_box", "chart_overlaps", "chart_labels",
            "map_labels", "map_label_overlaps", "summary_box", "basenote", "plan")})


# --- driving a page with a script (the plan editor) -----------------------------------------

_DRIVE_HEAD = r"""
<script>
(function () {
  var rec = {errors: [], csp: []};
  window.__drive = rec;
  window.addEventListener("error", function (e) {
    rec.errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) ||
                           "error") + (e.filename ? " @ " + e.filename + ":" + e.lineno : "") +
                    (e.error && e.error.stack ? "\n" + e.error.stack : ""));
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    rec.errors.push("unhandled rejection: " + String(e.reason));
  });
  document.addEventListener("securitypolicyviolation", function (e) {
    rec.csp.push(e.violatedDirective + " " + e.blockedURI);
  });
  ["alert", "confirm", "prompt"].forEach(function (name) {
    window[name] = function (msg) { rec.errors.push(name + "(" + String(msg) + ")"); };
  });
})();
</script>
"""


# Chromium's own background services (updates, network time, sign-in): off, so that the
# proxy sees only what the page asks for.
_QUIET_BROWSER = (
    "--no-pings", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-default-apps", "--no-service-autorun", "--disable-breakpad",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
    "InterestFeedContentSuggestions,SafeBrowsing",
    "--disable-signin-promo", "--allow-pre-commit-input",
)


@dataclass
class DriveReport:
    """What a driven page reported: the driver's result, JavaScript errors, Content Security
    Policy violations and every request that tried to leave the machine (through the proxy)."""

    result: object
    errors: list[str]
    csp: list[str]
    requests: list[str]
    dom: str = field(default="", repr=False)


class _RecordingProxy(http.server.BaseHTTPRequestHandler):
    """An HTTP proxy that forwards nothing: it records each request line and answers 403."""

    seen: list[str] = []

    def _refuse(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_PUT = do_CONNECT = do_OPTIONS = _refuse  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def recording_proxy() -> Iterator[tuple[str, list[str]]]:
    """A local proxy that records every request sent to it; yields (address, requests)."""
    handler = type("_Proxy", (_RecordingProxy,), {"seen": []})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"127.0.0.1:{httpd.server_address[1]}", handler.seen
        finally:
            httpd.shutdown()


def drive_page(html_file: Path, script: str, *, budget_ms: int | None = None,
               timeout_s: float = 180.0, screenshot: Path | None = None,
               window_size: tuple[int, int] = (1400, 900)) -> DriveReport:
    """Open ``html_file`` from disk (file://, as a double-click does) in headless Chromium, run
    ``script`` after the page's own scripts, and return what it reported.

    ``script`` is JavaScript that calls ``__report(value)`` with any JSON-able value. Every
    request that tries to leave the page goes to a recording proxy (and is refused); a
    recorder injected first in ``<head>`` collects JavaScript errors and CSP violations.
    Without ``budget_ms`` the DOM is dumped after the load event (real time, for timings); with
    it, after that much virtual time. With ``screenshot`` a second run saves the page as shown
    after the script.
    """
    chromium = require_chromium()
    with tempfile.TemporaryDirectory(prefix="gis-drive-") as tmp:
        page = Path(tmp) / "page.html"
        text = html_file.read_text(encoding="utf-8")
        text, n = re.subn(r"<head>", lambda m: m.group(0) + _DRIVE_HEAD, text, count=1)
        assert n == 1, f"{html_file}: no <head>"
        driver = ("<script>\n(function () {\nfunction __report(value) {\n"
                  "  var out = document.createElement('pre'); out.id = '__drive_out';\n"
                  "  out.style.display = 'none';\n"
                  "  out.textContent = JSON.stringify({result: value, errors: __drive.errors,"
                  " csp: __drive.csp});\n  document.body.appendChild(out);\n}\n"
                  "try {\n" + script + "\n} catch (e) { __drive.errors.push('driver: ' + e + "
                  "' ' + (e.stack || '')); __report(null); }\n})();\n</script>\n")
        idx = text.rfind("</body>")
        text = text[:idx] + driver + text[idx:]
        page.write_text(text, encoding="utf-8")
        with recording_proxy() as (proxy, seen):
            args = _chromium_args(chromium, Path(tmp) / "profile")
            args += [f"--proxy-server=http://{proxy}", "--proxy-bypass-list=<-loopback>",
                     *_QUIET_BROWSER]
            timing = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
            run = subprocess.run([*args, *timing, "--dump-dom", page.as_uri()],
                                 capture_output=True, text=True, timeout=timeout_s, check=False)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                shot = subprocess.run(
                    [*args, f"--virtual-time-budget={budget_ms or 4000}",
                     f"--window-size={window_size[0]},{window_size[1]}",
                     f"--screenshot={screenshot}", page.as_uri()],
                    capture_output=True, text=True, timeout=timeout_s, check=False)
                assert screenshot.exists(), f"no screenshot written: {shot.stderr[-2000:]}"
            requests = list(seen)
    dom = run.stdout
    match = re.search(r'<pre id="__drive_out"[^>]*>(.*?)</pre>', dom, flags=re.S)
    assert match, (f"driver output missing (rc={run.returncode}); stderr tail:\n"
                   f"{run.stderr[-3000:]}\nDOM head:\n{dom[:1500]}")
    data = json.loads(html.unescape(match.group(1)))
    return DriveReport(result=data["result"], errors=data["errors"], csp=data["csp"],
                       requests=requests, dom=dom)
