// node:test reporter used inside the QEMU guest: one line per finished test on the serial console,
// `@@UPSFLEET-GUEST result {json}`, which the host (test/guest/guest-results.ts) turns back into tests.
const PREFIX = '@@UPSFLEET-GUEST result ';

function errorText(error) {
  if (!error) return undefined;
  const inner = error.cause ?? error;
  const text = inner?.stack ?? inner?.message ?? String(inner);
  return String(text).split('\n').slice(0, 12).join('\n');
}

export default async function* guestReporter(source) {
  const names = [];
  for await (const event of source) {
    if (event.type === 'test:start') names[event.data.nesting] = event.data.name;
    if (event.type === 'test:pass' || event.type === 'test:fail') {
      const data = event.data;
      const path = [...names.slice(0, data.nesting), data.name];
      const line = {
        path,
        status: event.type === 'test:pass' ? 'pass' : 'fail',
        skip: data.skip === undefined ? undefined : data.skip || true,
        todo: data.todo === undefined ? undefined : data.todo || true,
        failureType: data.details?.error?.failureType,
        error: event.type === 'test:fail' ? errorText(data.details?.error) : undefined,
        ms: Math.round(data.details?.duration_ms ?? 0),
      };
      yield `${PREFIX}${JSON.stringify(line)}\n`;
    }
    if (event.type === 'test:diagnostic' && event.data.nesting === 0)
      yield `@@UPSFLEET-GUEST diag ${event.data.message}\n`;
  }
}
