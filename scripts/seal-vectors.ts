// Prints the "Sealed traffic" test vectors of docs/protocol.md ("Test vectors"), computed by the
// code: the seal keys of the page's test key, and the request and reply vectors of "Test
// vectors" sealed under fixed nonces. Run with `npx vite-node scripts/seal-vectors.ts` and paste
// its output over the list in protocol.md when the construction changes;
// test/unit/seal-vectors.test.ts checks the page against the code.
import { Keyring } from '../shared/keyring.js';
import { packBody } from '../shared/msgpack-encode.js';
import { KIND_SEALED_REPLY, KIND_SEALED_REQUEST, frame } from '../shared/qcf1-frame.js';
import { sealBody, sealKeys } from '../shared/seal.js';

/** The page's test key, salt and times (protocol.md, "Test vectors"). */
const VECTOR_KEY = '0123456789abcdef'.repeat(4);
const VECTOR_SALT = Uint8Array.from({ length: 16 }, (_, i) => i);
const REQUEST_TIME = 1_795_390_000_123;
const REPLY_TIME = 1_795_390_000_456;
/** Nonces: bytes 20 21 … 37 for the request, 40 41 … 57 for the reply. */
const REQUEST_NONCE = Uint8Array.from({ length: 24 }, (_, i) => 0x20 + i);
const REPLY_NONCE = Uint8Array.from({ length: 24 }, (_, i) => 0x40 + i);
const REQUEST_BODY = { op: 'get', path: '/cluster/master', to: '192.0.2.10:1814', pad: Buffer.alloc(0) };
const REPLY_BODY = { status: 0, serial: 7, node: 'a', instance: '00112233aabbccdd', answer: 'n1', etag: 'e1' };

function sealVectors(): Array<[string, string]> {
  const key = Keyring.fromStrings([VECTOR_KEY]).signer;
  const keys = sealKeys(key);
  const request = packBody(REQUEST_BODY);
  const reply = packBody(REPLY_BODY);
  const sealedRequest = sealBody(keys.request, request, 0, request.length, 0, REQUEST_NONCE);
  const sealedReply = sealBody(keys.reply, reply, 0, reply.length, 0, REPLY_NONCE);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  return [
    ['request seal key', hex(keys.request)],
    ['reply seal key', hex(keys.reply)],
    ['request plaintext', hex(request)],
    ['sealed request body', hex(sealedRequest)],
    ['sealed request datagram', hex(frame(KIND_SEALED_REQUEST, key, REQUEST_TIME, VECTOR_SALT, 0, sealedRequest))],
    ['reply plaintext', hex(reply)],
    ['sealed reply body', hex(sealedReply)],
    ['sealed reply datagram', hex(frame(KIND_SEALED_REPLY, key, REPLY_TIME, VECTOR_SALT, 0, sealedReply))],
  ];
}

for (const [label, value] of sealVectors()) process.stdout.write(`- ${label}: \`${value}\`\n`);
