/** Whether a listen host is loopback-only: plain ws/http is allowed there until TLS is configured. */
export { isLoopbackHost } from '../../shared/net/loopback.js';
