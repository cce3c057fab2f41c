/** Turns the master's journal into the demo's human timeline. */
export function formatTimeline(entries: Array<Record<string, unknown>>): string[] {
  const start = entries.find((e) => e.kind === 'start')?.ts as number | undefined;
  const t0 = start ?? (entries[0]?.ts as number) ?? 0;
  const lines: string[] = [];
  for (const e of entries) {
    const ts = typeof e.ts === 'number' ? e.ts : t0;
    const at = `+${((ts - t0) / 1000).toFixed(3).padStart(7)}s`;
    const text = describe(e);
    if (text) lines.push(`${at}  ${text}`);
  }
  return lines;
}

function describe(e: Record<string, unknown>): string | null {
  switch (e.kind) {
    case 'start':
      return `master ${String(e.id)} listening on ${String(e.url)}`;
    case 'event':
      return `event ${String(e.event)}: ${String(e.message)}`;
    case 'comm':
      return e.ok ? 'UPS communication restored' : `UPS communication lost: ${String(e.reason)}`;
    case 'critical':
      return `CRITICAL: ${String(e.reason)} -> fleet shutdown sequence starts`;
    case 'early':
      return `early group ${String(e.group)} leaves: ${String(e.reason)}`;
    case 'master-hooks':
      return `master hooks done (${String(e.failures)} failed)`;
    case 'killpower':
      return e.ok
        ? `KILLPOWER sent to the UPS: ${String(e.command)}`
        : `killpower ${String(e.command)} FAILED: ${String(e.error)}`;
    case 'master-poweroff':
      return e.dryRun ? 'master would now power off (dry-run marker written)' : 'master powering off';
    case 'drill-final':
      return 'drill: master skips killpower and power-off';
    case 'sequence':
      return describeSequence(e);
    default:
      return null;
  }
}

function describeSequence(e: Record<string, unknown>): string {
  const who = e.memberId ? ` ${String(e.memberId)}` : '';
  const step = e.step !== undefined && e.step !== null ? ` step ${String(e.step)}` : '';
  const detail = e.detail ? ` (${typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)})` : '';
  const kind = String(e.type ?? e.event ?? e.what ?? e.entry ?? e.sequenceKind ?? '');
  return `${kind || 'sequence'}${step}${who}${detail}`;
}
