// The sign-in page: on success, on to the page asked for, or the first one the user's roles open.
import { $, applyI18n, el, landingPage, lang, pagesFor, registerWorker, setLang, signIn, signInProblem, t } from "/static/common.js";

const params = new URLSearchParams(location.search);
$("#denied").hidden = !params.has("denied");
$("#lang-switch").addEventListener("click", () => setLang(lang === "id" ? "en" : "id"));
window.addEventListener("rujuk:lang", () => { $("#lang-switch").textContent = lang === "id" ? "English" : "Bahasa Indonesia"; });
$("#lang-switch").textContent = lang === "id" ? "English" : "Bahasa Indonesia";
applyI18n();
registerWorker();
document.body.dataset.ready = "1"; // for tests and the page benchmark

$("#signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const user = $("#username").value.trim();
  const pass = $("#password").value;
  const err = $("#signin-error");
  err.textContent = "";
  if (!user) { err.textContent = t("signin.need_user"); $("#username").focus(); return; }
  if (!pass) { err.textContent = t("signin.need_pass"); $("#password").focus(); return; }
  $("#signin-button").disabled = true;
  try {
    const who = await signIn(user, pass);
    const pages = pagesFor(who);
    const next = params.get("next");
    if (next && pages.some((p) => p.path === next)) { location.href = next; return; }
    const landing = landingPage(who);
    if (landing) { location.href = landing; return; }
    if (pages.length === 0) { err.textContent = t("signin.no_pages"); return; }
    $("#signin").hidden = true;
    $("#choose").hidden = false;
    $("#choose-list").replaceChildren(...pages.map((p) => el("li", {}, el("a", { href: p.path }, t(p.key)))));
  } catch (e) {
    err.textContent = signInProblem(e);
  } finally {
    $("#signin-button").disabled = false;
  }
});
