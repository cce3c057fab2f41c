// Loaded with `node --import`: the packages named in UPSFLEET_TEST_WITHOUT (comma-separated) fail to import, as on
// a host where they are not installed (a module resolve hook; the real packages stay where they are for the
// other tests).
import { register } from 'node:module';

const hook = `let hidden = [];
export function initialize(data) { hidden = data.hidden; }
export async function resolve(specifier, context, next) {
  if (hidden.includes(specifier)) {
    const err = new Error("Cannot find package '" + specifier + "' (hidden by test/support/without-packages.mjs)");
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`;
const hidden = (process.env.UPSFLEET_TEST_WITHOUT ?? '').split(',').filter(Boolean);
register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { hidden } });
