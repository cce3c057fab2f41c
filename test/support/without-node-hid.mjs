// Loaded with `node --import`: `import('node-hid')` fails as on a host where the optional native module is not
// installed (a module resolve hook; the real package stays where it is for the other tests).
import { register } from 'node:module';

const hook = `export async function resolve(specifier, context, next) {
  if (specifier === 'node-hid') {
    const err = new Error("Cannot find package 'node-hid' (hidden by test/support/without-node-hid.mjs)");
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
