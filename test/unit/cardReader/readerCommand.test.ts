/**
 * E4: `paypad terminal reader` as a person runs it: the initial key injected from standard input,
 * then the emulated reader dials a gateway's reader channel over loopback and serves a read with
 * the PIN from standard input; the gateway's read opens in its HSM to the test card's track.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { bytesToAscii, fromHex, toHex, xorBytes } from '../../../shared/bytes';
import { dukptInitialKey } from '../../../shared/crypto/dukpt';
import { keyCheckValue } from '../../../shared/crypto/kcv';
import { decipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { openNodeDevice } from '../../../firmware/hal/node/nodeDevice';
import { decryptCardRead } from '../../../host/gateway/cardReaderDecrypt';
import { CARD_READER_PATH, ReaderChannel } from '../../../host/gateway/readerChannel';
import { TEST_CARDS } from '../../../host/simulators/testCards';
import { openTestHsm, rng } from '../hsm/hsmTestKit';

const PAYPAD = fileURLToPath(new URL('../../../bin/paypad', import.meta.url));
const BDK = fromHex('FEDCBA9876543210F1F1F1F1F1F1F1F1');
const IK_ID = '1234567890123456';

function paypad(args: string[], stdin: string) {
  const child = spawn(PAYPAD, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin);
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return { child, done, out: () => ({ stdout, stderr }) };
}

const channel = new ReaderChannel();
const server = createServer((_req, res) => res.writeHead(404).end());
afterAll(async () => {
  await channel.close();
  await new Promise((r) => server.close(r));
});

it('E4: paypad terminal reader inject, then run: a read with the PIN from standard input decrypts in the HSM; a key on the command line is refused', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'paypad-reader-'));
  openNodeDevice(stateDir, { manufacture: true });
  const ik = toHex(dukptInitialKey(BDK, fromHex(IK_ID)));
  const injected = paypad(['terminal', 'reader', 'inject', '--state-dir', stateDir, '--initial-key-id', IK_ID], `${ik}\n`);
  expect(await injected.done, injected.out().stderr).toBe(0);
  expect(JSON.parse(injected.out().stdout)).toEqual({ counter: 1 });
  const refused = paypad(['terminal', 'reader', 'inject', '--state-dir', stateDir, '--initial-key-id', IK_ID, '--initial-key', ik], '');
  expect(await refused.done).toBe(2);

  channel.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}${CARD_READER_PATH}`;
  const reader = paypad(['terminal', 'reader', 'run', '--state-dir', stateDir, '--gateway', url, '--reader-id', 'till-cli', '--card', 'visa', '--pin-stdin', '--heartbeat-ms', '500'], '1234\n');
  channel.pair('checkout-cli', 'till-cli');
  for (const end = Date.now() + 20_000; channel.status('checkout-cli') !== 'connected'; ) {
    if (Date.now() > end) throw new Error(`reader did not connect: ${reader.out().stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const read = await channel.readCard('checkout-cli', { pin: true, timeoutMs: 5_000 });

  const { hsm, open } = await openTestHsm();
  const first = rng(16);
  const bdk = await hsm.importKeyComponents({ usage: 'B0', algorithm: 'A', modeOfUse: 'X', exportability: 'N' }, [first, xorBytes(BDK, first)].map((value) => ({ value, kcv: toHex(keyCheckValue(value)) })), toHex(keyCheckValue(BDK)));
  const zpk = await hsm.generateKey({ usage: 'P0', algorithm: 'A', modeOfUse: 'B', exportability: 'N', lengthBytes: 16 });
  const clear = await decryptCardRead({ hsm, bdk, zonePinKey: zpk }, read, { initialKeyId: fromHex(IK_ID) });
  expect(bytesToAscii(clear.track2)).toBe(`${TEST_CARDS.visa.pan}=${TEST_CARDS.visa.expiry}1011234`);
  expect(decipherPinBlockIso4((await open(zpk)).key, clear.pinBlock!, TEST_CARDS.visa.pan)).toBe('1234');
  clear.wipe();

  reader.child.kill('SIGINT');
  expect(await reader.done).toBe(0);
  expect(reader.out().stdout + reader.out().stderr).not.toContain(TEST_CARDS.visa.pan);
}, 60_000);
