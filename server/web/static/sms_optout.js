// The ticket page's "不再接收短信" link: no more SMS for this ticket (POST .../sms-opt-out; the
// ticket id is the key). One Idempotency-Key per tap, so a retried tap applies once.
(function () {
  "use strict";
  const block = document.getElementById("sms-block");
  const button = document.getElementById("sms-optout");
  if (!block || !button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    const key = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    try {
      const res = await fetch(`/api/v1/tickets/${encodeURIComponent(block.dataset.ticket)}/sms-opt-out`, {
        method: "POST", body: "{}",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key, "Request-Timeout-Ms": "10000" },
      });
      if (!res.ok) throw new Error(String(res.status));
      document.getElementById("sms-note").textContent = "已退订，本号不再发送短信。";
      button.hidden = true;
    } catch (e) {
      document.getElementById("sms-note").textContent = "退订未成功，请稍后重试或回复TD退订。";
      button.disabled = false;
    }
  });
})();
