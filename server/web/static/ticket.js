// The citizen's ticket page: polls this ticket's JSON (nothing about anyone else) every few seconds.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let ticket = JSON.parse($("ticket-data").textContent);
  const hall = JSON.parse($("hall-data").textContent);
  const id = ticket.id;
  let grade = null, timer = null, lastState = ticket.state;
  try {  // 找回我的号 (/t) offers this ticket again on this phone today
    localStorage.setItem("hallq-ticket", JSON.stringify({ id, code: ticket.code, day: ticket.issued_at.slice(0, 10) }));
  } catch (e) { /* private mode: nothing kept */ }

  async function get(path) {
    const res = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!res.ok) throw new Error("网络异常");
    return res.json();
  }
  async function post(path, body) {
    const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.message || "提交失败");
    return data;
  }

  function render() {
    const t = ticket;
    $("t-state").textContent = t.state_name;
    $("t-state").dataset.state = t.state;
    $("t-matter").textContent = t.matter.name + (t.step ? `（第${t.step.index}/${t.step.of}步：${t.service.name}）` : "");
    const call = $("t-call");
    if (t.window && (t.state === "called" || t.state === "serving")) {
      call.hidden = false;
      call.textContent = t.state === "called" ? `请到${t.window.number}号窗口` : `正在${t.window.number}号窗口办理`;
    } else call.hidden = true;
    const pos = $("t-position");
    if (t.state === "waiting" && t.position) {
      pos.replaceChildren("前面还有 ", Object.assign(document.createElement("b"), { textContent: t.position.ahead }),
        " 人，", Object.assign(document.createElement("b"), { textContent: t.position.wait_text }));
    } else if (t.state === "parked") pos.textContent = "已挂起：补齐材料后请回到原窗口，无需重新取号";
    else if (t.state === "no_show") pos.textContent = "已过号，如需办理请重新取号或咨询导办人员";
    else if (t.state === "finished") pos.textContent = "已办结" + (t.outcome_name ? `（${t.outcome_name}）` : "") + "，感谢您的耐心";
    else pos.textContent = "";
    $("t-materials-block").hidden = ["finished", "no_show"].includes(t.state);
    const r = t.rating || {};
    $("rate-block").hidden = !r.can_rate;
    if (r.can_rate) $("rate-hint").textContent = `请对“${r.service}”的服务进行评价，可在 ${r.until.slice(0, 16).replace("T", " ")} 前评价。`;
    const c = t.case || {};
    $("callback-block").hidden = !c.case;
    if (c.case) $("callback-note").textContent = callbackText(c, t);
    $("fix-block").hidden = !c.can_rate_fix;
    if (c.can_rate_fix) $("fix-state").textContent = c.state_name;
    if (t.state !== lastState && t.state === "called" && navigator.vibrate) navigator.vibrate([300, 100, 300]);
    lastState = t.state;
  }

  async function poll() {
    try {
      const next = await get(`/api/v1/tickets/${encodeURIComponent(id)}`);
      next.case = ["finished", "no_show"].includes(next.state) ? await get(`/api/v1/tickets/${encodeURIComponent(id)}/case`) : {};
      ticket = next;
      render();
    } catch (e) { /* keep the last view; try again on the next tick */ }
    const done = ticket.state === "finished" && !(ticket.rating || {}).can_rate && !(ticket.case || {}).can_rate_fix;
    timer = setTimeout(poll, done ? 30000 : 3000);
  }

  // 差评 → 回访核实: the rater is told who acts and by when (rules.callback_working_days).
  function callbackText(c, t) {
    const by = c.callback_due ? `${c.callback_due.slice(0, 16).replace("T", " ")} 前` : `${hall.callback_days} 个工作日内`;
    const how = t.phone ? `将致电 ${t.phone} 与您联系` : `如需补充情况，请拨打监督电话 ${hall.hotline}`;
    if (!c.state || c.state === "open") return `您的评价已收到。大厅将在 ${by}安排专人回访核实，${how}，并把处理结果告诉您。`;
    return `您反映的问题处理进度：${c.state_name}。`;
  }

  function thanks(text) { $("t-done").hidden = false; $("t-done").textContent = text; }

  for (const b of $("grades").querySelectorAll("button")) {
    b.addEventListener("click", () => {
      grade = Number(b.dataset.grade);
      for (const o of $("grades").querySelectorAll("button")) o.classList.toggle("chosen", o === b);
      $("bad-extra").hidden = grade > 2;
      $("rate-submit").disabled = false;
    });
  }
  $("rate-submit").addEventListener("click", async () => {
    const body = { grade, channel: "qr", ticket: id };
    if (grade <= 2) {
      if ($("rate-reason").value) body.reason = $("rate-reason").value;
      if ($("rate-comment").value.trim()) body.comment = $("rate-comment").value.trim();
    }
    $("rate-submit").disabled = true;
    try {
      await post("/api/v1/ratings", body);
      thanks(grade <= 2 ? `感谢您的评价。大厅将在 ${hall.callback_days} 个工作日内回访核实您反映的问题，并把处理结果告诉您。`
        : "感谢您的评价！");
      clearTimeout(timer); poll();
    }
    catch (e) { thanks(e.message); $("rate-submit").disabled = false; }
  });
  for (const b of $("fix-grades").querySelectorAll("button")) {
    b.addEventListener("click", async () => {
      try { await post(`/api/v1/tickets/${encodeURIComponent(id)}/fix-rating`, { grade: Number(b.dataset.grade) }); thanks("感谢您对整改结果的评价！"); clearTimeout(timer); poll(); }
      catch (e) { thanks(e.message); }
    });
  }
  render();
  timer = setTimeout(poll, 3000);
})();
