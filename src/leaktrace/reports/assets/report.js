/* leaktrace HTML report: icicle graphs, leak-site table and heap timeline.
 * Written for this project; no libraries, no network. The data is the JSON in
 * <script id="lt-data">, built by leaktrace/reporters/html.py (its shape is
 * described there). */
(function () {
  "use strict";

  var D = JSON.parse(document.getElementById("lt-data").textContent);
  var ROW = 17;
  var KIND_PYTHON = 0, KIND_NATIVE = 1, KIND_MARKER = 2;
  var KIND_NAMES = ["Python", "native", "marker"];

  // ---- helpers ----

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "cls") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // As the text report writes sizes (binary units: 1 KiB = 1024 bytes), digit for
  // digit: Python rounds an exact tie (1.25 KiB) to even where toFixed rounds it up.
  function fmtBytes(n) {
    var units = ["B", "KiB", "MiB", "GiB"];
    var x = Math.abs(n), i = 0;
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
    var digits = i === 0 ? 0 : 1, halves = x * (i === 0 ? 2 : 4), s;
    if (Number.isInteger(halves) && halves % 2 === 1) {  // exactly halfway in the last digit
      var t = Math.floor(x * Math.pow(10, digits));
      s = ((t % 2 ? t + 1 : t) / Math.pow(10, digits)).toFixed(digits);
    } else {
      s = x.toFixed(digits);
    }
    return (n < 0 ? "-" : "") + s + " " + units[i];
  }

  function fmtInt(n) { return Number(n).toLocaleString("en-US"); }

  function pct(part, whole) { return whole ? (100 * part / whole).toFixed(1) + "%" : "0%"; }

  function frameName(fid) { return fid < 0 ? "all" : D.frames[fid][0]; }

  function frameWhere(fid) {
    if (fid < 0) return "";
    var f = D.frames[fid];
    if (!f[1]) return "";
    return f[1] + (f[2] > 0 ? ":" + f[2] : "");
  }

  function frameKind(fid) { return fid < 0 ? KIND_MARKER : D.frames[fid][3]; }

  function hash(text) {
    var h = 0;
    for (var i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
    return Math.abs(h);
  }

  function frameColor(fid) {
    var kind = frameKind(fid);
    if (kind === KIND_MARKER) return "#d9d6d0";
    var h = hash(D.frames[fid][1] + "\u0000" + D.frames[fid][0]);
    if (kind === KIND_NATIVE) return "hsl(" + (190 + h % 30) + ",55%," + (68 + h % 12) + "%)";
    return "hsl(" + (8 + h % 42) + ",78%," + (62 + h % 14) + "%)";
  }

  // ---- the trace tree ----

  var T = D.tree;
  var N = T.parent.length;
  var children = [];
  for (var i = 0; i < N; i++) children.push([]);
  for (i = 1; i < N; i++) children[T.parent[i]].push(i);

  function inclusive(self) {
    var total = self.slice();
    for (var j = N - 1; j > 0; j--) total[T.parent[j]] += total[j];
    return total;
  }

  var metrics = {};
  D.views.forEach(function (view) {
    metrics[view.key] = {
      label: view.label,
      self: T[view.key],
      total: inclusive(T[view.key]),
      selfCount: T[view.key + "Count"],
      totalCount: inclusive(T[view.key + "Count"]),
    };
  });

  var state = { metric: D.views[0].key, focus: 0, search: "" };

  function ancestors(node) {
    var chain = [];
    while (node !== 0) { node = T.parent[node]; chain.unshift(node); }
    return chain;
  }

  function matches(node) {
    if (!state.search || node === 0) return false;
    var fid = T.frame[node];
    var q = state.search.toLowerCase();
    return frameName(fid).toLowerCase().indexOf(q) >= 0 ||
      frameWhere(fid).toLowerCase().indexOf(q) >= 0;
  }

  // ---- the verdict: what the growth analysis concluded, before anything else ----

  function verdict() {
    var box = el("div", { id: "lt-verdict", cls: "lt-verdict" });
    var counts = {}, order = [], top = null;
    D.sites.forEach(function (x) {
      if (!x.growth || x.growth["class"] === "insufficient") return;
      var k = x.growth["class"];
      if (!(k in counts)) { counts[k] = 0; order.push(k); }
      counts[k]++;
      if (top === null && k === D.leakingClass) top = x;
    });
    if (!order.length) {
      box.classList.add("lt-verdict-none");
      box.appendChild(el("b", { text: "No growth verdict" }));
      box.appendChild(document.createTextNode(" " + D.noVerdict));
      return box;
    }
    var summary = order.map(function (k) { return counts[k] + " " + k; }).join(", ");
    if (top) {
      box.classList.add("lt-verdict-leaking");
      box.appendChild(el("b", { text: counts[D.leakingClass] + " " + D.leakingClass + " site" + (counts[D.leakingClass] === 1 ? "" : "s") }));
      box.appendChild(document.createTextNode(" over " + D.summary.snapshots + " snapshots (" + summary + "). Fastest: " +
        siteName(top) + " at " + siteWhere(top) + ", " + growthText(top.growth) + "."));
    } else {
      box.appendChild(el("b", { text: "No site is " + D.leakingClass }));
      box.appendChild(document.createTextNode(" over " + D.summary.snapshots + " snapshots (" + summary + ")."));
    }
    return box;
  }

  // ---- page skeleton ----

  var app = document.getElementById("app");
  var s = D.summary;
  app.appendChild(el("h1", { text: "leaktrace report" }));
  app.appendChild(el("p", { cls: "lt-sub", text: D.command || D.capture }));
  if (D.partial) app.appendChild(el("div", { cls: "lt-banner", id: "lt-partial", text: D.partial.charAt(0).toUpperCase() + D.partial.slice(1) }));
  app.appendChild(verdict());

  function card(value, label) { return el("div", { cls: "lt-card" }, [el("b", { text: value }), el("span", { text: label })]); }
  app.appendChild(el("div", { cls: "lt-cards" }, [
    card(fmtBytes(s.leaked_bytes), "alive at exit (shown)"),
    card(fmtBytes(s.peak_bytes), "peak tracked heap"),
    card(fmtBytes(s.total_allocated_bytes), "allocated in total"),
    card(fmtInt(s.total_allocations), "allocations"),
    card(s.duration_s === null ? "?" : s.duration_s.toFixed(2) + " s", "tracked time"),
    card(String(s.snapshots), "snapshots"),
    card(s.python_version || "?", "Python"),
  ]));

  // ---- flame graph ----

  app.appendChild(el("h2", { text: "Memory by stack" }));
  var toolbar = el("div", { cls: "lt-toolbar" });
  var viewButtons = D.views.map(function (view) {
    var b = el("button", { text: view.label, "data-metric": view.key, type: "button" });
    b.addEventListener("click", function () { state.metric = view.key; state.focus = 0; renderFlame(); });
    toolbar.appendChild(b);
    return b;
  });
  var search = el("input", { id: "lt-search", type: "search", placeholder: "search function or file" });
  var reset = el("button", { id: "lt-reset", type: "button", text: "Reset zoom" });
  var status = el("span", { cls: "lt-status", id: "lt-search-status" });
  toolbar.appendChild(search);
  toolbar.appendChild(reset);
  toolbar.appendChild(status);
  app.appendChild(toolbar);
  var crumbs = el("div", { cls: "lt-crumbs", id: "lt-crumbs" });
  app.appendChild(crumbs);
  var flame = el("div", { id: "lt-flame" });
  app.appendChild(flame);
  app.appendChild(el("div", { cls: "lt-legend" }, [
    el("span", {}, [el("span", { cls: "lt-swatch", style: "background:hsl(25,78%,66%)" }), document.createTextNode("Python frame")]),
    el("span", {}, [el("span", { cls: "lt-swatch", style: "background:hsl(200,55%,72%);border-left:4px solid #2a7fb8" }), document.createTextNode("native frame (italic)")]),
    el("span", {}, [el("span", { cls: "lt-swatch", style: "background:#f0e442" }), document.createTextNode("search match")]),
    el("span", { text: "Click a frame to zoom, an upper frame to zoom out. Widths are bytes." }),
  ]));
  var tip = el("div", { id: "lt-tip" });
  document.body.appendChild(tip);

  reset.addEventListener("click", function () { state.focus = 0; renderFlame(); });
  search.addEventListener("input", function () { state.search = search.value.trim(); renderFlame(); });

  function addFrame(node, x, w, depth, extraClass) {
    var fid = node === 0 ? -1 : T.frame[node];
    var kind = frameKind(fid);
    var cls = "lt-frame";
    if (kind === KIND_NATIVE) cls += " lt-native";
    if (kind === KIND_MARKER && node !== 0) cls += " lt-marker";
    if (extraClass) cls += " " + extraClass;
    if (matches(node)) cls += " lt-match";
    var div = el("div", { cls: cls, "data-node": node, "data-kind": KIND_NAMES[kind] });
    div.style.left = x + "px";
    div.style.width = Math.max(w, 1) + "px";
    div.style.top = depth * ROW + "px";
    div.style.background = frameColor(fid);
    if (w > 30) div.textContent = frameName(fid);
    flame.appendChild(div);
  }

  function renderFlame() {
    var m = metrics[state.metric];
    viewButtons.forEach(function (b) { b.classList.toggle("lt-active", b.getAttribute("data-metric") === state.metric); });
    flame.textContent = "";
    var width = flame.clientWidth || 1000;
    var chain = ancestors(state.focus);
    chain.forEach(function (node, depth) { addFrame(node, 0, width, depth, "lt-ancestor"); });
    var maxDepth = chain.length;
    function layout(node, x, w, depth) {
      addFrame(node, x, w, depth, node === state.focus ? "lt-focus" : "");
      if (depth > maxDepth) maxDepth = depth;
      var total = m.total[node];
      if (!total) return;
      var kids = children[node].filter(function (c) { return m.total[c] > 0; });
      kids.sort(function (a, b) { return m.total[b] - m.total[a]; });
      var cx = x;
      kids.forEach(function (c) {
        var cw = w * m.total[c] / total;
        if (cw >= 1) layout(c, cx, cw, depth + 1);
        cx += cw;
      });
    }
    layout(state.focus, 0, width, chain.length);
    flame.style.height = (maxDepth + 1) * ROW + "px";
    flame.setAttribute("data-focus", state.focus);
    flame.setAttribute("data-metric", state.metric);

    crumbs.textContent = "";
    chain.concat([state.focus]).forEach(function (node, k) {
      if (k) crumbs.appendChild(document.createTextNode(" \u203A "));
      var a = el("a", { text: frameName(node === 0 ? -1 : T.frame[node]), "data-node": node });
      a.addEventListener("click", function () { state.focus = node; renderFlame(); });
      crumbs.appendChild(a);
    });

    if (!state.search) { status.textContent = ""; return; }
    var hits = 0, bytes = 0, covered = new Array(N);
    for (var n = 1; n < N; n++) {
      covered[n] = covered[T.parent[n]];
      if (m.total[n] && matches(n)) {
        hits++;
        if (!covered[n]) { bytes += m.total[n]; covered[n] = true; }
      }
    }
    status.textContent = hits + " matching frame" + (hits === 1 ? "" : "s") + ", " +
      fmtBytes(bytes) + " (" + pct(bytes, m.total[0]) + ")";
  }

  flame.addEventListener("click", function (e) {
    var node = e.target.getAttribute("data-node");
    if (node === null) return;
    state.focus = Number(node);
    renderFlame();
  });
  flame.addEventListener("mousemove", function (e) {
    var node = e.target.getAttribute("data-node");
    if (node === null) { tip.style.display = "none"; return; }
    node = Number(node);
    var m = metrics[state.metric];
    var fid = node === 0 ? -1 : T.frame[node];
    tip.textContent = "";
    tip.appendChild(el("div", { text: frameName(fid) + (fid >= 0 ? "  [" + KIND_NAMES[frameKind(fid)] + "]" : "") }));
    if (frameWhere(fid)) tip.appendChild(el("div", { text: frameWhere(fid) }));
    tip.appendChild(el("div", {
      text: fmtBytes(m.total[node]) + " in " + fmtInt(m.totalCount[node]) + " blocks (" +
        pct(m.total[node], m.total[0]) + "), self " + fmtBytes(m.self[node]),
    }));
    tip.style.display = "block";
    tip.style.left = Math.min(e.clientX + 14, window.innerWidth - 540) + "px";
    tip.style.top = e.clientY + 14 + "px";
  });
  flame.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  window.addEventListener("resize", renderFlame);

  // ---- leak sites ----

  app.appendChild(el("h2", { text: "Leak sites (alive at the last snapshot)" }));
  var hasGrowth = D.sites.some(function (x) { return !!x.growth; });
  var hasRetention = D.sites.some(function (x) { return x.retention && x.retention.length; });

  // growth is the JSON report's (docs/json-schema.md): a class, a rate per unit and
  // the site's live bytes at each snapshot (series); shown whatever the class is.
  function growthRate(g) { return g && typeof g.rate === "number" ? g.rate : -Infinity; }
  function growthText(g) {
    if (!g) return "";
    var why = g.explanation ? " (" + g.explanation + ")" : "";
    if (g["class"] === "insufficient") return g["class"] + why;
    var text = g["class"] + " " + (g.rate >= 0 ? "+" : "-") + fmtBytes(Math.abs(g.rate)) + "/" + g.unit;
    if (g.rate_per_second) text += ", " + (g.rate_per_second >= 0 ? "+" : "-") + fmtBytes(Math.abs(g.rate_per_second)) + "/s";
    return text + why;
  }
  function pathText(p) { return p.text + "  (retains " + fmtBytes(p.retained_bytes) + ")"; }
  function sparkline(g) {
    var series = g && g.series;
    if (!series || !series.length) return null;
    var w = 80, h = 18, lo = Math.min.apply(null, series), hi = Math.max.apply(null, series);
    var points = series.map(function (v, k) {
      var x = series.length > 1 ? k * (w - 2) / (series.length - 1) + 1 : w / 2;
      var y = hi > lo ? h - 2 - (h - 4) * (v - lo) / (hi - lo) : h / 2;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    var root = svg("svg", { "class": "lt-spark lt-spark-" + g["class"], width: w, height: h, "data-points": series.length });
    root.appendChild(svg("polyline", { points: points.join(" ") }));
    root.appendChild(svg("title", {}, "live bytes at each of " + series.length + " snapshots: " + fmtBytes(series[0]) + " to " + fmtBytes(series[series.length - 1])));
    return root;
  }
  // The innermost frame, and for a stack that starts in C the Python line that called it.
  function firstPython(x) {
    for (var k = 0; k < x.stack.length; k++) if (frameKind(x.stack[k]) === KIND_PYTHON) return x.stack[k];
    return -1;
  }
  function siteWhere(x) {
    if (!x.stack.length) return "";
    var fid = frameKind(x.stack[0]) === KIND_NATIVE ? firstPython(x) : x.stack[0];
    return fid < 0 ? frameWhere(x.stack[0]) : frameWhere(fid);
  }
  function siteName(x) {
    if (!x.stack.length) return "<no Python frame>";
    return frameName(x.stack[0]) + (frameKind(x.stack[0]) === KIND_NATIVE ? " [native]" : "");
  }

  var columns = [
    { key: "rank", label: "#", num: true, value: function (x) { return x.rank; }, text: String },
    { key: "bytes", label: "bytes", num: true, value: function (x) { return x.bytes; }, text: fmtBytes },
    { key: "count", label: "blocks", num: true, value: function (x) { return x.count; }, text: fmtInt },
    { key: "allocated_bytes", label: "allocated", num: true, value: function (x) { return x.allocated_bytes; }, text: fmtBytes },
    { key: "allocations", label: "allocations", num: true, value: function (x) { return x.allocations; }, text: fmtInt },
  ];
  if (hasGrowth) {
    columns.push({ key: "growth", label: "growth", num: true, value: function (x) { return growthRate(x.growth); }, text: function (v, x) { return growthText(x.growth); } });
    columns.push({ key: "trend", label: "trend", value: function (x) { return growthRate(x.growth); }, text: function () { return ""; }, node: function (x) { return sparkline(x.growth); } });
  }
  columns.push({ key: "function", label: "function", value: siteName, text: String });
  columns.push({ key: "where", label: "where", value: siteWhere, text: String });

  D.sites.forEach(function (x, k) { x.rank = k + 1; });
  var sort = { key: "bytes", dir: -1 };
  var table = el("table", { cls: "lt-sites", id: "lt-sites" });
  var headRow = el("tr");
  columns.forEach(function (c) {
    var th = el("th", { text: c.label, "data-key": c.key });
    th.addEventListener("click", function () {
      sort = { key: c.key, dir: sort.key === c.key ? -sort.dir : (c.num ? -1 : 1) };
      renderTable();
    });
    headRow.appendChild(th);
  });
  table.appendChild(el("thead", {}, [headRow]));
  var tbody = el("tbody");
  table.appendChild(tbody);
  app.appendChild(D.sites.length ? el("div", { cls: "lt-table-wrap" }, [table]) : el("p", { text: "No live memory left at the last snapshot." }));

  function detailRow(x) {
    var cell = el("td", { colspan: columns.length });
    x.stack.forEach(function (fid) {
      cell.appendChild(el("div", {}, [
        document.createTextNode(frameName(fid) + (frameKind(fid) === KIND_NATIVE ? " [native]" : "") + "  "),
        el("span", { cls: "lt-loc", text: frameWhere(fid) }),
      ]));
    });
    if (x.truncated) cell.appendChild(el("div", { cls: "lt-loc", text: "... deeper frames were not recorded" }));
    (x.retention || []).forEach(function (p) {
      cell.appendChild(el("div", { cls: "lt-path", text: "held by: " + pathText(p) }));
    });
    return el("tr", { cls: "lt-detail" }, [cell]);
  }

  function renderTable() {
    var col = columns.filter(function (c) { return c.key === sort.key; })[0];
    var rows = D.sites.slice();
    rows.sort(function (a, b) {
      var va = col.value(a), vb = col.value(b);
      var r = va < vb ? -1 : va > vb ? 1 : 0;
      return r * sort.dir || a.rank - b.rank;
    });
    headRow.childNodes.forEach(function (th) {
      th.className = th.getAttribute("data-key") === sort.key ? (sort.dir > 0 ? "lt-sorted-asc" : "lt-sorted-desc") : "";
    });
    tbody.textContent = "";
    rows.forEach(function (x) {
      var tr = el("tr", { cls: "lt-site-row", "data-rank": x.rank });
      columns.forEach(function (c) {
        var td = el("td", { cls: c.num ? "lt-num" : "", text: c.text(c.value(x), x) });
        var extra = c.node && c.node(x);
        if (extra) td.appendChild(extra);
        tr.appendChild(td);
      });
      tr.addEventListener("click", function () {
        var next = tr.nextSibling;
        if (next && next.className === "lt-detail") tbody.removeChild(next);
        else tbody.insertBefore(detailRow(x), next);
      });
      tbody.appendChild(tr);
    });
  }
  if (D.sitesNote) app.appendChild(el("p", { cls: "lt-sub", id: "lt-sites-note", text: D.sitesNote }));
  if (D.sitesOmitted) app.appendChild(el("p", { cls: "lt-sub", text: fmtInt(D.sitesOmitted) + " smaller sites are not listed (the JSON report has them all)." }));
  if (hasRetention) app.appendChild(el("p", { cls: "lt-sub", text: "Click a row for its stack and what holds it." }));
  else app.appendChild(el("p", { cls: "lt-sub", text: "Click a row for its stack." }));

  // ---- leak suspects and cyclic garbage (the text report's last sections) ----

  if (D.suspects.length) {
    app.appendChild(el("h2", { text: "Leak suspects (objects retaining the most of the memory above)" }));
    app.appendChild(el("ul", { cls: "lt-list", id: "lt-suspects" }, D.suspects.map(function (p) {
      return el("li", { text: fmtBytes(p[0]) + " retained by " + p[1] });
    })));
  }
  if (D.cycles.length) {
    app.appendChild(el("h2", { text: "Unreachable cyclic garbage (no root reaches it; alive only because the collector has not freed it)" }));
    app.appendChild(el("ul", { cls: "lt-list", id: "lt-cycles" }, D.cycles.map(function (c) {
      var li = el("li", { cls: "lt-cycle", text: fmtBytes(c.bytes) + " in " + fmtInt(c.objects) + " objects (" + fmtInt(c.clusters) + " alike): " + c.text });
      li.appendChild(el("ul", {}, c.places.map(function (p) {
        return el("li", { cls: "lt-loc", text: fmtBytes(p[0]) + " allocated at " + p[1] });
      })));
      return li;
    })));
  }

  // ---- timeline ----

  app.appendChild(el("h2", { text: "Tracked heap over time" }));
  var timeline = el("div", { id: "lt-timeline" });
  app.appendChild(timeline);

  function renderTimeline() {
    timeline.textContent = "";
    var pts = D.timeline; // [time_s, heap_bytes, rss_bytes|null, seq, kind, label]
    var width = Math.max(timeline.clientWidth || 900, 300), height = 220;
    var ml = 70, mr = 16, mt = 12, mb = 28;
    var hasRss = pts.some(function (p) { return p[2] !== null; });
    var tmax = Math.max(D.summary.duration_s || 0, pts[pts.length - 1][0]) || 1;
    var ymax = Math.max.apply(null, pts.map(function (p) { return Math.max(p[1], p[2] || 0); }).concat([D.summary.peak_bytes || 0, 1]));
    var X = function (t) { return ml + (width - ml - mr) * t / tmax; };
    var Y = function (b) { return mt + (height - mt - mb) * (1 - b / ymax); };
    var root = svg("svg", { width: width, height: height, role: "img", "aria-label": "tracked heap over time" });
    for (var k = 0; k <= 4; k++) {
      var b = ymax * k / 4;
      root.appendChild(svg("line", { "class": "lt-grid", x1: ml, x2: width - mr, y1: Y(b), y2: Y(b) }));
      root.appendChild(svg("text", { "class": "lt-tick", x: ml - 6, y: Y(b) + 4, "text-anchor": "end" }, fmtBytes(b)));
      var t = tmax * k / 4;
      root.appendChild(svg("text", { "class": "lt-tick", x: X(t), y: height - 8, "text-anchor": "middle" }, t.toFixed(2) + " s"));
    }
    root.appendChild(svg("line", { "class": "lt-axis", x1: ml, x2: ml, y1: mt, y2: height - mb }));
    root.appendChild(svg("line", { "class": "lt-axis", x1: ml, x2: width - mr, y1: height - mb, y2: height - mb }));
    function line(cls, index) {
      var d = pts.filter(function (p) { return p[index] !== null; })
        .map(function (p, j) { return (j ? "L" : "M") + X(p[0]).toFixed(1) + "," + Y(p[index]).toFixed(1); }).join("");
      if (pts.length > 1) root.appendChild(svg("path", { "class": cls, d: d }));
    }
    line("lt-heap", 1);
    if (hasRss) line("lt-rss", 2);
    pts.forEach(function (p) {
      var cls = "lt-marker-dot" + (p[4] === "mark" ? " lt-mark" : "") + (p[3] === D.peakSeq ? " lt-peak" : "");
      var c = svg("circle", { "class": cls, cx: X(p[0]), cy: Y(p[1]), r: p[4] === "interval" ? 3 : 5, "data-seq": p[3] });
      c.appendChild(svg("title", {}, "snapshot #" + p[3] + " (" + p[4] + (p[5] ? " \u201c" + p[5] + "\u201d" : "") + ") at " +
        p[0].toFixed(3) + " s: heap " + fmtBytes(p[1]) + (p[2] !== null ? ", RSS " + fmtBytes(p[2]) : "") +
        (p[3] === D.peakSeq ? " (highest heap of all snapshots)" : "")));
      root.appendChild(c);
    });
    timeline.appendChild(root);
    var legend = [el("span", {}, [el("span", { cls: "lt-swatch", style: "background:#b8431b" }), document.createTextNode("tracked heap at each snapshot")])];
    if (hasRss) legend.push(el("span", {}, [el("span", { cls: "lt-swatch", style: "background:#2a7fb8" }), document.createTextNode("RSS (dashed)")]));
    legend.push(el("span", { text: "Dots are snapshots: filled ones were taken by the program, the outlined black one has the highest heap. Peak tracked heap between snapshots: " + fmtBytes(D.summary.peak_bytes) + "." }));
    timeline.appendChild(el("div", { cls: "lt-legend" }, legend));
  }

  renderFlame();
  renderTable();
  renderTimeline();
})();
