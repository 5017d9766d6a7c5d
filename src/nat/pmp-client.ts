import { isIP } from 'node:net';
import { PheromonesError } from '../errors.js';
import { formatAddress } from '../peer/address.js';
import {
  decodeExternalAddressResponse,
  decodeMapResponse,
  encodeExternalAddressRequest,
  encodeMapRequest,
  PMP_OPCODES,
  responseOpcode,
} from './pmp-codec.js';
import type { GrantedMapping, NatClient } from './types.js';
import { udpExchange } from './udp.js';

/** RFC 6886 3.1: first retransmission after 250 ms, doubling. We give up sooner than its 9 tries (64 s). */
const FIRST_WAIT_MS = 250;
const ATTEMPTS = 4;
/** Far more than any NAT-PMP answer (16 bytes); larger datagrams are not looked at. */
const MAX_ANSWER_BYTES = 64;

/** NAT-PMP client for one gateway given by IP and port (5351 on a real gateway). */
export class PmpClient implements NatClient {
  readonly protocol = 'nat-pmp';
  readonly gateway: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    if (isIP(host) !== 4) throw new PheromonesError('invalid-argument', `NAT-PMP gateway "${host}" is not an IPv4 address`);
    this.gateway = formatAddress(host, port);
  }

  async map(internalPort: number, externalPort: number, lifetimeS: number, signal: AbortSignal): Promise<GrantedMapping> {
    const ext = decodeExternalAddressResponse(await this.request(encodeExternalAddressRequest(), PMP_OPCODES.externalAddress, signal));
    const m = decodeMapResponse(await this.request(encodeMapRequest(internalPort, externalPort, lifetimeS), PMP_OPCODES.mapTcp, signal));
    if (m.internalPort !== internalPort) {
      throw new PheromonesError('protocol-violation', `NAT-PMP gateway ${this.gateway} answered for internal port ${m.internalPort}, not ${internalPort}`);
    }
    if (m.externalPort === 0 || m.lifetimeS === 0) {
      throw new PheromonesError('refused', `NAT-PMP gateway ${this.gateway} granted no mapping (port ${m.externalPort}, lifetime ${m.lifetimeS} s)`);
    }
    return { externalHost: ext.address === '0.0.0.0' ? '' : ext.address, externalPort: m.externalPort, lifetimeS: m.lifetimeS };
  }

  async unmap(internalPort: number, _externalPort: number, signal: AbortSignal): Promise<void> {
    // RFC 6886 3.4: lifetime 0 and suggested external port 0 delete the mapping of the internal port.
    decodeMapResponse(await this.request(encodeMapRequest(internalPort, 0, 0), PMP_OPCODES.mapTcp, signal));
  }

  /** Send `msg` until the gateway answers for `opcode`, retransmitting with doubling waits. */
  private request(msg: Buffer, opcode: number, signal: AbortSignal): Promise<Buffer> {
    return udpExchange<Buffer>(signal, 'NAT-PMP request cancelled', ({ socket, finish, setTimer }) => {
      let attempt = 0;
      const send = (): void => {
        if (attempt >= ATTEMPTS) {
          const waited = FIRST_WAIT_MS * (2 ** ATTEMPTS - 1);
          finish(new PheromonesError('timeout', `no NAT-PMP answer from ${this.gateway} after ${ATTEMPTS} tries (${waited} ms)`));
          return;
        }
        socket.send(msg);
        setTimer(setTimeout(send, FIRST_WAIT_MS * 2 ** attempt++));
      };
      socket.on('error', (err: NodeJS.ErrnoException) => {
        // A connected UDP socket sees the ICMP "port unreachable" as ECONNREFUSED: nothing speaks NAT-PMP there.
        const refused = err.code === 'ECONNREFUSED';
        finish(new PheromonesError(refused ? 'refused' : 'unavailable', `NAT-PMP gateway ${this.gateway}: ${refused ? 'nothing answers on that port' : err.message}`));
      });
      // Connected: the kernel drops datagrams from anyone but the gateway's address and port (RFC 6886 3.1).
      socket.on('message', (answer) => {
        if (answer.length > MAX_ANSWER_BYTES || responseOpcode(answer) !== opcode) return;
        finish(undefined, answer);
      });
      socket.connect(this.port, this.host, () => send());
    });
  }
}
