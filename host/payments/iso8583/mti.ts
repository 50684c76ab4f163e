/**
 * The message type indicators the acquirer link uses (ISO 8583:1987: version 0, then class,
 * function and origin), and the request -> response pairing the channel matches on.
 */
import { PaypadError } from '../../../shared/errors';

export const MTI = Object.freeze({
  financialRequest: '0200',
  financialResponse: '0210',
  reversalRequest: '0400',
  reversalResponse: '0410',
  reconciliationRequest: '0500',
  reconciliationResponse: '0510',
  networkManagementRequest: '0800',
  networkManagementResponse: '0810',
});

/**
 * The MTI of the response to `requestMti`: the function digit (third) goes from 0 (request) to 1
 * (request response), or from 2 (advice) to 3 (advice response); 0200 -> 0210, 0420 -> 0430.
 */
export function responseMtiFor(requestMti: string): string {
  const fn = requestMti.charAt(2);
  if (!/^0[0-9]{3}$/.test(requestMti) || (fn !== '0' && fn !== '2')) {
    throw new PaypadError('ISO8583_FIELD_INVALID', 'MTI: only a request or an advice (function digit 0 or 2) gets a response');
  }
  return `${requestMti.slice(0, 2)}${Number(fn) + 1}${requestMti.charAt(3)}`;
}
