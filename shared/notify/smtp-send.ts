/**
 * E-mail through nodemailer (SMTP with STARTTLS, implicit TLS, AUTH and MIME done right), loaded only when
 * an smtp:// target sends: nothing else pays for it. The one-file agent is built without it
 * (scripts/build-bundles.mjs): there an smtp:// target fails with a line saying so, and HTTP services work.
 */
import { DeliveryError } from './notify-queue.js';
import type { MailDelivery } from './service-url.js';

type Nodemailer = typeof import('nodemailer');

let loaded: Promise<Nodemailer> | null = null;

function nodemailer(): Promise<Nodemailer> {
  loaded ??= import('nodemailer').then((m) => ((m as { default?: Nodemailer }).default ?? m) as Nodemailer);
  return loaded;
}

export async function sendMail(d: MailDelivery, timeoutMs: number): Promise<void> {
  let mailer: Nodemailer;
  try {
    mailer = await nodemailer();
  } catch {
    loaded = null;
    throw new DeliveryError(
      'e-mail needs the nodemailer package (not in the one-file agent: install upsfleet with npm)',
      false,
    );
  }
  const transport = mailer.createTransport({
    host: d.host,
    port: d.port,
    secure: d.secure,
    requireTLS: d.requireTLS,
    ...(d.auth ? { auth: { user: d.auth.user, pass: d.auth.pass } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  try {
    await transport.sendMail({ from: d.from, to: d.to, subject: d.subject, text: d.text });
  } catch (err) {
    const e = err as Error & { responseCode?: number };
    // a 5xx answer (unknown recipient, refused sender, bad credentials) will not get better
    const permanent = e.responseCode !== undefined && e.responseCode >= 500;
    throw new DeliveryError(e.responseCode ? `SMTP ${e.responseCode}: ${e.message}` : e.message, !permanent);
  } finally {
    transport.close();
  }
}
