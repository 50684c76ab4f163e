import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { asciiToBytes, fromHex, toHex } from '../../../shared/bytes';
import { encodeKeyEnvelope, generateP256KeyPair, wrapKeyForRecipient } from '../../../shared/crypto/keyTransport';
import { PaypadError } from '../../../shared/errors';
import { type MessageName, toErrorBody, validateMessage } from '../../../shared/protocol/messages';
import { decodeJson, encodeJson } from '../../../shared/protocol/validate';

const rng = (length: number) => new Uint8Array(randomBytes(length));
const malformed = (message: string | RegExp) => expect.objectContaining({ code: 'PROTOCOL_MALFORMED', message: expect.stringMatching(message) });

/** A real TK envelope for MTMS's intake key, as the terminal makes it (A10). */
function tkEnvelopeHex(serial: string, keyBytes = 16): string {
  const intake = generateP256KeyPair(rng);
  return toHex(encodeKeyEnvelope(wrapKeyForRecipient(intake.publicKey, rng(keyBytes), asciiToBytes(`paypad-tk|${serial}`), rng)));
}

// TR-31:2018 annex A.7.4 (STANDARDS.md): a version D key block, and the CMAC KCV of its key.
const TR31_BLOCK = 'D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34';
const KCV = '08793E25AB';
const ENVELOPE = tkEnvelopeHex('PP-000123');

const VALID: { [N in MessageName]: unknown } = {
  lookupRequest: { v: 1, serial: 'PP-000123' },
  customerNameRequest: { v: 1, serial: 'PP-000123', customerCode: 'ACQ_01' },
  customerInfo: { v: 1, serial: 'PP-000123', customerCode: 'ACQ_01', customerName: '中国银联 Acquirer Ltd.' },
  deviceChallengeRequest: { v: 1, serial: 'PP-000123' },
  deviceChallenge: { v: 1, serial: 'PP-000123', nonce: 'A5'.repeat(32), expiresAt: '2026-12-06T01:05:00.000Z' },
  tkIntakeRequest: { v: 1, serial: 'PP-000123', tkEnvelope: ENVELOPE, confirmed: true, nonce: 'A5'.repeat(32), deviceSignature: '5A'.repeat(64), deviceCertificate: '30'.repeat(450) },
  deviceEnrolmentRequest: { v: 1, serial: 'PP-000123', publicKey: `04${'11'.repeat(64)}`, nonce: 'A5'.repeat(32), signature: '5A'.repeat(64) },
  deviceCertificate: { v: 1, serial: 'PP-000123', certificate: '30'.repeat(450) },
  tkIntakeReceipt: { v: 1, serial: 'PP-000123', customerCode: 'ACQ_01', deliveryId: '0f8e2a4c-1b7d-4e9a-a2f1-3c5d7e9b1a2c' },
  kmsTkDelivery: { v: 1, deliveryId: 'd-42', serial: 'PP-000123', envelope: ENVELOPE, customerCode: 'ACQ_01', intakeSequence: 17 },
  kmsTkDeliveryAck: { v: 1, deliveryId: 'd-42', outcome: 'duplicate' },
  tmkRequest: { v: 1 },
  tmkResponse: { v: 1, tmkBlock: TR31_BLOCK, kcv: KCV },
  signOnRequest: { v: 1 },
  signOnResponse: {
    v: 1,
    keys: [
      { name: 'PIK', block: TR31_BLOCK, kcv: KCV },
      { name: 'MAK', block: TR31_BLOCK, kcv: KCV },
      { name: 'TDK', block: TR31_BLOCK, kcv: KCV },
      { name: 'DMK', block: TR31_BLOCK, kcv: KCV },
    ],
  },
  errorBody: { error: { code: 'PROTOCOL_REPLAY', message: 'sequence 5 is not above the last accepted 7' } },
};

function withField(name: MessageName, field: string, value: unknown): unknown {
  return { ...(VALID[name] as object), [field]: value };
}

describe('key-loading messages (issue 3: declared once, validated the same on host and firmware)', () => {
  it.each(Object.keys(VALID) as MessageName[])('%s round-trips through JSON bytes unchanged', (name) => {
    const bytes = encodeJson(VALID[name]);
    expect(decodeJson(bytes, 16384, (value) => validateMessage(name, value), name)).toEqual(VALID[name]);
  });

  it.each(Object.keys(VALID).filter((n) => n !== 'errorBody') as MessageName[])('%s: an unknown field, a missing v and v 2 are refused', (name) => {
    expect(() => validateMessage(name, withField(name, 'extra', 1))).toThrow(malformed(`^${name}\\.extra: unknown field$`));
    expect(() => validateMessage(name, withField(name, 'v', undefined))).toThrow(malformed(`^${name}\\.v: missing$`));
    expect(() => validateMessage(name, withField(name, 'v', 2))).toThrow(expect.objectContaining({ code: 'PROTOCOL_UNSUPPORTED_VERSION' }));
  });

  it('hex fields come back uppercase whatever case was sent', () => {
    const lower = validateMessage('tmkResponse', { v: 1, tmkBlock: TR31_BLOCK, kcv: KCV.toLowerCase() });
    expect(lower.kcv).toBe(KCV);
    expect(validateMessage('tkIntakeRequest', withField('tkIntakeRequest', 'tkEnvelope', ENVELOPE.toLowerCase())).tkEnvelope).toBe(ENVELOPE);
  });
});

describe('serial numbers and customer codes (A2, A3, A6)', () => {
  it.each(['PP01', 'PP-000123', 'A'.repeat(32), '0000-1111-2222'])('A2 accepts the serial %s', (serial) => {
    expect(validateMessage('lookupRequest', { v: 1, serial }).serial).toBe(serial);
  });

  it.each([
    ['too short', 'PP1'],
    ['too long', 'A'.repeat(33)],
    ['lowercase', 'pp-000123'],
    ['with a space', 'PP 000123'],
    ['with an underscore', 'PP_000123'],
    ['with a newline', 'PP-1\n23'],
    ['a number', 123456],
  ])('A2 refuses a serial %s', (_, serial) => {
    expect(() => validateMessage('lookupRequest', { v: 1, serial })).toThrow(malformed(/^lookupRequest\.serial: /));
  });

  it.each([
    ['too short', 'A'],
    ['too long', 'A'.repeat(17)],
    ['lowercase', 'acq_01'],
    ['with a dot', 'ACQ.01'],
  ])('A6 refuses a customer code %s', (_, customerCode) => {
    expect(() => validateMessage('customerNameRequest', { v: 1, serial: 'PP-000123', customerCode })).toThrow(
      malformed(/^customerNameRequest\.customerCode: /),
    );
  });

  it('A3 refuses an empty, oversized or control-character customer name', () => {
    for (const customerName of ['', 'N'.repeat(81), 'Evil\u001b[2J']) {
      expect(() => validateMessage('customerInfo', withField('customerInfo', 'customerName', customerName))).toThrow(
        malformed(/^customerInfo\.customerName: /),
      );
    }
  });
});

describe('TK intake and delivery (A5, A6, A7, A10)', () => {
  it('A6 the intake may carry the customer code the operator typed; A5 it may not', () => {
    const withCode = validateMessage('tkIntakeRequest', withField('tkIntakeRequest', 'customerCode', 'ACQ_02'));
    expect(withCode.customerCode).toBe('ACQ_02');
    expect('customerCode' in validateMessage('tkIntakeRequest', VALID.tkIntakeRequest)).toBe(false);
  });

  it('A4 an intake the operator did not confirm is refused', () => {
    for (const confirmed of [false, 'true', undefined]) {
      expect(() => validateMessage('tkIntakeRequest', withField('tkIntakeRequest', 'confirmed', confirmed))).toThrow(
        malformed(/^tkIntakeRequest\.confirmed: /),
      );
    }
  });

  it('A10 real envelopes for AES-128 and AES-256 keys fit; a bare or oversized hex string does not', () => {
    expect(() => validateMessage('tkIntakeRequest', withField('tkIntakeRequest', 'tkEnvelope', tkEnvelopeHex('PP-000123', 32)))).not.toThrow();
    expect(() => validateMessage('tkIntakeRequest', withField('tkIntakeRequest', 'tkEnvelope', toHex(rng(16))))).toThrow(
      malformed(/^tkIntakeRequest\.tkEnvelope: expected 180 to 512 hex digits \(whole bytes\), got 32 characters$/),
    );
    expect(() => validateMessage('kmsTkDelivery', withField('kmsTkDelivery', 'envelope', 'AB'.repeat(257)))).toThrow(
      malformed(/^kmsTkDelivery\.envelope: /),
    );
    expect(() => validateMessage('kmsTkDelivery', withField('kmsTkDelivery', 'envelope', `${ENVELOPE.slice(0, -1)}Z`))).toThrow(
      malformed(/not a hex digit$/),
    );
  });

  it('A7 A13 delivery ids are bounded identifiers and the ack says applied, duplicate or superseded, nothing else', () => {
    for (const deliveryId of ['', 'x'.repeat(65), 'a/b', 'a b']) {
      expect(() => validateMessage('kmsTkDelivery', withField('kmsTkDelivery', 'deliveryId', deliveryId))).toThrow(malformed(/deliveryId: /));
    }
    for (const outcome of ['applied', 'duplicate', 'superseded']) {
      expect(validateMessage('kmsTkDeliveryAck', { v: 1, deliveryId: 'd-42', outcome }).outcome).toBe(outcome);
    }
    for (const outcome of ['failed', 'Superseded', '', null, 1]) {
      expect(() => validateMessage('kmsTkDeliveryAck', { v: 1, deliveryId: 'd-42', outcome })).toThrow(malformed(/^kmsTkDeliveryAck\.outcome: expected one of /));
    }
  });

  it('A7 A13 a delivery carries its intake sequence: a positive safe integer, exactly', () => {
    for (const intakeSequence of [1, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
      expect(validateMessage('kmsTkDelivery', withField('kmsTkDelivery', 'intakeSequence', intakeSequence)).intakeSequence).toBe(intakeSequence);
    }
    // Zero, negatives, fractions, numbers past 2^53 - 1 (no longer exact in JSON), and numbers as text.
    for (const intakeSequence of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, 1e300, Number.NaN, '17', null, true]) {
      expect(() => validateMessage('kmsTkDelivery', withField('kmsTkDelivery', 'intakeSequence', intakeSequence))).toThrow(
        malformed(/^kmsTkDelivery\.intakeSequence: expected an integer from 1 to 9007199254740991$/),
      );
    }
    expect(() => validateMessage('kmsTkDelivery', withField('kmsTkDelivery', 'intakeSequence', undefined))).toThrow(malformed(/^kmsTkDelivery\.intakeSequence: missing$/));
    // A sequence too large for a safe integer cannot sneak in as JSON text either: it parses inexactly.
    const bytes = new TextEncoder().encode(JSON.stringify(VALID.kmsTkDelivery).replace('"intakeSequence":17', '"intakeSequence":9007199254740993'));
    expect(() => decodeJson(bytes, 16384, (value) => validateMessage('kmsTkDelivery', value), 'kmsTkDelivery')).toThrow(malformed(/intakeSequence/));
  });
});

describe('TMK download and sign-on (A11, A12)', () => {
  it('A11 the TMK answer needs a printable key block and a 5-byte CMAC KCV', () => {
    const bad: [string, unknown][] = [
      ['tmkBlock', 'D0112'],
      ['tmkBlock', `D${'0'.repeat(1024)}`],
      ['tmkBlock', `${TR31_BLOCK.slice(0, 20)}\u0000${TR31_BLOCK.slice(21)}`],
      ['kcv', 'E5E07C'],
      ['kcv', `${KCV}00`],
      ['kcv', null],
    ];
    for (const [field, value] of bad) {
      expect(() => validateMessage('tmkResponse', withField('tmkResponse', field, value))).toThrow(malformed(`^tmkResponse\\.${field}: `));
    }
  });

  const keys = (VALID.signOnResponse as { keys: { name: string; block: string; kcv: string }[] }).keys;

  it('A12 sign-on delivers PIK, MAK, TDK and DMK in any order', () => {
    const reversed = validateMessage('signOnResponse', { v: 1, keys: [...keys].reverse() });
    expect(reversed.keys.map((k) => k.name)).toEqual(['DMK', 'TDK', 'MAK', 'PIK']);
  });

  it('A12 a missing, repeated, extra or unknown working key is refused with the item path', () => {
    expect(() => validateMessage('signOnResponse', { v: 1, keys: keys.slice(0, 3) })).toThrow(malformed(/^signOnResponse\.keys: expected 4 items, got 3$/));
    expect(() => validateMessage('signOnResponse', { v: 1, keys: [...keys, keys[0]] })).toThrow(malformed(/^signOnResponse\.keys: expected 4 items, got 5$/));
    expect(() => validateMessage('signOnResponse', { v: 1, keys: [keys[0], keys[1], keys[2], keys[1]] })).toThrow(
      malformed(/^signOnResponse\.keys\[3\]\.name: MAK appears more than once$/),
    );
    expect(() => validateMessage('signOnResponse', { v: 1, keys: [keys[0], keys[1], keys[2], { ...keys[3], name: 'TMK' }] })).toThrow(
      malformed(/^signOnResponse\.keys\[3\]\.name: expected one of "PIK", "MAK", "TDK", "DMK"$/),
    );
    expect(() => validateMessage('signOnResponse', { v: 1, keys: [keys[0], { ...keys[1], kcv: 'XYZ' }, keys[2], keys[3]] })).toThrow(
      malformed(/^signOnResponse\.keys\[1\]\.kcv: /),
    );
  });
});

describe('typed error bodies (X2: a clear error, never a stack trace)', () => {
  it('X2 a PaypadError keeps its code and message and the body validates', () => {
    const body = toErrorBody(new PaypadError('PROTOCOL_REPLAY', 'sequence 5 is not above the last accepted 7'));
    expect(body).toEqual({ error: { code: 'PROTOCOL_REPLAY', message: 'sequence 5 is not above the last accepted 7' } });
    expect(validateMessage('errorBody', body)).toEqual(body);
  });

  it('X1 any other error becomes INTERNAL with a fixed message: nothing internal reaches the peer', () => {
    const body = toErrorBody(new Error(`decrypt failed with key ${toHex(fromHex('3F419E1CB7079442AA37474C2EFBF8B8'))}`));
    expect(body).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(toErrorBody('a string')).toEqual(body);
  });

  it('X2 a long or multi-line message is cut and cleaned so the receiver still accepts the body', () => {
    const body = toErrorBody(new PaypadError('BAD_REQUEST', `line one\nline two ${'x'.repeat(600)}`));
    expect(body.error.message).toHaveLength(512);
    expect(body.error.message.startsWith('line one line two')).toBe(true);
    expect(validateMessage('errorBody', body)).toEqual(body);
    expect(validateMessage('errorBody', toErrorBody(new PaypadError('INTERNAL', ''))).error.message).toBe('INTERNAL');
  });

  it('X2 refuses an error body with a lowercase code, an empty message or a field beside error', () => {
    expect(() => validateMessage('errorBody', { error: { code: 'oops', message: 'm' } })).toThrow(malformed(/^errorBody\.error\.code: /));
    expect(() => validateMessage('errorBody', { error: { code: 'X2', message: '' } })).toThrow(malformed(/^errorBody\.error\.message: /));
    expect(() => validateMessage('errorBody', { error: { code: 'X2', message: 'm' }, stack: 'at ...' })).toThrow(malformed(/^errorBody\.stack: unknown field$/));
  });
});
