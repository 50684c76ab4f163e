/**
 * C8, X4: what a POSP stopped mid-authorisation leaves is reversed when a POSP sweeps for it
 * (host/posp/unfinishedAuthorisations.ts). A "stop" here is the 0200 sent and answered through
 * POSP's real authoriser and journal, with nothing after it recorded: the row stays `authorising`,
 * the hold pending, as a kill after the 0210 arrived would leave them.
 */
import { describe, expect, it } from 'vitest';
import { encipherPinBlockIso4 } from '../../../shared/crypto/pinblock';
import { createAuthorisationLedger } from '../../../host/posp/authorisationLedger';
import type { AuthorisationOutcome } from '../../../host/posp/cardAuthoriser';
import { CURRENCY_NUMERIC } from '../../../host/posp/mobilePayment';
import { reverseUnfinishedAuthorisations, UNFINISHED_AFTER_MS } from '../../../host/posp/unfinishedAuthorisations';
import { TEST_CARDS, TEST_PIN } from '../../../host/simulators/testCards';
import { rng } from '../hsm/hsmTestKit';
import { DIALECTS } from '../../store/helpers/testDatabase';
import { CUSTOMER, MERCHANT_ID, NOW, usePosp } from './pospTestKit';

const AMOUNT = 4_321;
const LINK_TERMINAL = 'A1B2C3D4';
let references = 0;

describe.each(DIALECTS)('POSP after a stop, on %s', (dialect) => {
  const posp = usePosp(dialect);
  const pan = TEST_CARDS.masterCard.pan;

  /** A debit approved by the bank, journalled and held, and nothing recorded after it. */
  async function stoppedAfterApproval(): Promise<{ reference: string; outcome: AuthorisationOutcome }> {
    const reference = `STOP${String(++references).padStart(8, '0')}`;
    const card = TEST_CARDS.masterCard;
    const ledger = createAuthorisationLedger(posp().ledger);
    const outcome = await posp().authoriser.debit(
      {
        pan,
        expiry: card.expiry,
        track2: `${pan}=${card.expiry}1010000000000`,
        pinBlock: encipherPinBlockIso4(posp().zoneKeys.zpk, TEST_PIN, pan, rng),
        amountMinor: BigInt(AMOUNT),
        currencyNumeric: CURRENCY_NUMERIC.CNY,
        terminalId: LINK_TERMINAL,
        merchantId: MERCHANT_ID,
      },
      async (sent) => {
        await posp().store.recordAuthorisation(
          { reference, customerCode: CUSTOMER, serial: 'PP-STOP-0001', seq: references, linkTerminalId: LINK_TERMINAL, stan: sent.stan, transmittedAt: sent.transmissionDateTime, amount: AMOUNT, currency: 'CNY', maskedPan: '545454******0003', lookupId: 'lookup-stop', state: 'authorising' },
          NOW,
        );
        await ledger.hold(reference, BigInt(AMOUNT), 'CNY');
      },
    );
    return { reference, outcome };
  }

  const sweep = (at: Date) =>
    reverseUnfinishedAuthorisations({ customerCode: CUSTOMER, store: posp().store, authoriser: posp().authoriser, ledger: createAuthorisationLedger(posp().ledger), merchantId: MERCHANT_ID, clock: () => at });
  const later = new Date(NOW.getTime() + UNFINISHED_AFTER_MS + 1_000);

  it('C8: an authorisation left in flight is reversed by field 90 alone (no PAN kept), its hold voided, the card restored', async () => {
    const before = posp().provider.balanceOf(pan)!.balance;
    const { reference, outcome } = await stoppedAfterApproval();
    expect(outcome).toMatchObject({ kind: 'answered', approved: true });
    expect(posp().provider.balanceOf(pan)!.balance).toBe(before - AMOUNT);

    expect(await sweep(later)).toBe(1);
    const reversal = posp().bankReceived.filter((m) => m.mti === '0400').at(-1);
    expect(reversal?.fields[2]).toBeUndefined();
    expect(reversal?.fields[90]).toBeDefined();
    expect(posp().provider.balanceOf(pan)!.balance).toBe(before);
    expect((await posp().store.authorisation(reference))?.state).toBe('reversed');
    expect((await posp().ledger.pendingStatus(`posp-${reference}-auth`))?.state).toBe('voided');
    // Swept once: the next sweep finds nothing.
    expect(await sweep(later)).toBe(0);
  });

  it('X4: a row younger than a live POSP could still be working on is left alone', async () => {
    const { reference } = await stoppedAfterApproval();
    const sent = posp().bankReceived.filter((m) => m.mti === '0400').length;
    expect(await sweep(new Date(NOW.getTime() + UNFINISHED_AFTER_MS - 1_000))).toBe(0);
    expect(posp().bankReceived.filter((m) => m.mti === '0400')).toHaveLength(sent);
    expect((await posp().store.authorisation(reference))?.state).toBe('authorising');
    await sweep(later);
  });

  it('C8: a stop after the approval was booked (hold posted) keeps the debit: the row becomes approved, no 0400', async () => {
    const { reference } = await stoppedAfterApproval();
    await createAuthorisationLedger(posp().ledger).settle(reference);
    const sent = posp().bankReceived.filter((m) => m.mti === '0400').length;
    await sweep(later);
    expect(posp().bankReceived.filter((m) => m.mti === '0400')).toHaveLength(sent);
    expect((await posp().store.authorisation(reference))?.state).toBe('approved');
  });
});
