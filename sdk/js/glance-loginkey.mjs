// Glance login keys for integrators (docs/AUTH.md): `$1$<expires>$<signature>`, where the
// signature is base64url (no padding) of HMAC-SHA256(apiKey, "<partnerId>|<partnerUserId>|<expires>").
// Uses WebCrypto, so it runs in Node 18+ and in browsers. Sign on your server: the API key is a
// secret and must never reach an agent's browser.

const subtle = globalThis.crypto?.subtle;

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Signs a login key.
 * @param {{apiKey: string, partnerId: number|string, partnerUserId: string, expires?: number, expiresIn?: number}} p
 *   expires: Unix time in seconds; or expiresIn: seconds from now (default 3600).
 * @returns {Promise<string>}
 */
export async function signLoginKey({ apiKey, partnerId, partnerUserId, expires, expiresIn = 3600 }) {
  if (!subtle) throw new Error('WebCrypto (crypto.subtle) is not available');
  if (typeof apiKey !== 'string' || apiKey === '') throw new TypeError('apiKey must be a non-empty string');
  const pid = Number(partnerId);
  if (!Number.isInteger(pid) || pid < 0 || pid > 0xFFFFFFFF) throw new TypeError('partnerId must be a group id');
  if (typeof partnerUserId !== 'string' || partnerUserId === '') throw new TypeError('partnerUserId must be a non-empty string');
  const exp = expires ?? Math.floor(Date.now() / 1000) + expiresIn;
  if (!Number.isSafeInteger(exp) || exp < 0) throw new TypeError('expires must be a Unix time in seconds');
  const enc = new TextEncoder();
  const key = await subtle.importKey('raw', enc.encode(apiKey), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const sig = await subtle.sign('HMAC', key, enc.encode(`${pid}|${partnerUserId}|${exp}`));
  return `$1$${exp}$${base64url(new Uint8Array(sig))}`;
}

export default signLoginKey;
