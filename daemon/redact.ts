// Messages about a document that may be logged or printed: nothing of its text. JSON.parse's
// message quotes the document around the error in some cases (V8: `Unexpected token 'x',
// "…text…" is not valid JSON`), and a document can hold anything; readDocument passes that
// message on, so every log line and --check report about a document goes through here.

/** V8's own wording, which names a position but no document text. */
const SAFE_JSON_ERROR = /^(?:Unexpected end of JSON input|[A-Za-z ',{}"[\]:-]+ (?:in|after) JSON at position \d+(?: \(line \d+ column \d+\))?)$/;

export function redactDocumentMessage(message: string): string {
  return message.replace(/not valid JSON \((.*)\)$/s, (_all, inner: string) => {
    if (SAFE_JSON_ERROR.test(inner)) return `not valid JSON (${inner})`;
    const pos = /at position (\d+)/.exec(inner);
    return `not valid JSON (a syntax error${pos ? ` at position ${pos[1]}` : ''}; the text is not shown)`;
  });
}
