// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // "Back" links on error pages.
  for (const a of document.querySelectorAll("a[data-back]")) {
    a.addEventListener("click", (e) => { e.preventDefault(); history.back(); });
  }
  // Filter forms submit on change.
  for (const f of document.querySelectorAll("form[data-autosubmit]")) {
    for (const el of f.querySelectorAll("select")) el.addEventListener("change", () => f.requestSubmit());
  }
  // Show chosen file names and sizes before upload.
  for (const input of document.querySelectorAll("input[type=file][data-list]")) {
    const out = document.getElementById(input.dataset.list);
    input.addEventListener("change", () => {
      if (!out) return;
      out.textContent = "";
      for (const f of input.files) {
        const li = document.createElement("li");
        li.textContent = `${f.name} — ${(f.size / 1024).toFixed(0)} Ko`;
        out.appendChild(li);
      }
    });
  }
});

// SHA-256 (FIPS 180-4) over bytes, for the portal's proof-of-work. `crypto.subtle` is only
// available on secure origins and is asynchronous per call; a plain implementation is faster
// for many small inputs and works everywhere.
const SHA256_K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
function sha256(bytes) {
  const n = bytes.length, total = ((n + 9 + 63) >> 6) << 6;
  const m = new Uint8Array(total); m.set(bytes); m[n] = 0x80;
  const dv = new DataView(m.buffer);
  dv.setUint32(total - 4, (n * 8) >>> 0); dv.setUint32(total - 8, Math.floor(n / 0x20000000));
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x, r) => (x >>> r) | (x << (32 - r));
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15], b = w[i - 2];
      w[i] = (w[i - 16] + (rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3)) + w[i - 7] + (rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10))) >>> 0;
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
  }
  return h;
}
function leadingZeroBits(h) {
  let n = 0;
  for (const word of h) { if (word === 0) { n += 32; continue; } return n + Math.clz32(word); }
  return n;
}
// Finds a nonce such that SHA-256(token ":" nonce) has `bits` leading zero bits, yielding to the
// page every few thousand tries.
function solveChallenge(token, bits) {
  const enc = new TextEncoder();
  return new Promise((resolve) => {
    let nonce = 0;
    const step = () => {
      for (let i = 0; i < 5000; i++, nonce++) {
        if (leadingZeroBits(sha256(enc.encode(`${token}:${nonce}`))) >= bits) return resolve(String(nonce));
      }
      setTimeout(step, 0);
    };
    step();
  });
}
window.diwanSolveChallenge = solveChallenge;

// The portal form: fetch a fresh challenge on submit, solve it, then send the form.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-challenge]");
  if (!form) return;
  const status = document.getElementById("challenge-status");
  const button = form.querySelector("button[type=submit]");
  let solved = false;
  form.addEventListener("submit", async (e) => {
    if (solved) return;
    e.preventDefault();
    if (!form.reportValidity()) return;
    button.disabled = true;
    if (status) status.textContent = status.dataset.computing || "…";
    try {
      const resp = await fetch(form.dataset.challenge, { headers: { accept: "application/json" } });
      const ch = await resp.json();
      form.elements.challenge_token.value = ch.token;
      form.elements.challenge_nonce.value = await solveChallenge(ch.token, ch.bits);
      solved = true;
      if (status) status.textContent = "";
      form.submit();
    } catch (err) {
      if (status) status.textContent = String(err);
      button.disabled = false;
    }
  });
});
