/**
 * NAT gateways served on 127.0.0.1 by a test: a NAT-PMP one (UDP) and a UPnP
 * IGD one (HTTP). They record every request and grant what they are told
 * to, so a test can check what a node asked for and when. Nothing is
 * multicast, nothing leaves the machine.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { pollUntil } from './daemon.js';

export interface PmpRequest {
  opcode: number;
  internalPort: number;
  externalPort: number;
  lifetimeS: number;
}

export interface PmpGatewayOptions {
  externalIp?: string;
  /** External port granted for every mapping; the suggested one when absent. */
  grantPort?: number;
  /** Longest lifetime granted, seconds. */
  maxLifetimeS?: number;
  /** A non-zero result code answers every map request with that failure. */
  failWith?: number;
}

export class FakePmpGateway {
  readonly requests: PmpRequest[] = [];
  private readonly startedS = Math.floor(Date.now() / 1000);

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
    readonly options: PmpGatewayOptions,
  ) {}

  static async start(options: PmpGatewayOptions = {}): Promise<FakePmpGateway> {
    const socket = createSocket('udp4');
    await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', ok));
    const gw = new FakePmpGateway(socket, socket.address().port, options);
    socket.on('message', (msg, rinfo) => {
      const answer = gw.answer(msg);
      if (answer !== undefined) socket.send(answer, rinfo.port, rinfo.address);
    });
    return gw;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Map requests (deletes included), in arrival order. */
  maps(): PmpRequest[] {
    return this.requests.filter((r) => r.opcode === 2);
  }

  waitFor(match: (r: PmpRequest, index: number) => boolean, timeoutMs: number, what: string): Promise<PmpRequest> {
    return pollUntil(() => this.maps().find(match), timeoutMs, what);
  }

  close(): Promise<void> {
    return new Promise((ok) => this.socket.close(() => ok()));
  }

  private answer(msg: Buffer): Buffer | undefined {
    if (msg.length < 2 || msg[0] !== 0) return undefined;
    const epoch = Math.floor(Date.now() / 1000) - this.startedS;
    if (msg[1] === 0) {
      this.requests.push({ opcode: 0, internalPort: 0, externalPort: 0, lifetimeS: 0 });
      const b = Buffer.alloc(12);
      b[1] = 128;
      b.writeUInt32BE(epoch, 4);
      Buffer.from((this.options.externalIp ?? '127.0.0.1').split('.').map(Number)).copy(b, 8);
      return b;
    }
    if (msg[1] !== 2 || msg.length < 12) return undefined;
    const r = { opcode: 2, internalPort: msg.readUInt16BE(4), externalPort: msg.readUInt16BE(6), lifetimeS: msg.readUInt32BE(8) };
    this.requests.push(r);
    const b = Buffer.alloc(16);
    b[1] = 130;
    if (this.options.failWith !== undefined && r.lifetimeS > 0) {
      b.writeUInt16BE(this.options.failWith, 2);
      return b.subarray(0, 8);
    }
    b.writeUInt32BE(epoch, 4);
    b.writeUInt16BE(r.internalPort, 8);
    const deleting = r.lifetimeS === 0;
    b.writeUInt16BE(deleting ? 0 : (this.options.grantPort ?? r.externalPort), 10);
    b.writeUInt32BE(deleting ? 0 : Math.min(r.lifetimeS, this.options.maxLifetimeS ?? r.lifetimeS), 12);
    return b;
  }
}

export interface UpnpCall {
  action: string;
  args: Record<string, string>;
}

export interface UpnpGatewayOptions {
  externalIp?: string;
  /** UPnP error code answered to AddPortMapping for these external ports. */
  conflictPorts?: number[];
  /** Answer 725 (only permanent leases) to AddPortMapping with a lease. */
  permanentOnly?: boolean;
}

const SERVICE = 'urn:schemas-upnp-org:service:WANIPConnection:1';

export class FakeUpnpGateway {
  readonly calls: UpnpCall[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly options: UpnpGatewayOptions,
  ) {}

  static async start(options: UpnpGatewayOptions = {}): Promise<FakeUpnpGateway> {
    const server = createServer();
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const gw = new FakeUpnpGateway(server, address.port, options);
    server.on('request', (req, res) => {
      void readBody(req).then((body) => {
        const answer = gw.handle(req, body);
        res.writeHead(answer.status, { 'Content-Type': 'text/xml' }).end(answer.body);
      });
    });
    return gw;
  }

  /** The device description URL, what --nat-gateway takes. */
  get descriptionUrl(): string {
    return `http://127.0.0.1:${this.port}/rootDesc.xml`;
  }

  waitFor(action: string, match: (c: UpnpCall, index: number) => boolean, timeoutMs: number, what: string): Promise<UpnpCall> {
    return pollUntil(() => this.calls.filter((c) => c.action === action).find(match), timeoutMs, what);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((ok) => this.server.close(() => ok()));
  }

  private handle(req: IncomingMessage, body: string): { status: number; body: string } {
    if (req.method === 'GET' && req.url === '/rootDesc.xml') return { status: 200, body: DESCRIPTION };
    if (req.method !== 'POST' || req.url !== '/ctl/IPConn') return { status: 404, body: '' };
    const action = /#(\w+)"?$/.exec(String(req.headers.soapaction ?? ''))?.[1] ?? '';
    const args = Object.fromEntries([...body.matchAll(/<(New\w+)>([^<]*)<\/\1>/g)].map((m) => [m[1]!, m[2]!]));
    this.calls.push({ action, args });
    switch (action) {
      case 'GetExternalIPAddress':
        return ok(action, `<NewExternalIPAddress>${this.options.externalIp ?? '127.0.0.1'}</NewExternalIPAddress>`);
      case 'AddPortMapping':
        if (this.options.conflictPorts?.includes(Number(args.NewExternalPort))) return fault(718, 'ConflictInMappingEntry');
        if (this.options.permanentOnly && args.NewLeaseDuration !== '0') return fault(725, 'OnlyPermanentLeasesSupported');
        return ok(action, '');
      case 'DeletePortMapping':
        return ok(action, '');
      default:
        return fault(401, 'Invalid Action');
    }
  }
}

function ok(action: string, inner: string): { status: number; body: string } {
  return {
    status: 200,
    body: `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="${SERVICE}">${inner}</u:${action}Response></s:Body></s:Envelope>`,
  };
}

function fault(code: number, description: string): { status: number; body: string } {
  return {
    status: 500,
    body:
      '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>' +
      `<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** A trimmed miniupnpd-style description: the WAN IP connection service sits two devices deep. */
const DESCRIPTION = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>fake gateway</friendlyName>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<serviceList><service><serviceType>${SERVICE}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`;
