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

  // Ask before an action that cannot be undone (过号, 签退) or sends a citizen where nobody may serve them.
  function ask(text) {
    const dlg = $("ask");
    $("ask-text").textContent = text;
    return new Promise((resolve) => {
      const done = (answer) => { dlg.close(); $("ask-yes").onclick = $("ask-no").onclick = null; resolve(answer); };
      $("ask-yes").onclick = () => done(true);
      $("ask-no").onclick = () => done(false);
      dlg.oncancel = () => done(false);
      dlg.showModal();
    });
  }

  let win = null, hall = [];  // this window as last read; every window's state (for the transfer lists)
  const byNumber = (n) => hall.find((x) => x.number === n);
  function stateText(x) {
    if (x.state === "unstaffed") return "无人签到";
    const who = x.staff ? x.staff.name + "在岗" : "";
    if (x.state === "paused") return "暂停中" + (x.pause_reason_name ? "（" + x.pause_reason_name + "）" : "") + (who ? " " + who : "");
    return who + (x.state === "idle" ? " 空闲" : " 忙");
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

  // The question to ask before `action`, or null to go ahead.
  function question(action, data) {
    const code = win && win.current ? win.current.code : "";
    if (action === "no-show") return `确认 ${code} 过号？过号后该号作废，群众需重新取号。`;
    if (action === "logout") return "确认签退？签退后本窗口不再叫号，等候本窗口的群众将由其他窗口办理。";
    if (action === "transfer" && data.to_window) {
      const target = byNumber(data.to_window);
      if (target && target.state === "unstaffed") return `${data.to_window}号窗口无人签到，转过去的群众将无人接待。建议改为“转事项”。仍要转到${data.to_window}号窗口吗？`;
      if (target && target.state === "paused") return `${data.to_window}号窗口${stateText(target)}，群众需等该窗口恢复服务。仍要转过去吗？`;
    }
    return null;
  }

  function done(action, res) {
    const code = res.ticket ? res.ticket.code : "";
    if (action === "recall" && res.no_show) return `${code} 重呼已达上限，已过号`;
    // Without an evaluator at this window nothing was prompted: the citizen rates by the ticket's QR code.
    if (action === "finish" && win && !win.evaluator) return `已办结 ${code}，请提示群众扫号票二维码评价`;
    return DONE[action] + (code ? " " + code : "");
  }

  async function act(action) {
    const data = body(action);
    const q = question(action, data);
    if (q && !(await ask(q))) { say("已取消", false); return; }
    if (q && action === "transfer") data.confirm_unstaffed = true;
    try {
      let res;
      try {
        res = await hallq.api("POST", `/api/v1/windows/${windowNo}/${action}`, data);
      } catch (e) {
        // The target's clerk signed out since the list was read: ask now, and send it only if confirmed.
        if (!(e.data && e.data.error === "target_unstaffed")) throw e;
        if (!(await ask(`${data.to_window}号窗口刚刚签退，现在无人签到。仍要转过去吗？`))) { say("已取消", false); refresh(); return; }
        res = await hallq.api("POST", `/api/v1/windows/${windowNo}/${action}`, { ...data, confirm_unstaffed: true });
      }
      if (res.result === "nothing_to_do") say(REASONS[res.reason] || "无需操作", false);
      else say(done(action, res), true);
      if (action === "logout" && root.dataset.role === "clerk") { location.reload(); return; }
    } catch (e) {
      say(e.message, false);
    }
    refresh();
  }
  for (const b of document.querySelectorAll("[data-action]")) b.addEventListener("click", () => act(b.dataset.action));

  // Only the actions that apply now are enabled (what the server would refuse or find nothing to do).
  function enable(w) {
    const cur = w.current, staffed = w.state !== "unstaffed", free = staffed && !w.paused && !cur;
    const on = {
      "call-next": free && w.queue.length > 0, call: free, "call-back": free && w.parked.length > 0,
      recall: !!cur && cur.state === "called", start: !!cur && cur.state === "called",
      "no-show": !!cur && cur.state === "called", park: !!cur, finish: !!cur,
      transfer: !!cur && !!($("to-window").value || $("to-service").value),
      "invite-rating": !!(w.last_service && w.last_service.invitable),
      pause: free, resume: staffed && w.paused, logout: staffed && !cur, login: true,
    };
    for (const b of document.querySelectorAll("[data-action]")) b.disabled = !on[b.dataset.action];
    for (const id of ["outcome", "to-window", "to-service"]) $(id).disabled = !cur;
    for (const id of ["call-code", "parked", "pause-reason"]) $(id).disabled = !free;
  }
  for (const id of ["to-window", "to-service"]) {
    $(id).addEventListener("change", () => {
      if ($(id).value) $(id === "to-window" ? "to-service" : "to-window").value = "";
      if (win) enable(win);
    });
  }

  // Transfer lists: the windows that can take the current citizen, each with its state; the services
  // with how many windows are staffed for them now.
  function transferLists(w) {
    const service = w.current ? w.current.service : null;
    const keepW = $("to-window").value, keepS = $("to-service").value;
    const targets = hall.filter((x) => x.number !== w.number && (!service || x.services[service] || x.kind === "complaint"));
    $("to-window").replaceChildren(hallq.el("option", { value: "" }, "—"), ...targets.map((x) =>
      hallq.el("option", { value: x.number, "data-state": x.state }, `${x.number}号 ${x.name} · ${stateText(x)}`)));
    $("to-window").value = targets.some((x) => String(x.number) === keepW) ? keepW : "";
    for (const o of $("to-service").options) {
      if (!o.value) continue;
      if (!o.dataset.name) o.dataset.name = o.textContent;
      const open = hall.filter((x) => x.services[o.value] && x.state !== "unstaffed" && x.number !== w.number).length;
      o.textContent = o.dataset.name + (open ? ` · ${open}个窗口在岗` : " · 无窗口在岗");
      o.disabled = o.value === service;
    }
    $("to-service").value = keepS;
  }

  async function refresh() {
    let w, all;
    try {
      const [health, one, many] = await Promise.all([hallq.api("GET", "/api/v1/health"),
        hallq.api("GET", `/api/v1/windows/${windowNo}`), hallq.api("GET", "/api/v1/windows")]);
      hallq.syncClock(health.time);
      w = one; all = many.windows;
    } catch (e) { say(e.message, false); return; }
    win = w; hall = all;
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
    transferLists(w);
    enable(w);
  }
  refresh();
  hallq.live(refresh, null);
  setInterval(refresh, 30000);

  // 帮办代办: refer the citizen's matter up the tree; the list shows each referral's state, the
  // appointment code to give the citizen once the hall above has booked, and the outcome.
  const referBox = $("refer");
  if (referBox) {
    const matter = $("refer-matter");
    const showMaterials = () => {
      const box = $("refer-materials");
      box.querySelectorAll("label").forEach((l) => l.remove());
      JSON.parse(matter.selectedOptions[0].dataset.materials).forEach((name) => {
        const label = document.createElement("label");
        const tick = document.createElement("input");
        tick.type = "checkbox"; tick.value = name;
        label.append(tick, " " + name);
        box.append(label);
      });
    };
    matter.addEventListener("change", showMaterials);
    showMaterials();
    const listReferrals = async () => {
      const rows = (await hallq.api("GET", "/api/v1/referrals?direction=out")).referrals;
      $("referrals").replaceChildren(...rows.slice(0, 10).map((r) => {
        const li = document.createElement("li");
        li.textContent = `${r.matter} ${r.phone} ${r.state_name}` + (r.to_hall ? ` → ${r.to_hall}` : "") +
          (r.appointment ? ` 预约码 ${r.appointment}` : "") + (r.slot_start ? ` ${r.slot_start.slice(0, 16).replace("T", " ")}` : "") +
          (r.reason ? `（${r.reason}）` : "");
        return li;
      }));
    };
    $("refer-send").addEventListener("click", async () => {
      const materials = [...$("refer-materials").querySelectorAll("input:checked")].map((t) => t.value);
      const body = { matter: matter.value, phone: $("refer-phone").value.trim(), materials, sms: $("refer-sms").checked };
      if ($("refer-id").value.trim()) body.id_number = $("refer-id").value.trim();
      try {
        await hallq.api("POST", "/api/v1/referrals", body);
        say("已转上级办理，待上级中心预约", true);
        await listReferrals();
      } catch (e) { say(e.message, false); }
    });
    listReferrals().catch(() => {});
    setInterval(() => listReferrals().catch(() => {}), 5000);
  }
})();
