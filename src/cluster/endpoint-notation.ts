/**
 * The seed's endpoint notation (Inspektor Gadget's SRC/DST columns): `p/<ns>/<pod>:<port>` for a
 * pod, `s/<ns>/<service>:<port>` for a Service, `r/<ip>:<port>` for a raw address. IPv6 addresses
 * are bracketed so the port stays unambiguous: `r/[2001:db8::1]:443`.
 */

export type EndpointName =
  | { kind: 'pod'; namespace: string; name: string }
  | { kind: 'service'; namespace: string; name: string }
  | { kind: 'raw'; ip: string };

export function formatAddress(ip: string, port: number | undefined): string {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return port === undefined ? host : `${host}:${port}`;
}

export function formatEndpoint(e: EndpointName, port?: number): string {
  const suffix = port === undefined ? '' : `:${port}`;
  switch (e.kind) {
    case 'pod':
      return `p/${e.namespace}/${e.name}${suffix}`;
    case 'service':
      return `s/${e.namespace}/${e.name}${suffix}`;
    case 'raw':
      return `r/${formatAddress(e.ip, port)}`;
  }
}

/** Parses the notation back (used by `explain --src/--dst`); undefined when it is not in that form. */
export function parseEndpoint(text: string): { name: EndpointName; port?: number } | undefined {
  const m = /^([psr])\/(.+?)(?::(\d+))?$/.exec(text);
  if (!m) return undefined;
  const [, kind, body = '', portText] = m;
  const port = portText === undefined ? undefined : Number(portText);
  if (kind === 'r') {
    const ip = body.startsWith('[') && body.endsWith(']') ? body.slice(1, -1) : body;
    return { name: { kind: 'raw', ip }, port };
  }
  const [namespace, name, ...more] = body.split('/');
  if (!namespace || !name || more.length > 0) return undefined;
  return { name: { kind: kind === 'p' ? 'pod' : 'service', namespace, name }, port };
}
