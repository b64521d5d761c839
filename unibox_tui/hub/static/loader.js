/* Unibox chat loader: adds the widget's iframe (served by the hub) to the page. */
(function () {
  var s = document.currentScript;
  if (!s) return;
  var src = new URL(s.src), m = src.pathname.match(/\/widget\/([A-Za-z0-9-]+)\.js$/);
  if (!m) return;
  var hub = src.origin, ch = m[1], seen = (window.__uniboxChat = window.__uniboxChat || {});
  if (seen[ch]) return;
  seen[ch] = 1;
  var f = document.createElement("iframe"), st = f.style, open = false;
  /* The page's context rides in the fragment (never sent to a server), so the widget
     connects at once instead of asking for it by postMessage. */
  var init = { page: location.href, title: document.title, referrer: document.referrer,
    user: window.uniboxChatUser || null };
  f.src = hub + "/widget/" + ch + "/frame#" + encodeURIComponent(JSON.stringify(init));
  f.title = "Chat";
  f.setAttribute("data-unibox-chat", ch);
  st.position = "fixed"; st.bottom = "0"; st.right = "0"; st.border = "0";
  st.zIndex = "2147483000"; st.background = "transparent"; st.colorScheme = "normal";
  function size() {
    if (open) {
      st.width = Math.min(400, window.innerWidth) + "px";
      st.height = Math.min(620, window.innerHeight) + "px";
    } else { st.width = "88px"; st.height = "88px"; }
  }
  size();
  window.addEventListener("resize", size);
  window.addEventListener("message", function (e) {
    if (e.origin !== hub || e.source !== f.contentWindow || !e.data) return;
    if (e.data.type === "unibox:open") { open = !!e.data.open; size(); }
  });
  (document.body || document.documentElement).appendChild(f);
})();
