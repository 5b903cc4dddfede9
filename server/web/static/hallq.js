// hallq pages: shared helpers. No libraries, nothing loaded from outside the hall's server.
"use strict";
const hallq = (() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  const MESSAGES = {
    window_busy: "请先办结、挂起或转办当前号", window_paused: "窗口已暂停，请先恢复服务",
    window_unstaffed: "窗口无人签到，请先签到", no_current_ticket: "当前没有号", not_called: "该号已在办理中",
    not_waiting: "该号不在等候中", service_not_handled: "本窗口不办理该事项", nothing_to_rate: "没有可邀请评价的服务",
    already_rated: "已经评价过了", not_due: "暂时不能评价", rating_closed: "补充评价期限已过",
    prompt_expired: "评价邀请已过期", forbidden: "无权操作此窗口", unauthorized: "请重新登录",
    csrf: "页面已过期，请刷新后重试", not_found: "未找到", invalid: "填写有误", wrong_state: "当前状态不能进行此操作",
    already_acked: "已确认过", cleared: "告警已解除", hall_closed: "当前不在取号时间",
    expired: "系统繁忙，操作未执行，请重试", unavailable: "系统暂不可用，操作未执行，请稍后重试",
    idempotency_key_reused: "请求重复，请刷新页面后重试",
    staff_elsewhere: "该工号已在其他窗口签到，请先在该窗口签退或请值班主任处理",
    window_taken: "该窗口已有其他人员签到，请其先签退或请值班主任处理",
    target_unstaffed: "目标窗口无人签到，请改为转事项或确认后再转",
  };
  // Every write names itself (Idempotency-Key) and says how long we wait (Request-Timeout-Ms): the
  // server never applies it after we gave up, and the one retry after a network error gets the
  // first answer instead of doing it twice.
  const TIMEOUT_MS = 10000, BUDGET_MS = 9000;
  function newKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  async function send(path, opts) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    try { return await fetch(path, { ...opts, signal: ctrl.signal }); } finally { clearTimeout(timer); }
  }
  async function api(method, path, body) {
    const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    let res;
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = csrf;
      opts.headers["Content-Type"] = "application/json";
      opts.headers["Idempotency-Key"] = newKey();
      opts.headers["Request-Timeout-Ms"] = String(BUDGET_MS);
      opts.body = JSON.stringify(body || {});
      try { res = await send(path, opts); } catch (e) { res = await send(path, opts); }
    } else {
      res = await fetch(path, opts);
    }
    let data = {};
    try { data = await res.json(); } catch (e) { data = {}; }
    if (!res.ok) {
      const err = new Error(MESSAGES[data.error] || data.message || ("请求失败 " + res.status));
      err.status = res.status; err.data = data;
      if (data.message && MESSAGES[data.error]) err.detail = data.message;
      throw err;
    }
    return data;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined) node.append(c.nodeType ? c : String(c));
    }
    return node;
  }
  // Elapsed times count on the hall's clock (the server's), not this PC's: they may differ.
  let offset = 0;
  function syncClock(serverIso) { if (serverIso) offset = new Date(serverIso).getTime() - Date.now(); }
  function hallNow() { return Date.now() + offset; }
  function minutesSince(iso, now) {
    if (!iso) return null;
    return Math.max(0, Math.round(((now || hallNow()) - new Date(iso).getTime()) / 60000));
  }
  function hhmm(iso) { return iso ? iso.slice(11, 16) : "—"; }
  const EVENT_TYPES = ["ticket.issued", "ticket.called", "ticket.recalled", "ticket.started", "ticket.no_show",
    "ticket.parked", "ticket.transferred", "ticket.finished", "ticket.next_step", "ticket.to_complaint",
    "ticket.expired", "window.login", "window.logout", "window.paused", "window.resumed", "window.reset",
    "rating.recorded", "rating.invited", "rating.timed_out", "case.opened", "case.updated", "case.fix_rated",
    "alert.raised", "alert.cleared", "alert.reopened", "alert.acked", "commitment.opened", "commitment.done",
    "config.changed"];
  const POLL_MS = 5000, STREAM_RETRY_MS = 60000;
  // Re-run `refresh` on every event of the live stream (debounced); show the connection state.
  // A stream the server refuses (at capacity it answers 503, which ends an EventSource for good)
  // is replaced by polling /api/v1/events?once=1 every few seconds, and tried again a minute later.
  function live(refresh, badge) {
    let timer = null, last = null;
    const soon = () => { clearTimeout(timer); timer = setTimeout(refresh, 250); };
    const show = (text, on) => { if (badge) { badge.textContent = text; badge.className = on ? "badge on" : "badge off"; } };
    const seen = (e) => { if (e.lastEventId) last = e.lastEventId; soon(); };
    function stream() {
      const es = new EventSource("/api/v1/events");
      // Read the state again once the stream is open: whatever changed between the page's first
      // read and the stream's start (or during a reconnect without Last-Event-ID) is in that read.
      es.onopen = () => { show("实时", true); soon(); };
      es.onerror = () => {
        if (es.readyState === EventSource.CLOSED) poll(Date.now() + STREAM_RETRY_MS);
        else show("重新连接中…", false);
      };
      es.onmessage = seen;
      for (const t of EVENT_TYPES) es.addEventListener(t, seen);
    }
    async function poll(until) {
      show("定时刷新", false);
      try {
        if (last === null) last = String((await api("GET", "/api/v1/health")).last_event_id);
        const res = await fetch("/api/v1/events?once=1&last_event_id=" + encodeURIComponent(last),
                                { credentials: "same-origin" });
        if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
        if (res.ok) {
          const ids = [...(await res.text()).matchAll(/^id: (\d+)$/gm)];
          if (ids.length) { last = ids[ids.length - 1][1]; soon(); }
        }
      } catch (e) { /* the server is away: keep polling */ }
      if (Date.now() >= until) { soon(); stream(); } else setTimeout(() => poll(until), POLL_MS);
    }
    stream();
  }
  return { api, el, minutesSince, hhmm, live, csrf, syncClock, hallNow };
})();
