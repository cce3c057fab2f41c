/**
 * The TLS application protocol (ALPN) name an agent offers beside `http/1.1`. Nothing is negotiated on it
 * (the master answers http/1.1 and the WebSocket upgrade follows as always); it tells the master's front
 * door, from the ClientHello and before any TLS work, that this connection is an agent's, so a master with
 * TLS worker processes can terminate it there (master/servers/tls-worker/).
 */
export const AGENT_ALPN = 'upsfleet-agent';
