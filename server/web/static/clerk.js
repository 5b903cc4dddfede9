// The clerk's caller page: keypad actions through /api/v1/windows/<n>/<action>, live via the event stream.
"use strict";
(() => {
  const root = document.getElementById("clerk");
  const msg = document.getElementById("message");
  const $ = (id) => document.getElementById(id);
  const STATE = { unstaffed: "无人签到", paused: "暂停中", idle: "空闲", called: "已叫号", serving: "办理中" };
  const REASONS = {
    "nobody waiting for this window": "当前无人等候", "nobody parked at this window": "本窗口没有挂起的号",
    "already serving": "已在办理中", "not paused": "窗口未暂停", "already paused": "窗口已暂停",
    "already signed in": "已签到", "nobody signed in": "窗口无人签到",
  };
  const DONE = {
    "call-next": "已呼叫", recall: "已重呼", start: "开始办理", "no-show": "已过号", park: "已挂起",
    "call-back": "已回呼", call: "已呼叫", transfer: "已转办", finish: "已办结，已邀请群众评价", pause: "已暂停服务",
    resume: "已恢复服务", "invite-rating": "已邀请评价", login: "已签到", logout: "已签退",
  };
  function say(text, ok) { msg.textContent = text; msg.className = ok ? "ok" : "err"; }
  const windowNo = root.dataset.window;

  if (!windowNo) {
    const signIn = $("sign-in");
    if (signIn) signIn.addEventListener("click", async () => {
      const n = $("sign-window").value;
      try {
        await hallq.api("POST", `/api/v1/windows/${n}/login`, { staff: root.dataset.staff });
        location.reload();
      } catch (e) { say(e.message, false); }
    });
    const open = $("open-window");
    if (open) open.addEventListener("click", () => { location.search = "?window=" + $("sign-window").value; });
    return;
  }

  function body(action) {
    switch (action) {
      case "call": return { code: $("call-code").value.trim().toUpperCase() };
      case "call-back": return $("parked").value ? { code: $("parked").value } : {};
      case "transfer":
        if ($("to-window").value) return { to_window: Number($("to-window").value) };
        return $("to-service").value ? { to_service: $("to-service").value } : {};
      case "pause": return { reason: $("pause-reason").value };
      case "finish": return { outcome: $("outcome").value };
      case "login": return { staff: ($("staff-number") || {}).value || root.dataset.staff };
      default: return {};
    }
  }

  async function act(action) {
    try {
      const res = await hallq.api("POST", `/api/v1/windows/${windowNo}/${action}`, body(action));
      if (res.result === "nothing_to_do") say(REASONS[res.reason] || "无需操作", false);
      else say(DONE[action] + (res.ticket ? " " + res.ticket.code : "") + (res.no_show ? "（已过号）" : ""), true);
      if (action === "logout" && root.dataset.role === "clerk") { location.reload(); return; }
    } catch (e) {
      say(e.message, false);
    }
    refresh();
  }
  for (const b of document.querySelectorAll("[data-action]")) b.addEventListener("click", () => act(b.dataset.action));

  async function refresh() {
    let w;
    try {
      const [health, win] = await Promise.all([hallq.api("GET", "/api/v1/health"), hallq.api("GET", `/api/v1/windows/${windowNo}`)]);
      hallq.syncClock(health.time);
      w = win;
    } catch (e) { say(e.message, false); return; }
    $("win-state").textContent = STATE[w.state] + (w.pause_reason_name ? "（" + w.pause_reason_name + "）" : "");
    $("win-state").dataset.state = w.state;
    $("win-staff").textContent = w.staff ? `${w.staff.name}（${w.staff.number}）` : "";
    const cur = w.current;
    $("current").textContent = cur ? cur.code : "—";
    $("current-info").textContent = cur
      ? `${cur.service_name} · ${STATE[cur.state]} · ${hallq.hhmm(cur.called_at)} 叫号` + (cur.recalls ? ` · 重呼 ${cur.recalls} 次` : "")
      : "\u00a0";
    $("queue-count").textContent = w.queue.length;
    $("queue").replaceChildren(...w.queue.slice(0, 30).map((t) => hallq.el("li", {},
      hallq.el("b", {}, t.code), " ", t.service_name, t.priority !== "normal" ? hallq.el("span", { class: "badge" }, t.priority === "green" ? "优先" : "预约") : null,
      hallq.el("span", { class: "muted" }, ` 等候 ${hallq.minutesSince(t.issued_at)} 分`))));
    if (w.queue.length > 30) $("queue").append(hallq.el("li", { class: "muted" }, `……共 ${w.queue.length} 人`));
    if (!w.queue.length) $("queue").append(hallq.el("li", { class: "muted" }, "暂无等候"));
    $("parked-list").replaceChildren(...w.parked.map((t) => hallq.el("li", {}, t.code)));
    if (!w.parked.length) $("parked-list").append(hallq.el("li", { class: "muted" }, "无"));
    const keep = $("parked").value;
    $("parked").replaceChildren(hallq.el("option", { value: "" }, "（最早挂起的）"),
      ...w.parked.map((t) => hallq.el("option", { value: t.code }, t.code)));
    $("parked").value = w.parked.some((t) => t.code === keep) ? keep : "";
  }
  refresh();
  hallq.live(refresh, null);
  setInterval(refresh, 30000);
})();
