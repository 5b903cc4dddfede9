// The supervisor board: re-reads the JSON views whenever the event stream reports a change.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = hallq.el;
  let busy = false, again = false;

  function figures(s) {
    const pct = s.good_rate == null ? "—" : (s.good_rate * 100).toFixed(2) + "%";
    const items = [["取号", s.issued], ["等候", s.waiting], ["办理中", s.in_service], ["办结", s.finished],
      ["过号", s.no_shows], ["平均等候(分)", s.mean_wait_minutes ?? "—"], ["90%等候(分)", s.p90_wait_minutes ?? "—"],
      ["好评率", pct], ["差评", s.bad_ratings], ["开放窗口", s.windows_open]];
    $("figures").replaceChildren(...items.map(([k, v]) => el("div", { class: "fig" }, el("b", {}, v), el("span", {}, k))));
  }

  function windows(list, alerted) {
    const now = hallq.hallNow();
    $("windows").replaceChildren(...list.map((w) => {
      const mins = hallq.minutesSince(w.since, now);
      let what;
      if (w.state === "unstaffed") what = "无人在岗";
      else if (w.state === "paused") what = "暂停：" + (w.pause_reason_name || "");
      else if (w.current) what = el("span", { class: "code" }, w.current.code);
      else what = "空闲";
      return el("div", { class: `win ${w.state}` + (alerted.has(w.number) ? " alerted" : ""), "data-window": w.number, id: "win-" + w.number },
        el("div", { class: "n" }, `${w.number}号 `, el("small", {}, w.name)),
        el("div", { class: "what" }, what),
        el("div", { class: "muted" }, (w.staff ? w.staff.name : "") + (mins != null ? ` · ${mins}分钟` : "") +
          (w.waiting ? ` · 可办 ${w.waiting} 人` : "")));
    }));
  }

  function waiting(queue, menu) {
    const names = Object.fromEntries(menu.map((m) => [m.code, m.name]));
    const now = hallq.hallNow();
    const longest = Object.fromEntries(Object.entries(queue.oldest_waiting_by_service)
      .map(([code, at]) => [code, hallq.minutesSince(at, now)]));
    const rows = Object.entries(queue.waiting_by_service).sort((a, b) => b[1] - a[1]);
    $("waiting").tBodies[0].replaceChildren(...(rows.length ? rows.map(([code, n]) =>
      el("tr", {}, el("td", {}, names[code] || code), el("td", {}, n), el("td", {}, longest[code] ?? "—")))
      : [el("tr", {}, el("td", { colspan: 3, class: "muted" }, "无人等候"))]));
  }

  const picked = new Set();  // alerts ticked for one note; kept across redraws
  function alerts(list) {
    $("alert-count").textContent = list.length;
    const typing = document.activeElement && $("alerts-panel").contains(document.activeElement) && document.activeElement.value;
    if (typing) return;  // do not wipe a note being typed; the next refresh after it is sent redraws
    const open = list.filter((a) => !a.acked_at).map((a) => a.id);
    for (const id of [...picked]) if (!open.includes(id)) picked.delete(id);
    const count = () => { $("ack-many-count").textContent = picked.size; $("ack-many").hidden = open.length < 2; };
    $("alerts").replaceChildren(...(list.length ? list.map((a) => {
      const li = el("li", { class: `${a.level}` + (a.acked_at ? " acked" : ""), "data-alert": a.id });
      if (!a.acked_at) {
        const box = el("input", { type: "checkbox", class: "pick", "aria-label": "选中此告警" });
        box.checked = picked.has(a.id);
        box.addEventListener("change", () => { if (box.checked) picked.add(a.id); else picked.delete(a.id); count(); });
        li.append(box);
      }
      li.append(el("span", { class: `lv ${a.level}` }, `【${a.level_name}】`), `${a.kind_name}：${a.message}`,
        el("div", { class: "muted" }, `${hallq.hhmm(a.raised_at)} 起` + (a.acked_at ? ` · ${a.acked_by} 已确认：${a.ack_note}` : "")));
      if (!a.acked_at) {
        const input = el("input", { placeholder: "处理说明", "aria-label": "处理说明" });
        const form = el("form", { class: "ack-form" }, input, el("button", { type: "submit" }, "确认"));
        form.addEventListener("submit", async (ev) => {
          ev.preventDefault();
          try { await hallq.api("POST", `/api/v1/alerts/${a.id}/ack`, { note: input.value }); }
          catch (e) { input.placeholder = e.message; input.value = ""; }
          refresh();
        });
        li.append(form);
      }
      return li;
    }) : [el("li", { class: "muted" }, "暂无告警")]));
    count();
  }

  // 批量确认: tick several alerts (or all), one note for all of them.
  $("ack-all").addEventListener("click", () => {
    const boxes = [...$("alerts").querySelectorAll("li[data-alert] input.pick")];
    const all = boxes.some((b) => !b.checked);
    for (const b of boxes) { b.checked = all; b.dispatchEvent(new Event("change")); }
  });
  $("ack-many").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("ack-many-note");
    if (!picked.size) { input.placeholder = "请先勾选告警"; return; }
    try {
      const res = await hallq.api("POST", "/api/v1/alerts/ack", { alerts: [...picked], note: input.value });
      picked.clear(); input.value = "";
      input.placeholder = `已确认 ${res.acked.length} 条` + (res.skipped.length ? `，${res.skipped.length} 条已消除或已确认` : "");
    } catch (e) { input.placeholder = e.message; input.value = ""; }
    refresh();
  });

  function cases(list) {
    $("case-count").textContent = list.length;
    const now = new Date(hallq.hallNow());
    $("cases").replaceChildren(...(list.length ? list.map((c) => {
      const due = c.state === "open" ? c.callback_due : c.fix_due;
      const by = c.state === "open" ? c.callback_by : c.fix_by;
      const late = due && new Date(due) <= now && ["open", "called_back"].includes(c.state);
      return el("li", { "data-case": c.id },
        el("a", { href: `/cases/${c.id}` }, `#${c.id} ${c.ticket_code}`), ` ${c.window}号 ${c.staff_name || ""} `,
        el("span", { class: "bad" }, c.grade_name), ` · ${c.state_name}`,
        el("div", { class: late ? "overdue" : "muted" }, (c.owner ? `负责人 ${c.owner}` : "未指派") +
          (due && ["open", "called_back"].includes(c.state) ? ` · ${c.state === "open" ? "回访" : "整改"}期限 ${by.slice(5)} 当日` : "") +
          (late ? " 已逾期" : "")));
    }) : [el("li", { class: "muted" }, "暂无未办结差评")]));
  }

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const [health, ws, queue, stats, al, cs, menu] = await Promise.all([
        hallq.api("GET", "/api/v1/health"),
        hallq.api("GET", "/api/v1/windows"), hallq.api("GET", "/api/v1/queue?tickets=0"),
        hallq.api("GET", "/api/v1/stats/today"), hallq.api("GET", "/api/v1/alerts"),
        hallq.api("GET", "/api/v1/cases"), hallq.api("GET", "/api/v1/services")]);
      hallq.syncClock(health.time);
      const alerted = new Set(al.alerts.filter((a) => a.window != null && !a.acked_at).map((a) => a.window));
      figures(stats); windows(ws.windows, alerted); waiting(queue, menu.services); alerts(al.alerts); cases(cs.cases);
      $("clock").textContent = "更新于 " + health.time.slice(11, 19);
    } catch (e) {
      $("clock").textContent = e.message;
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  refresh();
  hallq.live(refresh, $("live"));
  setInterval(refresh, 30000);
})();
