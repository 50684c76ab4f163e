/**
 * 0800 network management request and 0810 response (ISO 8583:1987), field 70 saying which:
 *   001 sign-on      the link is open for business (after connecting, before any 0200)
 *   101 key change   a new zone key travels as a TR-31 key block in field 48; the receiver answers
 *                    with the check value of the key it installed, so both ends know they agree
 *   201 cutover      the business day moves on; field 15 is the settlement date that starts
 *   301 echo test    the link is alive
 */
import { PaypadError } from '../../../shared/errors';
import type { Iso8583Message } from './packager';
import { digits, expectMti, requireInteger, requireText, optionalText } from './fieldValues';
import { MTI } from './mti';

export const NETWORK_MANAGEMENT_CODES = Object.freeze({ signOn: '001', keyChange: '101', cutover: '201', echo: '301' });
export type NetworkAction = keyof typeof NETWORK_MANAGEMENT_CODES;

interface Common {
  readonly stan: number;
  readonly transmissionDateTime: string;
}

export type NetworkRequest =
  | (Common & { readonly action: 'signOn' | 'echo' })
  /** `keyBlock`: the new zone key as a TR-31 key block under the zone master key. */
  | (Common & { readonly action: 'keyChange'; readonly keyBlock: string })
  /** `settlementDate`: MMDD. */
  | (Common & { readonly action: 'cutover'; readonly settlementDate: string });

export interface NetworkResponse extends Common {
  readonly action: NetworkAction;
  readonly responseCode: string;
  /** Key change only: the check value of the key the responder installed. */
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

export function buildNetworkRequest(request: NetworkRequest): Iso8583Message {
  return {
    mti: MTI.networkManagementRequest,
    fields: {
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      15: request.action === 'cutover' ? request.settlementDate : undefined,
      48: request.action === 'keyChange' ? request.keyBlock : undefined,
      70: NETWORK_MANAGEMENT_CODES[request.action],
    },
  };
}

export function readNetworkRequest(message: Iso8583Message): NetworkRequest {
  expectMti(message, MTI.networkManagementRequest);
  const action = actionOf(message);
  refuseUnless(message, 15, action === 'cutover');
  refuseUnless(message, 48, action === 'keyChange');
  const common = { stan: requireInteger(message, 11), transmissionDateTime: requireText(message, 7) };
  if (action === 'keyChange') return { ...common, action, keyBlock: requireText(message, 48) };
  if (action === 'cutover') return { ...common, action, settlementDate: requireText(message, 15) };
  return { ...common, action };
}

export function buildNetworkResponse(request: NetworkRequest, outcome: { responseCode: string; keyCheckValue?: string }): Iso8583Message {
  if (outcome.keyCheckValue !== undefined && request.action !== 'keyChange') {
    throw new PaypadError('ISO8583_FIELD_INVALID', 'a key check value answers a key change only');
  }
  return {
    mti: MTI.networkManagementResponse,
    fields: {
      7: request.transmissionDateTime,
      11: digits(request.stan, 6, 'STAN'),
      39: outcome.responseCode,
      48: outcome.keyCheckValue,
      70: NETWORK_MANAGEMENT_CODES[request.action],
    },
  };
}

export function readNetworkResponse(message: Iso8583Message): NetworkResponse {
  expectMti(message, MTI.networkManagementResponse);
  const action = actionOf(message);
  refuseUnless(message, 15, false);
  refuseUnless(message, 48, action === 'keyChange');
  return {
    action,
    stan: requireInteger(message, 11),
    transmissionDateTime: requireText(message, 7),
    responseCode: requireText(message, 39),
    keyCheckValue: optionalText(message, 48),
  };
}
