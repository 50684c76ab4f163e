/**
 * A peer's typed "no": the terminal (over the local link) or MTMS answered with an error body
 * `{code, message}`. The operator keeps the peer's code as data rather than as its own
 * ErrorCode: a peer may be newer and send a code this side does not know (protocol/fields
 * errorCode), and our code must stay one of ours. The flow branches on `remoteCode`
 * (MTMS_SERIAL_UNKNOWN, MTMS_CUSTOMER_UNKNOWN); people read the message.
 */
import { isPaypadError, PaypadError } from '../../shared/errors';

export type RefusingParty = 'terminal' | 'MTMS';

export class PeerRefusal extends PaypadError {
  readonly party: RefusingParty;
  /** The peer's error code, as it sent it (validated: A-Z 0-9 _, at most 64). */
  readonly remoteCode: string;
  /** The HTTP status for MTMS; undefined for the terminal. */
  readonly status: number | undefined;

  constructor(party: RefusingParty, remoteCode: string, remoteMessage: string, status?: number) {
    // Both texts were validated as printable (no control characters): safe to show on a TTY.
    super(party === 'MTMS' ? 'MTMS_REFUSED' : 'LINK_REFUSED', `${party} refused${status === undefined ? '' : ` (HTTP ${status})`}: ${remoteCode}: ${remoteMessage}`);
    this.party = party;
    this.remoteCode = remoteCode;
    this.status = status;
  }
}

/** True when `e` is a refusal from `party` with the peer code `remoteCode`. */
export function isRefusal(e: unknown, party: RefusingParty, remoteCode: string): e is PeerRefusal {
  return isPaypadError(e) && e instanceof PeerRefusal && e.party === party && e.remoteCode === remoteCode;
}
