/** What a gateway granted for one TCP port (src/nat). */
export interface GrantedMapping {
  /** External IP the gateway reported ("" when it reported none). */
  externalHost: string;
  externalPort: number;
  /** Seconds the mapping lives; 0 means it does not expire (UPnP permanent lease). */
  lifetimeS: number;
}

/** One port-mapping protocol talking to one gateway. */
export interface NatClient {
  /** "nat-pmp" or "upnp", as reported in node info. */
  readonly protocol: 'nat-pmp' | 'upnp';
  /** The gateway as an operator would name it: host:port or the description URL. */
  readonly gateway: string;
  /** Map TCP `internalPort` (asking for `externalPort`) for `lifetimeS`; also (re)reads the external address. */
  map(internalPort: number, externalPort: number, lifetimeS: number, signal: AbortSignal): Promise<GrantedMapping>;
  /** Remove the mapping. */
  unmap(internalPort: number, externalPort: number, signal: AbortSignal): Promise<void>;
}
