// Lone surrogates: a JavaScript string may hold one, a MessagePack string (UTF-8) cannot, so a
// client receives U+FFFD in its place. Whatever both sides hash from strings (commitments,
// etags) is hashed as the client sees it, with these.

/** A UTF-16 code unit of a surrogate pair without its other half. */
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_ALL = new RegExp(LONE.source, 'g');

export function hasLoneSurrogate(s: string): boolean {
  return LONE.test(s);
}

/** `s` with each lone surrogate made U+FFFD, as a client receives it. */
export function withoutLoneSurrogates(s: string): string {
  return LONE.test(s) ? s.replace(LONE_ALL, '\ufffd') : s;
}

/**
 * JSON text (JSON.stringify's) with each lone surrogate, which it writes as an escape `\udXXX`,
 * made U+FFFD. One pass: a backslash always starts an escape of its own (`\\` is one), so the
 * escapes are read left to right and never rescanned.
 */
export function jsonTextWithoutLoneSurrogates(text: string): string {
  if (!text.includes('\\ud')) return text;
  let out = '';
  let from = 0;
  for (let i = text.indexOf('\\'); i >= 0 && i < text.length; i = text.indexOf('\\', i)) {
    if (text.charCodeAt(i + 1) === 0x75 /* u */ && text.charCodeAt(i + 2) === 0x64 /* d */ && /[89a-f]/.test(text[i + 3] ?? '')) {
      out += text.slice(from, i) + '\ufffd';
      i += 6;
      from = i;
    } else {
      i += 2;
    }
  }
  return out === '' ? text : out + text.slice(from);
}
