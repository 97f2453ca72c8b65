// JSON text as plj0 carries it, for the daemon and the client: pure ASCII, every non-ASCII
// character escaped as \uXXXX (Ganeti's replies and requests are ASCII on the wire).

/** JSON text with every non-ASCII character escaped (\uXXXX). */
export function asciiJson(value: unknown): string {
  const json = JSON.stringify(value);
  // The usual text is ASCII already: a native length check instead of a regex pass over it.
  return isAscii(json) ? json : json.replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** Whether every character is below U+0080 (its UTF-8 is one byte per character; native). */
export function isAscii(s: string): boolean {
  return Buffer.byteLength(s, 'utf8') === s.length;
}
