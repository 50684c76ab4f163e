/**
 * 0800 network management request and 0810 response (ISO 8583:1987), field 70 saying which:
 *   001 sign-on      the link is open for business (after connecting, before any 0200)
 *   101 key exchange a new zone key travels as a TR-31 key block under the zone master key (ZMK)
 *                    in field 48, and field 53 says which zone key it is (ZPK or ZAK), so the
 *                    receiving HSM can insist on that usage when it imports the block; the answer
 *                    carries the check value of the key installed, so both ends know they agree
 *   201 cutover      the business day moves on; field 15 is the settlement date that starts
 *   301 echo test    the link is alive
 */
import { PaypadError } from '../../../shared/errors';
import type { Iso8583Message } from './packager';
import { digits, expectMti, requireInteger, requireText, optionalText } from './fieldValues';
import { MTI } from './mti';

export const NETWORK_MANAGEMENT_CODES = Object.freeze({ signOn: '001', keyExchange: '101', cutover: '201', echo: '301' });

/**
 * Field 53 in a key exchange, the link's own use of "security related control information"
 * (n 16): '01' for the zone PIN key (TR-31 usage P0), '02' for the zone MAC key (M6), then zeros.
 */
const ZONE_KEY_INDICATORS = Object.freeze({ pin: '0100000000000000', mac: '0200000000000000' });
export type ZoneKeyType = keyof typeof ZONE_KEY_INDICATORS;
export type NetworkAction = keyof typeof NETWORK_MANAGEMENT_CODES;

interface Common {
  readonly stan: number;
  readonly transmissionDateTime: string;
}

export type NetworkRequest =
  | (Common & { readonly action: 'signOn' | 'echo' })
  /** `keyBlock`: the new zone key of `keyType` as a TR-31 key block under the zone master key. */
  | (Common & { readonly action: 'keyExchange'; readonly keyType: ZoneKeyType; readonly keyBlock: string })
  /** `settlementDate`: MMDD. */
  | (Common & { readonly action: 'cutover'; readonly settlementDate: string });

export interface NetworkResponse extends Common {
  readonly action: NetworkAction;
  readonly responseCode: string;
  /** Key exchange only: which zone key, and the check value of the key the responder installed. */
  readonly keyType?: ZoneKeyType;
  readonly keyCheckValue?: string;
}

function actionOf(message: Iso8583Message): NetworkAction {
  const code = requireText(message, 70);
  const action = (Object.keys(NETWORK_MANAGEMENT_CODES) as NetworkAction[]).find((a) => NETWORK_MANAGEMENT_CODES[a] === code);
  if (!action) throw new PaypadError('ISO8583_MALFORMED', `ISO 8583 ${message.mti}: network management code ${code} is not one the link uses`);
  return action;
}

function refuseUnless(message: Iso8583Message, field: number, allowed: boolean): void {
  if (!allowed && message.fields[field] !== undefined) {
    throw new PaypadError('ISO8583_MALFORMED', `ISO 8583 ${message.mti}: field ${field} does not belong in this network management message`);
  }
}

function keyTypeOf(message: Iso8583Message): ZoneKeyType {
  const indicator = requireText(message, 53);
  const keyType = (Object.keys(ZONE_KEY_INDICATORS) as ZoneKeyType[]).find((k) => ZONE_KEY_INDICATORS[k] === indicator);
  if (!keyType) throw new PaypadError('ISO8583_MALFORMED', `ISO 8583 ${message.mti}: field 53 names no zone key the link exchanges`);
  return keyType;
}

export function buildNetworkRequest(request: NetworkRequest): Iso8583Message {
  return {
    mti: MTI.networkManagementRequest,
    fields: {
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      15: request.action === 'cutover' ? request.settlementDate : undefined,
      48: request.action === 'keyExchange' ? request.keyBlock : undefined,
      53: request.action === 'keyExchange' ? ZONE_KEY_INDICATORS[request.keyType] : undefined,
      70: NETWORK_MANAGEMENT_CODES[request.action],
    },
  };
}

export function readNetworkRequest(message: Iso8583Message): NetworkRequest {
  expectMti(message, MTI.networkManagementRequest);
  const action = actionOf(message);
  refuseUnless(message, 15, action === 'cutover');
  refuseUnless(message, 48, action === 'keyExchange');
  refuseUnless(message, 53, action === 'keyExchange');
  const common = { stan: requireInteger(message, 11), transmissionDateTime: requireText(message, 7) };
  if (action === 'keyExchange') return { ...common, action, keyType: keyTypeOf(message), keyBlock: requireText(message, 48) };
  if (action === 'cutover') return { ...common, action, settlementDate: requireText(message, 15) };
  return { ...common, action };
}

export function buildNetworkResponse(request: NetworkRequest, outcome: { responseCode: string; keyCheckValue?: string }): Iso8583Message {
  if (outcome.keyCheckValue !== undefined && request.action !== 'keyExchange') {
    throw new PaypadError('ISO8583_FIELD_INVALID', 'a key check value answers a key exchange only');
  }
  return {
    mti: MTI.networkManagementResponse,
    fields: {
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      39: outcome.responseCode,
      48: outcome.keyCheckValue,
      53: request.action === 'keyExchange' ? ZONE_KEY_INDICATORS[request.keyType] : undefined,
      70: NETWORK_MANAGEMENT_CODES[request.action],
    },
  };
}

export function readNetworkResponse(message: Iso8583Message): NetworkResponse {
  expectMti(message, MTI.networkManagementResponse);
  const action = actionOf(message);
  refuseUnless(message, 15, false);
  refuseUnless(message, 48, action === 'keyExchange');
  refuseUnless(message, 53, action === 'keyExchange');
  return {
    action,
    stan: requireInteger(message, 11),
    transmissionDateTime: requireText(message, 7),
    responseCode: requireText(message, 39),
    keyType: action === 'keyExchange' ? keyTypeOf(message) : undefined,
    keyCheckValue: optionalText(message, 48),
  };
}
