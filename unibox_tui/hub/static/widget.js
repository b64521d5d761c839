/* Unibox chat widget (runs in the hub's iframe). Text from anyone is set with textContent,
   never innerHTML. The hub's database is the truth: "poke" events say "pull", and every
   (re)connect pulls since the cursor, so nothing is lost; messages carry our own id, so a
   resend after a reconnect is stored once. */
(function () {
  "use strict";
  var CH = document.body.getAttribute("data-channel");
  var KEY = "unibox.chat." + CH;
  var $ = function (id) { return document.getElementById(id); };
  var S = {
    open: false, conv: null, cursor: 0, msgs: new Map(), pending: new Map(), fresh: false,
    hello: null, ctx: {}, user: null, socket: null, lastSeen: "", awayShown: false, typingOff: 0
  };

  function load() { try { return JSON.parse(localStorage.getItem(KEY) || "{}"); } catch (e) { return {}; } }
  function save(patch) {
    var o = load(); for (var k in patch) o[k] = patch[k];
    try { localStorage.setItem(KEY, JSON.stringify(o)); } catch (e) { /* private mode */ }
  }
  function rid() {
    var a = new Uint8Array(12); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function notice(text) { $("notice").textContent = text || ""; }
  function hhmm(at) {
    var d = new Date(String(at).replace(" ", "T") + (/[zZ+]/.test(at) ? "" : "Z"));
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function tell(msg) { if (window.parent !== window) window.parent.postMessage(msg, "*"); }

  /* ---------------------------------------------------------------- rendering */
  function bubble(m, last) {
    var li = el("li", m.from === "visitor" ? "visitor" : "agent");
    li.appendChild(el("div", "text", m.text));
    if (m.quick_replies && m.quick_replies.length && last && !S.pending.size) {
      var q = el("div", "quick");
      m.quick_replies.slice(0, 10).forEach(function (r) {
        var label = typeof r === "string" ? r : (r && (r.label || r.value)) || "";
        var value = typeof r === "string" ? r : (r && (r.value || r.label)) || "";
        var b = el("button", null, label); b.type = "button";
        b.addEventListener("click", function () { send(String(value)); });
        q.appendChild(b);
      });
      li.appendChild(q);
    }
    if (m.card && typeof m.card === "object") {
      var c = el("div", "card");
      if (m.card.title) c.appendChild(el("strong", null, m.card.title));
      if (m.card.text) c.appendChild(el("p", null, m.card.text));
      if (typeof m.card.url === "string" && /^https?:\/\//i.test(m.card.url)) {
        var a = el("a", null, m.card.link_text || "Open"); a.href = m.card.url;
        a.target = "_blank"; a.rel = "noopener noreferrer"; c.appendChild(a);
      }
      li.appendChild(c);
    }
    var meta = [];
    if (m.from !== "visitor" && m.author) meta.push(m.author);
    if (m.at) meta.push(hhmm(m.at));
    if (m.files) meta.push(m.files + (m.files > 1 ? " files" : " file"));
    if (m.via === "email") meta.push("sent by e-mail");
    if (m.from === "visitor") meta.push(S.conv && S.conv.seen ? "Seen" : "Sent");
    li.appendChild(el("span", "meta", meta.join(" \u00B7 ")));
    return li;
  }
  function opening() {
    /* A chatflow targets this page: its opening shows before the visitor writes (nothing is
       stored until then; the hub stores the same opening with their first message). */
    var o = S.hello && S.hello.opening;
    return o && o.messages && o.messages.length ? o : null;
  }
  function render() {
    var log = $("log"), atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.textContent = "";
    var o = opening(), shown = [];
    if (o && !S.msgs.size) shown = o.messages;
    else if (!o && S.hello && S.hello.welcome && S.hello.available)
      shown = [{ from: "agent", text: S.hello.welcome }];
    /* In the thread's order: a bot's opening is stored dated just before the visitor's
       first message, but may reach the widget after it. */
    shown = shown.concat(Array.from(S.msgs.values()).sort(function (a, b) {
      return a.at < b.at ? -1 : a.at > b.at ? 1 : 0;
    }));
    shown.forEach(function (m, i) { log.appendChild(bubble(m, i === shown.length - 1)); });
    S.pending.forEach(function (p) {
      var li = el("li", "visitor" + (p.failed ? " failed" : ""));
      li.appendChild(el("div", "text", p.text || (p.file && p.file.name) || ""));
      li.appendChild(el("span", "meta", p.failed ? "Not sent" : "Sending\u2026"));
      if (p.failed) {
        var b = el("button", null, "Retry"); b.type = "button";
        b.addEventListener("click", function () { p.failed = false; deliver(p); render(); });
        li.appendChild(b);
      }
      log.appendChild(li);
    });
    if (S.thanks) log.appendChild(el("li", "system", S.thanks));
    if (S.hello && !S.hello.available && !S.hello.email_known) {
      log.appendChild(el("li", "system", S.hello.away));
      $("away").hidden = false;
    } else { $("away").hidden = true; }
    var closed = S.conv && S.conv.status === "closed" && !S.fresh;
    $("ended").hidden = !closed;
    var agent = (S.conv && S.conv.agent) || "";
    var who = agent || (o && o.author) || (S.hello ? S.hello.name : "Chat");
    $("who").textContent = who;
    $("avatar").textContent = initials(who);
    if (atEnd || S.open) log.scrollTop = log.scrollHeight;
    badge();
  }
  function initials(name) {
    return String(name).split(/\s+/).filter(Boolean).slice(0, 2).map(function (p) { return p[0]; }).join("").toUpperCase();
  }
  function badge() {
    var n = 0;
    if (!S.open) S.msgs.forEach(function (m) { if (m.from === "agent" && m.at > S.lastSeen) n++; });
    var b = $("badge"); b.hidden = !n; b.textContent = n ? String(n) : "";
    $("launcher").setAttribute("aria-label", n ? "Open chat, " + n + " unread" : "Open chat");
  }

  /* ---------------------------------------------------------------- open and close */
  function setOpen(open) {
    S.open = open;
    $("panel").hidden = !open;
    $("launcher").hidden = open;
    $("launcher").setAttribute("aria-expanded", String(open));
    tell({ type: "unibox:open", open: open });
    if (open) { seen(); render(); $("text").focus(); } else { $("launcher").focus(); }
  }
  function seen() {
    var ids = [];
    S.msgs.forEach(function (m) {
      if (m.from === "agent") { if (m.at > S.lastSeen) S.lastSeen = m.at; if (m.state !== "read" && !m.via) ids.push(m.id); }
    });
    save({ seen: S.lastSeen });
    if (ids.length && S.socket && S.socket.connected && document.visibilityState === "visible") {
      S.socket.emit("read", { ids: ids.slice(-200) }, function () {});
    }
  }

  /* ---------------------------------------------------------------- the hub */
  function sync() {
    if (!S.socket || !S.socket.connected) return;
    S.socket.emit("sync", { since: S.cursor }, take);
  }
  /* A view of the conversation since our cursor: the answer to a sync, or to a send. */
  function take(r) {
    if (!r || r.error) { if (r) notice(r.error); return; }
    if (S.fresh && r.conversation && (!S.conv || r.conversation.id === S.conv.id)) return;
    if (r.conversation && S.conv && r.conversation.id !== S.conv.id) {
      S.fresh = false; S.msgs = new Map(); S.conv = r.conversation; S.cursor = 0; return sync();
    }
    if (r.conversation) S.conv = r.conversation;
    (r.messages || []).forEach(function (m) {
      if (m.from === "agent" && !S.msgs.has(m.id)) $("typing").textContent = ""; /* sent it */
      S.msgs.set(m.id, m);
      if (m.client_id) S.pending.delete(m.client_id);
    });
    S.cursor = Math.max(S.cursor, r.cursor || 0);
    if (S.open) seen();
    render();
  }
  function deliver(p) {
    if (!S.socket || !S.socket.connected) return; /* sent again on reconnect */
    /* `since`: the answer brings the conversation since our cursor (no sync round after it) */
    var body = { client_id: p.id, text: p.text, since: S.cursor };
    if (p.fresh) body["new"] = true;
    if (p.file) body.file = p.file;
    S.socket.timeout(15000).emit("send", body, function (err, r) {
      if (err) return; /* no answer: the reconnect sends it again (same id: stored once) */
      if (r && r.ok) {
        var failed = false; S.pending.forEach(function (q) { if (q.failed) failed = true; });
        if (!failed) notice(""); /* a refused message still waiting keeps its reason shown */
        if (p.fresh) { S.fresh = false; }
        p.stored = true;
        if (r.view) take(r.view); else sync();
        return;
      }
      p.failed = true;
      notice(r && r.error ? r.error : "Not sent");
      render();
    });
  }
  function send(text, file) {
    text = (text || "").trim();
    if (!text && !file) return;
    var p = { id: rid(), text: text, file: file || null, fresh: S.fresh };
    S.pending.set(p.id, p);
    render();
    deliver(p);
    typing(false);
  }

  var lastTyping = 0;
  function typing(on) {
    if (!S.socket || !S.socket.connected) return;
    var now = Date.now();
    if (on && now - lastTyping < 2000) return;
    lastTyping = on ? now : 0;
    S.socket.emit("typing", { typing: on });
  }

  function connect() {
    performance.mark("unibox:connect");
    var socket = (S.socket = io("/visitor", {
      transports: ["websocket"],
      auth: function (cb) {
        cb({ channel: CH, token: load().token || null, user: S.user, context: S.ctx });
      }
    }));
    socket.on("connect", function () {
      performance.mark("unibox:connected");
      notice("");
      sync(); /* alongside hello: it needs nothing from it */
      socket.emit("hello", {}, function (h) {
        if (!h || h.error) { notice((h && h.error) || "The chat is not available"); return; }
        S.hello = h;
        save({ token: h.token });
        if (!document.body.hasAttribute("data-ready")) /* for benchmarks: interactive since */
          document.body.setAttribute("data-ready", String(performance.timeOrigin + performance.now()));
        render();
        S.pending.forEach(function (p) { if (!p.failed && !p.stored) deliver(p); });
      });
    });
    /* A poke may bring the view since the cursor the hub last sent us: taken when ours is
       that far (else, or without one, we sync from ours) */
    socket.on("poke", function (p) {
      if (p && p.view && typeof p.since === "number" && p.since <= S.cursor) take(p.view);
      else sync();
    });
    socket.on("typing", function (t) {
      clearTimeout(S.typingOff);
      $("typing").textContent = t && t.typing ? (t.name || "Someone") + " is typing\u2026" : "";
      if (t && t.typing) S.typingOff = setTimeout(function () { $("typing").textContent = ""; }, 10000); /* repeated every 3 s while typing */
    });
    socket.on("disconnect", function () { notice("Reconnecting\u2026"); });
    socket.on("connect_error", function (e) {
      if (!socket.active) notice("The chat could not start: " + (e && e.message ? e.message : "refused"));
      else notice("Reconnecting\u2026");
    });
  }

  /* ---------------------------------------------------------------- the page */
  function wire() {
    S.lastSeen = load().seen || "";
    $("launcher").addEventListener("click", function () { setOpen(true); });
    $("close").addEventListener("click", function () { setOpen(false); });
    document.addEventListener("keydown", function (e) { if (e.key === "Escape" && S.open) setOpen(false); });
    document.addEventListener("visibilitychange", function () { if (S.open) seen(); });
    $("composer").addEventListener("submit", function (e) {
      e.preventDefault();
      var t = $("text"); send(t.value); t.value = "";
    });
    $("text").addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
    });
    $("text").addEventListener("input", function () { typing(!!$("text").value); });
    $("text").addEventListener("blur", function () { typing(false); });
    $("new").addEventListener("click", function () {
      S.fresh = true; S.msgs = new Map(); render(); $("text").focus();
    });
    $("file").addEventListener("change", function () {
      var f = $("file").files[0]; $("file").value = "";
      if (!f) return;
      var lim = (S.hello && S.hello.limits) || { file_bytes: 5242880, file_types: [] };
      if (lim.file_types.length && lim.file_types.indexOf(f.type) < 0) {
        notice("This kind of file cannot be sent here: send images, PDF or plain text."); return;
      }
      if (f.size > lim.file_bytes) {
        notice("Files are at most " + Math.round(lim.file_bytes / 1048576) + " MB."); return;
      }
      var r = new FileReader();
      r.onload = function () {
        var data = String(r.result); data = data.slice(data.indexOf(",") + 1);
        send($("text").value, { name: f.name, type: f.type, data: data }); $("text").value = "";
      };
      r.readAsDataURL(f);
    });
    $("away").addEventListener("submit", function (e) {
      e.preventDefault();
      S.socket.emit("email", { address: $("email").value }, function (r) {
        if (r && r.ok) { S.hello.email_known = true; S.thanks = "Thanks: we will answer at " + r.address + "."; notice(""); render(); }
        else notice((r && r.error) || "Not saved");
      });
    });
  }

  function start(init) {
    if (S.socket) return;
    init = init || {};
    S.ctx = {
      /* the offset, not Intl's zone name: asking Intl first costs tens of ms at start */
      page: String(init.page || ""), title: String(init.title || ""), referrer: String(init.referrer || ""),
      offset: -new Date().getTimezoneOffset()
    };
    S.user = init.user && typeof init.user === "object" ? init.user : null;
    connect();
  }
  performance.mark("unibox:wire");
  wire();
  var init = {};
  try { init = JSON.parse(decodeURIComponent(location.hash.slice(1)) || "{}") || {}; } catch (e) { init = {}; }
  if (window.parent === window && !init.page) init.page = location.href;
  history.replaceState(null, "", location.pathname); /* a reload reads no stale page */
  start(init);
})();
