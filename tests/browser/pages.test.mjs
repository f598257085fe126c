// Diwan's pages in headless Chromium: the public portal (directory, filing with the in-page
// proof of work, receipt, tracking, verification), the registry clerk's screens (login, register a
// letter with its scan, correspondence page, register view) in French and Arabic, on a desktop and
// on a phone-sized screen.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const BASE = process.argv[2];
const DATA = process.argv[3];
const logins = JSON.parse(readFileSync(join(DATA, "demo-logins.json"), "utf8"));
const clerk = logins.find((l) => l.login === "bo@mtnra");
assert.ok(clerk, "demo has the clerk bo@mtnra");

const tmp = mkdtempSync(join(tmpdir(), "diwan-pages-"));
// A small, well-formed one-page PDF (what a scanner would produce, minus the image).
function tinyPdf(text) {
  const objs = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    null,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  const stream = `BT /F1 14 Tf 72 770 Td (${text}) Tj ET`;
  objs[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  let out = "%PDF-1.7\n";
  const offs = [];
  objs.forEach((o, i) => { offs.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const o of offs) out += `${String(o).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return out;
}
const scan = join(tmp, "lettre-scannee.pdf");
writeFileSync(scan, tinyPdf("Demande de certificat"));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
let failures = 0;
async function test(name, fn, opts = {}) {
  const ctx = await browser.newContext({ acceptDownloads: true, locale: "fr-FR", ...opts });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Error statuses the test provokes on purpose show as "Failed to load resource"; scripts must not fail.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });
  page.on("response", (r) => { if (r.status() === 404 && r.url().includes("/static/")) errors.push(`missing asset ${r.url()}`); });
  try {
    await fn(page, ctx);
    assert.deepEqual(errors, [], "no script errors");
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split("\n").join("\n  ")}`);
  } finally {
    await ctx.close();
  }
}

// Every visible form control has an accessible label.
async function checkLabels(page) {
  const unlabeled = await page.$$eval("input:not([type=hidden]), select, textarea", (els) =>
    els.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")).map((e) => e.name));
  assert.deepEqual(unlabeled, [], "every control has a label");
}
// Nothing is wider than the screen.
async function checkNoOverflow(page) {
  const [sw, cw] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(sw <= cw + 1, `page wider than the screen: ${sw} > ${cw}`);
}

let filing = null;
let registered = null;

async function signIn(page, login, next) {
  const who = logins.find((l) => l.login === login);
  await page.goto(BASE + "/login?next=" + encodeURIComponent(next));
  await page.fill("#login", who.login);
  await page.fill("#password", who.password);
  await Promise.all([page.waitForURL((u) => u.pathname === next.split("?")[0]), page.click("button.primary")]);
}

await test("portal: a citizen on a phone files a letter and gets the number, code and sealed receipt", async (page) => {
  await page.goto(BASE + "/");
  assert.match(page.url(), /\/portail$/, "anonymous visitors land on the portal");
  assert.equal(await page.getAttribute("html", "lang"), "fr");
  await checkNoOverflow(page);
  // The directory lists both administrations and filters by name in either script.
  assert.equal(await page.locator("ul.directory > li").count(), 2);
  await page.fill("input[name=q]", "وزارة");
  await page.click("form[role=search] button");
  assert.equal(await page.locator("ul.directory > li").count(), 1);
  await page.click("ul.directory a.dir-link");
  assert.match(page.url(), /\/portail\/MTNRA$/);
  await checkLabels(page);
  await checkNoOverflow(page);
  await page.selectOption("#kind", "person");
  await page.fill("#name", "Amina El Idrissi");
  await page.fill("#id_number", "BK123456");
  await page.fill("#email", "amina@example.ma");
  await page.fill("#subject", "Demande de certificat de résidence");
  await page.fill("#message", "Veuillez trouver ci-joint ma demande.");
  await page.setInputFiles("#file", scan);
  await Promise.all([page.waitForURL(/\/portail\/MTNRA$/, { waitUntil: "load" }), page.click("#filing-submit")]);
  await page.waitForSelector("#filing-number");
  const number = (await page.textContent("#filing-number")).trim();
  const code = (await page.textContent("#tracking-code")).trim();
  assert.match(number, /^BO-CENTRAL\/A\/\d{4}\/\d{6}$/, "an incoming-register number");
  assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  // The sealed receipt downloads as a PDF.
  const href = await page.getAttribute("#receipt-pdf", "href");
  const resp = await page.request.get(BASE + href);
  assert.equal(resp.status(), 200);
  assert.equal(resp.headers()["content-type"], "application/pdf");
  const body = await resp.body();
  assert.equal(body.subarray(0, 5).toString(), "%PDF-");
  writeFileSync(join(tmp, "receipt.pdf"), body);
  filing = { number, code };
}, { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });

await test("portal: missing fields are refused with a clear message and nothing is filed", async (page) => {
  await page.goto(BASE + "/portail/MTNRA");
  // Bypass the browser's own checks to reach the server's.
  await page.$$eval("[required]", (els) => els.forEach((e) => e.removeAttribute("required")));
  await page.fill("#name", "Karim");
  await page.selectOption("#kind", "company");
  await Promise.all([page.waitForLoadState("load"), page.click("#filing-submit")]);
  await page.waitForSelector("#form-errors");
  const text = await page.textContent("#form-errors");
  assert.match(text, /erreurs/);
  assert.match(text, /ICE/);
  assert.equal(await page.inputValue("#name"), "Karim", "what was typed is kept");
  assert.equal(await page.locator("#filing-number").count(), 0);
});

await test("tracking: number and code show the status; a wrong code reveals nothing", async (page) => {
  assert.ok(filing, "a filing was made");
  await page.goto(BASE + "/suivi");
  await page.fill("#number", filing.number);
  await page.fill("#code", filing.code.toLowerCase());
  await page.click("button.primary");
  await page.waitForSelector("#track-status");
  assert.equal((await page.textContent("#track-status")).trim(), "Enregistré");
  await page.goto(BASE + "/suivi");
  await page.fill("#number", filing.number);
  await page.fill("#code", "AAAA-BBBB-CCCC");
  await page.click("button.primary");
  assert.match(await page.textContent(".alert.error"), /incorrect/);
  assert.equal(await page.locator("#track-status").count(), 0);
});

await test("verification page: the receipt verifies; by number and code too; a tampered copy fails", async (page) => {
  await page.goto(BASE + "/verifier");
  await checkLabels(page);
  await page.setInputFiles("#vfile", join(tmp, "receipt.pdf"));
  await page.click("button.primary");
  await page.waitForSelector("#verdict");
  assert.equal(await page.getAttribute("#verdict", "class"), "alert ok", await page.textContent("#verify-result"));
  await page.goto(BASE + "/verifier");
  await page.fill("#vnumber", filing.number);
  await page.fill("#vcode", filing.code);
  await page.click("button.primary");
  await page.waitForSelector("#verdict");
  assert.equal(await page.getAttribute("#verdict", "class"), "alert ok");
  // One byte changed inside the signed range.
  const bytes = readFileSync(join(tmp, "receipt.pdf"));
  const i = bytes.indexOf("/MediaBox");
  bytes[i + 1] = "N".charCodeAt(0);
  writeFileSync(join(tmp, "tampered.pdf"), bytes);
  await page.goto(BASE + "/verifier");
  await page.setInputFiles("#vfile", join(tmp, "tampered.pdf"));
  await page.click("button.primary");
  await page.waitForSelector("#verdict");
  assert.equal(await page.getAttribute("#verdict", "class"), "alert error");
});

await test("Arabic: right-to-left pages, translated, with the language kept across pages", async (page) => {
  await page.goto(BASE + "/portail");
  await page.click("nav.langs a[lang=ar]");
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  assert.equal(await page.getAttribute("html", "lang"), "ar");
  assert.match(await page.textContent("h1"), /مكتب الضبط الرقمي/);
  await page.goto(BASE + "/login");
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  assert.match(await page.textContent("h1"), /تسجيل الدخول/);
  // Logical CSS: in RTL the brand sits on the right.
  const box = await page.locator(".brand").boundingBox();
  const width = await page.evaluate(() => document.documentElement.clientWidth);
  assert.ok(box.x > width / 2, "brand is on the right in Arabic");
  await page.click("nav.langs a[lang=zgh]");
  assert.equal(await page.getAttribute("html", "dir"), "ltr");
  assert.match(await page.textContent("h1"), /ⴰⴽⵛⵛⵓⵎ/);
});

await test("sign-in: a wrong password is refused, the clerk gets in", async (page) => {
  await page.goto(BASE + "/login");
  await checkLabels(page);
  await page.fill("#login", clerk.login);
  await page.fill("#password", "not the password");
  await page.click("button.primary");
  assert.match(await page.textContent(".alert.error"), /incorrect/);
  await page.fill("#password", clerk.password);
  await page.click("button.primary");
  await page.waitForURL(BASE + "/");
  assert.match(await page.textContent("h1"), /Bienvenue/);
});

await test("registry clerk: registers a paper letter with its scan, sees it in the register", async (page) => {
  await page.goto(BASE + "/login?next=/courriers/nouveau");
  await page.fill("#login", clerk.login);
  await page.fill("#password", clerk.password);
  await page.click("button.primary");
  await page.waitForURL(/\/courriers\/nouveau$/);
  await checkLabels(page);
  // Empty subject and name: the server names what is wrong, keeps what was typed.
  await page.fill("#external_ref", "REF-2026-77");
  await page.setInputFiles("#file", scan);
  await page.click("button.primary");
  await page.waitForSelector("#form-errors");
  assert.match(await page.textContent("#form-errors"), /Objet/);
  assert.equal(await page.getAttribute("#subject", "aria-invalid"), "true");
  assert.equal(await page.inputValue("#external_ref"), "REF-2026-77");
  // Now complete.
  await page.selectOption("#party_kind", "company");
  await page.fill("#party_name", "Société Tafilalet Ouvrages SARL");
  await page.fill("#subject", "Réclamation relative au marché n° 12/2026");
  await page.fill("#summary", "Retard de paiement des décomptes.");
  await page.selectOption("#priority", "urgent");
  await page.setInputFiles("#file", scan);
  await page.click("button.primary");
  await page.waitForURL(/\/courriers\/[0-9a-f-]+\?enregistre=1$/);
  const number = (await page.textContent("h1 .num")).trim();
  registered = { path: new URL(page.url()).pathname, number };
  assert.match(number, /^BO-CENTRAL\/A\/\d{4}\/\d{6}$/);
  assert.match(await page.textContent(".alert.ok"), /Courrier enregistré/);
  assert.match(await page.textContent("body"), /Urgent/);
  // The scan is there and downloads with its hash shown.
  const link = page.locator("table.data a").first();
  assert.equal((await link.textContent()).trim(), "lettre-scannee.pdf");
  const doc = await page.request.get(BASE + (await link.getAttribute("href")));
  assert.equal(doc.status(), 200);
  assert.equal((await doc.body()).subarray(0, 5).toString(), "%PDF-");
  assert.match(await page.textContent("ol.timeline"), /Enregistrement/);
  // The register lists it; filters and paging keep each other.
  await page.click("a[href='/registre']");
  await page.fill("input[name=q]", "Tafilalet");
  await page.click("form.filters button.primary");
  await page.waitForSelector("table.data");
  const rows = page.locator("table.data tbody tr");
  assert.equal(await rows.count(), 1);
  assert.equal((await rows.first().locator("a.num").textContent()).trim(), number);
  await page.goto(BASE + "/registre?per_page=25&direction=outgoing&q=Tafilalet");
  assert.match(await page.textContent("main"), /Aucun courrier/);
  await page.goto(BASE + "/registre?from=2026-13-45");
  assert.match(await page.textContent(".alert.error"), /date/);
});

await test("register view on a phone: readable without horizontal scrolling", async (page) => {
  await page.goto(BASE + "/login?next=/registre");
  await page.fill("#login", clerk.login);
  await page.fill("#password", clerk.password);
  await page.click("button.primary");
  await page.waitForURL(/\/registre$/);
  assert.ok((await page.locator("table.data tbody tr").count()) >= 1);
  await checkNoOverflow(page);
}, { viewport: { width: 375, height: 812 }, isMobile: true });

await test("another administration's correspondence is not shown", async (page) => {
  const other = logins.find((l) => l.administration !== clerk.administration && l.role === "registry_clerk");
  assert.ok(other, "the commune has a clerk");
  await page.goto(BASE + "/login?next=/registre");
  await page.fill("#login", other.login);
  await page.fill("#password", other.password);
  await page.click("button.primary");
  await page.waitForURL(/\/registre$/);
  const text = await page.textContent("main");
  assert.ok(!text.includes("Tafilalet Ouvrages"), "the ministry's mail is not visible to the commune");
  assert.ok(!text.includes("BO-CENTRAL/"), "no ministry numbers");
});

await test("a letter travels: assigned, passed down through the queues, answered from the template", async (page) => {
  assert.ok(registered, "the registration scenario ran");
  // The registry office assigns it to the directorate; a deadline in the past is refused.
  await signIn(page, "bo@mtnra", registered.path);
  await checkLabels(page);
  const dsi = await page.$eval("#to_entity", (s) => [...s.options].find((o) => o.text.includes("systèmes d'information")).value);
  await page.selectOption("#to_entity", dsi);
  await page.fill("#due", "2001-01-01");
  const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/actions")), page.click("#form-assign button")]);
  assert.equal(refused.status(), 422);
  assert.match(await page.textContent("#action-error"), /Échéance/);
  await page.selectOption("#to_entity", dsi);
  await page.fill("#instructions", "Pour traitement et réponse sous huitaine");
  await Promise.all([page.waitForURL(/\?fait=assigned$/), page.click("#form-assign button")]);
  assert.match(await page.textContent("#notice"), /Imputation enregistrée/);
  assert.match(await page.textContent("#handling"), /systèmes d'information/);
  assert.match(await page.textContent("ol.timeline"), /Imputation/);
});

await test("the head of the directorate finds it in his queue and passes it down", async (page) => {
  await signIn(page, "chef.dsi@mtnra", "/corbeilles");
  const badge = await page.textContent("#queue-to_handle .badge");
  assert.ok(Number(badge) >= 1, `to handle: ${badge}`);
  await page.click("#queue-to_handle");
  await page.click(`table.data a:text("${registered.number}")`);
  await page.click("#form-assign >> xpath=../summary");
  const dev = await page.$eval("#to_entity", (s) => [...s.options].find((o) => o.text.includes("Division du développement")).value);
  await page.selectOption("#to_entity", dev);
  await Promise.all([page.waitForURL(/\?fait=assigned$/), page.click("#form-assign button")]);
  assert.match(await page.textContent("#handling"), /Division du développement/);
  assert.match(await page.textContent("#assignments"), /Transmise/);
});

await test("the head of division answers it; full-text search finds it without accents", async (page) => {
  await signIn(page, "chef.dev@mtnra", "/corbeilles");
  await page.fill("#search-q", "reclamation marche");
  await Promise.all([page.waitForLoadState("load"), page.click("form[role=search] button")]);
  await page.click(`table.data a:text("${registered.number}")`);
  await page.click("#form-reply >> xpath=../summary");
  const body = await page.inputValue("#reply-body");
  assert.match(body, /\{\{ number \}\}/, "the template is prefilled with merge fields");
  await page.fill("#signer", "Le Chef de la Division du développement");
  await Promise.all([page.waitForURL(/\?fait=replied$/), page.click("#form-reply button")]);
  assert.match(await page.textContent("h1 + p"), /Répondu/);
  const reply = page.locator("#assignments ul a.num").first();
  assert.match((await reply.textContent()).trim(), /^BO-CENTRAL\/D\/\d{4}\/\d{6}$/);
  await reply.click();
  await page.waitForSelector("#notes");
  const letter = page.locator("table.data a").first();
  const pdf = await page.request.get(BASE + (await letter.getAttribute("href")));
  assert.equal(pdf.status(), 200);
  assert.equal((await pdf.body()).subarray(0, 5).toString(), "%PDF-");
  assert.match(await page.textContent("main"), new RegExp(registered.number.replace(/\//g, "\\/")));
});

await test("dashboard: charts and tables; the register's year downloads as CSV", async (page) => {
  await signIn(page, "chef.dsi@mtnra", "/tableau-de-bord");
  assert.equal(await page.locator("svg.chart").count(), 2);
  assert.ok((await page.locator("svg.chart rect").count()) > 0, "bars are drawn");
  assert.match(await page.textContent("#loads"), /Division du développement/);
  await checkNoOverflow(page);
  await page.context().clearCookies();
  await signIn(page, "bo@mtnra", "/registre");
  const regs = await page.$$eval("select[name=register] option", (os) => os.filter((o) => o.text.includes("arrivée")).map((o) => o.value));
  let found = false;
  for (const reg of regs) {
    await page.goto(BASE + `/registre?register=${reg}`);
    const href = await page.getAttribute("#export-csv", "href");
    const csv = await page.request.get(BASE + href);
    if (csv.status() !== 200) continue;
    assert.match(csv.headers()["content-type"], /text\/csv/);
    const text = await csv.text();
    assert.match(text, /^\ufeff?number,registered_at/);
    if (text.includes(registered.number)) found = true;
  }
  assert.ok(found, "the letter registered earlier is in its register's export");
});

await test("queues in Arabic on a phone: right to left, no horizontal scrolling", async (page) => {
  await page.goto(BASE + "/lang/ar?next=/login");
  await signIn(page, "chef.dsi@mtnra", "/corbeilles");
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  assert.match(await page.textContent("h1"), /صناديق عملي/);
  await checkLabels(page);
  await checkNoOverflow(page);
}, { viewport: { width: 375, height: 812 }, isMobile: true });

await test("the registry clerk assigns two letters at once from the queue", async (page) => {
  await signIn(page, "bo@mtnra", "/corbeilles");
  await page.click("#queue-to_assign");
  const before = Number(await page.textContent("#queue-to_assign .badge"));
  assert.ok(before >= 2, `to assign: ${before}`);
  const boxes = page.locator("input[name=ids]");
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await checkLabels(page);
  const dsi = await page.$eval("#bulk-entity", (s) => [...s.options].find((o) => o.text.includes("systèmes d'information")).value);
  await page.selectOption("#bulk-op", "assign");
  await page.selectOption("#bulk-entity", dsi);
  await page.fill("#bulk-instructions", "Pour attribution");
  await Promise.all([page.waitForURL(/fait=2&echecs=0$/), page.click("#bulk button")]);
  assert.match(await page.textContent("#bulk-done"), /Courriers traités : 2/);
  assert.equal(Number(await page.textContent("#queue-to_assign .badge")), before - 2);
});

await test("signature book: an agent sends a folder, a head approves, another signs, the certificate is sealed", async (page, ctx) => {
  await signIn(page, "agent.sa@mtnra", "/parapheur");
  await Promise.all([page.waitForURL(/\/parapheur\/nouveau$/), page.click("#new-folder")]);
  await checkLabels(page);
  await page.fill("#title", "Note de service sur la sauvegarde");
  await page.selectOption("#document_type", "note");
  await page.setInputFiles("#file", scan);
  const user = async (sel, name) => page.$eval(sel, (s, n) => [...s.options].find((o) => o.text.includes(n)).value, name);
  await page.selectOption("#kind_0", "visa");
  await page.selectOption("#who_0", await user("#who_0", "Omar Tazi"));
  await page.selectOption("#kind_1", "signature");
  await page.selectOption("#who_1", await user("#who_1", "Nadia El Fassi"));
  await Promise.all([page.waitForURL(/\/parapheur\/[0-9a-f-]{36}\?fait=create$/), page.click("#folder-submit")]);
  assert.equal(await page.getAttribute("#folder-status", "data-status"), "in_circuit");
  const url = page.url().split("?")[0];
  // The head of the division approves it from the list of folders awaiting him.
  const head = await ctx.newPage();
  await signIn(head, "chef.dev@mtnra", "/parapheur");
  assert.ok(await head.locator(`a[href="${new URL(url).pathname}"]`).count() === 1, "the folder awaits the head");
  await head.goto(url);
  await Promise.all([head.waitForURL(/fait=approve$/), head.click("#approve")]);
  // The director sees that a refusal needs a reason, then signs.
  const director = await (await browser.newContext({ locale: "fr-FR" })).newPage();
  await signIn(director, "chef.dsi@mtnra", "/parapheur");
  await director.goto(url);
  await checkLabels(director);
  assert.equal(await director.getAttribute("#reject-reason", "required"), "");
  await Promise.all([director.waitForURL(/fait=sign$/), director.click("#sign")]);
  assert.equal(await director.getAttribute("#folder-status", "data-status"), "completed");
  assert.match(await director.textContent("#history"), /signature/);
  // The signed document and the sealed signature certificate download as PDFs.
  const doc = await director.request.get(new URL(await director.getAttribute("a.doc-main", "href"), url).href);
  assert.equal(doc.status(), 200);
  assert.match((await doc.body()).toString("latin1"), /\/ByteRange/);
  const ev = await director.request.get(new URL(await director.getAttribute("#evidence", "href"), url).href);
  assert.equal(ev.status(), 200);
  assert.equal(ev.headers()["content-type"], "application/pdf");
  await director.context().close();
});

await test("administrator: registers a webhook endpoint, sees its secret once, removes it", async (page) => {
  await signIn(page, "admin@mtnra", "/administration/webhooks");
  await checkLabels(page);
  await page.fill("#url", "http://127.0.0.1:9/hook");
  await page.click("#hook-submit");
  assert.match(await page.textContent("#form-error"), /Adresse/, "a private address is refused with the field named");
  await page.fill("#url", "https://hooks.example.org/diwan");
  await page.click("#hook-submit");
  assert.match(await page.textContent("#secret"), /^whsec_[0-9a-f]{64}$/);
  await page.goto(BASE + "/administration/webhooks");
  assert.equal(await page.locator("#secret").count(), 0, "the secret is not shown again");
  assert.match(await page.textContent("#hooks"), /hooks\.example\.org/);
  await Promise.all([page.waitForURL(/fait=delete$/), page.click("#hooks button[name=delete]")]);
  assert.equal(await page.locator("#hooks").count(), 0);
});

await browser.close();
if (failures) {
  console.log(`${failures} browser test(s) failed`);
  process.exit(1);
}
console.log("all browser tests passed");
