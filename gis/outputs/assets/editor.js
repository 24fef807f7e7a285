/* Plan editor of gis: scores a plan of commune health stations in the browser.
 *
 * Data: the JSON of gis.outputs.editor.build_editor_data (element #gis-editor-data) and the
 * page settings (#gis-editor-page) with, for each language, every text of the page taken from
 * the catalog of gis (gis/outputs/locale) and the separators of numbers. No text shown to the
 * user is written here: t(message) looks a message of the catalog (its English text) up in the
 * strings of the current language. Data (names, ids, files) is shown as it is, in
 * <span translate="no">, as in every page of gis.
 *
 * Figures follow gis.analyses.plans.evaluate exactly: the time of a demand unit is the least time to an
 * open station or new site (inf beyond the cut-off); covered = population with time <= the
 * threshold (inclusive); losing = within the threshold today and not now; mean = population-
 * weighted mean over units reached; p90 = gis.analyses.plans._weighted_quantile (values sorted, weights
 * summed in that order, the first value whose running sum reaches 0.9 x the total).
 */
(function () {
  "use strict";

  var PAGE = JSON.parse(document.getElementById("gis-editor-page").textContent);
  var D = JSON.parse(document.getElementById("gis-editor-data").textContent);
  var lang = PAGE.lang;

  // --- text -----------------------------------------------------------------------------------
  var PLACEHOLDER = /\{(\w+)\}/g;
  function has(obj, key) { return !!obj && Object.prototype.hasOwnProperty.call(obj, key); }
  function lookup(message) {
    var s = PAGE.texts[lang].strings[message];
    return s === undefined ? message : s;
  }
  // t(message, args): the message in the current language as text, its {placeholders} filled
  // with args (a number formatted for the language).
  function t(message, args) {
    return lookup(message).replace(PLACEHOLDER, function (m, name) {
      if (!has(args, name)) { return m; }
      return typeof args[name] === "number" ? fmtNum(args[name]) : String(args[name]);
    });
  }
  // tn(message, args): the same as DOM nodes, for a message with data in it: a number
  // (formatted for the language) and a node (a text of the page) are inserted as they are, any
  // other value is data (a name, an id, a file) and is marked translate="no".
  function tn(message, args) {
    var frag = document.createDocumentFragment(), s = lookup(message), at = 0, m;
    PLACEHOLDER.lastIndex = 0;
    while ((m = PLACEHOLDER.exec(s)) !== null) {
      if (m.index > at) { frag.appendChild(document.createTextNode(s.slice(at, m.index))); }
      var v = has(args, m[1]) ? args[m[1]] : m[0];
      frag.appendChild(v instanceof Node ? v : typeof v === "number"
        ? document.createTextNode(fmtNum(v)) : dataNode(v));
      at = PLACEHOLDER.lastIndex;
    }
    if (at < s.length) { frag.appendChild(document.createTextNode(s.slice(at))); }
    return frag;
  }
  function dataNode(v) { return el("span", {translate: "no", text: String(v)}); }
  // a text prepared by gis for each language: [text, is data] pieces
  function partsNode(pieces) {
    var frag = document.createDocumentFragment();
    pieces.forEach(function (p) {
      frag.appendChild(p[1] ? dataNode(p[0]) : document.createTextNode(p[0]));
    });
    return frag;
  }
  function texts() { return PAGE.texts[lang]; }
  function groupDigits(intText) {
    return intText.replace(/\B(?=(\d{3})+(?!\d))/g, texts().numbers.group);
  }
  function fmtInt(v) {
    if (v === null || v === undefined || !isFinite(v)) { return "–"; }
    var n = Math.round(v);
    var text = groupDigits(String(Math.abs(n)));
    return (n < 0 ? "−" : "") + text;
  }
  function fmtDec(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) { return "–"; }
    var s = Math.abs(v).toFixed(digits).split(".");
    var out = groupDigits(s[0]) + (s.length > 1 ? texts().numbers.decimal + s[1] : "");
    return (v < 0 && Number(s.join(".")) !== 0 ? "−" : "") + out;
  }
  function fmtNum(v) {
    return Math.abs(v - Math.round(v)) < 1e-9 ? fmtInt(v) : fmtDec(v, 1);
  }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") { e.textContent = attrs[k]; } else if (k === "cls") {
          e.className = attrs[k];
        } else { e.setAttribute(k, attrs[k]); }
      });
    }
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }

  // --- arrays ---------------------------------------------------------------------------------
  var TYPES = {uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, int32: Int32Array,
               float64: Float64Array};
  function decode(entry) {
    var bin = atob(entry.b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return new TYPES[entry.dtype](bytes.buffer);
  }
  var C = D.cells;
  var N = C.n, K = D.k, NONE = C.none;
  var X = decode(C.x), Y = decode(C.y), POP = decode(C.population), COM = decode(C.commune);
  var NEAR = decode(C.near), MORE = decode(C.more);
  var LON7 = decode(C.lon_e7), LAT7 = decode(C.lat_e7);
  var SNAPX = decode(C.snap_x), SNAPY = decode(C.snap_y);
  var TR = D.travel;
  var ST = D.stations, NST = ST.length;
  var THR = D.thresholds_min, MID = D.middle_threshold_min;
  var COMMUNES = D.communes;
  var comIndex = {};
  COMMUNES.forEach(function (c, i) { comIndex[c.code] = i; });
  var facilityIds = {};
  D.facility_ids.forEach(function (id) { facilityIds[id] = true; });
  var stIndex = {};
  ST.forEach(function (s, i) { stIndex[s.id] = i; });
  var fixedIds = {};
  D.fixed_rows.forEach(function (r) { fixedIds[r.id] = true; });

  // Time from unit i to the point (sx, sy): the float64 operations of gis.model.costs._straight_m
  // and straight_line_costs: sqrt(dx*dx + dy*dy) * detour / speed, dx = unit - site.
  var DETOUR = TR.detour_factor, SPEED = TR.speed_m_per_min;
  function lineTime(i, sx, sy) {
    var dx = X[i] - sx, dy = Y[i] - sy;
    return Math.sqrt(dx * dx + dy * dy) * DETOUR / SPEED;
  }
  // NT[i*K + j]: time from unit i to its j-th nearest station (inf when none)
  var NT = new Float64Array(N * K);
  (function () {
    var stored = TR.times === "table" ? decode(C.times) : null;
    for (var i = 0; i < N; i++) {
      for (var j = 0; j < K; j++) {
        var p = i * K + j, s = NEAR[p];
        if (s === NONE) { NT[p] = Infinity; } else if (stored) { NT[p] = stored[p]; } else {
          NT[p] = lineTime(i, ST[s].x, ST[s].y);
        }
      }
    }
  })();
  var LIMIT = TR.limit_min;
  var siteCache = {};
  // times from every unit to a new site on unit u (inf beyond the cut-off), as
  // gis.model.travel.extend_costs -> straight_line_costs computes them
  function siteTimes(u) {
    if (siteCache[u]) { return siteCache[u]; }
    var sx = SNAPX[u], sy = SNAPY[u], out = new Float64Array(N);
    for (var i = 0; i < N; i++) {
      var v = lineTime(i, sx, sy);
      out[i] = v <= LIMIT ? v : Infinity;
    }
    siteCache[u] = out;
    return out;
  }

  // --- scoring --------------------------------------------------------------------------------
  // p90 exactly as gis.analyses.plans._weighted_quantile: order by value (LSD radix sort of the float64
  // bits, stable: ties keep unit order), running sum of the weights in that order, the first
  // value whose running sum reaches q x the total.
  var RADIX_KEYS = new Uint32Array(2 * N), IDX_A = new Uint32Array(N), IDX_B = new Uint32Array(N);
  var COUNTS = new Uint32Array(65536);
  // buffers reused by every scoring (no garbage per click)
  var CUM_BUF = new Float64Array(N), T_BUF = new Float64Array(N), INEXACT_BUF = new Uint8Array(N);
  function sortedByValue(values, idx, m) {
    var f = new Float64Array(1), u = new Uint32Array(f.buffer);
    for (var a = 0; a < m; a++) {
      f[0] = values[idx[a]];
      RADIX_KEYS[2 * idx[a]] = u[0]; RADIX_KEYS[2 * idx[a] + 1] = u[1];
    }
    var src = idx, dst = (idx === IDX_A) ? IDX_B : IDX_A;
    for (var pass = 0; pass < 4; pass++) {
      var word = pass < 2 ? 0 : 1, shift = (pass % 2) * 16;
      COUNTS.fill(0);
      for (var i = 0; i < m; i++) { COUNTS[(RADIX_KEYS[2 * src[i] + word] >>> shift) & 0xffff]++; }
      var sum = 0;
      for (var c = 0; c < 65536; c++) { var n = COUNTS[c]; COUNTS[c] = sum; sum += n; }
      for (var j = 0; j < m; j++) {
        var id = src[j];
        dst[COUNTS[(RADIX_KEYS[2 * id + word] >>> shift) & 0xffff]++] = id;
      }
      var tmp = src; src = dst; dst = tmp;
    }
    return src;
  }
  function weightedQuantile(values, weights, reach, m, q) {
    if (m === 0) { return null; }
    var order = sortedByValue(values, reach, m);
    var cum = CUM_BUF, s = 0;
    for (var i = 0; i < m; i++) { s += weights[order[i]]; cum[i] = s; }
    if (!(cum[m - 1] > 0)) { return NaN; }
    var target = q * cum[m - 1];
    var lo = 0, hi = m;  // first i with cum[i] >= target (numpy searchsorted, side="left")
    while (lo < hi) { var mid = (lo + hi) >>> 1; if (cum[mid] < target) { lo = mid + 1; } else { hi = mid; } }
    return values[order[Math.min(lo, m - 1)]];
  }

  var BASE_T = null;  // today's times
  function unitTimes(actions, sites) {
    var open = new Uint8Array(NST);
    for (var s = 0; s < NST; s++) { open[s] = actions[s] === "close" ? 0 : 1; }
    var st = sites.map(function (x) { return siteTimes(x.unit); });
    var T = T_BUF, inexact = INEXACT_BUF, nInexact = 0, popInexact = 0;
    inexact.fill(0);
    for (var i = 0; i < N; i++) {
      var best = Infinity, found = false, base = i * K;
      for (var j = 0; j < K; j++) {
        var sj = NEAR[base + j];
        if (sj === NONE) { break; }
        if (open[sj]) { best = NT[base + j]; found = true; break; }
      }
      var near = Infinity;
      for (var m = 0; m < st.length; m++) { if (st[m][i] < near) { near = st[m][i]; } }
      if (!found && MORE[i]) {
        var lower = NT[base + K - 1];  // all k nearest closed: the true time is >= this
        if (near <= lower) { best = near; } else {
          best = lower; inexact[i] = 1; nInexact++; popInexact += POP[i];
        }
      } else if (near < best) { best = near; }
      T[i] = best;
    }
    return {T: T, inexact: inexact, nInexact: nInexact, popInexact: popInexact};
  }

  function score(actions, targets, sites) {
    var u = unitTimes(actions, sites), T = u.T;
    var nThr = THR.length, cov = new Float64Array(nThr), lose = new Float64Array(nThr);
    var nCom = COMMUNES.length, loseCom = new Float64Array(nCom);
    var total = 0, sumTW = 0, sumW = 0, maxT = -Infinity, beyond = 0, m = 0;
    var losing = [];
    for (var i = 0; i < N; i++) {
      var w = POP[i], ti = T[i];
      total += w;
      if (ti !== Infinity) {
        IDX_A[m++] = i; sumTW += ti * w; sumW += w;
        if (w > 0 && ti > maxT) { maxT = ti; }
      } else { beyond += w; }
      for (var h = 0; h < nThr; h++) {
        if (ti <= THR[h]) { cov[h] += w; }
        if (BASE_T && BASE_T[i] <= THR[h] && ti > THR[h]) {
          lose[h] += w;
          if (THR[h] === MID) { loseCom[COM[i]] += w; losing.push(i); }
        }
      }
    }
    var mains = new Int32Array(nCom), points = new Int32Array(nCom), orphans = [];
    var nMain = 0, nPoints = 0;
    for (var s = 0; s < NST; s++) {
      var a = actions[s], c = comIndex[targets[s]];
      if (a === "close") { continue; }
      nPoints++;
      if (c !== undefined) { points[c]++; }
      if (a === "keep") { nMain++; if (c !== undefined) { mains[c]++; } }
    }
    sites.forEach(function (x) {
      var c = comIndex[x.target];
      nPoints++; points[c]++;
      if (x.role !== "branch") { nMain++; mains[c]++; }
    });
    for (s = 0; s < NST; s++) {
      if (actions[s] === "branch" && !mains[comIndex[targets[s]]]) { orphans.push(ST[s].id); }
    }
    sites.forEach(function (x) {
      if (x.role === "branch" && !mains[comIndex[x.target]]) { orphans.push(x.id); }
    });
    var f = {
      service_points: nPoints, main_stations: nMain, population: total,
      mean_time_min: sumW > 0 ? sumTW / sumW : null,
      p90_time_min: sumW > 0 ? weightedQuantile(T, POP, IDX_A, m, 0.9) : null,
      max_time_min: maxT === -Infinity ? null : maxT,
      population_beyond_cutoff: beyond,
      doctors_needed: D.doctors_per_station * nMain,
      communes: {main_stations: Array.from(mains), service_points: Array.from(points)},
      inexact_cells: u.nInexact, inexact_population: u.popInexact
    };
    for (h = 0; h < nThr; h++) {
      f["covered_" + THR[h] + "min"] = cov[h];
      if (BASE_T) { f["losing_" + THR[h] + "min"] = lose[h]; }
    }
    if (BASE_T) { f.communes["losing_" + MID + "min"] = Array.from(loseCom); }
    return {figures: f, T: T, losing: losing, orphans: orphans, inexact: u.inexact};
  }

  // --- state, undo ----------------------------------------------------------------------------
  function todayState() {
    return {actions: ST.map(function () { return "keep"; }),
            targets: ST.map(function (s) { return s.commune; }), sites: []};
  }
  function copyState(s) {
    return {actions: s.actions.slice(), targets: s.targets.slice(),
            sites: s.sites.map(function (x) { return Object.assign({}, x); })};
  }
  var state = todayState();
  var undoStack = [];
  var last = null, lastMs = 0, message = null;
  // a line of the message box: translated when shown (again after a change of language)
  function msgLine(msg, args) { return {msg: msg, args: args || null}; }
  function change(fn) {
    undoStack.push(copyState(state));
    message = null;
    fn();
    rescore();
  }
  function undo() {
    if (!undoStack.length) { message = {kind: "info", lines: [msgLine("Nothing to undo.")]}; render(); return; }
    state = undoStack.pop();
    rescore();
  }

  // --- references: today and the official plans, recomputed here and checked -----------------
  var REFS = D.references;
  var check = {ok: true, failed: []};
  function close(a, b, kind) {
    if (a === null || b === null || a === undefined || b === undefined) { return a == b; }
    if (kind === "count") { return a === b; }
    if (kind === "time") { return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)); }
    return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));  // people: far below a person
  }
  function kindOf(key) {
    if (/time_min$/.test(key)) { return "time"; }
    if (key === "service_points" || key === "main_stations") { return "count"; }
    return "people";
  }
  function compareFigures(js, py, label) {
    Object.keys(py).forEach(function (key) {
      if (key === "communes") {
        Object.keys(py.communes).forEach(function (ck) {
          var a = js.communes[ck], b = py.communes[ck];
          for (var i = 0; i < b.length; i++) {
            if (!close(a[i], b[i], ck.indexOf("losing") === 0 ? "people" : "count")) {
              check.ok = false; check.failed.push(label + ": " + ck + " " + COMMUNES[i].code);
              return;
            }
          }
        });
      } else if (key in js && !close(js[key], py[key], kindOf(key))) {
        check.ok = false; check.failed.push(label + ": " + key);
      }
    });
  }
  function refState(ref) {
    if (ref.key === "today") { return todayState(); }
    return {actions: ref.actions.slice(),
            targets: ref.targets.map(function (c, i) { return c || ST[i].commune; }), sites: []};
  }
  function refLabel(ref) {
    if (ref.key === "today") { return document.createTextNode(t("today")); }
    return ref.label ? document.createTextNode(t(ref.label.pattern, {n: ref.label.n}))
                     : dataNode(ref.name);
  }

  // --- map ------------------------------------------------------------------------------------
  var root = document.getElementById("gis-editor");
  var mapDiv = el("div", {id: "gis-map"});
  var panel = el("div", {id: "gis-panel"});
  root.appendChild(mapDiv);
  root.appendChild(panel);
  var map = L.map(mapDiv, {zoomControl: false, preferCanvas: false, attributionControl: false,
                           zoomSnap: 0.25});
  var zoomControl = null;  // made by renderStatic, with its button titles in the language
  window.gisEditorMap = map;
  var b = D.bounds;
  map.fitBounds([[b[0][0], b[0][1]], [b[1][0], b[1][1]]]);  // a view before any layer
  L.control.scale({imperial: false}).addTo(map);
  var canvas = L.canvas({padding: 0.2});
  var STYLE = {
    keep: {radius: 6, color: "#0b4d24", weight: 1.5, fillColor: "#1a9641", fillOpacity: 0.95,
           dashArray: null},
    branch: {radius: 5, color: "#7a4b00", weight: 1.5, fillColor: "#fdae61", fillOpacity: 0.95,
             dashArray: null},
    close: {radius: 4, color: "#666666", weight: 1.5, fillColor: "#ffffff", fillOpacity: 0.9,
            dashArray: "2,2"},
    "new-main": {radius: 8, color: "#3f007d", weight: 3, fillColor: "#9e66d4", fillOpacity: 1},
    "new-branch": {radius: 6, color: "#3f007d", weight: 3, fillColor: "#ffffff", fillOpacity: 1},
    hospital: {radius: 5, color: "#67000d", weight: 1, fillColor: "#d7191c", fillOpacity: 0.9}
  };
  var communeLayer = L.geoJSON({type: "FeatureCollection", features: COMMUNES.filter(
    function (c) { return c.geometry; }).map(function (c) {
      return {type: "Feature", geometry: c.geometry, properties: {code: c.code}};
    })}, {style: {color: "#5b5b5b", weight: 1, fillColor: "#f3efe0", fillOpacity: 1},
          onEachFeature: function (feature, layer) {
            layer.bindTooltip(function () {
              var c = COMMUNES[comIndex[feature.properties.code]];
              return el("span", {translate: "no", text: c.name + " (" + c.code + ")"});
            }, {sticky: true});
          }}).addTo(map);
  // drawn only when not empty (Leaflet's canvas renderer cannot bound an empty polygon)
  // (the outline keeps a 500 m cell visible when the whole province is in view)
  var losingLayer = L.polygon([], {renderer: canvas, color: "#d7301f", weight: 2,
                                   fillColor: "#ef3b2c", fillOpacity: 0.75,
                                   interactive: false});
  var hospitalLayer = L.layerGroup().addTo(map);
  D.hospitals.forEach(function (h) {
    L.circleMarker([h.lat, h.lon], Object.assign({}, STYLE.hospital, {className: "gis-hosp"}))
      .bindTooltip(function () {
        return el("span", {}, [dataNode(h.name), document.createTextNode(" — " + t("Hospital"))]);
      }).addTo(hospitalLayer);
  });
  var stationMarkers = ST.map(function (s, i) {
    var m = L.circleMarker([s.lat, s.lon], Object.assign({bubblingMouseEvents: false,
                                                          className: "gis-st gis-st-" + i},
                                                         STYLE.keep));
    m.bindTooltip(function () { return stationLabel(i); });
    m.on("click", function () { onStationClick(i); });
    m.addTo(map);
    return m;
  });
  var siteLayer = L.layerGroup().addTo(map);
  map.on("click", function (e) { onMapClick(e.latlng); });

  function actionLabel(a) {
    return {keep: t("Main station"), branch: t("Branch point"), close: t("Closed")}[a];
  }
  function stationLabel(i) {
    var s = ST[i], c = COMMUNES[comIndex[state.targets[i]]];
    return el("div", {}, [el("b", {translate: "no", text: s.name}), el("br"),
                          el("span", {}, [dataNode(s.id),
                                          document.createTextNode(" · " + actionLabel(state.actions[i]) + " · "),
                                          dataNode(c ? c.name : state.targets[i])])]);
  }

  // --- user actions ---------------------------------------------------------------------------
  var NEXT = {keep: "branch", branch: "close", close: "keep"};
  function onStationClick(i) {
    change(function () { state.actions[i] = NEXT[state.actions[i]]; });
  }
  function mainCount(code) {
    var n = 0;
    for (var s = 0; s < NST; s++) {
      if (state.actions[s] === "keep" && state.targets[s] === code) { n++; }
    }
    state.sites.forEach(function (x) { if (x.target === code && x.role !== "branch") { n++; } });
    return n;
  }
  var COS_LAT = Math.cos(((b[0][0] + b[1][0]) / 2) * Math.PI / 180);
  function nearestUnit(lat, lon) {
    var best = -1, bestD = Infinity, la = lat * 1e7, lo = lon * 1e7;
    for (var i = 0; i < N; i++) {
      var dx = (LON7[i] - lo) * COS_LAT, dy = LAT7[i] - la, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return {unit: best, metres: Math.sqrt(bestD) * 1e-7 * 111320};
  }
  function newId() {
    var used = {};
    state.sites.forEach(function (x) { used[x.id] = true; });
    for (var n = 1; ; n++) {
      var id = "NEW-" + n;
      if (!facilityIds[id] && !used[id]) { return id; }
    }
  }
  function onMapClick(latlng) {
    if (!TR.new_sites) {
      message = {kind: "warn", lines: [msgLine("New stations are disabled: the travel times come from a road network, which this page cannot route on.")]};
      render();
      return;
    }
    var near = nearestUnit(latlng.lat, latlng.lng);
    if (near.unit < 0 || near.metres > 1.5 * D.cell_size_m) {
      message = {kind: "warn", lines: [msgLine("Outside the demand surface: click inside the province.")]};
      render();
      return;
    }
    var code = COMMUNES[COM[near.unit]].code;
    change(function () {
      var id = newId();
      state.sites.push({id: id, unit: near.unit, target: code,
                        role: mainCount(code) ? "branch" : "main"});
      message = {kind: "info", lines: [msgLine("New station {id} in {commune}",
                                         {id: id, commune: COMMUNES[COM[near.unit]].name})]};
    });
  }
  function onSiteClick(id) {
    change(function () {
      var k = state.sites.findIndex(function (x) { return x.id === id; });
      if (k < 0) { return; }
      if (state.sites[k].role === "main") { state.sites[k].role = "branch"; } else {
        state.sites.splice(k, 1);
      }
    });
  }
  function startFrom(ref) {
    change(function () { state = refState(ref); });
  }

  // --- CSV ------------------------------------------------------------------------------------
  function csvField(v) {
    v = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]|^\s|\s$/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
  }
  function degText(e7) {
    var sign = e7 < 0 ? "-" : "", a = Math.abs(e7);
    var frac = String(a % 10000000);
    while (frac.length < 7) { frac = "0" + frac; }
    return sign + Math.floor(a / 10000000) + "." + frac;
  }
  function planCsv() {
    var rows = [["facility_id", "name", "action", "target_commune_code", "role", "lon", "lat"]];
    ST.forEach(function (s, i) {
      rows.push([s.id, s.name, state.actions[i], state.targets[i], "", "", ""]);
    });
    D.fixed_rows.forEach(function (r) { rows.push([r.id, "", r.action, r.target, "", "", ""]); });
    state.sites.forEach(function (x) {
      rows.push([x.id, "", "new", x.target, x.role, degText(LON7[x.unit]), degText(LAT7[x.unit])]);
    });
    return rows.map(function (r) { return r.map(csvField).join(","); }).join("\r\n") + "\r\n";
  }
  function exportCsv() {
    var name = "plan_editor_plan.csv";
    var blob = new Blob(["\ufeff" + planCsv()], {type: "text/csv;charset=utf-8"});
    var a = el("a", {href: URL.createObjectURL(blob), download: name});
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    message = {kind: "info", lines: [msgLine("Exported {file}.", {file: name})]};
    render();
  }
  function parseCsv(text) {
    var rows = [], row = [], field = "", i = 0, q = false;
    text = text.replace(/^\ufeff/, "");
    while (i < text.length) {
      var ch = text[i];
      if (q) {
        if (ch === '"') {
          if (text[i + 1] === '"') { field += '"'; i++; } else { q = false; }
        } else { field += ch; }
      } else if (ch === '"') { q = true; } else if (ch === ",") {
        row.push(field); field = "";
      } else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") { i++; }
        row.push(field); rows.push(row); row = []; field = "";
      } else { field += ch; }
      i++;
    }
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rows.filter(function (r) { return r.some(function (v) { return v.trim() !== ""; }); });
  }
  function importCsv(text, file) {
    var rows = parseCsv(text), problems = [], notes = [];
    if (!rows.length) {
      problems.push(msgLine("the file is empty"));
    } else {
      var head = rows[0].map(function (h) { return h.trim().toLowerCase(); });
      var col = {};
      head.forEach(function (h, i) { col[h] = i; });
      ["facility_id", "action", "target_commune_code"].forEach(function (c) {
        if (!(c in col)) { problems.push(msgLine("missing column {col}", {col: c})); }
      });
    }
    var next = todayState(), seen = {}, sites = [];
    if (!problems.length) {
      var get = function (r, c) { return c in col && r[col[c]] !== undefined ? r[col[c]].trim() : ""; };
      for (var r = 1; r < rows.length; r++) {
        var row = rows[r], line = r + 1, id = get(row, "facility_id");
        var action = get(row, "action").toLowerCase(), code = get(row, "target_commune_code");
        if (/^\d+(\.0+)?$/.test(code)) { code = String(parseInt(code, 10)).padStart(5, "0"); }
        if (seen[id]) { problems.push(msgLine("row {row}: facility id {id} is listed twice", {row: line, id: id})); continue; }
        seen[id] = true;
        if (["keep", "branch", "close", "new"].indexOf(action) < 0) {
          problems.push(msgLine("row {row}: unknown action {action}: use keep, branch, close or new", {row: line, action: action}));
          continue;
        }
        if (action !== "close" && !(code in comIndex)) {
          problems.push(msgLine("row {row}: unknown commune code {code}", {row: line, code: code}));
          continue;
        }
        if (action === "new") {
          if (facilityIds[id]) {
            problems.push(msgLine("row {row}: new station id {id} is the id of an existing facility", {row: line, id: id}));
            continue;
          }
          var lon = parseFloat(get(row, "lon")), lat = parseFloat(get(row, "lat"));
          if (!isFinite(lon) || !isFinite(lat)) {
            problems.push(msgLine("row {row}: new station {id} needs lon and lat (degrees)", {row: line, id: id}));
            continue;
          }
          var near = nearestUnit(lat, lon);
          if (near.unit < 0 || near.metres > 1.5 * D.cell_size_m) {
            problems.push(msgLine("row {row}: new station {id} is outside the demand surface", {row: line, id: id}));
            continue;
          }
          if (degText(LON7[near.unit]) !== get(row, "lon") || degText(LAT7[near.unit]) !== get(row, "lat")) {
            notes.push(msgLine("new station {id} moved {m} m to the nearest demand cell", {id: id, m: Math.round(near.metres)}));
          }
          var role = get(row, "role").toLowerCase() === "branch" ? "branch" : "main";
          sites.push({id: id, unit: near.unit, target: code, role: role});
          continue;
        }
        if (fixedIds[id]) { continue; }
        if (!(id in stIndex)) {
          problems.push(msgLine("row {row}: unknown facility id {id}: not a station of this province", {row: line, id: id}));
          continue;
        }
        next.actions[stIndex[id]] = action;
        if (code in comIndex) { next.targets[stIndex[id]] = code; }
      }
      var missing = ST.filter(function (s) { return !seen[s.id]; }).map(function (s) { return s.id; });
      if (missing.length) {
        problems.push(msgLine("{n} stations have no action: {list}", {n: missing.length, list: missing.slice(0, 10).join(", ") + (missing.length > 10 ? " …" : "")}));
      }
    }
    if (problems.length) {
      message = {kind: "error", lines: [msgLine("Import refused, {n} problems in {file}:", {n: problems.length, file: file})].concat(problems)};
      render();
      return false;
    }
    next.sites = sites;
    change(function () {
      state = next;
      message = {kind: "info", lines: [msgLine("Imported {file}: {stations} stations, {sites} new stations.", {file: file, stations: NST, sites: sites.length})].concat(notes)};
    });
    return true;
  }

  // --- panel ----------------------------------------------------------------------------------
  var REF_FIGS = [];
  function rowsSpec() {
    var out = [["service_points", t("Service points (stations and branch points)"), "int"],
               ["main_stations", t("Main stations"), "int"]];
    THR.forEach(function (h) { out.push(["covered_" + h + "min", t("People within {min} min of a station", {min: fmtNum(h)}), "int"]); });
    out.push(["mean_time_min", t("Mean travel time to the nearest station (min)"), "dec"]);
    out.push(["p90_time_min", t("90th percentile of travel time (min)"), "dec"]);
    out.push(["losing_" + MID + "min", t("People losing {min}-min access (vs today)", {min: fmtNum(MID)}), "int"]);
    out.push(["population_beyond_cutoff", t("People beyond the {min}-min cut-off", {min: fmtNum(TR.cutoff_min)}), "int"]);
    out.push(["doctors_needed", t("Doctors needed ({n} per main station)", {n: fmtNum(D.doctors_per_station)}), "int"]);
    return out;
  }
  function setCell(td, v, kind, approx) {
    var text = (approx ? "≈ " : "") + (kind === "dec" ? fmtDec(v, 1) : fmtInt(v));
    if (td.textContent !== text) { td.textContent = text; }
    td.setAttribute("data-v", v === null || v === undefined ? "" : String(v));
  }
  function listText(xs) { return xs.slice(0, 8).join(", ") + (xs.length > 8 ? " …" : ""); }

  // The panel: a skeleton built once per language (renderStatic), whose changing parts a
  // click updates in place (render): fewer nodes to style and lay out per click.
  var P = {};
  function renderStatic() {
    panel.textContent = "";
    P = {rows: {}, communeRows: [], order: null};
    if (zoomControl) { zoomControl.remove(); }
    zoomControl = L.control.zoom({zoomInTitle: t("Zoom in"), zoomOutTitle: t("Zoom out")}).addTo(map);
    var header = el("div", {cls: "gis-head"}, [el("h1", {}, [partsNode(texts().title)])]);
    var langBox = el("div", {cls: "gis-lang"}, [el("span", {text: t("Language") + ": "})]);
    PAGE.languages.forEach(function (l) {
      // the languages' codes, the same in every language
      var bt = el("button", {text: l.toUpperCase(), "data-lang": l, lang: l, translate: "no",
                             cls: l === lang ? "on" : ""});
      bt.addEventListener("click", function () { setLang(l); });
      langBox.appendChild(bt);
    });
    header.appendChild(langBox);
    panel.appendChild(header);
    panel.appendChild(el("p", {cls: "gis-note", text: t("No basemap: this file works offline, so the commune boundaries are drawn as the base.")}));
    panel.appendChild(el("details", {}, [el("summary", {text: t("How to edit")}), el("p", {text: t("Click a station to cycle it: main station → branch point → closed → main station. Click elsewhere on the map to add a new station at the nearest demand cell (its commune is the one it falls in); click a new station to make it a branch point, and again to remove it.")})]));
    var tools = el("div", {cls: "gis-tools"});
    P.undo = el("button", {id: "gis-undo"});
    P.undo.addEventListener("click", undo);
    tools.appendChild(P.undo);
    var exp = el("button", {id: "gis-export", text: t("Export plan (CSV)")});
    exp.addEventListener("click", exportCsv);
    tools.appendChild(exp);
    var imp = el("label", {cls: "gis-file", text: t("Import plan (CSV)")});
    var input = el("input", {type: "file", accept: ".csv,text/csv", id: "gis-import"});
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) { return; }
      var reader = new FileReader();
      reader.onload = function () { importCsv(String(reader.result), file.name); input.value = ""; };
      reader.readAsText(file, "utf-8");
    });
    imp.appendChild(input);
    tools.appendChild(imp);
    panel.appendChild(tools);
    var starts = el("div", {cls: "gis-tools"}, [el("span", {text: t("Start from:") + " "})]);
    REFS.forEach(function (ref) {
      var bt = el("button", {"data-ref": ref.key}, [refLabel(ref)]);
      bt.addEventListener("click", function () { startFrom(ref); });
      starts.appendChild(bt);
    });
    panel.appendChild(starts);
    P.message = el("div", {id: "gis-message"});
    P.validity = el("div", {id: "gis-validity"});
    P.exact = el("div", {id: "gis-exact"});
    panel.appendChild(P.message);
    panel.appendChild(P.validity);
    panel.appendChild(P.exact);
    var table = el("table", {id: "gis-figures", cls: "gis-table"});
    var head = el("tr", {}, [el("th", {text: t("Figure")}), el("th", {text: t("This plan"), cls: "gis-this"})]);
    REFS.forEach(function (ref) { head.appendChild(el("th", {}, [refLabel(ref)])); });
    table.appendChild(head);
    rowsSpec().forEach(function (r) {
      var mine = el("td", {cls: "gis-this"});
      var tr = el("tr", {"data-key": r[0]}, [el("th", {text: r[1]}), mine]);
      REFS.forEach(function (ref) {
        var td = el("td");
        setCell(td, ref.figures[r[0]], r[2], false);
        tr.appendChild(td);
      });
      P.rows[r[0]] = {td: mine, kind: r[2]};
      table.appendChild(tr);
    });
    panel.appendChild(table);
    panel.appendChild(el("div", {id: "gis-check", cls: "gis-msg " + (check.ok ? "gis-ok" : "gis-error"),
                                 text: check.ok ? t("Checked: the figures computed in this page for today and the official plans equal those of gis (plans.evaluate).") : null},
                        check.ok ? [] : [tn("Check failed: the figures computed in this page differ from those of gis for: {list}", {list: check.failed.slice(0, 5).join("; ")})]));
    var refLose = REFS[REFS.length - 1];
    panel.appendChild(el("h2", {text: t("Per commune")}));
    P.communes = el("table", {id: "gis-communes", cls: "gis-table"});
    P.communes.appendChild(el("tr", {}, [el("th", {text: t("Commune")}),
                                 el("th", {text: t("Main stations: plan / today")}),
                                 el("th", {text: t("Service points: plan / today")}),
                                 el("th", {}, [tn("Losing {min}-min access: plan / {ref}", {min: MID, ref: refLabel(refLose)})])]));
    COMMUNES.forEach(function (c, i) {
      var tds = [el("td"), el("td"), el("td")];
      var tr = el("tr", {"data-code": c.code}, [el("th", {translate: "no", text: c.name})].concat(tds));
      P.communeRows.push({tr: tr, tds: tds});
    });
    panel.appendChild(P.communes);
    var legend = el("div", {cls: "gis-legend"}, [el("h2", {text: t("Legend")})]);
    [["keep", t("Main station")], ["branch", t("Branch point")], ["close", t("Closed")],
     ["new-main", t("New station")], ["new-branch", t("New branch point")], ["hospital", t("Hospital")]].forEach(function (x) {
      var st = STYLE[x[0]];
      legend.appendChild(el("div", {cls: "gis-key"}, [el("span", {cls: "gis-dot", style: "background:" + st.fillColor + ";border-color:" + st.color}), el("span", {text: x[1]})]));
    });
    legend.appendChild(el("div", {cls: "gis-key"}, [el("span", {cls: "gis-sq"}), el("span", {text: t("Demand cells losing {min}-min access", {min: MID})})]));
    legend.appendChild(el("div", {cls: "gis-key"}, [el("span", {cls: "gis-com"}), el("span", {text: t("Commune boundaries (post-2025)")})]));
    panel.appendChild(legend);
    var notes = [TR.times === "formula" ? tn("Travel times: straight line × {detour} at {speed} km/h, up to {cutoff} min (an estimate).", {detour: TR.detour_factor, speed: TR.speed_kmh, cutoff: TR.cutoff_min})
                                        : tn("Travel times: {model} cost table, up to {cutoff} min.", {model: TR.model, cutoff: TR.cutoff_min})];
    if (D.stations_estimated) { notes.push(tn("Station sites: {n} of {total} are estimates ({source}).", {n: D.stations_estimated, total: NST, source: partsNode(texts().site_source)})); }
    var src = el("details", {cls: "gis-sources"}, [el("summary", {text: t("Data sources and estimates")})]);
    var ul = el("ul");
    texts().estimates.concat(texts().sources).forEach(function (x) { notes.push(partsNode(x)); });
    notes.forEach(function (x) { ul.appendChild(el("li", {}, [x])); });
    src.appendChild(ul);
    panel.appendChild(src);
    P.status = el("div", {id: "gis-status", cls: "gis-status", "data-ready": "1"});
    panel.appendChild(P.status);
  }

  function setLang(l) {
    lang = l;
    document.documentElement.lang = l;
    document.title = texts().title.map(function (p) { return p[0]; }).join("");
    renderStatic();
    render();
  }

  function render() {
    var f = last.figures, approx = f.inexact_cells > 0;
    P.undo.textContent = t("Undo") + " (" + undoStack.length + ")";
    P.message.textContent = "";
    P.message.className = message ? "gis-msg gis-" + message.kind : "";
    if (message) {
      message.lines.forEach(function (x, i) { P.message.appendChild(el(i ? "li" : "div", {}, [tn(x.msg, x.args)])); });
    }
    var missing = [], several = [];
    COMMUNES.forEach(function (c, i) {
      if (!f.communes.main_stations[i]) { missing.push(c.name); }
      if (f.communes.main_stations[i] > 1) { several.push(c.name); }
    });
    var valid = !missing.length && !several.length && !last.orphans.length;
    var vbox = P.validity;
    vbox.textContent = "";
    vbox.className = "gis-msg " + (valid ? "gis-ok" : "gis-warn");
    if (valid) { vbox.textContent = t("A valid plan: one main station in every commune."); } else {
      vbox.appendChild(el("div", {text: t("Not a valid plan yet (gis plan evaluate will refuse it):")}));
      if (missing.length) { vbox.appendChild(el("li", {}, [tn("{n} communes have no main station: {list}", {n: missing.length, list: listText(missing)})])); }
      if (several.length) { vbox.appendChild(el("li", {}, [tn("{n} communes have several main stations: {list}", {n: several.length, list: listText(several)})])); }
      if (last.orphans.length) { vbox.appendChild(el("li", {}, [tn("{n} branch points serve a commune without a main station: {list}", {n: last.orphans.length, list: listText(last.orphans)})])); }
    }
    var ebox = P.exact;
    ebox.className = "gis-msg " + (approx ? "gis-warn" : "gis-ok");
    ebox.textContent = approx ? t("Not exact for {cells} demand cells ({people} people): all of their {k} nearest stations are closed and no new station is nearer. Their travel time is taken as the {k}-th nearest station's time, a lower bound (the true time is at least this); figures that depend on them are marked ≈.", {cells: f.inexact_cells, people: Math.round(f.inexact_population), k: K})
                              : t("Exact: every demand cell's nearest open station is among the {k} nearest stored for it (k = {k}: exact for every plan that keeps at least one current station open in each commune).", {k: K});
    if (!D.exact) {
      ebox.appendChild(el("div", {text: t("k = {k} is below the {needed} needed to guarantee exactness for every plan with a main station in each commune ({cells} cells could be affected); the page warns when a plan reaches them.", {k: K, needed: D.k_needed, cells: D.cells_not_guaranteed})}));
    }
    Object.keys(P.rows).forEach(function (key) {
      var dependsOnTime = key !== "service_points" && key !== "main_stations" && key !== "doctors_needed";
      setCell(P.rows[key].td, f[key], P.rows[key].kind, approx && dependsOnTime);
    });
    var refLose = REFS[REFS.length - 1], today = REFS[0].figures.communes, lk = "losing_" + MID + "min";
    var refL = refLose.figures.communes[lk] || [];
    P.communeRows.forEach(function (row, i) {
      var ms = f.communes.main_stations[i], sp = f.communes.service_points[i], lo = f.communes[lk][i];
      var texts = [fmtInt(ms) + " / " + fmtInt(today.main_stations[i]),
                   fmtInt(sp) + " / " + fmtInt(today.service_points[i]),
                   fmtInt(lo) + " / " + fmtInt(refL[i])];
      var values = [ms, sp, lo];
      row.tds.forEach(function (td, j) {
        if (td.textContent !== texts[j]) { td.textContent = texts[j]; }
        td.setAttribute("data-v", String(values[j]));
      });
      var cls = ms === 1 ? "" : "gis-bad";
      if (row.tr.className !== cls) { row.tr.className = cls; }
    });
    // communes losing most first, then by name; rows move only when the order changes
    var order = COMMUNES.map(function (c, i) { return i; });
    order.sort(function (a, c) {
      return (f.communes[lk][c] - f.communes[lk][a]) || COMMUNES[a].name.localeCompare(COMMUNES[c].name);
    });
    var key = order.join(",");
    if (key !== P.order) {
      order.forEach(function (i) { P.communes.appendChild(P.communeRows[i].tr); });
      P.order = key;
    }
    P.status.setAttribute("data-ms", lastMs.toFixed(2));
    P.status.textContent = t("ready · {ms} ms", {ms: fmtDec(lastMs, 1)});
  }

  var drawn = ST.map(function () { return "keep"; });  // the style each marker has
  function drawMap() {
    stationMarkers.forEach(function (m, i) {
      if (drawn[i] === state.actions[i]) { return; }
      m.setStyle(STYLE[state.actions[i]]);
      drawn[i] = state.actions[i];
    });
    siteLayer.clearLayers();
    state.sites.forEach(function (x) {
      var m = L.circleMarker([LAT7[x.unit] / 1e7, LON7[x.unit] / 1e7],
                             Object.assign({bubblingMouseEvents: false, className: "gis-site gis-site-" + x.id},
                                           STYLE[x.role === "branch" ? "new-branch" : "new-main"]));
      m.bindTooltip(function () {
        var c = COMMUNES[comIndex[x.target]];
        return el("div", {}, [el("b", {translate: "no", text: x.id}), el("br"),
                              el("span", {}, [document.createTextNode((x.role === "branch" ? t("New branch point") : t("New station")) + " · "),
                                              dataNode(c.name)])]);
      });
      m.on("click", function () { onSiteClick(x.id); });
      m.addTo(siteLayer);
    });
    var half = D.cell_size_m / 2 / 111320;
    if (!last.losing.length) { losingLayer.remove(); return; }
    losingLayer.setLatLngs(last.losing.map(function (i) {
      var la = LAT7[i] / 1e7, lo = LON7[i] / 1e7, hl = half / Math.cos(la * Math.PI / 180);
      return [[[la - half, lo - hl], [la - half, lo + hl], [la + half, lo + hl], [la + half, lo - hl]]];
    }));
    if (!map.hasLayer(losingLayer)) { losingLayer.addTo(map); }
  }

  var lastParts = {};
  function rescore() {
    var t0 = performance.now();
    last = score(state.actions, state.targets, state.sites);
    var t1 = performance.now();
    drawMap();
    var t2 = performance.now();
    render();
    var t3 = performance.now();
    lastMs = t3 - t0;
    lastParts = {score: t1 - t0, map: t2 - t1, panel: t3 - t2};
    P.status.setAttribute("data-ms", lastMs.toFixed(2));
    P.status.textContent = t("ready · {ms} ms", {ms: fmtDec(lastMs, 1)});
  }

  // today first (the baseline of "losing access"), then the references, checked against gis
  BASE_T = unitTimes(todayState().actions, []).T.slice();
  REFS.forEach(function (ref) {
    var s = refState(ref);
    REF_FIGS.push(score(s.actions, s.targets, s.sites).figures);
    compareFigures(REF_FIGS[REF_FIGS.length - 1], ref.figures, ref.name);
  });
  renderStatic();
  rescore();

  // for scripts and tests: the same handlers the clicks call
  window.gisEditor = {
    clickStation: onStationClick, clickSite: onSiteClick,
    clickMap: function (lat, lon) { onMapClick(L.latLng(lat, lon)); },
    undo: undo, planCsv: planCsv, importCsv: importCsv, startFrom: function (key) {
      startFrom(REFS.filter(function (r) { return r.key === key; })[0]);
    },
    figures: function () { return last.figures; }, referenceFigures: function () { return REF_FIGS; },
    check: function () { return check; }, state: function () { return copyState(state); },
    setLang: setLang, lastMs: function () { return lastMs; },
    lastParts: function () { return lastParts; },
    unitTimes: function () { return last.T; }, nearTimes: function () { return NT; },
    siteTimes: siteTimes
  };
})();
